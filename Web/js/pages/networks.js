// Virtual networks (virt-manager's Virtual Networks tab): state, autostart, bridge, forward
// mode and subnet; a new NAT or isolated network; start/stop/delete; the DHCP leases.
import { api, cpath } from '../api.js';
import { h, showError, clearError, stateBadge, confirmDialog } from '../ui.js';
import { cells } from './tables.js';

export function unmount() {}

// 255.255.255.0 -> 24 (null for a mask that is not contiguous ones).
function prefixOf(netmask) {
  if (!netmask) return null;
  const parts = netmask.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) return null;
  const bits = parts.reduce((acc, p) => acc * 256 + p, 0);
  let n = 0;
  while (n < 32 && bits & (2 ** (31 - n))) n++;
  return bits === (2 ** 32 - 2 ** (32 - n)) ? n : null;
}

function subnetText(n) {
  if (!n.ip) return '';
  const p = prefixOf(n.netmask);
  return p === null ? `${n.ip}${n.netmask ? ' / ' + n.netmask : ''}` : `${n.ip}/${p}`;
}

export async function render(root, { conn }) {
  const netsBody = h('tbody');
  const netsBox = h('div', { class: 'card' },
    h('div', { class: 'pc-head' }, h('h2', {}, 'Virtual networks'),
      h('button', { type: 'button', class: 'btn small', onclick: () => load() }, 'Reload')),
    h('table', { class: 'list', id: 'networks' },
      h('thead', {}, h('tr', {}, ...['Name', 'State', 'Autostart', 'Bridge', 'Forward', 'Subnet', 'DHCP', ''].map((t) => h('th', {}, t)))),
      netsBody));

  const newName = h('input', { id: 'new-network-name', type: 'text', placeholder: 'name', autocomplete: 'off', spellcheck: 'false' });
  const newForward = h('select', { id: 'new-network-forward' },
    h('option', { value: 'nat' }, 'NAT (guests reach outside networks)'),
    h('option', { value: 'isolated' }, 'Isolated (guests and host only)'));
  const newIPv4 = h('input', { id: 'new-network-ipv4', type: 'text', placeholder: '192.168.150.1/24', autocomplete: 'off', spellcheck: 'false' });
  const newDHCP = h('input', { id: 'new-network-dhcp', type: 'checkbox', checked: true });
  const newStart = h('input', { id: 'new-network-autostart', type: 'checkbox' });
  const newForm = h('form', { class: 'form-row pc-form', id: 'new-network' },
    h('h3', {}, 'New network'),
    h('label', { class: 'field' }, 'Name', newName), h('label', { class: 'field' }, 'Mode', newForward),
    h('label', { class: 'field' }, 'IPv4 address of the host / prefix', newIPv4),
    h('label', { class: 'check' }, newDHCP, ' DHCP for the guests'),
    h('label', { class: 'check' }, newStart, ' Start when the host starts'),
    h('button', { type: 'submit', class: 'btn primary', id: 'new-network-create' }, 'Create network'));
  netsBox.append(newForm);

  const leasesBody = h('tbody');
  const leasesBox = h('div', { class: 'card' },
    h('div', { class: 'pc-head' }, h('h2', {}, 'DHCP leases'),
      h('button', { type: 'button', class: 'btn small', onclick: () => loadLeases() }, 'Reload')),
    h('table', { class: 'list', id: 'leases' },
      h('thead', {}, h('tr', {}, ...['Network', 'MAC', 'IP address', 'Hostname', 'Expires'].map((t) => h('th', {}, t)))),
      leasesBody));

  root.append(h('section', { class: 'pc-page networks-page' }, h('div', { class: 'page-head' }, h('h1', {}, 'Networks')), netsBox, leasesBox));

  let nets = [];

  async function load() {
    clearError(netsBox);
    try { nets = await api('GET', cpath(conn, 'networks')); } catch (e) { showError(netsBox, e); return; }
    netsBody.replaceChildren(...nets.map(row));
    if (!nets.length) netsBody.append(h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No virtual networks yet.')));
    await loadLeases();
  }

  function row(n) {
    const actCell = h('td', { class: 'pc-actions' });
    const act = (action, label, cls) => h('button', {
      type: 'button', class: 'btn small' + (cls ? ' ' + cls : ''), 'data-action': action,
      onclick: async () => {
        clearError(actCell);
        if (action === 'delete' && !(await confirmDialog(`Delete the network ${n.name}?`,
          n.active ? 'It is stopped first; guests on it lose their connection.' : '', { okLabel: 'Delete', danger: true }))) return;
        try {
          if (action === 'delete') {
            // virsh net-undefine keeps a running network going until it stops; the page's
            // Delete means gone, so stop it first.
            if (n.active) await api('POST', cpath(conn, 'networks', n.name, 'destroy'));
            await api('DELETE', cpath(conn, 'networks', n.name));
          } else {
            await api('POST', cpath(conn, 'networks', n.name, action));
          }
          await load();
        } catch (err) { showError(actCell, err); }
      },
    }, label);
    actCell.append(n.active ? act('destroy', 'Stop') : act('start', 'Start'), act('delete', 'Delete', 'danger'));
    const dhcp = n.dhcpStart ? `${n.dhcpStart} – ${n.dhcpEnd || ''}` : 'off';
    const tr = h('tr', { 'data-network': n.name });
    tr.append(...cells([
      ['Name', h('strong', {}, n.name), n.persistent === false ? h('span', { class: 'sub' }, 'transient') : null],
      ['State', h('span', { 'data-field': 'state' }, stateBadge(n.active ? 'active' : 'inactive'))],
      ['Autostart', h('span', { 'data-field': 'autostart' }, n.autostart ? 'yes' : 'no')],
      ['Bridge', h('code', {}, n.bridge || '')],
      ['Forward', h('span', { 'data-field': 'forward' }, n.forward || 'isolated')],
      ['Subnet', h('span', { 'data-field': 'subnet' }, subnetText(n))],
      ['DHCP', dhcp],
    ]), actCell);
    return tr;
  }

  async function loadLeases() {
    clearError(leasesBox);
    const active = nets.filter((n) => n.active);
    const results = await Promise.allSettled(active.map((n) => api('GET', cpath(conn, 'networks', n.name, 'leases'))));
    const rows = [];
    results.forEach((r, i) => {
      if (r.status !== 'fulfilled') { showError(leasesBox, new Error(`${active[i].name}: ${r.reason.message}`)); return; }
      for (const l of r.value) {
        const expiry = l.expiry ? new Date(l.expiry * 1000).toLocaleString() : '';
        rows.push(h('tr', { 'data-lease': l.mac }, ...cells([
          ['Network', active[i].name], ['MAC', h('code', {}, l.mac)],
          ['IP address', l.ipaddr + (l.prefix ? '/' + l.prefix : '')], ['Hostname', l.hostname || ''], ['Expires', expiry]])));
      }
    });
    leasesBody.replaceChildren(...rows);
    if (!rows.length) leasesBody.append(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, active.length ? 'No leases.' : 'No active network.')));
  }

  newForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(newForm);
    const name = newName.value.trim(), ipv4 = newIPv4.value.trim();
    if (!name) { showError(newForm, new Error('Give the network a name.')); newName.focus(); return; }
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(ipv4)) {
      showError(newForm, new Error('The IPv4 address must look like 192.168.150.1/24 (the host\'s address on the network and the prefix length).'));
      newIPv4.focus();
      return;
    }
    try {
      await api('POST', cpath(conn, 'networks'), {
        name, forward: newForward.value, ipv4, dhcp: newDHCP.checked, start: true, autostart: newStart.checked,
      });
      newName.value = ''; newIPv4.value = '';
      await load();
    } catch (err) { showError(newForm, err); }
  });

  await load();
}
