/** HTTP tools end to end: agents → gateway (/tools/<name>/…) → a real HTTP API on loopback. */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { startHarness } from './helpers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const TICKETS_KEY = 'tickets-api-credential-0123456789';
const WEATHER_KEY = 'weather-key-from-a-file';
const REGISTRY = `
templates:
  helpdesk: { version: 1, tools: ["tickets", "weather"] }
  lister: { version: 1, tools: ["tickets/list"] }
agents:
  - { id: desk, team: support, template: helpdesk }
  - { id: lister, team: support, template: lister }
`;

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

async function startApi(t: Test) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    res.on('error', () => {});
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (req.url === '/slow/stall') return; // never answers
      if (req.url === '/slow/cut') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"partial":');
        return; // the rest never comes
      }
      const body = JSON.stringify({ ok: true, method: req.method, url: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const CREATE_SCHEMA = {
  type: 'object',
  required: ['title'],
  additionalProperties: false,
  properties: { title: { type: 'string', minLength: 1 }, priority: { enum: ['low', 'high'] } },
};

async function setup(t: Test, overrides: Record<string, unknown> = {}) {
  const api = await startApi(t);
  const tools = {
    tickets: {
      kind: 'http',
      baseUrl: `${api.url}/api`,
      apiKey: TICKETS_KEY,
      labels: { system: 'helpdesk' },
      operations: {
        list: {
          method: 'GET',
          path: '/tickets',
          readOnly: true,
          querySchema: {
            type: 'object',
            additionalProperties: false,
            properties: { status: { enum: ['open', 'closed'] }, tag: { type: 'array', items: { type: 'string' } }, limit: { type: 'integer', maximum: 100 } },
          },
        },
        get: { method: 'GET', path: '/tickets/{id}', readOnly: true },
        create: { method: 'POST', path: '/tickets', bodySchema: CREATE_SCHEMA },
        remove: { method: 'DELETE', path: '/tickets/{id}', sensitive: true },
        file: { method: 'GET', path: '/files/{path*}' },
      },
    },
    weather: { kind: 'http', baseUrl: api.url, apiKeyFile: 'weather.key', authHeader: 'X-Api-Key', operations: { forecast: { method: 'GET', path: '/forecast/{city}' } } },
  };
  const h = await startHarness(
    t,
    { identity: { mode: 'required', registry: 'agents.yaml' }, policy: { mode: 'enforce', bundle: { file: BUNDLE } }, tools, ...overrides },
    { files: { 'agents.yaml': REGISTRY, 'weather.key': `${WEATHER_KEY}\n` } },
  );
  const tokens = new Map<string, string>();
  const token = async (agent: string) => tokens.get(agent) ?? tokens.set(agent, await h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 })).get(agent)!;
  const call = async (agent: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const auth: Record<string, string> = agent === null ? {} : { authorization: `Bearer ${await token(agent)}` };
    const init: RequestInit = { method, headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers } };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await fetch(`${h.url}${path}`, init);
    const text = await res.text();
    return { status: res.status, code: res.headers.get('x-aos-error-code'), allow: res.headers.get('allow'), json: text === '' ? null : JSON.parse(text) };
  };
  return { h, api, call, token };
}

t.test('declared operations are forwarded with the tool credential; the agent token never leaves the gateway', async (t) => {
  const { api, call, token } = await setup(t);
  const cases = [
    { method: 'GET', path: '/tools/tickets/tickets?status=open&tag=a&tag=b', upstream: '/api/tickets?status=open&tag=a&tag=b' },
    { method: 'GET', path: '/tools/tickets/tickets/42', upstream: '/api/tickets/42' },
    { method: 'GET', path: '/tools/tickets/files/docs/a%20b.txt', upstream: '/api/files/docs/a%20b.txt' },
    { method: 'POST', path: '/tools/tickets/tickets', body: { title: 'printer on fire', priority: 'high' }, upstream: '/api/tickets' },
  ];
  for (const c of cases) {
    const r = await call('desk', c.method, c.path, c.body);
    t.equal(r.status, 200, `${c.method} ${c.path}`);
    const seen = api.seen.at(-1)!;
    t.equal(seen.url, c.upstream, 'path and query under the base URL');
    t.equal(seen.headers.authorization, `Bearer ${TICKETS_KEY}`, 'the tool credential');
    if (c.body !== undefined) t.same(JSON.parse(seen.body), c.body, 'the body as sent');
  }
  const w = await call('desk', 'GET', '/tools/weather/forecast/paris', undefined, { cookie: 'session=agent' });
  t.equal(w.status, 200);
  t.equal(api.seen.at(-1)!.headers['x-api-key'], WEATHER_KEY, 'the credential from apiKeyFile, in its header');
  t.equal(api.seen.at(-1)!.headers.cookie, undefined, 'agent cookies dropped');
  t.equal(api.seen.at(-1)!.headers.authorization, undefined, 'the agent Authorization is stripped');
  const jwt = await token('desk');
  t.notOk(
    api.seen.some((s) => JSON.stringify(s.headers).includes(jwt.slice(-30))),
    'no agent token upstream',
  );
});

t.test('undeclared paths and methods are refused before policy, and never reach the API', async (t) => {
  const { api, call } = await setup(t);
  const cases = [
    {
      method: 'GET',
      path: '/tools/tickets/admin',
      status: 404,
      code: 'aos_route_not_found',
      message: /tool tickets has no operation for GET \/admin \(operations: list GET \/tickets, get GET \/tickets\/\{id\}/,
    },
    { method: 'GET', path: '/tools/tickets', status: 404, code: 'aos_route_not_found', message: /no operation for GET \// },
    { method: 'GET', path: '/tools/tickets/tickets/42/comments', status: 404, code: 'aos_route_not_found', message: /no operation/ },
    { method: 'GET', path: '/tools/tickets/files/', status: 404, code: 'aos_route_not_found', message: /no operation/ },
    { method: 'PUT', path: '/tools/tickets/tickets', status: 405, code: 'aos_method_not_allowed', allow: 'GET, POST', message: /PUT is not allowed/ },
    { method: 'PATCH', path: '/tools/tickets/tickets/7', status: 405, code: 'aos_method_not_allowed', allow: 'GET, DELETE', message: /PATCH/ },
    { method: 'GET', path: '/tools/nope/x', status: 404, code: 'aos_route_not_found', message: /no route/ },
  ];
  for (const c of cases) {
    const r = await call('desk', c.method, c.path);
    t.equal(r.status, c.status, `${c.method} ${c.path}`);
    t.equal(r.code, c.code);
    t.match(r.json.error.message, c.message);
    if (c.allow) t.equal(r.allow, c.allow);
  }
  t.equal(api.seen.length, 0);
});

t.test('bodies are checked against the operation JSON Schema after the policy allowed the call', async (t) => {
  const { api, call } = await setup(t);
  const cases = [
    { name: 'empty title', body: { title: '' }, status: 400, code: 'aos_invalid_arguments', message: /tickets\/create does not match its schema: \/title must NOT have fewer than 1 characters/ },
    { name: 'extra field', body: { title: 'x', owner: 'me' }, status: 400, code: 'aos_invalid_arguments', message: /must NOT have additional properties/ },
    { name: 'bad enum', body: { title: 'x', priority: 'urgent' }, status: 400, code: 'aos_invalid_arguments', message: /\/priority must be equal to one of the allowed values/ },
    { name: 'not JSON', body: '{"title":', status: 400, code: 'aos_bad_request', message: /not valid JSON/ },
    { name: 'no body', body: undefined, status: 400, code: 'aos_bad_request', message: /needs a JSON request body/ },
  ];
  for (const c of cases) {
    const r = await call('desk', 'POST', '/tools/tickets/tickets', c.body);
    t.equal(r.status, c.status, c.name);
    t.equal(r.code, c.code, c.name);
    t.match(r.json.error.message, c.message, c.name);
  }
  const plain = await call('desk', 'POST', '/tools/tickets/tickets', 'title=x', { 'content-type': 'text/plain' });
  t.equal(plain.status, 415, 'a schema means a JSON body');
  t.equal(plain.code, 'aos_unsupported_media_type');
  const queries: [string, number, RegExp | null][] = [
    ['?status=open&limit=100&tag=a', 200, null],
    ['?limit=101', 400, /the query of tickets\/list does not match its schema: \/limit must be <= 100/],
    ['?limit=ten', 400, /\/limit must be integer/],
    ['?status=lost', 400, /\/status must be equal to one of the allowed values/],
    ['?debug=1', 400, /must NOT have additional properties/],
  ];
  for (const [q, status, message] of queries) {
    const r = await call('desk', 'GET', `/tools/tickets/tickets${q}`);
    t.equal(r.status, status, `query ${q}`);
    if (message !== null) {
      t.equal(r.code, 'aos_invalid_arguments');
      t.match(r.json.error.message, message);
    }
  }
  t.same(
    api.seen.map((s) => s.url),
    ['/api/tickets?status=open&limit=100&tag=a'],
    'only the valid query reached the API, unchanged',
  );
  api.seen.length = 0;
  const denied = await call('lister', 'POST', '/tools/tickets/tickets', { title: '' });
  t.equal(denied.code, 'aos_policy_denied', 'the policy decides before the schema: an agent not allowed learns nothing of it');
  t.equal(api.seen.length, 0, 'nothing reached the API');
});

t.test('policy decides each call: tool and operation globs, sensitive operations', async (t) => {
  const { api, call } = await setup(t);
  t.equal((await call('lister', 'GET', '/tools/tickets/tickets')).status, 200, 'tickets/list allowed by an operation pattern');
  const get = await call('lister', 'GET', '/tools/tickets/tickets/1');
  t.equal(get.status, 403);
  t.equal(get.code, 'aos_policy_denied');
  t.match(get.json.error.message, /tool tickets is not allowed for template lister/);
  const weather = await call('lister', 'GET', '/tools/weather/forecast/oslo');
  t.equal(weather.code, 'aos_policy_denied');
  const remove = await call('desk', 'DELETE', '/tools/tickets/tickets/9');
  t.equal(remove.status, 403);
  t.equal(remove.code, 'aos_approval_pending', 'an operation marked sensitive needs an approval (docs/approvals.md)');
  const anon = await call(null, 'GET', '/tools/tickets/tickets');
  t.equal(anon.status, 401);
  t.equal(anon.code, 'aos_unauthenticated');
  t.same(
    api.seen.map((s) => `${s.method} ${s.url}`),
    ['GET /api/tickets'],
    'only the allowed call reached the API',
  );
});

t.test('without identity and policy, tools still only expose their operations', async (t) => {
  const { api, call } = await setup(t, { identity: { mode: 'off' }, policy: { mode: 'off' } });
  t.equal((await call(null, 'GET', '/tools/tickets/tickets/5')).status, 200);
  t.equal(api.seen[0].headers.authorization, `Bearer ${TICKETS_KEY}`);
  t.equal((await call(null, 'GET', '/tools/tickets/secret')).status, 404);
  t.equal((await call(null, 'POST', '/tools/tickets/tickets', { nope: 1 })).code, 'aos_invalid_arguments');
});

t.test('a config reload swaps the registry: new tools and operations apply, removed ones are gone', async (t) => {
  const { h, api, call } = await setup(t, { identity: { mode: 'off' }, policy: { mode: 'off' } });
  t.equal((await call(null, 'GET', '/tools/weather/forecast/rome')).status, 200);
  h.writeConfig({
    identity: { mode: 'off' },
    policy: { mode: 'off' },
    tools: { maps: { kind: 'http', baseUrl: `${api.url}/maps`, operations: { route: { method: 'GET', path: '/route/{from}/{to}' } } } },
  });
  t.same(await h.gateway.reload(), { ok: true });
  t.equal((await call(null, 'GET', '/tools/maps/route/a/b')).status, 200);
  t.equal(api.seen.at(-1)!.url, '/maps/route/a/b');
  t.equal((await call(null, 'GET', '/tools/weather/forecast/rome')).status, 404, 'the removed tool is gone');
});

t.test('per-tool upstream timeouts: no headers in time is a 504, a body that stalls is cut', async (t) => {
  const api = await startApi(t);
  const h = await startHarness(t, {
    tools: {
      slow: { kind: 'http', baseUrl: `${api.url}/slow`, headersTimeoutMs: 300, bodyTimeoutMs: 300, operations: { stall: { method: 'GET', path: '/stall' }, cut: { method: 'GET', path: '/cut' } } },
    },
  });
  const started = Date.now();
  const stall = await fetch(`${h.url}/tools/slow/stall`);
  t.equal(stall.status, 504);
  t.equal(stall.headers.get('x-aos-error-code'), 'aos_upstream_timeout');
  t.ok(Date.now() - started < 3000, 'the tool timeout applied, not the default 300 s');
  const cut = await fetch(`${h.url}/tools/slow/cut`);
  t.equal(cut.status, 200);
  await t.rejects(cut.text(), 'the body is cut short, never passed off as complete');
});
