// The console's router: #/path -> a page module's render(root, params).
// Routes: #/hosts, #/c/CONN/guests, #/c/CONN/guest/NAME[/TAB], #/c/CONN/new,
// #/c/CONN/console/NAME/vnc|serial|spice, #/c/CONN/storage, #/c/CONN/networks.
const routes = [
  [/^#\/hosts$/, 'hosts', []],
  [/^#\/c\/([^/]+)\/guests$/, 'guests', ['conn']],
  [/^#\/c\/([^/]+)\/guest\/([^/]+)(?:\/([^/]+))?$/, 'guest', ['conn', 'name', 'tab']],
  [/^#\/c\/([^/]+)\/new$/, 'wizard', ['conn']],
  [/^#\/c\/([^/]+)\/console\/([^/]+)\/(vnc|serial|spice)$/, 'console', ['conn', 'name', 'kind']],
  [/^#\/c\/([^/]+)\/storage$/, 'storage', ['conn']],
  [/^#\/c\/([^/]+)\/networks$/, 'networks', ['conn']],
];

let current = null;

async function route() {
  const hash = location.hash || '#/c/local/guests';
  const root = document.getElementById('page');
  if (current && current.unmount) { try { current.unmount(); } catch (e) { console.error(e); } }
  current = null;
  for (const [re, page, names] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    const params = {};
    names.forEach((n, i) => { if (m[i + 1] !== undefined) params[n] = decodeURIComponent(m[i + 1]); });
    const mod = await import('./pages/' + page + '.js');
    root.replaceChildren();
    current = mod;
    document.dispatchEvent(new CustomEvent('corral:route', { detail: { page, params } }));
    // A page that fails to render says why instead of leaving a blank page.
    try { await mod.render(root, params); } catch (e) {
      console.error(e);
      root.append(Object.assign(document.createElement('div'), { className: 'error-message', textContent: e.message || String(e) }));
    }
    return;
  }
  root.textContent = 'No such page: ' + hash;
}

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', route);
