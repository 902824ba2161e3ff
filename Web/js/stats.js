// Keeps the recent stats samples of every guest (from events.js) so the guest list's
// sparklines and the guest page's charts have history across page changes.
// Disk and network rates are computed here from the counters' deltas.
import { subscribe } from './events.js';

const WINDOW_MS = 5 * 60 * 1000;   // the performance charts show the last 5 minutes
const MAX_SAMPLES = 400;            // bound memory even with a short statsInterval

const series = new Map();           // "conn/name" -> [{time, cpu, memKiB, rssKiB, maxKiB, diskRd, diskWr, netRx, netTx}]
const listeners = new Set();
let unsub = null;

function key(conn, name) { return conn + '/' + name; }

function rate(cur, prev, dtSec) {
  if (prev === undefined || cur === undefined || dtSec <= 0) return null;
  const d = cur - prev;
  return d >= 0 ? d / dtSec : null;    // counters reset when the guest restarts
}

function onMessage(msg) {
  if (msg.type !== 'stats' || !Array.isArray(msg.domains)) return;
  const time = msg.time || Date.now();
  for (const d of msg.domains) {
    const k = key(msg.connection, d.name);
    let list = series.get(k);
    if (!list) { list = []; series.set(k, list); }
    const prev = list[list.length - 1];
    const dt = prev ? (time - prev.time) / 1000 : 0;
    const s = {
      time, state: d.state,
      cpu: typeof d.cpuPercent === 'number' ? d.cpuPercent : null,
      memKiB: d.memoryKiB, rssKiB: d.rssKiB, maxKiB: d.maxMemoryKiB, vcpus: d.vcpus,
      diskRdBytes: d.diskRdBytes, diskWrBytes: d.diskWrBytes, netRxBytes: d.netRxBytes, netTxBytes: d.netTxBytes,
      diskRd: rate(d.diskRdBytes, prev && prev.diskRdBytes, dt),
      diskWr: rate(d.diskWrBytes, prev && prev.diskWrBytes, dt),
      netRx: rate(d.netRxBytes, prev && prev.netRxBytes, dt),
      netTx: rate(d.netTxBytes, prev && prev.netTxBytes, dt),
    };
    list.push(s);
    while (list.length > MAX_SAMPLES || (list.length && list[0].time < time - WINDOW_MS)) list.shift();
  }
  for (const fn of listeners) { try { fn(msg); } catch (e) { console.error(e); } }
}

// samples(conn, name) -> the samples of the last 5 minutes, oldest first.
export function samples(conn, name) { return series.get(key(conn, name)) || []; }

// onStats(fn) -> unsubscribe; fn(msg) runs after the samples were recorded.
export function onStats(fn) {
  if (!unsub) unsub = subscribe(onMessage);
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export const windowMs = WINDOW_MS;

// Starts recording at page load (shell.js), so charts opened later already have history.
export function record() { if (!unsub) unsub = subscribe(onMessage); }
