// The workspace's only way to the server: the public API under /api/v1,
// authenticated by the session cookie, with the session's CSRF token on
// every state-changing request.

let csrf = '';

/** setCSRF stores the CSRF token of the current session. */
export function setCSRF(token) { csrf = token || ''; }

/** APIError is an answer in the API's error shape, or a network failure (status 0). */
export class APIError extends Error {
  constructor(status, code, message, field, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || '';
    this.body = body;
  }
}

const listeners = new Set();

/** onUnreachable registers fn(reachable bool), called when the server stops or starts answering. */
export function onReachability(fn) { listeners.add(fn); }

let reachable = true;
function setReachable(v) {
  if (v === reachable) return;
  reachable = v;
  for (const fn of listeners) fn(v);
}

/**
 * api calls method path. opts.body is sent as JSON (or raw with opts.raw),
 * opts.headers are added. Resolves to {status, headers, data}; rejects with
 * APIError.
 */
export async function api(method, path, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  let body;
  if (opts.raw !== undefined) {
    body = opts.raw;
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    setReachable(false);
    throw new APIError(0, 'unreachable', 'The Patchbay server cannot be reached. Check your connection; the page retries by itself.');
  }
  setReachable(true);
  let data = null;
  const ct = res.headers.get('Content-Type') || '';
  if (res.status !== 204 && ct.startsWith('application/json')) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new APIError(res.status, e.code || 'http_' + res.status, e.message || res.statusText || 'request failed', e.field, data);
  }
  return { status: res.status, headers: res.headers, data };
}

/** get is api('GET', path) resolving to the data. */
export async function get(path) { return (await api('GET', path)).data; }

/** qs builds a query string from an object, leaving out empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}
