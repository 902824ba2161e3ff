// Guest list of one connection: live state (lifecycle events), CPU and memory sparklines
// (stats events), lifecycle buttons shown by state, delete with optional storage.
import { api, cpath } from '../api.js';
import { subscribe } from '../events.js';
import { onStats, samples } from '../stats.js';
import { h, showError, clearError, fmtKiB, stateBadge, confirmDialog, drawSparkline } from '../ui.js';

// The lifecycle actions a guest offers in each virsh state (virt-manager's menu, roughly).
const ACTIONS = [
  ['start', 'Run'], ['resume', 'Resume'], ['suspend', 'Pause'], ['shutdown', 'Shut down'],
  ['reboot', 'Reboot'], ['destroy', 'Force off'], ['delete', 'Delete'],
];
const RUNNING = ['suspend', 'shutdown', 'reboot', 'destroy', 'delete'];
const BY_STATE = {
  'running': RUNNING, 'idle': RUNNING, 'no state': RUNNING, 'blocked': RUNNING,
  'paused': ['resume', 'shutdown', 'destroy', 'delete'],
  'shut off': ['start', 'delete'],
  'shutdown': ['destroy', 'delete'],
  'crashed': ['destroy', 'delete'],
  'pmsuspended': ['destroy', 'delete'],
};
export function actionsFor(state) { return BY_STATE[state] || ['destroy', 'delete']; }

// Runs one lifecycle action (or delete) for a guest; shared with the guest page.
// Returns the new DomainSummary; {deleted: true, warnings} after a delete; null when the user
// cancelled or the guest is gone (a transient guest that stopped: the daemon answers 204).
export async function runAction(conn, name, action) {
  if (action === 'delete') {
    const storage = h('input', { id: 'delete-storage', type: 'checkbox' });
    const ok = await confirmDialog(`Delete ${name}?`,
      'The guest is forced off if it is running, and its definition removed.',
      { okLabel: 'Delete', danger: true, extra: [h('label', { class: 'check' }, storage, 'Also delete its storage volumes and disk files')] });
    if (!ok) return null;
    const res = await api('DELETE', cpath(conn, 'domains', name) + (storage.checked ? '?storage=1' : ''));
    return { deleted: true, warnings: (res && res.warnings) || [] };
  }
  if (action === 'destroy') {
    const ok = await confirmDialog(`Force off ${name}?`, 'Like pulling the power cord: unsaved data in the guest is lost.',
      { okLabel: 'Force off', danger: true });
    if (!ok) return null;
  }
  return api('POST', cpath(conn, 'domains', name, action));
}

let state = null;   // {conn, rows: Map(name -> {tr, ...}), unsubs: []}

function makeRow(conn, d) {
  const stateCell = h('td', { 'data-label': 'State', dataset: { field: 'state' } });
  const cpuText = h('span', { dataset: { field: 'cpu' } }, '');
  const memText = h('span', { dataset: { field: 'memory' } }, '');
  const sparkCpu = h('canvas', { class: 'spark-cpu', width: 90, height: 26, title: 'CPU % (last minute)' });
  const sparkMem = h('canvas', { class: 'spark-mem', width: 90, height: 26, title: 'Memory in use (last minute)' });
  const vcpus = h('td', { 'data-label': 'vCPUs', class: 'num', dataset: { field: 'vcpus' } });
  const buttons = ACTIONS.map(([action, label]) => h('button', {
    type: 'button', class: 'btn small' + (action === 'destroy' || action === 'delete' ? ' danger' : ''),
    dataset: { action } }, label));
  const actionsCell = h('td', { 'data-label': '', class: 'actions-cell' }, h('div', { class: 'actions' }, buttons));
  const tr = h('tr', { dataset: { domain: d.name } },
    h('td', { class: 'title-cell', 'data-label': 'Name' },
      h('a', { href: `#/c/${encodeURIComponent(conn)}/guest/${encodeURIComponent(d.name)}` }, d.name),
      h('span', { class: 'sub', dataset: { field: 'os' } })),
    stateCell, vcpus,
    h('td', { 'data-label': 'Memory' }, h('div', { class: 'metric' }, memText, sparkMem)),
    h('td', { 'data-label': 'CPU' }, h('div', { class: 'metric' }, cpuText, sparkCpu)),
    actionsCell);
  const row = { tr, d, stateCell, cpuText, memText, sparkCpu, sparkMem, vcpus, buttons, actionsCell, busy: false };
  for (const b of buttons) {
    b.addEventListener('click', async () => {
      const action = b.dataset.action;
      clearError(actionsCell);
      row.busy = true; setButtons(row);
      try {
        const res = await runAction(conn, d.name, action);
        if (res && res.name) update(row, res);
        else if (res && res.deleted) {
          removeRow(d.name);
          // Storage the daemon could not remove is reported, not silently left behind.
          if (res.warnings.length) showError(state.listBox, new Error(`${d.name} deleted; ` + res.warnings.join('; ')));
        } else refreshOne(d.name);
      } catch (e) { showError(actionsCell, e); }
      finally { row.busy = false; setButtons(row); }
    });
  }
  update(row, d);
  return row;
}

function setButtons(row) {
  const allowed = actionsFor(row.d.state);
  for (const b of row.buttons) {
    b.hidden = !allowed.includes(b.dataset.action);
    b.disabled = row.busy;
  }
}

function setState(row, st) {
  if (!st || st === row.d.state) return;
  row.d.state = st;
  row.stateCell.replaceChildren(stateBadge(st));
  setButtons(row);
}

function update(row, d) {
  row.d = { ...row.d, ...d };
  row.stateCell.replaceChildren(stateBadge(row.d.state));
  row.vcpus.textContent = row.d.vcpus ?? '';
  row.memText.textContent = fmtKiB(row.d.memoryKiB);
  row.tr.querySelector('[data-field="os"]').textContent = row.d.osType && row.d.osType !== 'hvm' ? row.d.osType : '';
  if (row.d.state !== 'running') row.cpuText.textContent = row.d.state === 'paused' ? '0%' : '';
  setButtons(row);
  drawSparks(row);
}

function drawSparks(row) {
  const list = samples(state.conn, row.d.name).slice(-60);
  drawSparkline(row.sparkCpu, list.map(s => s.cpu ?? 0), 100, '#0066cc');
  const max = row.d.maxMemoryKiB || row.d.memoryKiB || 0;
  // A stopped guest uses no host memory, whatever its allocation.
  const used = (s) => (s.state === 'running' || s.state === 'paused' ? s.rssKiB ?? s.memKiB ?? 0 : 0);
  drawSparkline(row.sparkMem, list.map(used), max, '#3e8635');
  const last = list[list.length - 1];
  if (last && (last.rssKiB ?? null) !== null) row.sparkMem.title = `In use: ${fmtKiB(last.rssKiB)} of ${fmtKiB(max)}`;
}

function removeRow(name) {
  const row = state && state.rows.get(name);
  if (!row) return;
  row.tr.remove();
  state.rows.delete(name);
  if (!state.rows.size) showEmpty();
}

function showEmpty() {
  const tbody = state.tbody;
  if (!tbody.querySelector('tr.empty-row')) {
    tbody.append(h('tr', { class: 'empty-row' }, h('td', { colspan: 6, class: 'empty' }, 'No guests on this host yet.')));
  }
}

function addRow(d) {
  const empty = state.tbody.querySelector('tr.empty-row');
  if (empty) empty.remove();
  const row = makeRow(state.conn, d);
  state.rows.set(d.name, row);
  // Keep the list sorted by name as virsh list does.
  const after = [...state.rows.keys()].filter(n => n > d.name).sort()[0];
  if (after) state.tbody.insertBefore(row.tr, state.rows.get(after).tr); else state.tbody.append(row.tr);
}

async function refreshOne(name) {
  const my = state;
  try {
    const d = await api('GET', cpath(my.conn, 'domains', name));
    if (state !== my) return;
    const row = my.rows.get(name);
    if (row) update(row, d); else addRow(d);
  } catch (e) {
    if (state === my && e.status === 404) removeRow(name);
  }
}

function onEvent(msg) {
  if (!state || msg.connection !== state.conn) return;
  if (msg.type === 'lifecycle') {
    const row = state.rows.get(msg.domain);
    if (msg.event === 'undefined') {
      // A running guest can be undefined and stay (transient) — ask rather than assume.
      refreshOne(msg.domain);
    } else if (!row || msg.event === 'defined') {
      refreshOne(msg.domain);
    } else {
      setState(row, msg.state);
      if (msg.event === 'stopped' || msg.event === 'started') refreshOne(msg.domain);
    }
  } else if (msg.type === 'error') {
    showError(state.listBox, new Error('Live updates: ' + msg.message));
  }
}

function onStatsMsg(msg) {
  if (!state || msg.connection !== state.conn) return;
  clearError(state.listBox);
  for (const d of msg.domains || []) {
    const row = state.rows.get(d.name);
    if (!row) continue;
    if (d.state) setState(row, d.state);
    if (typeof d.cpuPercent === 'number') row.cpuText.textContent = d.cpuPercent.toFixed(1) + '%';
    if (d.memoryKiB && d.memoryKiB !== row.d.memoryKiB) { row.d.memoryKiB = d.memoryKiB; row.memText.textContent = fmtKiB(d.memoryKiB); }
    drawSparks(row);
  }
}

export async function render(root, params) {
  const conn = params.conn;
  const tbody = h('tbody');
  const listBox = h('section', { class: 'card', id: 'guest-list' });
  state = { conn, rows: new Map(), tbody, listBox, unsubs: [] };
  const my = state;
  const roBadge = h('span', { class: 'badge ro', hidden: true, title: 'Changes are refused on this connection' }, 'read-only');
  api('GET', '/connections').then(cs => { const c = cs.find(x => x.id === conn); if (c && c.readOnly) roBadge.hidden = false; }).catch(() => {});
  root.append(
    h('div', { class: 'page-head' },
      h('h1', {}, 'Guests'), h('span', { class: 'muted' }, 'on ', conn), roBadge, h('span', { class: 'spacer' }),
      h('a', { id: 'new-guest', class: 'btn primary', href: `#/c/${encodeURIComponent(conn)}/new` }, 'New guest')),
    listBox);
  let list;
  try {
    list = await api('GET', cpath(conn, 'domains'));
  } catch (e) {
    showError(listBox, e);
    return;
  }
  if (state !== my) return;
  listBox.append(h('table', { class: 'list guests' },
    h('thead', {}, h('tr', {}, ['Name', 'State', 'vCPUs', 'Memory', 'CPU', 'Actions'].map(t => h('th', {}, t)))),
    tbody));
  list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const d of list) addRow(d);
  if (!list.length) showEmpty();
  my.unsubs.push(subscribe(onEvent), onStats(onStatsMsg));
}

export function unmount() {
  if (state) for (const u of state.unsubs) u();
  state = null;
}
