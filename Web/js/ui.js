// Small DOM helpers shared by the pages.

// h('button', {class: 'x', onclick: f, dataset: {action: 'start'}}, 'Start')
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Shows err's message in (or right after) `where`, the element the user acted on.
export function showError(where, err) {
  let box = where.classList && where.classList.contains('error-message') ? where : where.querySelector(':scope > .error-message');
  if (!box) { box = h('div', { class: 'error-message', role: 'alert' }); where.append(box); }
  box.textContent = err && err.message ? err.message : String(err);
  box.hidden = false;
}

export function clearError(where) {
  const box = where.classList && where.classList.contains('error-message') ? where : where.querySelector(':scope > .error-message');
  if (box) { box.textContent = ''; box.hidden = true; }
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + units[i];
}

// KiB figures from the API (memoryKiB) in the same units as fmtBytes.
export function fmtKiB(kib) {
  if (kib === undefined || kib === null) return '';
  return fmtBytes(kib * 1024).replace(/\.0 /, ' ');   // "512 MiB", not "512.0 MiB"
}

// Bytes per second, for disk and network rates.
export function fmtRate(bps) {
  if (bps === undefined || bps === null || !isFinite(bps)) return '';
  return fmtBytes(Math.round(bps)) + '/s';
}

// A badge for a virsh state word ("running", "shut off", ...); the class gives its colour.
export function stateBadge(state) {
  const cls = 'state state-' + String(state || 'unknown').replace(/\s+/g, '-');
  return h('span', { class: cls }, state || 'unknown');
}

// Modal yes/no question in a <dialog>. extra: nodes shown above the buttons (e.g. a checkbox).
// Resolves true when #confirm-ok is pressed, false on cancel/Escape.
export function confirmDialog(title, message, { okLabel = 'OK', danger = false, extra = [] } = {}) {
  return new Promise((resolve) => {
    const ok = h('button', { id: 'confirm-ok', type: 'button', class: danger ? 'btn danger' : 'btn primary' }, okLabel);
    const cancel = h('button', { id: 'confirm-cancel', type: 'button', class: 'btn' }, 'Cancel');
    const dlg = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title' }, title),
      message ? h('p', {}, message) : null,
      ...extra,
      h('div', { class: 'dialog-buttons' }, cancel, ok));
    let answered = false;
    const finish = (v) => { if (answered) return; answered = true; dlg.close(); dlg.remove(); resolve(v); };
    ok.addEventListener('click', () => finish(true));
    cancel.addEventListener('click', () => finish(false));
    dlg.addEventListener('cancel', (ev) => { ev.preventDefault(); finish(false); });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

// Draws values (0..max) as a small line on a canvas; used for the guest list's sparklines.
export function drawSparkline(canvas, values, max, color = '#0066cc') {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, ht = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  if (canvas.height !== Math.round(ht * dpr)) canvas.height = Math.round(ht * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, ht);
  if (!values.length) return;
  const top = max > 0 ? max : Math.max(1, ...values);
  const n = Math.max(values.length, 60);
  const x = (i) => w - (values.length - 1 - i) * (w / (n - 1));
  const y = (v) => ht - 1 - Math.min(1, Math.max(0, v / top)) * (ht - 2);
  ctx.beginPath();
  values.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.stroke();
  ctx.lineTo(x(values.length - 1), ht);
  ctx.lineTo(x(0), ht);
  ctx.closePath();
  ctx.globalAlpha = 0.15;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.globalAlpha = 1;
}
