// The people's API from the browser: the session cookie goes along by itself (same origin); every
// change carries the session's CSRF token, which the control plane checks with the Origin.
//
// index.html runs this module before the others (it imports nothing): at evaluation it asks the
// session and the first API calls of the page the URL names, so they are answered while the rest
// of the console loads and evaluates. The pages ask the same paths (built here) and get those answers.
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

/** The page, its argument and query from location.hash (#/agents/writer, #/audit?team=red). */
export function route() {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').map(decodeURIComponent);
  return { page: parts[0] || 'fleet', arg: parts[1] ?? null, query: new URLSearchParams(query) };
}

/** A query string from an object, leaving out empty values. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

const startOfDay = () => new Date(new Date().toISOString().slice(0, 10)).toISOString();
const startOfMonth = () => `${new Date().toISOString().slice(0, 7)}-01T00:00:00.000Z`;

/** The calls a page makes when it opens. */
export const calls = {
  fleet: () => ({
    series: '/api/audit/series?since=1h',
    budgets: '/api/budgets',
    today: `/api/audit/summary?by=team&since=${startOfDay()}`,
    month: `/api/audit/summary?since=${startOfMonth()}`,
  }),
  agents: () => ({ agents: '/api/agents' }),
  agent: (id) => ({
    agent: `/api/agents/${encodeURIComponent(id)}`,
    calls: `/api/audit${qs({ agent: id, order: 'newest', limit: 50 })}`,
    series: `/api/audit/series${qs({ agent: id, since: '24h' })}`,
    kills: '/api/kills',
  }),
  approvals: () => ({ approvals: '/api/approvals' }),
  audit: (filters) => ({ events: `/api/audit${qs({ ...filters, order: 'newest', limit: 100 })}` }),
  templates: () => ({ templates: '/api/templates' }),
};

/** The audit page's first filters: the URL's, the last 24 hours by default. */
export function auditFilters(query) {
  const initial = Object.fromEntries(['agent', 'team', 'decision', 'workflow', 'gateway', 'since', 'until'].map((k) => [k, query?.get(k) ?? '']));
  if (initial.since === '') initial.since = '24h';
  return initial;
}

function firstCalls({ page, arg, query }) {
  switch (page) {
    case 'fleet':
      return calls.fleet();
    case 'agents':
      return arg === null ? calls.agents() : calls.agent(arg);
    case 'approvals':
      return calls.approvals();
    case 'audit':
      return calls.audit(auditFilters(query));
    case 'templates':
      return calls.templates();
    default:
      return {};
  }
}

const send = (method, path, body) => {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf !== null) headers['x-aos-csrf'] = csrf;
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
};

// Answers asked before anyone wanted them, each handed to the first GET of its path (then gone).
const early = new Map();
const ask = (path) => {
  const res = send('GET', path);
  res.catch(() => {});
  early.set(path, res);
};
ask('/console/session');
for (const path of Object.values(firstCalls(route()))) ask(path);
setTimeout(() => early.clear(), 10_000);

/** A JSON call; throws ApiError with the control plane's code and message. A 401 tells the app to sign in again. */
export async function api(method, path, body) {
  // A change (signing in, above all) may change the answers: none asked before it is used.
  if (method !== 'GET') early.clear();
  const pending = method === 'GET' ? early.get(path) : undefined;
  early.delete(path);
  let res = pending === undefined ? null : await pending.catch(() => null);
  // Asked before signing in: asked again now.
  if (res === null || (res.status === 401 && path !== '/console/session')) res = await send(method, path, body);
  const text = await res.text();
  const json = text !== '' && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : null;
  if (!res.ok) {
    if (res.status === 401 && path !== '/console/session') window.dispatchEvent(new CustomEvent('aos:signed-out'));
    throw new ApiError(res.status, json?.error?.code ?? 'http_error', json?.error?.message ?? `${res.status} ${res.statusText}`);
  }
  return json;
}

export const get = (path) => api('GET', path);
