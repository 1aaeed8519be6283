/**
 * The response cache's stores, one suite run on both: SQLite (dataDir/cache.db) and a real
 * redis-server. Then what only SQLite does itself (Redis leaves it to maxmemory): the size bound
 * with least-recently-used eviction, and expired entries dropped. And the key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { cacheKey } from '../src/coordination/cache-key.js';
import type { CacheEntry, CacheStore } from '../src/coordination/cache-store.js';
import { createRedisCache } from '../src/coordination/redis-cache.js';
import { createSqliteCache } from '../src/coordination/sqlite-cache.js';
import { createLogger } from '../src/log.js';
import { REDIS, startRedis } from './redis-server.js';

const entry = (text: string, kind: 'json' | 'sse' = 'json'): CacheEntry => ({
  kind,
  contentType: kind === 'json' ? 'application/json' : 'text/event-stream',
  body: Buffer.from(text),
  inputTokens: 10,
  outputTokens: 5,
  costUsd: 0.001,
});

const tmp = (t: Test) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const stores: { name: string; options?: object; open(t: Test): Promise<CacheStore> }[] = [
  {
    name: 'sqlite',
    async open(t) {
      const s = createSqliteCache({ dataDir: tmp(t), maxTotalBytes: 1 << 20 });
      t.teardown(() => s.close());
      return s;
    },
  },
  {
    name: 'redis',
    options: REDIS.options,
    async open(t) {
      const r = await startRedis(t);
      const s = createRedisCache({ url: r.url, keyPrefix: 'test', commandTimeoutMs: 500, log: createLogger('silent') });
      t.teardown(() => s.close());
      // Connected before the suite starts (the client connects lazily, without an offline queue: until then a set is dropped).
      for (let i = 0; i < 50; i++) {
        await s.set('probe', entry('p'), 1000);
        if ((await s.get('probe')) !== null) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      return s;
    },
  },
];

for (const def of stores) {
  t.test(`${def.name} store: get, set, overwrite, TTL`, def.options ?? {}, async (t) => {
    const s = await def.open(t);
    t.equal(await s.get('absent'), null, 'a miss');
    await s.set('k1', entry('{"a":1}'), 60_000);
    const got = await s.get('k1');
    t.ok(got, 'stored');
    t.same({ ...got!, body: got!.body.toString() }, { ...entry('{"a":1}'), body: '{"a":1}' }, 'what was stored comes back whole');
    await s.set('k1', entry('data: x\n\n', 'sse'), 60_000);
    t.equal((await s.get('k1'))?.kind, 'sse', 'a set replaces the entry');
    t.equal(await s.get('k2'), null, 'keys do not mix');
    await s.set('short', entry('{}'), 150);
    t.ok(await s.get('short'), 'there before its TTL');
    await new Promise((r) => setTimeout(r, 250));
    t.equal(await s.get('short'), null, 'gone after its TTL');
  });
}

t.test('redis store: entries carry their TTL (Redis drops them; maxmemory bounds the total)', REDIS.options, async (t) => {
  const r = await startRedis(t);
  const s = createRedisCache({ url: r.url, keyPrefix: 'aos', commandTimeoutMs: 500, log: createLogger('silent') });
  t.teardown(() => s.close());
  const probe = new Redis(r.url);
  t.teardown(() => probe.disconnect());
  for (let i = 0; i < 50; i++) {
    await s.set('abc', entry('{}'), 30_000);
    if ((await probe.exists('aos:cache:abc')) === 1) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const ttl = await probe.pttl('aos:cache:abc');
  t.ok(ttl > 29_000 && ttl <= 30_000, `PTTL ${ttl}`);
});

t.test('redis store: Redis away is a miss, never an error', async (t) => {
  const s = createRedisCache({ url: 'redis://127.0.0.1:9', keyPrefix: 'aos', commandTimeoutMs: 50, log: createLogger('silent') });
  t.teardown(() => s.close());
  t.equal(await s.get('k'), null);
  await s.set('k', entry('{}'), 1000);
  t.pass('set did not throw');
});

t.test('sqlite store: bounded total size, least recently used evicted first', async (t) => {
  const dir = tmp(t);
  let clock = 1_000_000;
  const evicted: [string, number][] = [];
  const s = createSqliteCache({ dataDir: dir, maxTotalBytes: 10_000, now: () => clock, onEvict: (reason, n) => evicted.push([reason, n]) });
  t.teardown(() => s.close());
  const body = 'x'.repeat(2_000);
  for (let i = 0; i < 4; i++) {
    s.set(`k${i}`, entry(body), 3_600_000);
    clock += 2_000;
  }
  // k0 is used again: k1 becomes the least recently used.
  t.ok(s.get('k0'));
  clock += 2_000;
  s.set('k4', entry(body), 3_600_000);
  s.set('k5', entry(body), 3_600_000);
  const left = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'].filter((k) => s.get(k) !== null);
  t.same(left, ['k0', 'k3', 'k4', 'k5'], 'the two least recently used went');
  t.same(evicted, [
    ['size', 1],
    ['size', 1],
  ]);
  // A store reopened knows its size.
  await s.close();
  const again = createSqliteCache({ dataDir: dir, maxTotalBytes: 10_000, now: () => clock, onEvict: (reason, n) => evicted.push([reason, n]) });
  t.teardown(() => again.close());
  again.set('k6', entry(body), 3_600_000);
  t.equal(['k0', 'k3', 'k4', 'k5', 'k6'].filter((k) => again.get(k) !== null).length, 4, 'still bounded after a restart');
  t.equal(again.get('k1'), null);
});

t.test('sqlite store: expired entries are dropped when read and swept', async (t) => {
  let clock = 1_000_000;
  const evicted: [string, number][] = [];
  const s = createSqliteCache({ dataDir: tmp(t), maxTotalBytes: 1 << 20, now: () => clock, onEvict: (reason, n) => evicted.push([reason, n]) });
  t.teardown(() => s.close());
  s.set('a', entry('{}'), 1_000);
  s.set('b', entry('{}'), 1_000);
  clock += 1_000;
  t.equal(s.get('a'), null, 'expired at its TTL');
  clock += 60_000;
  s.set('c', entry('{}'), 1_000);
  t.same(
    evicted,
    [
      ['expired', 1],
      ['expired', 1],
    ],
    'one dropped when read, the other swept',
  );
});

t.test('cache key: sorted keys at every depth, the fields that do not change the answer left out, scoped', async (t) => {
  const a = { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0 };
  const b = { temperature: 0, stream: true, stream_options: { include_usage: true }, user: 'u1', metadata: { x: 1 }, messages: [{ content: 'hi', role: 'user' }], model: 'm' };
  t.equal(cacheKey('team:a', 'openai', 'chat.completions', a), cacheKey('team:a', 'openai', 'chat.completions', b), 'same request, same key');
  t.not(cacheKey('team:a', 'openai', 'chat.completions', a), cacheKey('team:b', 'openai', 'chat.completions', a), 'another scope');
  t.not(cacheKey('team:a', 'openai', 'chat.completions', a), cacheKey('team:a', 'anthropic', 'chat.completions', a), 'another dialect');
  t.not(cacheKey('team:a', 'openai', 'chat.completions', a), cacheKey('team:a', 'openai', 'responses', a), 'another operation');
  t.not(cacheKey('team:a', 'openai', 'chat.completions', a), cacheKey('team:a', 'openai', 'chat.completions', { ...a, max_tokens: 5 }), 'a field that changes the answer');
});
