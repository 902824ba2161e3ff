// New guest: virt-manager's wizard on one page. The OS chosen from osinfo-db fills in the
// resources and devices virt-install would pick; the daemon builds the XML (POST .../guests).
import { api, cpath, ApiError } from '../api.js';
import { h, showError, clearError } from '../ui.js';

let searchTimer = null;

export function unmount() {
  clearTimeout(searchTimer);
  searchTimer = null;
}

const opt = (value, label, selected) => h('option', { value, selected: !!selected }, label || value);
const field = (label, control, hint) =>
  h('label', { class: 'wz-field' }, h('span', { class: 'wz-label' }, label), control, hint ? h('small', { class: 'wz-hint' }, hint) : null);

export async function render(root, { conn }) {
  const connPath = `#/c/${encodeURIComponent(conn)}`;

  // Install source.
  const radio = (value, label, checked) =>
    h('label', { class: 'wz-radio' }, h('input', { type: 'radio', name: 'install', value, checked }), ' ', label);
  const iso = h('input', { name: 'iso', type: 'text', list: 'wz-isos', placeholder: '/var/lib/images/debian.iso or pool/volume', autocomplete: 'off' });
  const disk = h('input', { name: 'disk', type: 'text', list: 'wz-disks', placeholder: '/var/lib/images/disk.qcow2 or pool/volume', autocomplete: 'off' });
  const kernel = h('input', { name: 'kernel', type: 'text', placeholder: '/boot/vmlinuz' });
  const initrd = h('input', { name: 'initrd', type: 'text', placeholder: '/boot/initrd.img (optional)' });
  const cmdline = h('input', { name: 'cmdline', type: 'text', placeholder: 'console=ttyS0 (optional)' });
  const isoList = h('datalist', { id: 'wz-isos' });
  const diskList = h('datalist', { id: 'wz-disks' });
  const isoBox = h('div', { class: 'wz-kind', 'data-kind': 'iso' }, field('ISO image', iso, 'A path on the host, or pool/volume'));
  // The existing disk: the whole install for an import, an optional root disk for a direct
  // kernel boot.
  const diskLabel = h('span', { class: 'wz-label' });
  const diskHint = h('small', { class: 'wz-hint' });
  const diskBox = h('div', { class: 'wz-disk' }, h('label', { class: 'wz-field' }, diskLabel, disk, diskHint));
  const kernelBox = h('div', { class: 'wz-kind', 'data-kind': 'kernel' },
    field('Kernel', kernel), field('Initrd', initrd), field('Kernel arguments', cmdline));

  // OS variant.
  const osSearch = h('input', { id: 'os-search', type: 'search', placeholder: 'Type to search: debian, fedora 40, win…', autocomplete: 'off', 'aria-controls': 'os-results' });
  const osResults = h('ul', { id: 'os-results', class: 'wz-os-results', role: 'listbox' });
  const osInput = h('input', { name: 'os', type: 'text', placeholder: 'short id, e.g. debian12', autocomplete: 'off', spellcheck: 'false' });
  const osNote = h('p', { class: 'wz-os-note', id: 'os-note' });
  const osBox = h('div', { class: 'wz-os' }, field('Search osinfo-db', osSearch), osResults, field('OS id', osInput), osNote);

  // Resources and devices.
  const name = h('input', { name: 'name', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' });
  const memory = h('input', { name: 'memory', type: 'number', min: 16, step: 1, value: 1024, required: true });
  const vcpus = h('input', { name: 'vcpus', type: 'number', min: 1, step: 1, value: 1, required: true });
  const diskSize = h('input', { name: 'diskSize', type: 'number', min: 0, step: 'any', value: 10 });
  const pool = h('select', { name: 'pool' });
  const diskFormat = h('select', { name: 'diskFormat' }, opt('qcow2', 'qcow2', true), opt('raw'));
  const diskBus = h('select', { name: 'diskBus' }, opt('virtio'), opt('sata'), opt('scsi'), opt('ide'));
  const nicModel = h('select', { name: 'nicModel' }, opt('virtio'), opt('e1000e'), opt('e1000'), opt('rtl8139'));
  const video = h('select', { name: 'video' }, opt('virtio'), opt('qxl'), opt('vga'), opt('bochs'), opt('none'));
  const firmware = h('select', { name: 'firmware' }, opt('bios', 'BIOS'), opt('efi', 'UEFI'));
  const network = h('select', { name: 'network' }, opt('user', 'Usermode networking (NAT, no setup)'));
  const graphics = h('select', { name: 'graphics' }, opt('vnc', 'VNC'), opt('spice', 'SPICE'), opt('none', 'None (serial console only)'));
  const start = h('input', { name: 'start', type: 'checkbox', checked: true });
  const newDiskBox = h('div', { class: 'wz-newdisk' },
    field('Disk size (GiB)', diskSize, '0: no disk'), field('Storage pool', pool), field('Disk format', diskFormat));

  const previewBtn = h('button', { type: 'button', id: 'wizard-preview', class: 'btn' }, 'Show XML');
  const createBtn = h('button', { type: 'submit', id: 'wizard-create', class: 'btn primary' }, 'Create');
  const xmlOut = h('pre', { id: 'wizard-xml', class: 'wz-xml', hidden: true });
  const actions = h('div', { class: 'wz-actions' }, previewBtn, createBtn);

  const form = h('form', { id: 'wizard', class: 'wizard', novalidate: true },
    h('fieldset', { class: 'wz-step card' }, h('legend', {}, '1. Installation source'),
      h('div', { class: 'wz-radios' }, radio('iso', 'Install from an ISO image', true), radio('import', 'Import an existing disk image'), radio('kernel', 'Direct kernel boot')),
      isoBox, kernelBox, diskBox, isoList, diskList),
    h('fieldset', { class: 'wz-step card' }, h('legend', {}, '2. Operating system'), osBox),
    h('fieldset', { class: 'wz-step card' }, h('legend', {}, '3. Name, memory and CPUs'),
      h('div', { class: 'wz-grid' }, field('Name', name), field('Memory (MiB)', memory), field('vCPUs', vcpus))),
    h('fieldset', { class: 'wz-step card' }, h('legend', {}, '4. Storage'),
      h('div', { class: 'wz-grid' }, newDiskBox, field('Disk bus', diskBus))),
    h('fieldset', { class: 'wz-step card' }, h('legend', {}, '5. Devices'),
      h('div', { class: 'wz-grid' }, field('Network', network), field('NIC model', nicModel), field('Graphics', graphics),
        field('Video', video), field('Firmware', firmware)),
      h('label', { class: 'check wz-check' }, start, ' Start the guest after creating it')),
    actions, xmlOut);

  root.append(h('section', { class: 'wizard-page' },
    h('div', { class: 'breadcrumb' }, h('a', { href: connPath + '/guests' }, 'Guests'), ` on ${conn}`),
    h('h1', {}, 'New virtual machine'),
    form));

  // --- install kind ----------------------------------------------------------------------
  const kindNow = () => (form.querySelector('input[name="install"]:checked') || {}).value || 'iso';
  const showKind = () => {
    const k = kindNow();
    for (const box of [isoBox, kernelBox]) box.hidden = box.dataset.kind !== k;
    newDiskBox.hidden = k === 'import';
    // An ISO install gets a new disk (virt-install's default); an existing one is for the others.
    diskBox.hidden = k === 'iso';
    diskLabel.textContent = k === 'import' ? 'Existing disk image' : 'Existing disk image (optional)';
    diskHint.textContent = k === 'import' ? 'The guest boots from this disk; nothing is copied. A path on the host, or pool/volume.'
      : 'The guest\'s root disk, used instead of a new one. A path on the host, or pool/volume.';
  };
  form.addEventListener('change', (e) => { if (e.target.name === 'install') showKind(); });
  showKind();

  // --- name suggestions: the OS's short id, made unique the way virt-manager does ----------
  let existing = new Set();
  let nameTouched = false;
  name.addEventListener('input', () => { nameTouched = name.value !== ''; });
  const suggestName = (base) => {
    if (nameTouched) return;
    let n = base, i = 2;
    while (existing.has(n)) n = `${base}-${i++}`;
    name.value = n;
  };

  // --- OS search and defaults -------------------------------------------------------------
  let chosenName = '';
  const osItem = (os) => h('li', {
    'data-os': os.id, role: 'option', tabindex: 0, class: 'wz-os-item',
    onclick: () => chooseOS(os.id, os.name),
    onkeydown: (e) => { if (e.key === 'Enter') { e.preventDefault(); chooseOS(os.id, os.name); } },
  }, h('span', { class: 'wz-os-name' }, os.name),
    h('span', { class: 'wz-os-meta' }, [os.id, os.version ? 'release ' + os.version : null, os.vendor, os.eol ? 'end of life' : null].filter(Boolean).join(' · ')));
  // Items already on screen are kept (same element), so a result the user is about to click
  // does not vanish under the pointer when a later search answers with it too.
  const showResults = (list) => {
    const old = new Map([...osResults.querySelectorAll('[data-os]')].map((li) => [li.dataset.os, li]));
    osResults.replaceChildren(...list.map((os) => old.get(os.id) || osItem(os)));
    if (!list.length) osResults.append(h('li', { class: 'wz-os-none' }, 'No OS matches; "generic" or "linux2022" fit most.'));
  };
  let searchSeq = 0;
  const search = async () => {
    const seq = ++searchSeq;
    clearError(osBox);
    try {
      const q = osSearch.value.trim();
      const list = await api('GET', '/osinfo' + (q ? '?q=' + encodeURIComponent(q) : ''));
      if (seq === searchSeq) showResults(list);  // an older answer arriving late is dropped
    } catch (e) { if (seq === searchSeq) showError(osBox, e); }
  };
  osSearch.addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(search, 150); });
  osSearch.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { const first = osResults.querySelector('[data-os]'); if (first) { e.preventDefault(); first.focus(); } }
    if (e.key === 'Enter') e.preventDefault();
  });

  const setSelect = (sel, value) => {
    if (value === undefined || value === null) return;
    if (![...sel.options].some((o) => o.value === value)) sel.append(opt(value));
    sel.value = value;
  };
  let osSeq = 0;
  async function chooseOS(id, label) {
    const seq = ++osSeq;
    clearError(osBox);
    osInput.value = id;
    for (const li of osResults.querySelectorAll('[data-os]')) li.classList.toggle('chosen', li.dataset.os === id);
    let info;
    try {
      info = await api('GET', '/osinfo/' + encodeURIComponent(id));
    } catch (e) {
      if (seq === osSeq) { osNote.textContent = ''; showError(osBox, e); }
      return;
    }
    if (seq !== osSeq) return;  // a later choice won
    chosenName = info.name || label || id;
    const d = info.defaults || {};
    if (d.memoryMiB) memory.value = d.memoryMiB;
    if (d.vcpus) vcpus.value = d.vcpus;
    if (d.diskGiB !== undefined && d.diskGiB !== null) diskSize.value = d.diskGiB;
    setSelect(diskBus, d.diskBus);
    setSelect(nicModel, d.nicModel);
    setSelect(video, d.video);
    setSelect(firmware, d.firmware);
    osSearch.value = chosenName;
    const rec = info.recommended || {}, min = info.minimum || {};
    const parts = [];
    if (rec.memoryMiB) parts.push(`${rec.memoryMiB} MiB memory`);
    if (rec.vcpus) parts.push(`${rec.vcpus} vCPU${rec.vcpus > 1 ? 's' : ''}`);
    if (rec.diskGiB) parts.push(`${rec.diskGiB} GiB disk`);
    osNote.replaceChildren(
      'Recommended by osinfo-db for ', h('strong', {}, chosenName),
      info.version ? ` (release ${info.version}${info.codename ? ', ' + info.codename : ''})` : '',
      parts.length ? `: ${parts.join(', ')}` : '', min.memoryMiB ? `; minimum ${min.memoryMiB} MiB memory` : '',
      '. The settings below were filled in from it; you can change them.');
    suggestName(id);
  }
  osInput.addEventListener('change', () => { const id = osInput.value.trim(); if (id) chooseOS(id); });

  // --- pools, networks, volumes for the pickers ------------------------------------------
  const loadPickers = async () => {
    const [pools, nets, doms] = await Promise.allSettled([
      api('GET', cpath(conn, 'pools')), api('GET', cpath(conn, 'networks')), api('GET', cpath(conn, 'domains'))]);
    if (doms.status === 'fulfilled') existing = new Set(doms.value.map((d) => d.name));
    if (pools.status === 'fulfilled') {
      const active = pools.value.filter((p) => p.active);
      pool.replaceChildren(...active.map((p) => opt(p.name, `${p.name} (${p.type || 'dir'}${p.path ? ', ' + p.path : ''})`, p.name === 'default')));
      if (!active.length) pool.append(opt('', 'no active storage pool'));
      // Offer the pools' volumes as ISO and disk choices (pool/volume).
      const vols = await Promise.allSettled(active.map((p) => api('GET', cpath(conn, 'pools', p.name, 'volumes'))));
      vols.forEach((r, i) => {
        if (r.status !== 'fulfilled') return;
        for (const v of r.value) {
          const ref = `${active[i].name}/${v.name}`;
          if (/\.iso$/i.test(v.name) || v.format === 'iso') isoList.append(h('option', { value: ref }));
          else diskList.append(h('option', { value: ref }, v.format || ''));
        }
      });
    } else showError(newDiskBox, pools.reason);
    if (nets.status === 'fulfilled') {
      for (const n of nets.value) network.append(opt(n.name, `Virtual network "${n.name}"${n.forward ? ' (' + n.forward + ')' : ''}${n.active ? '' : ' — inactive'}`));
    }
  };

  // --- the request --------------------------------------------------------------------------
  const invalid = (el, message) => {
    el.setAttribute('aria-invalid', 'true');
    el.focus();
    return new Error(message);
  };
  const body = () => {
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const k = kindNow();
    const install = { kind: k };
    if (k === 'iso') {
      if (!iso.value.trim()) throw invalid(iso, 'Choose the ISO image to install from.');
      install.iso = iso.value.trim();
    } else if (k === 'import') {
      if (!disk.value.trim()) throw invalid(disk, 'Choose the disk image to import.');
    } else {
      if (!kernel.value.trim()) throw invalid(kernel, 'Give the kernel to boot.');
      install.kernel = kernel.value.trim();
      if (initrd.value.trim()) install.initrd = initrd.value.trim();
      if (cmdline.value.trim()) install.cmdline = cmdline.value.trim();
    }
    if (k !== 'iso' && disk.value.trim()) install.disk = disk.value.trim();
    if (!name.value.trim()) throw invalid(name, 'Give the guest a name.');
    const mem = Number(memory.value), cpus = Number(vcpus.value), size = Number(diskSize.value || 0);
    if (!Number.isInteger(mem) || mem < 1) throw invalid(memory, 'Memory must be a whole number of MiB.');
    if (!Number.isInteger(cpus) || cpus < 1) throw invalid(vcpus, 'vCPUs must be a whole number, at least 1.');
    const req = {
      name: name.value.trim(),
      os: osInput.value.trim() || 'generic',
      install,
      memoryMiB: mem,
      vcpus: cpus,
      network: network.value === 'user' ? { type: 'user', model: nicModel.value } : { type: 'network', name: network.value, model: nicModel.value },
      graphics: graphics.value,
      video: video.value,
      firmware: firmware.value,
      serial: true,
      start: start.checked,
    };
    if (k !== 'import') {
      if (!(size >= 0) || !Number.isFinite(size)) throw invalid(diskSize, 'Disk size must be a number of GiB (0 for none).');
      // Always sent: without it the daemon makes the OS's default disk (virt-install's way);
      // 0 means none.
      req.disk = { sizeGiB: size, format: diskFormat.value, bus: diskBus.value };
      if (size > 0) {
        if (!pool.value) throw invalid(pool, 'There is no active storage pool for the new disk.');
        req.disk.pool = pool.value;
      }
    } else {
      req.disk = { bus: diskBus.value };
    }
    return req;
  };

  // The daemon's validation message names the field (virt-install's words); it is shown next
  // to that field too, where the fix is, besides the buttons where the user acted.
  const fieldFor = (message) => {
    const m = message.toLowerCase();
    const rules = [
      [/install\.iso/, iso], [/install\.disk/, disk], [/install\.kernel/, kernel], [/install\.initrd/, initrd],
      [/install\.cmdline/, cmdline], [/guest name|already exists|domain .* exists/, name], [/unknown os|osinfo/, osInput],
      [/memorymib|memory/, memory], [/vcpus/, vcpus], [/disk\.sizegib/, diskSize], [/disk\.format/, diskFormat],
      [/disk bus/, diskBus], [/storage pool|volume name/, pool], [/network model/, nicModel], [/network/, network],
      [/graphics/, graphics], [/video/, video], [/firmware|bios|ovmf/, firmware],
    ];
    const hit = rules.find(([re]) => re.test(m));
    return hit ? hit[1] : null;
  };
  const daemonError = (err) => {
    showError(actions, err);
    const el = err instanceof ApiError ? fieldFor(err.message || '') : null;
    if (!el) return;
    el.setAttribute('aria-invalid', 'true');
    const box = el.closest('.wz-field');
    if (box) showError(box, err);
  };
  const clearErrors = () => {
    clearError(actions);
    for (const box of form.querySelectorAll('.wz-field > .error-message')) clearError(box);
  };

  // A preview describes the form as it was: hide it once the form changes.
  const stale = (e) => { if (e.target !== osSearch) xmlOut.hidden = true; };
  form.addEventListener('input', stale);
  form.addEventListener('change', stale);

  previewBtn.addEventListener('click', async () => {
    clearErrors();
    try {
      const res = await api('POST', cpath(conn, 'guests') + '?dryRun=1', body());
      xmlOut.textContent = res.xml;
      xmlOut.hidden = false;
      xmlOut.scrollIntoView({ block: 'nearest' });
    } catch (e) { daemonError(e); }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    let req;
    try { req = body(); } catch (err) { showError(actions, err); return; }
    createBtn.disabled = true;
    createBtn.textContent = 'Creating…';
    try {
      const res = await api('POST', cpath(conn, 'guests'), req);
      const created = (res && res.domain && res.domain.name) || req.name;
      location.hash = `${connPath}/guest/${encodeURIComponent(created)}`;
    } catch (err) {
      daemonError(err);
    } finally {
      createBtn.disabled = false;
      createBtn.textContent = 'Create';
    }
  });

  await Promise.all([loadPickers().catch((e) => showError(actions, e)), search()]);
}
