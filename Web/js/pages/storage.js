// Storage pools and their volumes (virt-manager's Storage tab): pool state and usage, start/
// stop/refresh/delete, a new directory pool; volumes with create, delete, upload and download.
import { api, cpath, withToken } from '../api.js';
import { h, showError, clearError, fmtBytes, stateBadge, confirmDialog } from '../ui.js';
import { pct, cells, usageBar } from './tables.js';

let uploading = null;  // the XMLHttpRequest of an upload in progress

export function unmount() {
  if (uploading) { uploading.abort(); uploading = null; }
}

const GiB = 1024 ** 3;

export async function render(root, { conn }) {
  const poolsBody = h('tbody');
  const poolsBox = h('div', { class: 'card' },
    h('div', { class: 'pc-head' }, h('h2', {}, 'Storage pools'),
      h('button', { type: 'button', class: 'btn small', id: 'pools-reload', onclick: () => loadPools() }, 'Reload')),
    h('table', { class: 'list', id: 'pools' },
      h('thead', {}, h('tr', {}, ...['Name', 'State', 'Type', 'Path', 'Usage', ''].map((t) => h('th', {}, t)))),
      poolsBody));

  const newPoolName = h('input', { id: 'new-pool-name', type: 'text', placeholder: 'name', autocomplete: 'off', spellcheck: 'false' });
  const newPoolPath = h('input', { id: 'new-pool-path', type: 'text', placeholder: '/var/lib/corral/images/NAME' });
  const newPoolForm = h('form', { class: 'form-row pc-form', id: 'new-pool' },
    h('h3', {}, 'New directory pool'),
    h('label', { class: 'field' }, 'Name', newPoolName), h('label', { class: 'field' }, 'Directory', newPoolPath),
    h('button', { type: 'submit', class: 'btn primary', id: 'new-pool-create' }, 'Create pool'));
  poolsBox.append(newPoolForm);

  const volsTitle = h('h2', {}, 'Volumes');
  const volsBody = h('tbody');
  const volName = h('input', { id: 'new-volume-name', type: 'text', placeholder: 'disk.qcow2', autocomplete: 'off', spellcheck: 'false' });
  const volSize = h('input', { id: 'new-volume-size', type: 'number', min: 0, step: 'any', value: 10 });
  const volFormat = h('select', { id: 'new-volume-format' }, h('option', { value: 'qcow2' }, 'qcow2'), h('option', { value: 'raw' }, 'raw'));
  const volForm = h('form', { class: 'form-row pc-form', id: 'new-volume' },
    h('h3', {}, 'New volume'),
    h('label', { class: 'field' }, 'Name', volName), h('label', { class: 'field' }, 'Size (GiB)', volSize), h('label', { class: 'field' }, 'Format', volFormat),
    h('button', { type: 'submit', class: 'btn primary', id: 'new-volume-create' }, 'Create volume'));
  const uploadFile = h('input', { id: 'volume-upload-file', type: 'file' });
  const uploadProgress = h('progress', { id: 'volume-upload-progress', max: 1, value: 0, hidden: true });
  const uploadStatus = h('span', { class: 'pc-upload-status', id: 'volume-upload-status' });
  const uploadCancel = h('button', { type: 'button', class: 'btn small', hidden: true }, 'Cancel');
  const uploadBox = h('div', { class: 'form-row pc-form', id: 'volume-upload' },
    h('h3', {}, 'Upload a file as a new volume'),
    h('label', { class: 'field' }, 'File', uploadFile), h('div', { class: 'pc-upload-row' }, uploadProgress, uploadStatus, uploadCancel));
  const volsBox = h('div', { class: 'card', hidden: true },
    h('div', { class: 'pc-head' }, volsTitle),
    h('table', { class: 'list', id: 'volumes' },
      h('thead', {}, h('tr', {}, ...['Name', 'Format', 'Capacity', 'Allocation', ''].map((t) => h('th', {}, t)))),
      volsBody),
    volForm, uploadBox);

  root.append(h('section', { class: 'pc-page storage-page' }, h('div', { class: 'page-head' }, h('h1', {}, 'Storage')), poolsBox, volsBox));

  let selected = null;  // the pool whose volumes are shown
  let pools = [];

  async function loadPools() {
    clearError(poolsBox);
    try { pools = await api('GET', cpath(conn, 'pools')); } catch (e) { showError(poolsBox, e); return; }
    poolsBody.replaceChildren(...pools.map(poolRow));
    if (!pools.length) poolsBody.append(h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No storage pools yet.')));
    if (!selected || !pools.some((p) => p.name === selected)) {
      const first = pools.find((p) => p.name === 'default') || pools[0];
      selected = first ? first.name : null;
    }
    markSelected();
    await loadVolumes();
  }

  function markSelected() {
    for (const tr of poolsBody.querySelectorAll('tr[data-pool]')) tr.classList.toggle('selected', tr.dataset.pool === selected);
  }

  function poolRow(p) {
    const tr = h('tr', { 'data-pool': p.name });
    const act = (action, label, cls) => h('button', {
      type: 'button', class: 'btn small' + (cls ? ' ' + cls : ''), 'data-action': action,
      onclick: async (e) => {
        e.stopPropagation();
        clearError(actCell);
        if (action === 'delete' && !(await confirmDialog(`Delete the pool ${p.name}?`,
          (p.active ? 'It is stopped first. ' : '') + 'Its definition is removed; the directory and its volumes stay on disk.',
          { okLabel: 'Delete', danger: true }))) return;
        try {
          if (action === 'delete') {
            // An active pool that is only undefined lives on as a transient one; Delete means gone.
            if (p.active) await api('POST', cpath(conn, 'pools', p.name, 'destroy'));
            await api('DELETE', cpath(conn, 'pools', p.name));
          } else {
            await api('POST', cpath(conn, 'pools', p.name, action));
          }
          await loadPools();
        } catch (err) { showError(actCell, err); }
      },
    }, label);
    const actCell = h('td', { class: 'pc-actions' },
      p.active ? act('refresh', 'Refresh') : act('start', 'Start'),
      p.active ? act('destroy', 'Stop') : null,
      act('delete', 'Delete', 'danger'));
    tr.append(...cells([
      ['Name', h('a', { href: 'javascript:void 0', class: 'pc-pool-link', onclick: () => { selected = p.name; markSelected(); loadVolumes(); } }, p.name)],
      ['State', h('span', { 'data-field': 'state' }, stateBadge(p.state || (p.active ? 'running' : 'inactive'))),
        p.autostart ? h('span', { class: 'sub' }, 'autostart') : null],
      ['Type', p.type || ''],
      ['Path', h('code', {}, p.path || '')],
      ['Usage', p.active ? usageBar(p.allocation, p.capacity, `${fmtBytes(p.allocation)} of ${fmtBytes(p.capacity)} used, ${fmtBytes(p.available)} free`) : '—'],
    ]), actCell);
    tr.addEventListener('click', (e) => {
      if (e.target.closest('button, a')) return;
      selected = p.name; markSelected(); loadVolumes();
    });
    return tr;
  }

  async function loadVolumes() {
    const pool = pools.find((p) => p.name === selected);
    volsBox.hidden = !pool;
    if (!pool) return;
    volsTitle.textContent = `Volumes in "${pool.name}"`;
    clearError(volsBox);
    if (!pool.active) {
      volsBody.replaceChildren(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'The pool is not active: start it to see its volumes.')));
      return;
    }
    let vols;
    try { vols = await api('GET', cpath(conn, 'pools', pool.name, 'volumes')); } catch (e) { showError(volsBox, e); return; }
    if (selected !== pool.name) return;  // the user picked another pool meanwhile
    vols.sort((a, b) => a.name.localeCompare(b.name));
    volsBody.replaceChildren(...vols.map((v) => volRow(pool.name, v)));
    if (!vols.length) volsBody.append(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No volumes.')));
  }

  function volRow(pool, v) {
    const actCell = h('td', { class: 'pc-actions' });
    const href = withToken('/api/v1' + cpath(conn, 'pools', pool, 'volumes', v.name, 'content'));
    actCell.append(
      h('a', { href, download: v.name, class: 'btn small', 'data-action': 'download' }, 'Download'),
      h('button', {
        type: 'button', class: 'btn small danger', 'data-action': 'delete',
        onclick: async () => {
          clearError(actCell);
          if (!(await confirmDialog(`Delete the volume ${v.name}?`, 'Its data is lost.', { okLabel: 'Delete', danger: true }))) return;
          try {
            await api('DELETE', cpath(conn, 'pools', pool, 'volumes', v.name));
            await loadPools();
          } catch (err) { showError(actCell, err); }
        },
      }, 'Delete'));
    const tr = h('tr', { 'data-volume': v.name });
    tr.append(...cells([
      ['Name', h('span', { title: v.path || '' }, v.name)],
      ['Format', v.format || v.type || ''],
      ['Capacity', fmtBytes(v.capacity)],
      ['Allocation', fmtBytes(v.allocation)],
    ]), actCell);
    return tr;
  }

  newPoolForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(newPoolForm);
    const name = newPoolName.value.trim(), path = newPoolPath.value.trim();
    if (!name) { showError(newPoolForm, new Error('Give the pool a name.')); newPoolName.focus(); return; }
    if (!path.startsWith('/')) { showError(newPoolForm, new Error('The directory must be an absolute path.')); newPoolPath.focus(); return; }
    const xml = `<pool type='dir'><name>${esc(name)}</name><target><path>${esc(path)}</path></target></pool>`;
    try {
      await api('POST', cpath(conn, 'pools'), { xml, build: true, start: true, autostart: true });
      newPoolName.value = ''; newPoolPath.value = '';
      selected = name;
      await loadPools();
    } catch (err) { showError(newPoolForm, err); }
  });

  volForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(volForm);
    const name = volName.value.trim();
    const size = Number(volSize.value);
    if (!name) { showError(volForm, new Error('Give the volume a name.')); volName.focus(); return; }
    if (!(size > 0) || !Number.isFinite(size)) { showError(volForm, new Error('The size must be a number of GiB greater than 0.')); volSize.focus(); return; }
    try {
      await api('POST', cpath(conn, 'pools', selected, 'volumes'), { name, capacity: Math.round(size * GiB), format: volFormat.value });
      volName.value = '';
      await loadPools();
    } catch (err) { showError(volForm, err); }
  });

  uploadFile.addEventListener('change', () => {
    const file = uploadFile.files && uploadFile.files[0];
    if (file) upload(file);
  });
  uploadCancel.addEventListener('click', () => { if (uploading) uploading.abort(); });

  // A new volume sized for the file, then its content streamed with XMLHttpRequest (fetch has
  // no upload progress). A failed upload removes the volume it created.
  async function upload(file) {
    clearError(uploadBox);
    const pool = selected;
    if (!pool) { showError(uploadBox, new Error('Choose a pool first.')); return; }
    const { format, capacity } = await sniffImage(file);
    const name = file.name;
    const volPath = cpath(conn, 'pools', pool, 'volumes', name);
    uploadProgress.hidden = false; uploadProgress.value = 0;
    uploadStatus.textContent = `creating ${name}…`;
    try {
      await api('POST', cpath(conn, 'pools', pool, 'volumes'), { name, capacity, format });
    } catch (err) {
      uploadProgress.hidden = true; uploadStatus.textContent = '';
      showError(uploadBox, err);
      return;
    }
    await loadVolumes();
    try {
      await put(withToken('/api/v1' + volPath + '/content'), file, (done) => {
        uploadProgress.value = file.size ? done / file.size : 1;
        uploadStatus.textContent = `${fmtBytes(done)} of ${fmtBytes(file.size)} (${pct(done, file.size)})`;
      });
      uploadProgress.value = 1;
      uploadStatus.textContent = `uploaded ${name} (${fmtBytes(file.size)})`;
    } catch (err) {
      uploadStatus.textContent = '';
      showError(uploadBox, err);
      try { await api('DELETE', volPath); } catch (_) { /* the error shown is the upload's */ }
    } finally {
      uploadFile.value = '';
      uploadCancel.hidden = true;
      await loadPools();
    }
  }

  function put(url, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      uploading = xhr;
      uploadCancel.hidden = false;
      xhr.open('PUT', url);
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => {
        uploading = null;
        if (xhr.status >= 200 && xhr.status < 300) { resolve(); return; }
        let message = `${xhr.status} ${xhr.statusText}`;
        try { message = JSON.parse(xhr.responseText).error.message; } catch (_) {}
        reject(new Error(message));
      };
      xhr.onerror = () => { uploading = null; reject(new Error('the upload failed: connection to corrald lost')); };
      xhr.onabort = () => { uploading = null; reject(new Error('upload cancelled')); };
      xhr.send(file);
    });
  }

  await loadPools();
}

// A qcow2 file keeps its format and virtual size (from its header); anything else (ISO, raw
// disk) is uploaded as a raw volume of the file's size.
async function sniffImage(file) {
  try {
    const head = new DataView(await file.slice(0, 32).arrayBuffer());
    if (head.byteLength >= 32 && head.getUint32(0) === 0x514649fb) {
      const size = Number(head.getBigUint64(24));
      if (size > 0 && Number.isSafeInteger(size)) return { format: 'qcow2', capacity: size };
    }
  } catch (_) { /* unreadable header: treat as raw */ }
  return { format: 'raw', capacity: file.size };
}

function esc(s) {
  return s.replace(/[&<>'"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' }[c]));
}
