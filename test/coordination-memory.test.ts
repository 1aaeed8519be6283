/**
 * Shared memory through a real gateway (identity, the committed policy bundle, guardrails, audit):
 * the REST API (CRUD, ETags and every precondition, TTL, list and search), bad input, denials by
 * namespace, guardrails on writes, the audit event (hash and size, never the value), metrics, the
 * MCP server with the official SDK client, and 100 concurrent If-Match writers on SQLite and on Redis.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import t, { type Test } from 'tap';
import { verifyChain } from '../src/audit/verify.js';
import { parseConfig } from '../src/config/load.js';
import { auditEvents, type Harness, startHarness } from './helpers.js';
import { statelessClient } from './mcp-stateless-client.js';
import { REDIS, startRedis } from './redis-server.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
templates:
  worker: { version: 1, providers: [openai], models: ["*"], tools: [], guardrails: standard }
agents:
  - { id: alice, team: research, template: worker }
  - { id: bob, team: research, template: worker }
  - { id: carol, team: payments, template: worker }
  - { id: curator, team: research, template: worker, roles: [memory-org-writer] }
`;
const AWS_KEY = 'AKIAZ7VRSQ5TJN3PXL2M';
const EMAIL = 'jane.doe@example.com';

type H = Harness & { token(agent: string): Promise<string>; call(agent: string, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response> };

async function harness(t: Test, overrides: Record<string, unknown> = {}): Promise<H> {
  const h = await startHarness(
    t,
    { identity: { mode: 'required', registry: 'agents.yaml' }, policy: { mode: 'enforce', bundle: { file: BUNDLE } }, log: { level: 'warn' }, ...overrides },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const tokens = new Map<string, string>();
  const token = async (agent: string) => {
    let tk = tokens.get(agent);
    if (tk === undefined) {
      tk = await h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
      tokens.set(agent, tk);
    }
    return tk;
  };
  const call = async (agent: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${h.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${await token(agent)}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  return Object.assign(h, { token, call });
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const errorOf = async (r: Response) => ((await r.json()) as { error: { code: string; message: string } }).error;

t.test('REST: create, read, conditional update, create-only, delete, TTL; audit has the hash, not the value', async (t) => {
  const h = await harness(t);
  const doc = { plan: ['read the papers', 'write the summary'], secretSauce: 'tomatoes' };
  const created = await h.call('alice', 'PUT', '/memory/v1/team:research/notes/plan', doc);
  t.equal(created.status, 201, 'created');
  const etag = created.headers.get('etag')!;
  t.match(etag, /^"[A-Za-z0-9_-]+"$/, 'a strong ETag');
  t.match(await created.json(), { namespace: 'team:research', key: 'notes/plan', etag: etag.slice(1, -1), created: true, expires_at: null });

  const read = await h.call('bob', 'GET', '/memory/v1/team:research/notes/plan');
  t.equal(read.status, 200, 'a teammate reads it');
  t.equal(read.headers.get('etag'), etag);
  t.same(await read.json(), doc);
  t.equal((await h.call('bob', 'GET', '/memory/v1/team:research/notes/plan', undefined, { 'if-none-match': etag })).status, 304, 'If-None-Match with the current ETag: 304');

  const blind = await h.call('bob', 'PUT', '/memory/v1/team:research/notes/plan', { plan: [] });
  t.equal(blind.status, 428, 'an update without If-Match: 428');
  t.equal((await errorOf(blind)).code, 'aos_memory_precondition_required');
  t.equal(blind.headers.get('etag'), etag, 'the current ETag comes with it');

  const updated = await h.call('bob', 'PUT', '/memory/v1/team:research/notes/plan', { plan: ['done'] }, { 'if-match': etag });
  t.equal(updated.status, 200, 'If-Match with the current ETag: replaced');
  const etag2 = updated.headers.get('etag')!;
  t.not(etag2, etag);
  const stale = await h.call('alice', 'PUT', '/memory/v1/team:research/notes/plan', { plan: ['mine'] }, { 'if-match': etag });
  t.equal(stale.status, 412, 'a stale If-Match: 412');
  t.equal((await errorOf(stale)).code, 'aos_memory_precondition_failed');
  t.equal(stale.headers.get('etag'), etag2, 'with the current ETag');

  const again = await h.call('alice', 'PUT', '/memory/v1/team:research/notes/plan', { x: 1 }, { 'if-none-match': '*' });
  t.equal(again.status, 412, 'If-None-Match: * on an existing key');
  t.equal((await h.call('alice', 'PUT', '/memory/v1/team:research/notes/new', { x: 1 }, { 'if-none-match': '*' })).status, 201, 'If-None-Match: * creates');
  t.equal((await h.call('alice', 'PUT', '/memory/v1/team:research/notes/new', { x: 2 }, { 'if-match': '*' })).status, 200, 'If-Match: * overwrites any version');

  t.equal((await h.call('alice', 'DELETE', '/memory/v1/team:research/notes/plan', undefined, { 'if-match': etag })).status, 412, 'a delete with a stale If-Match');
  t.equal((await h.call('alice', 'DELETE', '/memory/v1/team:research/notes/plan', undefined, { 'if-match': etag2 })).status, 204, 'deleted');
  const gone = await h.call('alice', 'GET', '/memory/v1/team:research/notes/plan');
  t.equal(gone.status, 404);
  t.equal((await errorOf(gone)).code, 'aos_memory_not_found');

  const ttl = await h.call('alice', 'PUT', '/memory/v1/team:research/scratch', { n: 1 }, { 'x-aos-ttl-seconds': '1' });
  t.equal(ttl.status, 201);
  t.ok((await ttl.json()).expires_at, 'its expiry is answered');
  const withTtl = await h.call('alice', 'GET', '/memory/v1/team:research/scratch');
  t.ok(withTtl.headers.get('x-aos-expires-at'), 'and on a read');
  await new Promise((r) => setTimeout(r, 1200));
  t.equal((await h.call('alice', 'GET', '/memory/v1/team:research/scratch')).status, 404, 'expired');

  const events = await auditEvents(h, 14);
  const text = JSON.stringify(events);
  t.notOk(text.includes('tomatoes'), 'no value in the audit trail');
  const put = events.find((e) => e.method === 'PUT' && e.status === 201 && e.path === '/memory/v1/team:research/notes/plan')!;
  t.match(put, { kind: 'memory', provider: 'memory', operation: 'memory.put', route: 'memory/put', decision: 'allow', outcome: 'completed', agent_id: 'alice', capture: null });
  t.same(put.memory, {
    namespace: 'team:research',
    key: 'notes/plan',
    etag: etag.slice(1, -1),
    value_sha256: sha256(JSON.stringify(doc)),
    value_bytes: Buffer.byteLength(JSON.stringify(doc)),
    results: null,
    outcome: 'ok',
  });
  t.match(verifyChain(h.gateway.audit()!.store), { ok: true }, 'the hash chain verifies with memory events in it');
  const refused = events.find((e) => e.status === 428)!;
  t.match(refused.memory, { outcome: 'precondition_required', etag: etag.slice(1, -1) });
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_memory_ops_total\{op="put",outcome="ok"\} 5/);
  t.match(metrics, /aos_memory_ops_total\{op="put",outcome="precondition_required"\} 1/);
  t.match(metrics, /aos_memory_ops_total\{op="get",outcome="not_found"\} 2/);
  t.match(metrics, /aos_memory_bytes_total\{direction="written"\} \d+/);
});

t.test('REST: list by prefix with cursors, and search', async (t) => {
  const h = await harness(t);
  for (const k of ['runbooks/db', 'runbooks/cache', 'runbooks/dns', 'people/zoe']) {
    t.equal((await h.call('curator', 'PUT', `/memory/v1/org/${k}`, { title: `About ${k.split('/')[1].toUpperCase()}`, owner: 'platform team' })).status, 201);
  }
  const page1 = await (await h.call('carol', 'GET', '/memory/v1/org?prefix=runbooks/&limit=2')).json();
  t.same(
    page1.items.map((i: { key: string }) => i.key),
    ['runbooks/cache', 'runbooks/db'],
    'anyone reads org, in key order',
  );
  t.type(page1.next_cursor, 'string');
  const page2 = await (await h.call('carol', 'GET', `/memory/v1/org?prefix=runbooks/&limit=2&cursor=${page1.next_cursor}`)).json();
  t.same(
    page2.items.map((i: { key: string }) => i.key),
    ['runbooks/dns'],
  );
  t.equal(page2.next_cursor, null);
  const found = await (await h.call('carol', 'GET', '/memory/v1/org?q=about%20DNS')).json();
  t.same(found, {
    namespace: 'org',
    items: [{ key: 'runbooks/dns', etag: found.items[0]?.etag, updated_at: found.items[0]?.updated_at, expires_at: null, value: { title: 'About DNS', owner: 'platform team' } }],
    truncated: false,
  });
  const bad = await h.call('carol', 'GET', '/memory/v1/org?limit=100000');
  t.equal(bad.status, 400);
  t.equal((await errorOf(bad)).code, 'aos_memory_invalid_key');
  t.equal((await h.call('carol', 'GET', '/memory/v1/org?cursor=%21%21')).status, 400, 'a cursor that is not one');
  const events = await auditEvents(h, 9);
  t.match(events.find((e) => e.route === 'memory/search')!.memory, { namespace: 'org', results: 1, outcome: 'ok' });
});

t.test('bad input: traversal, odd keys, oversized and malformed values', async (t) => {
  const h = await harness(t, { memory: { maxValueBytes: 1024, maxKeyBytes: 64 } });
  // Sent as written (fetch would resolve the dot segments before sending).
  const raw = async (path: string) =>
    new Promise<{ status: number; code: string | undefined }>((resolve, reject) => {
      const u = new URL(h.url);
      void h.token('alice').then((tk) => {
        const req = request({ host: u.hostname, port: u.port, method: 'PUT', path, headers: { authorization: `Bearer ${tk}`, 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, code: res.headers['x-aos-error-code'] as string | undefined }));
        });
        req.on('error', reject);
        req.end('{"a":1}');
      });
    });
  for (const path of ['/memory/v1/team:research/../../etc/passwd', '/memory/v1/team:research/a/%2e%2e/b', '/memory/v1/team:research/a/./b', '/memory/v1/team:research/a\\b']) {
    t.same(await raw(path), { status: 400, code: 'aos_bad_request' }, `${path}: refused before routing`);
  }
  const cases: [string, string, unknown, number, string][] = [
    ['GET', '/memory/v1/team:research/a%2fb', undefined, 400, 'aos_memory_invalid_key'],
    ['GET', '/memory/v1/team:research/a%00b', undefined, 400, 'aos_memory_invalid_key'],
    ['GET', '/memory/v1/team:research/with%20space', undefined, 400, 'aos_memory_invalid_key'],
    ['GET', '/memory/v1/team:research/a//b', undefined, 400, 'aos_memory_invalid_key'],
    ['GET', '/memory/v1/team:research/trailing/', undefined, 400, 'aos_memory_invalid_key'],
    ['GET', `/memory/v1/team:research/${'k'.repeat(65)}`, undefined, 400, 'aos_memory_invalid_key'],
    ['GET', '/memory/v1/Team:research/k', undefined, 400, 'aos_memory_invalid_key'],
    ['GET', '/memory/v1/team:/k', undefined, 400, 'aos_memory_invalid_key'],
    ['PUT', '/memory/v1/team:research/big', { blob: 'x'.repeat(2000) }, 413, 'aos_payload_too_large'],
    ['PUT', '/memory/v1/team:research/bad', '{"unclosed": ', 400, 'aos_bad_request'],
    ['PUT', '/memory/v1/team:research/empty', '', 400, 'aos_bad_request'],
    ['PUT', '/memory/v1/team:research/ttl?ttl=-5', { a: 1 }, 400, 'aos_memory_invalid_key'],
    ['PUT', '/memory/v1/team:research/weak', { a: 1 }, 400, 'aos_bad_request'],
    ['POST', '/memory/v1/team:research/k', { a: 1 }, 405, 'aos_method_not_allowed'],
    ['PUT', '/memory/v1/team:research', { a: 1 }, 405, 'aos_method_not_allowed'],
  ];
  for (const [method, path, body, status, code] of cases) {
    const headers: Record<string, string> = path.endsWith('/weak') ? { 'if-match': 'W/"abc"' } : {};
    const r = await h.call('alice', method, path, body, headers);
    t.equal(r.status, status, `${method} ${path.slice(0, 60)}: ${status}`);
    t.equal(r.headers.get('x-aos-error-code'), code, code);
    await r.arrayBuffer();
  }
  const typed = await fetch(`${h.url}/memory/v1/team:research/k`, {
    method: 'PUT',
    body: 'a=1',
    headers: { authorization: `Bearer ${await h.token('alice')}`, 'content-type': 'application/x-www-form-urlencoded' },
  });
  t.equal(typed.status, 415, 'a body declared as something else');
  const anon = await fetch(`${h.url}/memory/v1/org/k`);
  t.equal(anon.status, 401, 'no token, no memory');
  t.equal((await h.call('alice', 'GET', '/memory/v1/team:research?prefix=../x')).status, 400, 'a prefix climbing out');
  t.equal((await h.call('alice', 'GET', '/memory/v1/team:research/big')).status, 404, 'nothing was written');
});

t.test('the policy decides by namespace', async (t) => {
  const h = await harness(t);
  const denied = async (agent: string, method: string, path: string, body?: unknown, headers?: Record<string, string>) => {
    const r = await h.call(agent, method, path, body, headers);
    t.equal(r.status, 403, `${agent} ${method} ${path}: 403`);
    return errorOf(r);
  };
  t.equal((await h.call('alice', 'PUT', '/memory/v1/team:research/k', { a: 1 })).status, 201);
  t.match(await denied('carol', 'GET', '/memory/v1/team:research/k'), { code: 'aos_policy_denied', message: /memory read of namespace team:research is not allowed for agent carol/ });
  await denied('carol', 'PUT', '/memory/v1/team:research/other', { a: 1 });
  await denied('carol', 'GET', '/memory/v1/team:research?q=a');
  await denied('alice', 'PUT', '/memory/v1/org/k', { a: 1 });
  t.equal((await h.call('curator', 'PUT', '/memory/v1/org/k', { a: 1 })).status, 201, 'a memory-org-writer writes org');
  t.equal((await h.call('carol', 'GET', '/memory/v1/org/k')).status, 200, 'anyone reads org');
  t.equal((await h.call('alice', 'PUT', '/memory/v1/agent:alice/k', { a: 1 })).status, 201, 'an agent its own namespace');
  await denied('bob', 'GET', '/memory/v1/agent:alice/k');
  const wf = { 'x-aos-workflow-id': 'wf-42' };
  t.equal((await h.call('carol', 'PUT', '/memory/v1/workflow:wf-42/step1', { done: true }, wf)).status, 201, 'a workflow namespace within the workflow');
  t.equal((await h.call('alice', 'GET', '/memory/v1/workflow:wf-42/step1', undefined, wf)).status, 200, 'any agent of that workflow');
  await denied('alice', 'GET', '/memory/v1/workflow:wf-42/step1');
  await denied('alice', 'GET', '/memory/v1/workflow:wf-42/step1', undefined, { 'x-aos-workflow-id': 'wf-7' });
  await denied('alice', 'GET', '/memory/v1/project:x/k');
  const events = await auditEvents(h, 15);
  const refusal = events.find((e) => e.agent_id === 'carol' && e.path === '/memory/v1/team:research/k')!;
  t.match(refusal, { decision: 'deny', outcome: 'denied', status: 403, error_code: 'aos_policy_denied', kind: 'memory' });
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_memory_ops_total\{op="get",outcome="denied"\} [4-9]/);
});

t.test('guardrails on writes: a secret is denied, personal data is redacted before it is stored', async (t) => {
  const h = await harness(t);
  const secret = await h.call('alice', 'PUT', '/memory/v1/team:research/creds', { note: `deploy with ${AWS_KEY}` });
  t.equal(secret.status, 403);
  const err = await errorOf(secret);
  t.equal(err.code, 'aos_policy_denied');
  t.match(err.message, /guardrail finding secret\.aws_access_key \(high\) at value\.note/);
  t.notOk(err.message.includes(AWS_KEY));
  t.equal((await h.call('alice', 'GET', '/memory/v1/team:research/creds')).status, 404, 'not stored');
  const bare = await h.call('alice', 'PUT', '/memory/v1/team:research/bare', JSON.stringify(AWS_KEY));
  t.equal(bare.status, 403, 'a document that is one string is scanned too');

  const pii = await h.call('alice', 'PUT', '/memory/v1/team:research/contact', { who: `write to ${EMAIL}`, again: EMAIL });
  t.equal(pii.status, 201);
  const stored = await (await h.call('bob', 'GET', '/memory/v1/team:research/contact')).json();
  t.same(stored, { who: 'write to [EMAIL_1]', again: '[EMAIL_1]' }, 'stored redacted: the value never reaches the memory');
  const found = await (await h.call('bob', 'GET', '/memory/v1/team:research?q=example.com')).json();
  t.same(found.items, [], 'nor its search text');
  const events = await auditEvents(h, 6);
  t.notOk(JSON.stringify(events).includes(AWS_KEY), 'the audit trail never holds the secret');
  t.notOk(JSON.stringify(events).includes(EMAIL), 'nor the address');
  const put = events.find((e) => e.path === '/memory/v1/team:research/contact' && e.method === 'PUT')!;
  t.ok(put.flags?.includes('redacted'));
  t.same(put.findings, [
    { detector: 'pii.email', severity: 'medium', path: 'value.who' },
    { detector: 'pii.email', severity: 'medium', path: 'value.again' },
  ]);
  t.equal(put.memory?.value_sha256, sha256(JSON.stringify(stored)), 'the hash of what was stored');
});

t.test('MCP: the official SDK client uses /mcp/memory', async (t) => {
  const h = await harness(t);
  const connect = async (agent: string, headers: Record<string, string> = {}) => {
    const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/memory`), { requestInit: { headers: { authorization: `Bearer ${await h.token(agent)}`, ...headers } } });
    const client = new Client({ name: 'memory-test', version: '1.0.0' });
    await client.connect(transport);
    t.teardown(() => client.close());
    return client;
  };
  const alice = await connect('alice');
  t.equal(alice.getServerVersion()?.name, 'aos-memory');
  const { tools } = await alice.listTools();
  t.same(
    tools.map((x) => x.name),
    ['get', 'put', 'delete', 'list', 'search'],
  );
  const put = await alice.callTool({ name: 'put', arguments: { namespace: 'team:research', key: 'facts/sky', value: { color: 'blue', source: 'looking up' } } });
  t.notOk(put.isError);
  const etag = (put.structuredContent as { etag: string }).etag;
  t.match(put.structuredContent, { namespace: 'team:research', key: 'facts/sky', created: true });
  const bob = await connect('bob');
  const got = await bob.callTool({ name: 'get', arguments: { namespace: 'team:research', key: 'facts/sky' } });
  t.same((got.structuredContent as { value: unknown }).value, { color: 'blue', source: 'looking up' });
  t.equal((got.structuredContent as { etag: string }).etag, etag);
  const blind = await bob.callTool({ name: 'put', arguments: { namespace: 'team:research', key: 'facts/sky', value: { color: 'grey' } } });
  t.ok(blind.isError, 'an update without if_match is a tool error the model can act on');
  t.match(blind.structuredContent, { code: 'aos_memory_precondition_required', etag });
  const ok = await bob.callTool({ name: 'put', arguments: { namespace: 'team:research', key: 'facts/sky', value: { color: 'grey' }, if_match: etag } });
  t.notOk(ok.isError);
  const stale = await alice.callTool({ name: 'put', arguments: { namespace: 'team:research', key: 'facts/sky', value: { color: 'red' }, if_match: etag } });
  t.match(stale.structuredContent, { code: 'aos_memory_precondition_failed' });
  const search = await alice.callTool({ name: 'search', arguments: { namespace: 'team:research', query: 'GREY' } });
  t.same(
    (search.structuredContent as { items: { key: string }[] }).items.map((i) => i.key),
    ['facts/sky'],
  );
  const list = await alice.callTool({ name: 'list', arguments: { namespace: 'team:research', prefix: 'facts/' } });
  t.equal((list.structuredContent as { items: unknown[] }).items.length, 1);
  const missing = await alice.callTool({ name: 'get', arguments: { namespace: 'team:research', key: 'nope' } });
  t.match(missing, { isError: true, structuredContent: { code: 'aos_memory_not_found' } });

  const carol = await connect('carol');
  await t.rejects(
    carol.callTool({ name: 'get', arguments: { namespace: 'team:research', key: 'facts/sky' } }),
    { code: -32003, message: /memory read of namespace team:research is not allowed for agent carol/ },
    'a denial is a JSON-RPC error',
  );
  await t.rejects(alice.callTool({ name: 'get', arguments: { namespace: 'team:research', key: '../x' } }), { code: -32602, message: /invalid memory key/ });
  await t.rejects(alice.callTool({ name: 'forget', arguments: {} }), { code: -32602 });
  await t.rejects(alice.callTool({ name: 'put', arguments: { namespace: 'team:research', key: 'k', value: { aws: AWS_KEY } } }), { code: -32003, message: /guardrail finding secret/ });
  t.ok((await alice.callTool({ name: 'delete', arguments: { namespace: 'team:research', key: 'facts/sky' } })).structuredContent);
  const events = await auditEvents(h, 12);
  const mcpPut = events.find((e) => e.path === '/mcp/memory' && e.operation === 'memory.put' && e.memory?.outcome === 'ok')!;
  t.match(mcpPut, { kind: 'memory', route: 'memory/put', agent_id: 'alice' });
  t.equal(mcpPut.memory?.value_sha256, sha256(JSON.stringify({ color: 'blue', source: 'looking up' })));
});

t.test('MCP 2026-07-28 (stateless): server/discover, tools/list with caching hints, tool calls with resultType', async (t) => {
  const h = await harness(t);
  const rpc = statelessClient(`${h.url}/mcp/memory`, await h.token('alice'));
  const discover = await rpc('server/discover');
  t.match(discover.result, { resultType: 'complete', supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'aos-memory' } } });
  const list = await rpc('tools/list');
  t.match(list.result, { resultType: 'complete', cacheScope: 'public', ttlMs: 3_600_000 });
  t.equal((list.result!.tools as unknown[]).length, 5);
  const put = await rpc('tools/call', { name: 'put', arguments: { namespace: 'agent:alice', key: 'todo', value: ['a', 'b'] } });
  t.match(put.result, { resultType: 'complete', isError: false, structuredContent: { created: true } });
  const get = await rpc('tools/call', { name: 'get', arguments: { namespace: 'agent:alice', key: 'todo' } });
  t.same((get.result!.structuredContent as { value: unknown }).value, ['a', 'b']);
  const noHeader = await rpc('tools/list', {}, { 'mcp-method': '' });
  t.ok(noHeader.error, 'headers that do not match the body are refused');
});

t.test('rate limits: a memory operation takes a request slot; it costs no USD and is not a tool call', async (t) => {
  const registry = `
templates:
  worker: { version: 1, budget: { requests_per_minute: 3, daily_usd: 1, tool_calls_daily: 1 } }
agents:
  - { id: alice, team: research, template: worker }
`;
  const h = await startHarness(t, { identity: { mode: 'required', registry: 'agents.yaml' }, log: { level: 'warn' } }, { files: { 'agents.yaml': registry } });
  const token = await h.gateway.signer()!.mint({ subject: 'alice', audience: 'aos-gateway', ttlSec: 600 });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await fetch(`${h.url}/memory/v1/team:research/k${i}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"n":1}' });
    statuses.push(r.status);
    if (r.status === 429) t.equal(r.headers.get('x-aos-error-code'), 'aos_rate_limited');
    await r.arrayBuffer();
  }
  t.same(statuses, [201, 201, 201, 429], 'three per minute, then refused; the tool-call budget of 1 was never touched');
  const daily = (await h.gateway.budgets()!.show('agent:alice')).budgets.find((b) => b.key === 'daily_usd')!;
  t.equal(daily.spent, 0, 'no USD spent');
  t.equal(daily.reserved, 0, 'nothing left reserved');
});

t.test('a suspended agent reaches no memory, at once', async (t) => {
  const h = await harness(t);
  t.equal((await h.call('alice', 'PUT', '/memory/v1/team:research/k', { a: 1 })).status, 201);
  const admin = await h.gateway.signer()!.mint({ subject: 'ops', audience: 'aos-admin', roles: ['admin'], ttlSec: 600 });
  const s = await fetch(`${h.admin}/admin/agents/alice/suspend`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{"reason":"test"}' });
  t.equal(s.status, 200);
  const r = await h.call('alice', 'GET', '/memory/v1/team:research/k');
  t.equal(r.status, 403);
  t.equal((await errorOf(r)).code, 'aos_agent_suspended');
  t.equal((await h.call('bob', 'GET', '/memory/v1/team:research/k')).status, 200, 'a teammate still reads it');
});

t.test('memory.mode off: nothing is routed', async (t) => {
  const h = await harness(t, { memory: { mode: 'off' } });
  const r = await h.call('alice', 'GET', '/memory/v1/team:research/k');
  t.equal(r.status, 404);
  t.equal(r.headers.get('x-aos-error-code'), 'aos_route_not_found');
});

t.test('config: an MCP server named memory would be shadowed by /mcp/memory: refused while memory is on', async (t) => {
  const base = `providers: { openai: { dialect: openai, baseUrl: "http://127.0.0.1:9/v1" } }
routes: [{ prefix: /v1, provider: openai }]
tools: { memory: { kind: mcp, url: "http://127.0.0.1:9/mcp" } }
`;
  t.throws(() => parseConfig(base, 'aos.yaml'), /tools\.memory.*\/mcp\/memory is the gateway's shared memory/);
  t.equal(parseConfig(`${base}memory: { mode: off }\n`, 'aos.yaml').config.memory.mode, 'off', 'accepted with memory off');
  t.same(
    parseConfig(base.replace('memory: { kind', 'mem: { kind'), 'aos.yaml').config.memory,
    {
      mode: 'on',
      store: 'sqlite',
      maxValueBytes: 256 * 1024,
      maxKeyBytes: 512,
      defaultTtlSeconds: 0,
      maxTtlSeconds: 0,
      listLimit: 1000,
      searchMaxScan: 2000,
      redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'aos', commandTimeoutMs: 1000 },
    },
    'the defaults',
  );
});

t.test('a Redis store that does not answer: 503 aos_memory_unavailable, audited as failed', async (t) => {
  const h = await harness(t, { memory: { store: 'redis', redis: { url: 'redis://127.0.0.1:9', commandTimeoutMs: 100 } } });
  const r = await h.call('alice', 'PUT', '/memory/v1/team:research/k', { a: 1 });
  t.equal(r.status, 503);
  t.equal((await errorOf(r)).code, 'aos_memory_unavailable');
  t.equal(r.headers.get('retry-after'), null);
  const [event] = await auditEvents(h, 1);
  t.match(event, { kind: 'memory', decision: 'allow', outcome: 'failed', error_code: 'aos_memory_unavailable', status: 503 });
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_memory_ops_total\{op="put",outcome="unavailable"\} 1/);
});

t.test('TTL defaults and bounds', async (t) => {
  const h = await harness(t, { memory: { defaultTtlSeconds: 60, maxTtlSeconds: 120 } });
  const expiresIn = async (key: string, headers: Record<string, string> = {}) => {
    const r = await h.call('alice', 'PUT', `/memory/v1/team:research/${key}`, { a: 1 }, headers);
    t.equal(r.status, 201);
    return Math.round((Date.parse((await r.json()).expires_at) - Date.now()) / 1000);
  };
  t.ok(Math.abs((await expiresIn('a')) - 60) <= 2, 'a write without a TTL gets the default');
  t.ok(Math.abs((await expiresIn('b', { 'x-aos-ttl-seconds': '90' })) - 90) <= 2, 'its own, within the bound');
  t.ok(Math.abs((await expiresIn('c', { 'x-aos-ttl-seconds': '100000' })) - 120) <= 2, 'capped at maxTtlSeconds');
});

const stores: { name: string; options?: object; memory(t: Test): Promise<Record<string, unknown>> }[] = [
  { name: 'sqlite', memory: async () => ({ store: 'sqlite' }) },
  { name: 'redis', options: REDIS.options, memory: async (t) => ({ store: 'redis', redis: { url: (await startRedis(t)).url } }) },
];

for (const s of stores) {
  t.test(`${s.name}: 100 concurrent If-Match writers through the gateway lose nothing`, s.options ?? {}, async (t) => {
    const h = await harness(t, { memory: await s.memory(t), audit: { mode: 'off' }, log: { level: 'error' } });
    const path = '/memory/v1/team:research/counter';
    t.equal((await h.call('alice', 'PUT', path, { n: 0 })).status, 201);
    let conflicts = 0;
    const statuses = new Set<number>();
    const writer = async (agent: string) => {
      for (;;) {
        const r = await h.call(agent, 'GET', path);
        const etag = r.headers.get('etag')!;
        const { n } = (await r.json()) as { n: number };
        const w = await h.call(agent, 'PUT', path, { n: n + 1 }, { 'if-match': etag });
        await w.arrayBuffer();
        if (w.status === 200) return;
        statuses.add(w.status);
        conflicts += 1;
      }
    };
    await Promise.all(Array.from({ length: 100 }, (_, i) => writer(i % 2 === 0 ? 'alice' : 'bob')));
    t.same(await (await h.call('alice', 'GET', path)).json(), { n: 100 }, 'every increment is there');
    t.ok(conflicts > 0, `writers collided ${conflicts} times and retried`);
    t.same([...statuses], [412], 'every lost race was a 412');
  });
}
