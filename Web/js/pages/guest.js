// One guest: overview (state, resources, autostart, lifecycle, consoles), performance charts
// (chart.js, from the stats events), hardware (list, add, remove, CD-ROM media, boot order)
// and the XML editor.
import { api, cpath } from '../api.js';
import { subscribe } from '../events.js';
import { onStats, samples, windowMs } from '../stats.js';
import { h, showError, clearError, fmtKiB, fmtBytes, fmtRate, stateBadge, confirmDialog } from '../ui.js';
import { actionsFor, runAction } from './guests.js';

const TABS = [['overview', 'Overview'], ['performance', 'Performance'], ['hardware', 'Hardware'], ['xml', 'XML']];
const ACTION_LABELS = { start: 'Run', resume: 'Resume', suspend: 'Pause', shutdown: 'Shut down', reboot: 'Reboot', destroy: 'Force off', delete: 'Delete' };

let page = null;   // {conn, name, d, root, unsubs, charts, onSummary: [fn]}

const dpath = (...parts) => cpath(page.conn, 'domains', page.name, ...parts);

function parseXML(text) {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  const err = doc.querySelector('parsererror');
  if (err) throw new Error('XML: ' + err.textContent.split('\n')[0]);
  return doc;
}
const serialize = (node) => new XMLSerializer().serializeToString(node);
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

// Summary changes (actions, events) are pushed to whichever tab is showing.
function setSummary(d) {
  page.d = { ...page.d, ...d };
  for (const fn of page.onSummary) fn(page.d);
}

async function reloadSummary() {
  const my = page;
  try {
    const d = await api('GET', dpath());
    if (page === my) setSummary(d);
  } catch (e) {
    if (page === my && e.status === 404) {
      setSummary({ state: 'deleted' });
      showError(my.headErr, new Error(`${my.name} no longer exists on ${my.conn}.`));
    }
  }
}

function lifecycleButtons() {
  const box = h('div', { class: 'actions', id: 'guest-actions' });
  const err = h('div', { class: 'actions' });
  const wrap = h('div', {}, box, err);
  const buttons = Object.entries(ACTION_LABELS).map(([action, label]) => {
    const b = h('button', { type: 'button', class: 'btn' + (action === 'destroy' || action === 'delete' ? ' danger' : action === 'start' ? ' primary' : ''),
      dataset: { action } }, label);
    b.addEventListener('click', async () => {
      clearError(err);
      buttons.forEach(x => { x.disabled = true; });
      try {
        const res = await runAction(page.conn, page.name, action);
        if (res && res.name) setSummary(res);
        else if (res && res.deleted && !res.warnings.length) location.hash = `#/c/${encodeURIComponent(page.conn)}/guests`;
        else {
          if (res && res.deleted) showError(err, new Error('Deleted; ' + res.warnings.join('; ')));
          await reloadSummary();
        }
      } catch (e) { showError(err, e); }
      finally { buttons.forEach(x => { x.disabled = false; }); }
    });
    return b;
  });
  box.append(...buttons);
  const sync = (d) => { const ok = actionsFor(d.state); buttons.forEach(b => { b.hidden = !ok.includes(b.dataset.action); }); };
  sync(page.d);
  page.onSummary.push(sync);
  return wrap;
}

function consoleLinks(d) {
  const base = `#/c/${encodeURIComponent(page.conn)}/console/${encodeURIComponent(page.name)}/`;
  const kinds = [];
  for (const g of d.graphics || []) if ((g.type === 'vnc' || g.type === 'spice') && !kinds.includes(g.type)) kinds.push(g.type);
  if (d.serials > 0) kinds.push('serial');
  if (!kinds.length) return h('span', { class: 'muted' }, 'This guest has no graphics or serial console.');
  const label = { vnc: 'Graphical console (VNC)', spice: 'Graphical console (SPICE)', serial: 'Serial console' };
  return h('span', { class: 'actions' }, kinds.map(k => h('a', { class: 'btn', href: base + k, dataset: { console: k } }, label[k])));
}

// ---------- Overview ----------
async function overview(box) {
  const props = h('dl', { class: 'props' });
  const consoles = h('div', {});
  const autostart = h('input', { type: 'checkbox', id: 'autostart' });
  const autoBox = h('div', { class: 'actions' }, h('label', { class: 'check' }, autostart, 'Start when the host starts'));
  autostart.addEventListener('change', async () => {
    clearError(autoBox);
    autostart.disabled = true;
    try {
      const d = await api('PUT', dpath('autostart'), { autostart: autostart.checked });
      if (d && d.name) setSummary(d); else setSummary({ autostart: autostart.checked });
    } catch (e) { autostart.checked = !autostart.checked; showError(autoBox, e); }
    finally { autostart.disabled = false; }
  });
  const osName = h('span', {});
  const addrs = h('span', {}, '');
  const fill = (d) => {
    props.replaceChildren(
      h('dt', {}, 'Operating system'), h('dd', {}, osName),
      h('dt', {}, 'vCPUs'), h('dd', { dataset: { field: 'vcpus' } }, d.vcpus ?? ''),
      h('dt', {}, 'Memory'), h('dd', { dataset: { field: 'memory' } }, fmtKiB(d.memoryKiB),
        d.maxMemoryKiB && d.maxMemoryKiB !== d.memoryKiB ? ` (maximum ${fmtKiB(d.maxMemoryKiB)})` : ''),
      h('dt', {}, 'IP addresses'), h('dd', {}, addrs),
      h('dt', {}, 'UUID'), h('dd', {}, d.uuid || ''),
      h('dt', {}, 'Persistent'), h('dd', {}, d.persistent === false ? 'no (transient)' : 'yes'),
      h('dt', {}, 'Autostart'), h('dd', {}, autoBox));
    autostart.checked = !!d.autostart;
    autostart.disabled = d.persistent === false;
    consoles.replaceChildren(consoleLinks(d));
    loadAddresses(d, addrs);
  };
  box.append(
    h('section', { class: 'card' }, h('h2', {}, 'Lifecycle'), lifecycleButtons()),
    h('section', { class: 'card' }, h('h2', {}, 'Details'), props),
    h('section', { class: 'card' }, h('h2', {}, 'Consoles'), consoles));
  fill(page.d);
  page.onSummary.push(fill);
  // The OS name comes from the libosinfo metadata virt-install (and our wizard) writes.
  try {
    const doc = parseXML(await api('GET', dpath('xml'), undefined, { text: true }));
    const os = [...doc.getElementsByTagName('*')].find(e => e.localName === 'os' && e.getAttribute('id'));
    const type = doc.querySelector('os > type');
    osName.textContent = os ? await osLabel(os.getAttribute('id')) : '';
    if (type) osName.append(osName.textContent ? ' · ' : '', `${type.textContent} (${type.getAttribute('arch') || ''} ${type.getAttribute('machine') || ''})`.replace(' )', ')'));
  } catch (_) { osName.textContent = page.d.osType || ''; }
}

// libosinfo ids are URLs (http://debian.org/debian/12); their short-id (debian12) names the OS
// in GET /osinfo/{id}. Falls back to the URL's tail when the daemon does not know it.
async function osLabel(url) {
  const tail = url.replace(/^https?:\/\/[^/]+\//, '').split('/');
  const shortId = tail.slice(-2).join('');
  try { const os = await api('GET', '/osinfo/' + encodeURIComponent(shortId)); if (os && os.name) return os.name; } catch (_) {}
  return tail.join(' ');
}

async function loadAddresses(d, el) {
  if (d.state !== 'running') { el.textContent = '—'; return; }
  try {
    const ifs = await api('GET', dpath('interfaces'));
    const list = [];
    for (const i of ifs) for (const a of i.addrs || []) list.push(`${a.addr}/${a.prefix}`);
    el.textContent = list.length ? list.join(', ') : 'none known yet';
  } catch (e) { el.textContent = e.message; el.className = 'muted'; }
}

// ---------- Performance ----------
let chartLoad = null;
function loadChartJS() {
  if (window.Chart) return Promise.resolve(window.Chart);
  if (!chartLoad) {
    chartLoad = new Promise((resolve, reject) => {
      // Debian's chart.min.js is the UMD build: it sets window.Chart.
      const s = h('script', { src: '/vendor/chart.js/chart.min.js' });
      s.onload = () => (window.Chart ? resolve(window.Chart) : reject(new Error('chart.js did not load')));
      s.onerror = () => { chartLoad = null; reject(new Error('cannot load /vendor/chart.js/chart.min.js')); };
      document.head.append(s);
    });
  }
  return chartLoad;
}

const CHARTS = [
  { id: 'chart-cpu', title: 'CPU', unit: 'pct', sets: [['CPU %', s => s.cpu, '#0066cc']] },
  { id: 'chart-memory', title: 'Memory', unit: 'bytes', sets: [['In use', s => (s.rssKiB ?? null) === null ? null : s.rssKiB * 1024, '#3e8635'],
    ['Allocated', s => (s.memKiB ?? null) === null ? null : s.memKiB * 1024, '#8bc1f7']] },
  { id: 'chart-disk', title: 'Disk I/O', unit: 'rate', sets: [['Read', s => s.diskRd, '#5752d1'], ['Write', s => s.diskWr, '#ec7a08']] },
  { id: 'chart-net', title: 'Network', unit: 'rate', sets: [['Received', s => s.netRx, '#009596'], ['Sent', s => s.netTx, '#c9190b']] },
];

function fmtUnit(unit, v) {
  if (v === null || v === undefined) return '–';
  return unit === 'pct' ? v.toFixed(1) + '%' : unit === 'bytes' ? fmtBytes(Math.round(v)).replace(/\.0 /, ' ') : fmtRate(v);
}

async function performance(box) {
  const grid = h('div', { class: 'charts' });
  const err = h('div', {});
  box.append(h('p', { class: 'muted' }, 'The last 5 minutes, from the daemon\'s periodic statistics. Disk and network show bytes per second.'), err, grid);
  const views = CHARTS.map(c => {
    const canvas = h('canvas', { id: c.id });
    const now = h('span', { class: 'muted', dataset: { field: c.id.replace('chart-', 'now-') } });
    grid.append(h('section', { class: 'card' }, h('h2', {}, c.title, ' ', now), h('div', { class: 'chart-box' }, canvas)));
    return { c, canvas, now, chart: null };
  });
  let Chart;
  try { Chart = await loadChartJS(); } catch (e) { showError(err, e); return; }
  if (!page || !box.isConnected) return;
  for (const v of views) {
    v.chart = new Chart(v.canvas, {
      type: 'line',
      data: { datasets: v.c.sets.map(([label, , color]) => ({ label, data: [], borderColor: color, backgroundColor: color + '22',
        fill: true, pointRadius: 0, borderWidth: 1.5, tension: 0.2, spanGaps: false })) },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: { type: 'linear', min: -windowMs / 1000, max: 0, ticks: { stepSize: 60, callback: (t) => (t === 0 ? 'now' : `${-t / 60} min`) } },
          // Rates start at a 1 KiB/s scale, so an idle guest's flat line does not read "1 B/s" on every tick.
          y: { beginAtZero: true, suggestedMax: v.c.unit === 'pct' ? 100 : v.c.unit === 'rate' ? 1024 : undefined, ticks: { callback: (t) => (v.c.unit === 'pct' ? t + '%' : fmtUnit(v.c.unit, t)) } },
        },
        plugins: { legend: { display: v.c.sets.length > 1, position: 'bottom',
          labels: { filter: (item, data) => !data.datasets[item.datasetIndex].unreported } },
          tooltip: { callbacks: { title: (items) => items.length ? `${Math.round(-items[0].parsed.x)} s ago` : '',
            label: (it) => `${it.dataset.label}: ${fmtUnit(v.c.unit, it.parsed.y)}` } } },
      },
    });
    page.charts.push(v.chart);
  }
  const redraw = () => {
    const list = samples(page.conn, page.name);
    // Relative to the newest sample: the daemon's clock, not the browser's.
    const t0 = list.length ? list[list.length - 1].time : Date.now();
    for (const v of views) {
      v.c.sets.forEach(([, get], i) => {
        const ds = v.chart.data.datasets[i];
        ds.data = list.map(s => ({ x: (s.time - t0) / 1000, y: get(s) ?? null }));
        // A series the host never reports (RSS without a balloon driver) is left out, not drawn as "–".
        const unreported = list.length > 0 && ds.data.every(p => p.y === null);
        // Shown again once the host reports it (the first samples may predate the counters);
        // a series the user hid by its legend stays hidden.
        if (unreported) ds.hidden = true; else if (ds.unreported) ds.hidden = false;
        ds.unreported = unreported;
      });
      const last = list[list.length - 1];
      // Memory never exceeds the maximum: a fixed scale in quarters of it reads 0, 64, 128... MiB.
      if (v.c.unit === 'bytes' && last && last.maxKiB) {
        v.chart.options.scales.y.max = last.maxKiB * 1024;
        v.chart.options.scales.y.ticks.stepSize = last.maxKiB * 256;
      }
      v.chart.update('none');
      v.now.textContent = last ? v.c.sets.filter(([, get]) => get(last) !== null && get(last) !== undefined)
        .map(([label, get]) => (v.c.sets.length > 1 ? label + ' ' : '') + fmtUnit(v.c.unit, get(last))).join(' · ') : '';
    }
  };
  redraw();
  page.unsubs.push(onStats((msg) => { if (msg.connection === page.conn && box.isConnected) redraw(); }));
}

// ---------- Hardware ----------
const KIND_LABELS = { cdrom: 'CD-ROM', floppy: 'Floppy', lun: 'LUN', interface: 'Network', redirdev: 'USB redirection',
  hostdev: 'Host device', rng: 'RNG', tpm: 'TPM' };
function deviceKindLabel(dev, el) {
  const kind = dev.kind === 'disk' && el ? el.getAttribute('device') || 'disk' : dev.kind;
  if (dev.kind === 'controller' && el) {
    const t = el.getAttribute('type') || '';
    return `${['usb', 'pci', 'scsi', 'sata', 'ide'].includes(t) ? t.toUpperCase() : t} controller`;
  }
  const label = KIND_LABELS[kind] || kind;
  return label.charAt(0).toUpperCase() + label.slice(1);
}

// A free target name (vda, sdb, ...) for a new disk on a bus.
function freeTarget(devices, bus) {
  const prefix = bus === 'virtio' ? 'vd' : bus === 'ide' ? 'hd' : 'sd';
  const used = new Set();
  for (const d of devices) {
    if (d.kind !== 'disk') continue;
    try { const t = parseXML(d.xml).querySelector('target'); if (t) used.add(t.getAttribute('dev')); } catch (_) {}
  }
  for (let i = 0; i < 26; i++) { const n = prefix + String.fromCharCode(97 + i); if (!used.has(n)) return n; }
  for (let i = 0; i < 26; i++) for (let j = 0; j < 26; j++) {
    const n = prefix + String.fromCharCode(97 + i) + String.fromCharCode(97 + j);
    if (!used.has(n)) return n;
  }
  throw new Error('no free disk name left on bus ' + bus);
}

async function hardware(box) {
  const list = h('div', { class: 'device-list' });
  const listCard = h('section', { class: 'card' }, h('h2', {}, 'Devices'), list);
  const bootCard = h('section', { class: 'card', id: 'boot-order' });
  const addCard = h('section', { class: 'card', id: 'add-hardware' }, h('h2', {}, 'Add hardware'));
  box.append(listCard, bootCard, addCard);
  let devices = [];

  const load = async () => {
    try {
      devices = await api('GET', dpath('devices'));
      clearError(listCard);
    } catch (e) { showError(listCard, e); return; }
    list.replaceChildren(...devices.map(deviceRow));
    if (!devices.length) list.append(h('p', { class: 'empty' }, 'No devices.'));
  };

  const deviceRow = (dev) => {
    let el = null;
    try { el = parseXML(dev.xml).documentElement; } catch (_) {}
    const kind = deviceKindLabel(dev, el);
    const actions = h('div', { class: 'actions' });
    const row = h('div', { class: 'device', dataset: { deviceKind: dev.kind } },
      h('span', { class: 'kind' }, kind),
      h('span', { class: 'summary' }, dev.summary || ''),
      actions);
    const act = async (btn, fn) => {
      clearError(row);
      btn.disabled = true;
      try { await fn(); await load(); } catch (e) { showError(row, e); } finally { btn.disabled = false; }
    };
    if (dev.kind === 'disk' && el && el.getAttribute('device') === 'cdrom') {
      const src = el.querySelector('source');
      const path = h('input', { type: 'text', class: 'media-path', placeholder: '/path/to/image.iso',
        value: src ? (src.getAttribute('file') || src.getAttribute('dev') || '') : '', 'aria-label': 'CD-ROM image path' });
      const change = h('button', { type: 'button', class: 'btn small', dataset: { action: 'change-media' } }, 'Change media');
      const eject = h('button', { type: 'button', class: 'btn small', dataset: { action: 'eject' }, disabled: !src }, 'Eject');
      change.addEventListener('click', () => act(change, async () => {
        const file = path.value.trim();
        if (!file) throw new Error('Enter the path of an ISO image on the host.');
        const doc = parseXML(dev.xml); const disk = doc.documentElement;
        for (const s of [...disk.querySelectorAll('source')]) s.remove();
        disk.setAttribute('type', 'file');
        const s = doc.createElement('source'); s.setAttribute('file', file);
        disk.insertBefore(s, disk.querySelector('target'));
        await api('PUT', dpath('devices'), { xml: serialize(doc) });
      }));
      eject.addEventListener('click', () => act(eject, async () => {
        const doc = parseXML(dev.xml);
        for (const s of [...doc.documentElement.querySelectorAll('source')]) s.remove();
        await api('PUT', dpath('devices'), { xml: serialize(doc) });
      }));
      actions.append(path, change, eject);
    }
    // Any other change (disk cache or bus, NIC link state, ...) edits the device's XML: update-device.
    const edit = h('button', { type: 'button', class: 'btn small', dataset: { action: 'edit' } }, 'Edit');
    edit.addEventListener('click', () => {
      if (row.querySelector('.device-edit')) return;
      const ta = h('textarea', { class: 'device-xml', rows: 6, spellcheck: 'false', wrap: 'off' });
      ta.value = dev.xml;
      const save = h('button', { type: 'button', class: 'btn primary small', dataset: { action: 'update' } }, 'Apply');
      const cancel = h('button', { type: 'button', class: 'btn small' }, 'Cancel');
      const box = h('div', { class: 'device-edit' }, ta, h('div', { class: 'actions' }, save, cancel));
      cancel.addEventListener('click', () => box.remove());
      save.addEventListener('click', () => act(save, async () => {
        parseXML(ta.value);
        await api('PUT', dpath('devices'), { xml: ta.value });
      }));
      row.append(box);
      ta.focus();
    });
    actions.append(edit);
    // Controllers are part of the machine; everything else can go.
    if (!['controller', 'emulator', 'memballoon'].includes(dev.kind)) {
      const remove = h('button', { type: 'button', class: 'btn small danger', dataset: { action: 'remove' } }, 'Remove');
      remove.addEventListener('click', async () => {
        const ok = await confirmDialog(`Remove this ${kind}?`, dev.summary || '', { okLabel: 'Remove', danger: true });
        if (ok) await act(remove, () => api('POST', dpath('devices', 'detach'), { xml: dev.xml }));
      });
      actions.append(remove);
    }
    return row;
  };

  await load();
  bootOrder(bootCard);
  addForms(addCard, () => devices, load);
}

// A small "add X" form: fields + a button; build() returns the device XML (or throws a readable error).
function addForm(title, id, fields, build, after) {
  const btn = h('button', { type: 'submit', class: 'btn primary' }, 'Add');
  const form = h('form', { id }, h('div', { class: 'form-row' }, fields, btn));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError(form);
    btn.disabled = true;
    try {
      // build() gives the XML, or {xml, undo} when it created something (a volume) that a
      // failed attach must not leave behind.
      const built = await build();
      const { xml, undo } = typeof built === 'string' ? { xml: built } : built;
      try { await api('POST', dpath('devices'), { xml }); } catch (e) {
        if (undo) await undo().catch(() => {});
        throw e;
      }
      await after();
    } catch (e) { showError(form, e); }
    finally { btn.disabled = false; }
  });
  return h('details', { class: 'add-device' }, h('summary', {}, title), form);
}

const select = (name, options, value) => h('select', { name },
  options.map(o => { const [v, l] = Array.isArray(o) ? o : [o, o]; return h('option', { value: v, selected: v === value }, l); }));
const field = (label, input) => h('label', {}, label, input);

function addForms(card, devices, reload) {
  // Disk: a new volume in a pool, or an existing file on the host.
  const source = select('source', [['new', 'New volume in a pool'], ['path', 'Existing file']], 'new');
  const pool = h('select', { name: 'pool' });
  const size = h('input', { type: 'number', name: 'size', min: 1, value: 10, style: 'width:6rem' });
  const format = select('format', ['qcow2', 'raw'], 'qcow2');
  const path = h('input', { type: 'text', name: 'path', placeholder: '/var/lib/corral/images/disk.qcow2' });
  const device = select('device', [['disk', 'Disk'], ['cdrom', 'CD-ROM']], 'disk');
  const bus = select('bus', ['virtio', 'sata', 'scsi', 'usb', 'ide'], 'virtio');
  const poolFields = [field('Pool', pool), field('Size (GiB)', size), field('Format', format)].map(f => f);
  const pathField = field('Path', path);
  const showSource = () => {
    const isNew = source.value === 'new' && device.value === 'disk';
    poolFields.forEach(f => { f.hidden = !isNew; });
    pathField.hidden = isNew;
    source.disabled = device.value === 'cdrom';
  };
  source.addEventListener('change', showSource);
  device.addEventListener('change', () => { if (device.value === 'cdrom' && bus.value === 'virtio') bus.value = 'sata'; showSource(); });
  api('GET', cpath(page.conn, 'pools')).then(pools => {
    pool.replaceChildren(...pools.filter(p => p.active !== false).map(p => h('option', { value: p.name }, p.name)));
  }).catch(() => {});
  showSource();
  card.append(addForm('Storage', 'add-disk', [device, source, ...poolFields, pathField, field('Bus', bus)], async () => {
    const target = freeTarget(devices(), bus.value);
    const ro = device.value === 'cdrom' ? '<readonly/>' : '';
    if (device.value === 'cdrom') {
      const src = path.value.trim() ? `<source file='${esc(path.value.trim())}'/>` : '';
      return `<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>${src}<target dev='${target}' bus='${esc(bus.value)}'/>${ro}</disk>`;
    }
    if (source.value === 'new') {
      const gib = Number(size.value);
      if (!pool.value) throw new Error('No active storage pool on this host: create or start one on the Storage page.');
      if (!(gib > 0)) throw new Error('Enter a size in GiB greater than 0.');
      const vol = await api('POST', cpath(page.conn, 'pools', pool.value, 'volumes'),
        { name: `${page.name}-${target}.${format.value}`, capacity: Math.round(gib * 1024 ** 3), format: format.value });
      const volName = vol && vol.name ? vol.name : `${page.name}-${target}.${format.value}`;
      const undo = () => api('DELETE', cpath(page.conn, 'pools', pool.value, 'volumes', volName));
      const tgt = `<target dev='${target}' bus='${esc(bus.value)}'/>`;
      // By path when the pool tells it, as virt-manager does (file-backed pools); else by pool/volume.
      const drv = `<driver name='qemu' type='${esc(format.value)}'/>`;
      if (vol && vol.path && vol.type === 'file') {
        return { xml: `<disk type='file' device='disk'>${drv}<source file='${esc(vol.path)}'/>${tgt}</disk>`, undo };
      }
      if (vol && vol.path && vol.type === 'block') {
        return { xml: `<disk type='block' device='disk'>${drv}<source dev='${esc(vol.path)}'/>${tgt}</disk>`, undo };
      }
      return { xml: `<disk type='volume' device='disk'>${drv}<source pool='${esc(pool.value)}' volume='${esc(volName)}'/>${tgt}</disk>`, undo };
    }
    const file = path.value.trim();
    if (!file) throw new Error('Enter the path of a disk image on the host.');
    const type = /\.qcow2$/i.test(file) ? 'qcow2' : 'raw';
    return `<disk type='file' device='disk'><driver name='qemu' type='${type}'/><source file='${esc(file)}'/><target dev='${target}' bus='${esc(bus.value)}'/></disk>`;
  }, reload));

  // Network interface: user-mode or a virtual network.
  const netType = select('type', [['user', 'User-mode (SLIRP)'], ['network', 'Virtual network']], 'user');
  const netName = h('select', { name: 'network' });
  const netField = field('Network', netName);
  const model = select('model', ['virtio', 'e1000e', 'e1000', 'rtl8139'], 'virtio');
  const showNet = () => { netField.hidden = netType.value !== 'network'; };
  netType.addEventListener('change', showNet);
  showNet();
  api('GET', cpath(page.conn, 'networks')).then(nets => {
    netName.replaceChildren(...nets.map(n => h('option', { value: n.name }, n.name + (n.active ? '' : ' (inactive)'))));
  }).catch(() => {});
  card.append(addForm('Network interface', 'add-nic', [field('Type', netType), netField, field('Model', model)], () => {
    if (netType.value === 'network') {
      if (!netName.value) throw new Error('No virtual network on this host: create one on the Networks page.');
      return `<interface type='network'><source network='${esc(netName.value)}'/><model type='${esc(model.value)}'/></interface>`;
    }
    return `<interface type='user'><model type='${esc(model.value)}'/></interface>`;
  }, reload));

  const gType = select('type', [['vnc', 'VNC'], ['spice', 'SPICE']], 'vnc');
  card.append(addForm('Graphics', 'add-graphics', [field('Type', gType)],
    () => `<graphics type='${esc(gType.value)}' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics>`, reload));

  const vModel = select('model', ['virtio', 'qxl', 'vga', 'bochs', 'ramfb'], 'virtio');
  card.append(addForm('Video', 'add-video', [field('Model', vModel)], () => `<video><model type='${esc(vModel.value)}'/></video>`, reload));

  const iType = select('type', [['tablet', 'Tablet'], ['keyboard', 'Keyboard'], ['mouse', 'Mouse']], 'tablet');
  const iBus = select('bus', ['usb', 'virtio'], 'usb');
  card.append(addForm('Input', 'add-input', [field('Type', iType), field('Bus', iBus)],
    () => `<input type='${esc(iType.value)}' bus='${esc(iBus.value)}'/>`, reload));

  const uModel = select('model', [['qemu-xhci', 'USB 3 (qemu-xhci)'], ['ich9-ehci1', 'USB 2 (ich9-ehci1)'], ['piix3-uhci', 'USB 1 (piix3-uhci)']], 'qemu-xhci');
  card.append(addForm('USB controller', 'add-usb', [field('Model', uModel)],
    () => `<controller type='usb' model='${esc(uModel.value)}'/>`, reload));

  card.append(addForm('USB redirection (SPICE)', 'add-redirdev', [h('span', { class: 'muted' }, 'Lets a SPICE client pass a USB device to the guest.')],
    () => `<redirdev bus='usb' type='spicevmc'/>`, reload));
}

// Boot order: <os><boot dev=.../> in the persistent XML, as virt-manager's boot options.
async function bootOrder(card) {
  const DEVS = [['hd', 'Hard disk'], ['cdrom', 'CD-ROM'], ['network', 'Network (PXE)'], ['fd', 'Floppy']];
  card.replaceChildren(h('h2', {}, 'Boot order'));
  let doc;
  try { doc = parseXML(await api('GET', dpath('xml') + '?inactive=1', undefined, { text: true })); } catch (e) { showError(card, e); return; }
  const os = doc.querySelector('domain > os');
  if (!os) { card.append(h('p', { class: 'muted' }, 'This guest has no <os> element.')); return; }
  let current = [...os.querySelectorAll(':scope > boot')].map(b => b.getAttribute('dev'));
  // No <boot> at all means libvirt's default, the first hard disk (unless devices carry orders).
  if (!current.length && !doc.querySelector('devices boot')) current = ['hd'];
  const order = [...current.filter(d => DEVS.some(([v]) => v === d)), ...DEVS.map(([v]) => v).filter(v => !current.includes(v))];
  const ul = h('ul', { class: 'boot-list' });
  const items = order.map(dev => {
    const cb = h('input', { type: 'checkbox', checked: current.includes(dev), dataset: { boot: dev } });
    const up = h('button', { type: 'button', class: 'btn small', title: 'Move up' }, '↑');
    const down = h('button', { type: 'button', class: 'btn small', title: 'Move down' }, '↓');
    const li = h('li', { dataset: { bootDev: dev } }, cb, h('span', {}, DEVS.find(([v]) => v === dev)[1]), up, down);
    up.addEventListener('click', () => { if (li.previousElementSibling) ul.insertBefore(li, li.previousElementSibling); });
    down.addEventListener('click', () => { if (li.nextElementSibling) ul.insertBefore(li.nextElementSibling, li); });
    return li;
  });
  ul.append(...items);
  const perDevice = !!doc.querySelector('devices boot');
  const save = h('button', { type: 'button', class: 'btn primary', id: 'boot-save' }, 'Save boot order');
  const note = h('span', { class: 'muted' });
  const actions = h('div', { class: 'actions' }, save, note);
  save.addEventListener('click', async () => {
    clearError(actions);
    note.textContent = '';
    const chosen = [...ul.children].filter(li => li.querySelector('input').checked).map(li => li.dataset.bootDev);
    if (!chosen.length) { showError(actions, new Error('Choose at least one boot device.')); return; }
    save.disabled = true;
    try {
      // Fresh copy: the XML may have changed since the tab was opened.
      const fresh = parseXML(await api('GET', dpath('xml') + '?inactive=1', undefined, { text: true }));
      const fos = fresh.querySelector('domain > os');
      for (const b of [...fos.querySelectorAll(':scope > boot')]) b.remove();
      // libvirt refuses <os><boot> together with per-device <boot order>.
      for (const b of [...fresh.querySelectorAll('devices boot')]) b.remove();
      const anchor = fos.querySelector(':scope > bootmenu, :scope > smbios, :scope > bios') || null;
      for (const dev of chosen) { const b = fresh.createElement('boot'); b.setAttribute('dev', dev); fos.insertBefore(b, anchor); }
      const d = await api('PUT', dpath('xml'), serialize(fresh));
      if (d && d.name) setSummary(d);
      note.textContent = page.d.state === 'running' ? 'Saved; applies at the next start.' : 'Saved.';
    } catch (e) { showError(actions, e); }
    finally { save.disabled = false; }
  });
  if (perDevice) card.append(h('p', { class: 'muted' }, 'Devices carry their own boot order now; saving replaces it with this list.'));
  card.append(ul, actions);
}

// ---------- XML ----------
async function xmlTab(box) {
  const editor = h('textarea', { id: 'xml-editor', wrap: 'off', spellcheck: 'false', autocomplete: 'off', 'aria-label': 'Domain XML' });
  const save = h('button', { type: 'button', class: 'btn primary', id: 'xml-save' }, 'Save');
  const revert = h('button', { type: 'button', class: 'btn', id: 'xml-reload' }, 'Reload');
  const note = h('span', { class: 'muted', id: 'xml-note' });
  const card = h('section', { class: 'card' },
    h('p', { class: 'muted' }, 'The persistent definition. Saving redefines the guest; a running guest picks up the changes at its next start.'),
    editor, h('div', { class: 'actions', style: 'margin-top:.5rem' }, save, revert, note));
  const errBox = h('div', { class: 'error-message', role: 'alert', hidden: true });
  card.append(errBox);
  box.append(card);
  const load = async () => {
    clearError(errBox);
    try { editor.value = await api('GET', dpath('xml') + '?inactive=1', undefined, { text: true }); note.textContent = ''; }
    catch (e) { showError(errBox, e); }
  };
  save.addEventListener('click', async () => {
    clearError(errBox);
    note.textContent = '';
    save.disabled = true;
    try {
      const d = await api('PUT', dpath('xml'), editor.value);
      if (d && d.name) setSummary(d);
      note.textContent = 'Saved.';
      await load();
      note.textContent = 'Saved.';
    } catch (e) { showError(errBox, e); }
    finally { save.disabled = false; }
  });
  revert.addEventListener('click', load);
  await load();
}

// ---------- Page ----------
export async function render(root, params) {
  const conn = params.conn, name = params.name;
  const tab = TABS.some(([t]) => t === params.tab) ? params.tab : 'overview';
  const base = `#/c/${encodeURIComponent(conn)}/guest/${encodeURIComponent(name)}`;
  const stateEl = h('span', { dataset: { field: 'state' } });
  const headErr = h('div', {});
  page = { conn, name, d: { name }, root, unsubs: [], charts: [], onSummary: [], headErr };
  const my = page;
  root.append(
    h('div', { class: 'breadcrumb' }, h('a', { href: `#/c/${encodeURIComponent(conn)}/guests` }, 'Guests'), ' › ', name),
    h('div', { class: 'page-head' }, h('h1', {}, name), stateEl),
    headErr,
    h('nav', { class: 'tabs' }, TABS.map(([t, label]) =>
      h('a', { href: `${base}/${t}`, class: t === tab ? 'active' : '', dataset: { tab: t } }, label))));
  const body = h('div', { class: 'tab-body', dataset: { tabBody: tab } });
  root.append(body);
  page.onSummary.push((d) => { stateEl.replaceChildren(stateBadge(d.state)); stateEl.dataset.state = d.state; });
  try {
    page.d = await api('GET', dpath());
  } catch (e) { showError(headErr, e); return; }
  if (page !== my) return;
  setSummary(page.d);
  page.unsubs.push(subscribe((msg) => {
    if (page !== my || msg.connection !== conn) return;
    if (msg.type === 'lifecycle' && msg.domain === name) {
      // defined/undefined say nothing about whether it runs (an edited running guest is "defined").
      if (msg.state && msg.event !== 'defined' && msg.event !== 'undefined') setSummary({ state: msg.state });
      reloadSummary();
    } else if (msg.type === 'stats') {
      const d = (msg.domains || []).find(x => x.name === name);
      if (d && d.state && d.state !== page.d.state) setSummary({ state: d.state });
    }
  }));
  const tabs = { overview, performance, hardware, xml: xmlTab };
  await tabs[tab](body);
}

export function unmount() {
  if (!page) return;
  for (const u of page.unsubs) u();
  for (const c of page.charts) c.destroy();
  page = null;
}
