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
