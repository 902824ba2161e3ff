// A small CommonJS loader for the browser. Debian's libjs-xterm ships only a stub xterm.js that
// require()s files it does not contain; the real xterm.js 3.8 is node-xterm's CommonJS tree
// (/usr/share/nodejs/xterm/lib, served as /vendor/xterm-lib/), and its addons (fit) are CommonJS
// too. We fetch a module and everything it requires, then evaluate them in dependency order.
import { withToken } from './api.js';

const loaded = new Map();   // absolute URL -> module object {exports}
const sources = new Map();  // absolute URL -> source text

function resolve(fromURL, spec) {
  if (!spec.startsWith('.') && !spec.startsWith('/')) throw new Error(`cannot load bare module "${spec}"`);
  const url = new URL(spec, fromURL);
  if (!url.pathname.endsWith('.js')) url.pathname += '.js';
  return url.href;
}

function requiresOf(url, src) {
  return [...src.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => resolve(url, m[1]));
}

async function fetchOne(url) {
  const res = await fetch(withToken(url));
  if (!res.ok) throw new Error(`cannot load ${new URL(url).pathname}: ${res.status} ${res.statusText}`);
  return res.text();
}

// Breadth-first, a level at a time in parallel; modules already fetched are skipped, so
// require cycles end.
async function fetchTree(root) {
  let frontier = sources.has(root) ? [] : [root];
  while (frontier.length) {
    const texts = await Promise.all(frontier.map(fetchOne));
    const next = new Set();
    frontier.forEach((url, i) => {
      sources.set(url, texts[i]);
      for (const dep of requiresOf(url, texts[i])) if (!sources.has(dep)) next.add(dep);
    });
    frontier = [...next];
  }
}

function evaluate(url) {
  if (loaded.has(url)) return loaded.get(url).exports;
  const module = { exports: {} };
  // Registered before running so require cycles see the partial exports, as in Node.
  loaded.set(url, module);
  const src = sources.get(url);
  const fn = new Function('exports', 'require', 'module', src + '\n//# sourceURL=' + url);
  fn(module.exports, (spec) => evaluate(resolve(url, spec)), module);
  return module.exports;
}

// requireCJS('/vendor/xterm-lib/public/Terminal.js') -> that module's exports.
export async function requireCJS(path) {
  const url = new URL(path, location.href).href;
  await fetchTree(url);
  return evaluate(url);
}
