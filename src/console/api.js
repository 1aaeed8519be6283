// The people's API from the browser: the session cookie goes along by itself (same origin); every
// change carries the session's CSRF token, which the control plane checks with the Origin.
let csrf = null;

/** Remembers the CSRF token of the session (null when signed out). */
export function setSession(session) {
  csrf = session === null ? null : session.csrf;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A JSON call; throws ApiError with the control plane's code and message. A 401 tells the app to sign in again. */
export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf !== null) headers['x-aos-csrf'] = csrf;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const text = await res.text();
  const json = text !== '' && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : null;
  if (!res.ok) {
    if (res.status === 401 && path !== '/console/session') window.dispatchEvent(new CustomEvent('aos:signed-out'));
    throw new ApiError(res.status, json?.error?.code ?? 'http_error', json?.error?.message ?? `${res.status} ${res.statusText}`);
  }
  return json;
}

export const get = (path) => api('GET', path);

/** A query string from an object, leaving out empty values. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}
