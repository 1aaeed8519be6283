/** The MCP schema cache against a real SDK server: fetching (JSON and SSE answers, pages), TTL, coalescing, invalidation. */
import t, { type Test } from 'tap';
import { Pool } from 'undici';
import { mcpDialect } from '../src/providers/mcp.js';
import { createSchemaCache } from '../src/tools/mcp-schemas.js';
import type { Upstream } from '../src/upstream/upstreams.js';
import { freePort } from './helpers.js';
import { type McpFixtureOptions, startMcpServer } from './mcp-fixture.js';

function upstreamFor(t: Test, url: string): Upstream {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: 4 });
  t.teardown(() => pool.close());
  return {
    name: 'fixture',
    dialect: mcpDialect,
    origin: u.origin,
    host: u.host,
    basePath: u.pathname,
    pool,
    auth: ['authorization', 'Bearer k'],
    authorize: null,
    deployments: null,
    headers: [],
    headersTimeoutMs: 300_000,
    bodyTimeoutMs: 120_000,
  };
}

async function setup(t: Test, opts: McpFixtureOptions, ttlMs = 1000) {
  const server = await startMcpServer({ stateless: true, ...opts });
  t.teardown(() => server.close());
  let clock = 0;
  const cache = createSchemaCache({ server: 'fixture', upstream: upstreamFor(t, server.url), ttlMs, now: () => clock });
  const ctx = { headers: {}, meta: null, requestId: 'r1' };
  const fetches = () => server.requests.filter((r) => r.rpc === 'tools/list').length;
  return { server, cache, ctx, fetches, advance: (ms: number) => (clock += ms) };
}

for (const json of [false, true]) {
  t.test(`lookups fetch the whole list once per TTL (${json ? 'JSON' : 'SSE'} answers, paged)`, async (t) => {
    const { cache, ctx, fetches, advance, server } = await setup(t, { json, pageSize: 3 });
    const add = await cache.lookup('add', ctx);
    t.ok(add?.schema?.validate({ a: 1, b: 2 }));
    t.notOk(add?.schema?.validate({ a: 1 }));
    t.equal(fetches(), 3, 'three pages of three');
    t.equal(cache.size(), 8);
    t.equal(server.requests[0].headers.authorization, 'Bearer k', 'with the tool credential');
    t.ok(await cache.lookup('echo', ctx));
    t.equal(await cache.lookup('nope', ctx), null, 'unknown in a fresh complete list');
    t.equal(fetches(), 3, 'no fetch while fresh');
    advance(1001);
    t.ok(await cache.lookup('add', ctx));
    t.equal(fetches(), 6, 'stale: fetched again');
  });
}

t.test('concurrent lookups share one fetch; invalidate() forces the next; ttl 0 fetches every time', async (t) => {
  const { cache, ctx, fetches } = await setup(t, {});
  await Promise.all([cache.lookup('add', ctx), cache.lookup('echo', ctx), cache.lookup('nope', ctx)]);
  t.equal(fetches(), 1);
  cache.invalidate();
  t.equal(cache.size(), 0);
  await cache.lookup('add', ctx);
  t.equal(fetches(), 2);
  const zero = await setup(t, {}, 0);
  await zero.cache.lookup('add', zero.ctx);
  await zero.cache.lookup('add', zero.ctx);
  t.equal(zero.fetches(), 2);
});

t.test('learned from passing lists; a tool without a valid schema is known with the reason', async (t) => {
  const { cache, ctx, fetches } = await setup(t, {});
  cache.learn([{ name: 'x', inputSchema: { type: 'object', required: ['q'] } }, { name: 'bad', inputSchema: { type: 7 } }, { name: 'none' }, 'junk', null]);
  t.ok((await cache.lookup('x', ctx))?.schema?.validate({ q: 1 }));
  t.match(await cache.lookup('bad', ctx), { schema: null, error: /inputSchema of tool bad is not a valid JSON Schema/ });
  t.match(await cache.lookup('none', ctx), { schema: null, error: /declares no inputSchema/ });
  t.equal(fetches(), 0, 'no fetch needed');
});

t.test('an unreachable server or a failing answer rejects the lookup', async (t) => {
  const port = await freePort();
  const cache = createSchemaCache({ server: 'gone', upstream: upstreamFor(t, `http://127.0.0.1:${port}/mcp`), ttlMs: 1000 });
  await t.rejects(cache.lookup('add', { headers: {}, meta: null, requestId: 'r' }), /ECONNREFUSED|connect/);
  const stateful = await startMcpServer({});
  t.teardown(() => stateful.close());
  const strict = createSchemaCache({ server: 'strict', upstream: upstreamFor(t, stateful.url), ttlMs: 1000 });
  await t.rejects(strict.lookup('add', { headers: { 'mcp-session-id': 'no-such-session' }, meta: null, requestId: 'r' }), /tools\/list answered HTTP 404/);
});
