/**
 * List caching by the server's hints (MCP 2026-07-28 `ttlMs`/`cacheScope`), through the gateway:
 * a 2026-07-28 raw client in front of a 2026-07-28 raw server (test/mcp-stateless-server.ts), and
 * of the official SDK's 2025-11-25 server (lists without hints: never cached). `public` lists are
 * kept once for every agent and filtered per agent; `private` ones per agent; pages by cursor;
 * `notifications/tools/list_changed` drops them; hits and misses are counted.
 */
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { createListCache } from '../src/tools/mcp-list-cache.js';
import { createListChangedTap } from '../src/tools/mcp-list-tap.js';
import { startHarness } from './helpers.js';
import { startMcpServer } from './mcp-fixture.js';
import { statelessClient } from './mcp-stateless-client.js';
import { startStatelessServer } from './mcp-stateless-server.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
templates:
  helper: { version: 1, tools: ["new/echo", "new/change", "old/echo"] }
  dumper: { version: 1, tools: ["new/secret_dump"] }
agents:
  - { id: agent-a, team: qa, template: helper }
  - { id: agent-b, team: qa, template: dumper }
`;

async function setup(t: Test, server: Parameters<typeof startStatelessServer>[0] = {}) {
  const fresh = await startStatelessServer(server);
  t.teardown(() => fresh.close());
  const old = await startMcpServer();
  t.teardown(() => old.close());
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      tools: { new: { kind: 'mcp', url: fresh.url }, old: { kind: 'mcp', url: old.url } },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const client = async (agent: string, name = 'new') => statelessClient(`${h.url}/mcp/${name}`, await h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 }));
  /** The agents' tools/list requests the server got (the gateway's own, for schemas, have string ids). */
  const lists = () => fresh.requests.filter((r) => r.body.method === 'tools/list' && typeof r.body.id === 'number').map((r) => (r.body.params as { cursor?: string }).cursor ?? null);
  const metric = async (result: 'hit' | 'miss') => {
    const text = await (await fetch(`${h.admin}/metrics`)).text();
    const m = new RegExp(`aos_mcp_list_cache_total\\{list="tools",result="${result}"\\} (\\d+)`).exec(text);
    return m === null ? 0 : Number(m[1]);
  };
  return { h, fresh, old, client, lists, metric };
}

const names = (r: Record<string, unknown> | undefined) => ((r?.tools ?? []) as { name: string }[]).map((x) => x.name);

t.test('public: one server list for every agent within ttlMs, filtered per agent, ttlMs counting down', async (t) => {
  const { client, lists, metric } = await setup(t, { ttlMs: 60_000, cacheScope: 'public' });
  const a = await client('agent-a');
  const b = await client('agent-b');
  const first = await a('tools/list');
  t.same(names(first.result), ['echo', 'change']);
  t.equal(first.result?.ttlMs, 60_000, "a miss passes the server's hints");
  const second = await a('tools/list');
  t.same(names(second.result), ['echo', 'change'], 'a hit is filtered for the agent');
  t.match(
    second.result,
    { resultType: 'complete', cacheScope: 'public', _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'stateless-fixture' } } },
    'the rest of the result as the server sent it',
  );
  t.ok((second.result?.ttlMs as number) <= 60_000 && (second.result?.ttlMs as number) > 50_000, 'ttlMs is what is left');
  t.equal(second.status, 200);
  t.same(names((await b('tools/list')).result), ['secret_dump'], 'another agent: the same cached list, filtered by its own policy');
  t.same(lists(), [null], 'the server was asked once');
  t.equal(await metric('miss'), 1);
  t.equal(await metric('hit'), 2);
});

t.test('private: kept per agent', async (t) => {
  const { client, lists } = await setup(t, { ttlMs: 60_000, cacheScope: 'private' });
  const a = await client('agent-a');
  const b = await client('agent-b');
  await a('tools/list');
  await a('tools/list');
  t.same(lists(), [null], "agent a's second list from the cache");
  t.same(names((await b('tools/list')).result), ['secret_dump']);
  t.same(lists(), [null, null], "agent b does not get agent a's private list");
  await b('tools/list');
  t.equal(lists().length, 2);
});

t.test('ttlMs: past it the server is asked again', async (t) => {
  const { client, lists } = await setup(t, { ttlMs: 60, cacheScope: 'public' });
  const a = await client('agent-a');
  await a('tools/list');
  await a('tools/list');
  t.equal(lists().length, 1);
  await new Promise((r) => setTimeout(r, 90));
  await a('tools/list');
  t.equal(lists().length, 2);
});

t.test('pages are kept by cursor', async (t) => {
  const { client, lists } = await setup(t, { ttlMs: 60_000, cacheScope: 'public', paged: true });
  const b = await client('agent-b');
  const p1 = await b('tools/list');
  t.same(names(p1.result), [], 'page 1 (echo) filtered out for b');
  t.equal(p1.result?.nextCursor, 'page-2');
  const p2 = await b('tools/list', { cursor: 'page-2' });
  t.same(names(p2.result), ['secret_dump']);
  t.same(names((await b('tools/list', { cursor: 'page-2' })).result), ['secret_dump']);
  t.equal((await b('tools/list')).result?.nextCursor, 'page-2');
  t.same(lists(), [null, 'page-2'], 'each page asked once');
});

t.test('notifications/tools/list_changed drops the cached list', async (t) => {
  const { client, lists } = await setup(t, { ttlMs: 60_000, cacheScope: 'public' });
  const a = await client('agent-a');
  await a('tools/list');
  await a('tools/list');
  t.equal(lists().length, 1);
  const changed = await a('tools/call', { name: 'change', arguments: {} });
  t.ok(
    changed.messages.some((m) => m.method === 'notifications/tools/list_changed'),
    'the notification reached the agent',
  );
  await a('tools/list');
  t.equal(lists().length, 2, 'asked again after the change');
});

t.test('a 2025-11-25 server (lists without hints, translated as ttlMs 0): never cached', async (t) => {
  const { client, old, metric } = await setup(t);
  const a = await client('agent-a', 'old');
  const first = await a('tools/list');
  t.same(names(first.result), ['echo']);
  t.match(first.result, { ttlMs: 0, cacheScope: 'private' });
  await a('tools/list');
  t.equal(old.requests.filter((r) => r.rpc === 'tools/list' && typeof (r.body as { id: unknown }).id === 'number').length, 2, 'every list reaches the server');
  t.equal((await metric('hit')) + (await metric('miss')), 0, 'not counted: the cache is not in play');
});

t.test('the cache alone: hints decide, invalidation by list, bounded', async (t) => {
  let now = 0;
  const c = createListCache({ max: 2, now: () => now });
  const list = (ttlMs: unknown, cacheScope: unknown) => ({ tools: [{ name: 'x' }], ttlMs, cacheScope });
  const cases: [unknown, unknown, boolean][] = [
    [1000, 'public', true],
    [1000, 'private', true],
    [0, 'public', false],
    [undefined, 'public', false],
    [1000, undefined, false],
    [1000, 'shared', false],
    [-5, 'private', false],
  ];
  for (const [ttl, scope, kept] of cases) t.equal(c.put('tools', null, 'a', list(ttl, scope)), kept, `ttlMs ${String(ttl)}, cacheScope ${String(scope)}`);
  t.equal(c.get('tools', null, 'a')?.cacheScope, 'private', "the agent's own entry first");
  t.equal(c.get('tools', null, 'b')?.cacheScope, 'public');
  t.equal(c.get('prompts', null, 'b'), null);
  now = 1000;
  t.equal(c.get('tools', null, 'a'), null, 'expired');
  c.put('tools', null, 'a', list(1000, 'public'));
  c.put('tools', 'p2', 'a', list(1000, 'public'));
  c.put('tools', 'p3', 'a', list(1000, 'public'));
  t.equal(c.size(), 2, 'bounded');
  c.invalidate('prompts');
  t.equal(c.size(), 2);
  c.invalidate('tools');
  t.equal(c.size(), 0);
});

t.test('list_changed of each list is seen, split across chunks too', async (t) => {
  const cases: [string, string[], string[]][] = [
    ['tools, one chunk', ['data: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\n\n'], ['tools']],
    ['prompts, split', ['data: {"jsonrpc":"2.0","method":"notifications/prom', 'pts/list_changed"}\n\n'], ['prompts']],
    ['resources, split in three', ['data: {"method":"notifications/reso', 'urces/list_', 'changed"}\n\n'], ['resources']],
    ['none', ['data: {"method":"notifications/progress"}\n\n'], []],
  ];
  for (const [name, chunks, want] of cases) {
    const seen: string[] = [];
    const tap = createListChangedTap((list) => seen.push(list));
    tap.onStart?.(200, { 'content-type': 'text/event-stream' });
    for (const c of chunks) t.equal(tap.onData?.(Buffer.from(c))?.toString(), c, 'bytes pass untouched');
    t.same(seen, want, name);
  }
});
