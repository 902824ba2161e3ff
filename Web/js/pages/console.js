// The guest's consoles: VNC (Debian's noVNC), serial (xterm.js) and SPICE (spice-html5), each
// through corrald's WebSocket proxy for the guest. One page per kind, with links between the
// kinds the guest has.
import { api, cpath, wsURL } from '../api.js';
import { subscribe } from '../events.js';
import { h, showError, clearError } from '../ui.js';
import { requireCJS } from '../cjs.js';
import { keysFor, typeKeys } from './keys.js';

let session = null;      // the open console: {close(), connected(), sendCAD?, paste(text)}
let cleanups = [];
let generation = 0;

export function unmount() {
  generation++;
  if (session) session.close();
  session = null;
  if (serialTerm) { serialTerm.dispose(); serialTerm = null; }
  for (const f of cleanups) { try { f(); } catch (e) { console.error(e); } }
  cleanups = [];
}

export async function render(root, { conn, name, kind }) {
  unmount();
  const status = h('span', { id: 'console-status', class: 'console-status', 'data-state': 'connecting', role: 'status' }, 'connecting…');
  const setStatus = (state, text) => {
    status.dataset.state = state;
    status.textContent = text || state;
  };
  const errBox = h('div', { class: 'error-message', role: 'alert', hidden: true });
  const reconnect = h('button', { id: 'console-reconnect', type: 'button', class: 'btn small' }, 'Reconnect');
  const cad = h('button', { id: 'send-cad', type: 'button', class: 'btn small', title: 'Send Ctrl-Alt-Del' }, 'Ctrl-Alt-Del');
  const scale = h('input', { id: 'vnc-scale', type: 'checkbox', checked: true });
  const fullscreen = h('button', { type: 'button', class: 'btn small console-fullscreen' }, 'Full screen');
  const kinds = h('nav', { class: 'console-kinds' });
  const screen = h('div', { class: 'console-screen' });
  // Shown while the guest is off, as virt-manager's console offers to run it.
  const startBtn = h('button', { id: 'console-start', type: 'button', class: 'btn small primary', hidden: true }, 'Run the guest');
  const actions = h('div', { class: 'console-actions' }, startBtn, reconnect);

  if (kind === 'vnc' || kind === 'spice') {
    actions.append(cad);
    if (kind === 'vnc') actions.append(h('label', { class: 'check console-check' }, scale, ' Scale to window'));
    actions.append(fullscreen);
  }
  if (kind === 'serial') {
    // Buttons for touch screens and browsers that keep Ctrl-Shift-C/V for themselves.
    const copyBtn = h('button', { type: 'button', class: 'btn small serial-copy' }, 'Copy');
    const pasteBtn = h('button', { type: 'button', class: 'btn small serial-paste' }, 'Paste');
    actions.append(copyBtn, pasteBtn);
    copyBtn.addEventListener('click', () => { if (session) session.copy(); });
    pasteBtn.addEventListener('click', async () => {
      clearError(errBox);
      if (!session || !session.connected()) { showError(errBox, new Error('not connected to the guest')); return; }
      let text;
      try { text = await navigator.clipboard.readText(); } catch (e) {
        showError(errBox, new Error(`the browser did not let the page read the clipboard (${e.message}); use Ctrl-Shift-V or the text box below`));
        return;
      }
      await session.paste(text, {});
    });
  }
  screen.id = kind === 'vnc' ? 'vnc-screen' : kind === 'serial' ? 'serial-terminal' : 'spice-screen';

  // Host text typed (VNC) or sent (serial) into the guest: the clipboard the consoles lack.
  const pasteText = h('textarea', { id: 'paste-text', rows: 3, placeholder: kind === 'serial' ? 'Text to send to the serial console' : 'Text to type into the guest as key presses' });
  const pasteSend = h('button', { id: 'paste-send', type: 'button', class: 'btn primary' }, kind === 'serial' ? 'Send' : 'Type it');
  const pasteCancel = h('button', { type: 'button', class: 'btn', hidden: true }, 'Stop');
  const pasteProgress = h('span', { class: 'paste-progress' });
  const pastePanel = h('div', { class: 'paste-panel' },
    h('label', { for: 'paste-text' }, kind === 'serial' ? 'Send text' : 'Type text into the guest'),
    pasteText, h('div', { class: 'paste-buttons' }, pasteSend, pasteCancel, pasteProgress));

  const page = h('section', { class: 'console-page' },
    h('header', { class: 'console-bar' },
      h('div', { class: 'console-title' },
        h('a', { href: `#/c/${encodeURIComponent(conn)}/guest/${encodeURIComponent(name)}` }, name),
        ' ', kinds, ' ', status),
      actions),
    errBox, screen, kind === 'spice' ? null : pastePanel);
  root.append(page);

  const fail = (err) => { showError(errBox, err); };

  // The guest's graphics and serial devices decide which console links exist.
  let dom = null;
  try {
    dom = await api('GET', cpath(conn, 'domains', name));
  } catch (e) {
    setStatus('disconnected', 'disconnected');
    fail(e);
    return;
  }
  const available = new Set((dom.graphics || []).map((g) => g.type));
  if (dom.serials > 0) available.add('serial');
  for (const k of ['vnc', 'serial', 'spice']) {
    if (!available.has(k) && k !== kind) continue;
    const label = { vnc: 'VNC', serial: 'Serial', spice: 'SPICE' }[k];
    kinds.append(k === kind ? h('strong', { 'aria-current': 'page' }, label)
      : h('a', { href: `#/c/${encodeURIComponent(conn)}/console/${encodeURIComponent(name)}/${k}` }, label), ' ');
  }

  const url = wsURL(cpath(conn, 'domains', name, kind));
  // Each open() is one generation: a socket event from an older one (a Reconnect click, a
  // guest restart, leaving the page) must not touch the status line or survive.
  const open = async () => {
    const gen = ++generation;
    const current = () => gen === generation;
    const st = (state, text) => { if (current()) setStatus(state, text); };
    clearError(errBox);
    if (session) { session.close(); session = null; }
    try {
      const d = await api('GET', cpath(conn, 'domains', name));
      if (!current()) return;
      startBtn.hidden = d.state !== 'shut off' && d.state !== 'crashed';
      if (d.state !== 'running' && d.state !== 'paused') {
        st('disconnected', `disconnected: the guest is ${d.state}`);
        return;
      }
      if (kind !== 'serial' && !(d.graphics || []).some((g) => g.type === kind)) {
        st('disconnected', `disconnected: the guest has no ${kind.toUpperCase()} graphics`);
        return;
      }
      if (kind === 'serial' && !(d.serials > 0)) {
        st('disconnected', 'disconnected: the guest has no serial console');
        return;
      }
    } catch (e) { if (current()) { st('disconnected', 'disconnected'); fail(e); } return; }
    if (!current()) return;
    st('connecting', 'connecting…');
    try {
      let s;
      if (kind === 'vnc') s = await openVNC(screen, url, st, fail, () => scale.checked);
      else if (kind === 'serial') s = await openSerial(screen, url, st, fail);
      else s = await openSPICE(screen, url, st, fail);
      if (current()) session = s; else s.close();
    } catch (e) {
      if (current()) { st('disconnected', 'disconnected'); fail(e); }
    }
  };

  reconnect.addEventListener('click', open);
  startBtn.addEventListener('click', async () => {
    clearError(errBox);
    startBtn.disabled = true;
    try {
      await api('POST', cpath(conn, 'domains', name, 'start'));
      await open();
    } catch (e) { fail(e); } finally { startBtn.disabled = false; }
  });
  cad.addEventListener('click', () => {
    if (session && session.sendCAD && session.connected()) session.sendCAD();
    else showError(errBox, new Error('not connected'));
  });
  scale.addEventListener('change', () => { if (session && session.setScale) session.setScale(scale.checked); });
  fullscreen.addEventListener('click', () => {
    if (screen.requestFullscreen) screen.requestFullscreen().catch((e) => fail(e));
  });

  let pasteAbort = null;
  pasteSend.addEventListener('click', async () => {
    clearError(pastePanel);
    if (!session || !session.connected()) { showError(pastePanel, new Error('not connected to the guest')); return; }
    const text = pasteText.value;
    if (!text) return;
    pasteProgress.textContent = '';
    pasteAbort = new AbortController();
    pasteSend.disabled = true; pasteCancel.hidden = false;
    try {
      const done = await session.paste(text, {
        signal: pasteAbort.signal,
        onProgress: (n, total) => { pasteProgress.textContent = `${n}/${total}`; },
      });
      pasteProgress.textContent = done ? 'sent' : 'stopped';
    } catch (e) {
      showError(pastePanel, e);
    } finally {
      pasteSend.disabled = false; pasteCancel.hidden = true; pasteAbort = null;
    }
  });
  pasteCancel.addEventListener('click', () => { if (pasteAbort) pasteAbort.abort(); });

  // A guest started (or restarted) while we look at its page: connect again by ourselves.
  cleanups.push(subscribe((msg) => {
    if (msg.type !== 'lifecycle' || msg.connection !== conn || msg.domain !== name) return;
    if (msg.event === 'started') {
      // Unless a connect is already under way (the Run button's own).
      setTimeout(() => { if (status.dataset.state === 'disconnected') open(); }, 500);
    }
    if (msg.event === 'stopped' || msg.event === 'shutdown' || msg.event === 'crashed') {
      setStatus('disconnected', `disconnected: the guest ${msg.event === 'crashed' ? 'crashed' : 'stopped'}`);
      startBtn.hidden = false;
    }
  }));

  await open();
}

// VNC: noVNC's RFB draws into `screen` and takes keyboard and mouse while focused.
async function openVNC(screen, url, setStatus, fail, scaled) {
  let RFB, keysym;
  try {
    RFB = (await import('/vendor/novnc/core/rfb.js')).default;
    keysym = (await import('/vendor/novnc/core/input/keysymdef.js')).default;
  } catch (e) {
    throw new Error('cannot load noVNC from /vendor/novnc (Debian package novnc): ' + e.message);
  }
  screen.replaceChildren();
  let connected = false;
  let failure = '';
  // Our own socket for noVNC, so the daemon's close reason (code 4000 + HTTP status, message
  // as the reason) can be shown: noVNC's disconnect event does not carry it.
  const ws = new WebSocket(url);
  ws.addEventListener('close', (e) => { if (e.code >= 4000 && e.reason) failure = e.reason; });
  const rfb = new RFB(screen, ws);
  rfb.scaleViewport = scaled();
  rfb.resizeSession = false;
  rfb.focusOnClick = true;
  rfb.addEventListener('connect', () => { connected = true; setStatus('connected', 'connected'); rfb.focus(); });
  rfb.addEventListener('disconnect', (e) => {
    connected = false;
    const why = failure || (e.detail && e.detail.clean ? '' : 'connection lost');
    setStatus('disconnected', why ? 'disconnected: ' + why : 'disconnected');
  });
  rfb.addEventListener('securityfailure', (e) => { failure = 'security failure' + (e.detail.reason ? ': ' + e.detail.reason : ''); });
  rfb.addEventListener('credentialsrequired', () => {
    const password = prompt('VNC password');
    if (password === null) rfb.disconnect();
    else rfb.sendCredentials({ password });
  });
  rfb.addEventListener('desktopname', (e) => { screen.title = e.detail.name; });
  return {
    connected: () => connected,
    close: () => { try { rfb.disconnect(); } catch (_) {} },
    sendCAD: () => { rfb.sendCtrlAltDel(); rfb.focus(); },
    setScale: (on) => { rfb.scaleViewport = on; },
    paste: (text, opts) => typeKeys(rfb, keysFor(text, keysym.lookup), { ...opts, isConnected: () => connected }),
  };
}

let xtermPromise = null;
function loadXterm() {
  if (!xtermPromise) {
    xtermPromise = (async () => {
      if (!document.querySelector('link[data-xterm-css]')) {
        document.head.append(h('link', { rel: 'stylesheet', href: '/vendor/xterm/xterm.css', 'data-xterm-css': '' }));
      }
      const { Terminal } = await requireCJS('/vendor/xterm-lib/public/Terminal.js');
      Terminal.applyAddon(await requireCJS('/vendor/xterm/addons/fit/fit.js'));
      return Terminal;
    })();
    xtermPromise.catch(() => { xtermPromise = null; });
  }
  return xtermPromise;
}

function copySelection(term, fail) {
  const text = term.getSelection();
  if (!text) return;
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(text).catch((e) => fail(e));
    return;
  }
  // Plain http from another host is not a secure context: no Clipboard API there.
  const ta = h('textarea', { class: 'offscreen' });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  try { document.execCommand('copy'); } finally { ta.remove(); term.focus(); }
}

// Serial: raw console bytes both ways. The terminal stays across reconnects so the scrollback
// is kept; only the socket is replaced.
let serialTerm = null;
async function openSerial(screen, url, setStatus, fail) {
  let Terminal;
  try { Terminal = await loadXterm(); } catch (e) {
    throw new Error('cannot load xterm.js (Debian packages libjs-xterm and node-xterm): ' + e.message);
  }
  if (!serialTerm || !screen.contains(serialTerm.element)) {
    screen.replaceChildren();
    // The DOM renderer keeps the text in .xterm-rows, where it can be selected and read.
    const t = new Terminal({ rendererType: 'dom', cursorBlink: true, scrollback: 5000, fontSize: 14 });
    t.open(screen);
    // Ctrl-Shift-C copies the selection and Ctrl-Shift-V lets the browser's paste event through
    // (xterm.js sends pasted text as input); plain Ctrl-C/Ctrl-V stay the guest's keys.
    t.attachCustomKeyEventHandler((ev) => {
      if (ev.type === 'keydown' && ev.ctrlKey && ev.shiftKey && (ev.code === 'KeyC' || ev.code === 'KeyV')) {
        if (ev.code === 'KeyC') { copySelection(t, fail); ev.preventDefault(); }
        return false;
      }
      return true;
    });
    serialTerm = t;
  }
  const term = serialTerm;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder('utf-8');
  let ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  let connected = false;
  const send = (text) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(text)); };

  ws.onopen = () => { connected = true; setStatus('connected', 'connected'); term.focus(); };
  ws.onmessage = (ev) => {
    term.write(typeof ev.data === 'string' ? ev.data : decoder.decode(new Uint8Array(ev.data), { stream: true }));
  };
  ws.onclose = (ev) => {
    connected = false;
    const why = ev.reason || (ev.code === 1000 ? '' : `connection closed (${ev.code})`);
    setStatus('disconnected', why ? 'disconnected: ' + why : 'disconnected');
  };

  const onData = (d) => send(d);
  term.on('data', onData);

  const fitNow = () => { try { term.fit(); } catch (_) {} };
  fitNow();
  const ro = new ResizeObserver(fitNow);
  ro.observe(screen);

  return {
    connected: () => connected,
    close: () => {
      ro.disconnect();
      term.off('data', onData);
      ws.onclose = null;
      try { ws.close(); } catch (_) {}
      ws = null;
      connected = false;
    },
    copy: () => copySelection(term, fail),
    // Enter is CR on a serial line; sent in small paced chunks so the guest's UART keeps up.
    paste: async (text, { signal, onProgress } = {}) => {
      const data = text.replace(/\r?\n/g, '\r');
      for (let i = 0; i < data.length; i += 32) {
        if ((signal && signal.aborted) || !connected) return false;
        send(data.slice(i, i + 32));
        if (onProgress) onProgress(Math.min(i + 32, data.length), data.length);
        await new Promise((r) => setTimeout(r, 15));
      }
      return true;
    },
  };
}

// SPICE: spice-html5's main channel connection; it opens its other channels to the same URL.
async function openSPICE(screen, url, setStatus, fail) {
  let Spice;
  try { Spice = await import('/vendor/spice-html5/main.js'); } catch (e) {
    throw new Error('cannot load spice-html5 from /vendor/spice-html5 (Debian package spice-html5): ' + e.message);
  }
  screen.replaceChildren();
  const messages = h('div', { id: 'spice-messages', hidden: true });
  screen.after(messages);
  let connected = false;
  let sc = null;
  const onResize = () => { try { Spice.handle_resize(); } catch (_) {} };
  sc = new Spice.SpiceMainConn({
    uri: url,
    screen_id: screen.id,
    message_id: messages.id,
    onerror: (e) => {
      connected = false;
      setStatus('disconnected', 'disconnected: ' + (e && e.message ? e.message : 'connection failed'));
      try { sc.stop(); } catch (_) {}
    },
    onsuccess: () => { connected = true; setStatus('connected', 'connected'); },
    onagent: (conn) => {
      // spice-html5's resize helpers look for the connection on window.
      window.spice_connection = conn;
      Spice.resize_helper(conn);
      window.addEventListener('resize', onResize);
    },
  });
  return {
    connected: () => connected,
    close: () => {
      window.removeEventListener('resize', onResize);
      if (window.spice_connection === sc) window.spice_connection = undefined;
      try { sc.stop(); } catch (_) {}
      messages.remove();
      connected = false;
    },
    sendCAD: () => Spice.sendCtrlAltDel(sc),
  };
}
