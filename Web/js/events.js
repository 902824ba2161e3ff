// One shared WebSocket to /api/v1/events for every page: lifecycle messages and periodic
// stats. Reconnects after a drop so a daemon restart does not freeze the pages.
import { wsURL } from './api.js';

const handlers = new Set();
let socket = null;

function connect() {
  socket = new WebSocket(wsURL('/events'));
  socket.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (_) { return; }
    for (const h of handlers) { try { h(msg); } catch (e) { console.error(e); } }
  };
  socket.onclose = () => { socket = null; if (handlers.size) setTimeout(connect, 2000); };
}

// subscribe(fn) -> unsubscribe function. fn gets {type: 'lifecycle'|'stats', ...}.
export function subscribe(fn) {
  handlers.add(fn);
  if (!socket) connect();
  return () => handlers.delete(fn);
}
