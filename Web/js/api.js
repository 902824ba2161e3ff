// The JSON API client every page uses. Errors carry the daemon's message so pages can show
// them where the user acted.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Token from ?token= on the page URL is kept for API and WebSocket calls (non-loopback daemons).
const pageToken = new URLSearchParams(location.search).get('token');

export function withToken(url) {
  if (!pageToken) return url;
  return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(pageToken);
}

// api('GET', '/connections') -> parsed JSON; body objects are sent as JSON, strings as XML text.
// opts.text: return the body as text (XML endpoints).
export async function api(method, path, body, opts = {}) {
  const headers = {};
  let payload;
  if (typeof body === 'string') { headers['Content-Type'] = 'application/xml'; payload = body; }
  else if (body instanceof Blob || body instanceof ArrayBuffer) { headers['Content-Type'] = 'application/octet-stream'; payload = body; }
  else if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  if (pageToken) headers['Authorization'] = 'Bearer ' + pageToken;
  let res;
  try {
    res = await fetch('/api/v1' + path, { method, headers, body: payload });
  } catch (e) {
    throw new ApiError(0, 0, 'cannot reach corrald: ' + e.message);
  }
  if (!res.ok) {
    let message = res.status + ' ' + res.statusText, code = 0;
    try { const j = await res.json(); message = j.error.message; code = j.error.code; } catch (_) {}
    throw new ApiError(res.status, code, message);
  }
  if (opts.text) return res.text();
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  return type.includes('json') ? res.json() : res.text();
}

// Path of a connection's resource: cpath('local', 'domains', 'tiny') -> /connections/local/domains/tiny
export function cpath(conn, ...parts) {
  return '/connections/' + [conn, ...parts].map(encodeURIComponent).join('/');
}

// WebSocket URL for an API path (events, consoles), with the token when there is one.
export function wsURL(path) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return withToken(proto + '//' + location.host + '/api/v1' + path);
}
