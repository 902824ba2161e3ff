// Host text -> key presses for a VNC guest (the paste feature). QEMU's VNC server with the
// extended key event takes scancodes, so each character becomes the US-layout key (KeyboardEvent
// `code`) that types it, with Shift held where the character needs it; characters without a
// key on that layout are sent as plain keysyms and left to the guest's keymap.

const SHIFTED = {
  '!': 'Digit1', '@': 'Digit2', '#': 'Digit3', '$': 'Digit4', '%': 'Digit5', '^': 'Digit6',
  '&': 'Digit7', '*': 'Digit8', '(': 'Digit9', ')': 'Digit0', '_': 'Minus', '+': 'Equal',
  '{': 'BracketLeft', '}': 'BracketRight', '|': 'Backslash', ':': 'Semicolon', '"': 'Quote',
  '~': 'Backquote', '<': 'Comma', '>': 'Period', '?': 'Slash',
};
const PLAIN = {
  ' ': 'Space', '-': 'Minus', '=': 'Equal', '[': 'BracketLeft', ']': 'BracketRight',
  '\\': 'Backslash', ';': 'Semicolon', "'": 'Quote', '`': 'Backquote', ',': 'Comma',
  '.': 'Period', '/': 'Slash',
};

export const XK_Return = 0xff0d, XK_Tab = 0xff09, XK_Shift_L = 0xffe1;

// keyFor('A') -> {keysym: 0x41, code: 'KeyA', shift: true}. lookup: noVNC's keysymdef.lookup
// for characters outside ASCII.
export function keyFor(ch, lookup) {
  if (ch === '\n') return { keysym: XK_Return, code: 'Enter', shift: false };
  if (ch === '\t') return { keysym: XK_Tab, code: 'Tab', shift: false };
  const cp = ch.codePointAt(0);
  if (ch >= 'a' && ch <= 'z') return { keysym: cp, code: 'Key' + ch.toUpperCase(), shift: false };
  if (ch >= 'A' && ch <= 'Z') return { keysym: cp, code: 'Key' + ch, shift: true };
  if (ch >= '0' && ch <= '9') return { keysym: cp, code: 'Digit' + ch, shift: false };
  if (PLAIN[ch]) return { keysym: cp, code: PLAIN[ch], shift: false };
  if (SHIFTED[ch]) return { keysym: cp, code: SHIFTED[ch], shift: true };
  if (cp < 0x20 || cp === 0x7f) return null;  // other control characters have no key
  return { keysym: lookup ? lookup(cp) : cp, code: null, shift: false };
}

// The keys for a whole text; CRLF and lone CR count as one Return.
export function keysFor(text, lookup) {
  const keys = [];
  const norm = text.replace(/\r\n?/g, '\n');
  for (const ch of norm) {
    const k = keyFor(ch, lookup);
    if (k) keys.push(k);
  }
  return keys;
}

// Types keys through rfb.sendKey, one character every `delayMs` so the guest's input queue
// keeps up (a burst of scancodes is dropped by slow guests). onProgress(done, total);
// returns false when cancelled (signal.aborted) or isConnected() turned false.
export async function typeKeys(rfb, keys, { delayMs = 25, onProgress, signal, isConnected } = {}) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < keys.length; i++) {
    if (signal && signal.aborted) return false;
    if (isConnected && !isConnected()) return false;
    const k = keys[i];
    if (k.shift) rfb.sendKey(XK_Shift_L, 'ShiftLeft', true);
    rfb.sendKey(k.keysym, k.code, true);
    rfb.sendKey(k.keysym, k.code, false);
    if (k.shift) rfb.sendKey(XK_Shift_L, 'ShiftLeft', false);
    if (onProgress) onProgress(i + 1, keys.length);
    await sleep(delayMs);
  }
  return true;
}
