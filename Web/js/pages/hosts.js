// Hosts page: the daemon's connections (local + remote URIs), add by URI, remove.
import { api, cpath } from '../api.js';
import { h, showError, clearError, fmtKiB } from '../ui.js';

let root = null;

function connLinks(id) {
  const base = '#/c/' + encodeURIComponent(id);
  return h('span', { class: 'actions' },
    h('a', { href: base + '/guests' }, 'Guests'),
    h('a', { href: base + '/storage' }, 'Storage'),
    h('a', { href: base + '/networks' }, 'Networks'));
}

function statusCell(c) {
  if (c.connected === false) {
    return [h('span', { class: 'badge bad' }, 'disconnected'), c.error ? h('span', { class: 'sub' }, c.error) : null];
  }
  return h('span', { class: 'badge ok' }, 'connected');
}

function row(c) {
  const hostInfo = h('span', { class: 'sub', dataset: { field: 'node' } });
  const actions = h('td', { class: 'actions-cell', 'data-label': '' });
  if (!c.local) {
    const remove = h('button', { class: 'btn danger small', type: 'button', dataset: { action: 'remove' } }, 'Remove');
    remove.addEventListener('click', async () => {
      clearError(actions);
      remove.disabled = true;
      try {
        await api('DELETE', '/connections/' + encodeURIComponent(c.id));
        document.dispatchEvent(new Event('corral:connections-changed'));
        await load();
      } catch (e) { remove.disabled = false; showError(actions, e); }
    });
    actions.append(remove);
  }
  const tr = h('tr', { dataset: { conn: c.id } },
    h('td', { class: 'title-cell', 'data-label': 'Host' },
      h('div', {}, h('strong', {}, c.hostname || c.id), ' ',
        c.readOnly ? h('span', { class: 'badge ro', dataset: { field: 'readonly' } }, 'read-only') : null,
        h('span', { class: 'sub' }, c.uri || ''), hostInfo)),
    h('td', { 'data-label': 'ID' }, c.id),
    h('td', { 'data-label': 'Hypervisor' }, c.hypervisor || ''),
    h('td', { 'data-label': 'Status', dataset: { field: 'status' } }, h('div', {}, statusCell(c))),
    h('td', { 'data-label': 'Open' }, connLinks(c.id)),
    actions);
  // Node facts are a second, optional call: a slow remote host must not hold up the list.
  if (c.connected !== false) {
    api('GET', cpath(c.id, 'host')).then((info) => {
      const n = info.node || {};
      const parts = [];
      if (info.version) parts.push(`${info.hypervisor || c.hypervisor || ''} ${info.version}`.trim());
      if (n.cpus) parts.push(n.cpus + ' CPUs');
      if (n.memoryKiB) parts.push(fmtKiB(n.memoryKiB));
      if (n.model) parts.push(n.model);
      hostInfo.textContent = parts.join(' · ');
    }).catch(() => {});
  }
  return tr;
}

async function load() {
  const box = root && root.querySelector('#connections');
  if (!box) return;
  try {
    const conns = await api('GET', '/connections');
    clearError(box);
    const table = h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, ['Host', 'ID', 'Hypervisor', 'Status', 'Open', ''].map(t => h('th', {}, t)))),
      h('tbody', {}, conns.map(row)));
    box.replaceChildren(table);
  } catch (e) {
    box.replaceChildren();
    showError(box, e);
  }
}

export async function render(el) {
  root = el;
  const uri = h('input', { id: 'add-connection-uri', type: 'text', class: 'wide', placeholder: 'qemu+tcp://host:port/system',
    spellcheck: 'false', autocomplete: 'off', 'aria-label': 'Connection URI' });
  const ro = h('input', { id: 'add-connection-readonly', type: 'checkbox' });
  const add = h('button', { id: 'add-connection-button', type: 'submit', class: 'btn primary' }, 'Add connection');
  const form = h('form', { class: 'card', id: 'add-connection' },
    h('h2', {}, 'Add a host'),
    h('div', { class: 'form-row' },
      h('label', {}, 'URI', uri),
      h('label', { class: 'check' }, ro, 'Read-only'),
      add),
    h('p', { class: 'muted' }, 'qemu+tcp://HOST:PORT/system, qemu+unix:///system?socket=PATH or qemu+ssh://USER@HOST/system'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError(form);
    const value = uri.value.trim();
    if (!value) { showError(form, new Error('Enter a connection URI, e.g. qemu+tcp://127.0.0.1:16509/system')); return; }
    add.disabled = true;
    try {
      await api('POST', '/connections', { uri: value, readOnly: ro.checked });
      uri.value = '';
      ro.checked = false;
      document.dispatchEvent(new Event('corral:connections-changed'));
      await load();
    } catch (e) { showError(form, e); }
    finally { add.disabled = false; }
  });
  el.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Hosts')),
    h('section', { class: 'card', id: 'connections' }, h('p', { class: 'empty' }, 'Loading…')),
    form);
  await load();
}

export function unmount() { root = null; }
