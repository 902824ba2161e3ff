// The page shell: connection switcher and nav links that follow the current connection.
// app.js owns routing; this listens to its corral:route event.
import { api } from './api.js';
import { h } from './ui.js';
import { record } from './stats.js';

let currentConn = 'local';
let currentPage = 'guests';
const connPages = new Set(['guests', 'storage', 'networks']);

function updateNav() {
  for (const a of document.querySelectorAll('#mainnav a[data-nav]')) {
    const page = a.dataset.nav;
    if (connPages.has(page)) a.setAttribute('href', `#/c/${encodeURIComponent(currentConn)}/${page}`);
    const active = page === currentPage || (page === 'guests' && ['guest', 'new', 'console', 'wizard'].includes(currentPage));
    a.classList.toggle('active', active);
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const sel = document.getElementById('connection-switcher');
  if (sel && [...sel.options].some(o => o.value === currentConn)) sel.value = currentConn;
}

// Refills the switcher from GET /connections; called at start and when the hosts page changes them.
export async function refreshConnections() {
  const sel = document.getElementById('connection-switcher');
  if (!sel) return;
  let conns;
  try { conns = await api('GET', '/connections'); } catch (e) {
    sel.replaceChildren(h('option', { value: currentConn }, currentConn));
    sel.title = e.message;
    return;
  }
  sel.replaceChildren(...conns.map(c => h('option', { value: c.id },
    (c.hostname ? `${c.hostname} (${c.id})` : c.id) + (c.connected === false ? ' — offline' : ''))));
  if (!conns.some(c => c.id === currentConn)) sel.append(h('option', { value: currentConn }, currentConn));
  updateNav();
}

function setup() {
  const sel = document.getElementById('connection-switcher');
  sel.addEventListener('change', () => {
    // Stay on the same kind of page for the new connection; guest-specific pages fall back to the list.
    const page = connPages.has(currentPage) ? currentPage : 'guests';
    location.hash = `#/c/${encodeURIComponent(sel.value)}/${page}`;
  });
  const toggle = document.getElementById('nav-toggle');
  const nav = document.getElementById('mainnav');
  toggle.addEventListener('click', () => {
    const open = nav.classList.toggle('open');
    toggle.setAttribute('aria-expanded', String(open));
  });
  nav.addEventListener('click', (ev) => {
    if (ev.target.closest('a')) { nav.classList.remove('open'); toggle.setAttribute('aria-expanded', 'false'); }
  });
  refreshConnections();
  record();
}

document.addEventListener('corral:route', (ev) => {
  const { page, params } = ev.detail;
  currentPage = page;
  if (params.conn) currentConn = params.conn;
  updateNav();
});
document.addEventListener('corral:connections-changed', refreshConnections);

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', setup);
else setup();
