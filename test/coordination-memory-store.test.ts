/**
 * Shared memory's stores, one suite run on both: SQLite (dataDir/memory.db) and a real
 * redis-server. CRUD, versions and every precondition, TTL expiry, listing by prefix with cursors,
 * the text search and its scan bound, and 100 concurrent writers incrementing one counter with
 * If-Match (retrying on a refusal) losing no increment.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { createRedisMemory } from '../src/coordination/memory-redis.js';
import { createSqliteMemory } from '../src/coordination/memory-sqlite.js';
import { type MemoryStore, type Precondition, searchTerms, searchText } from '../src/coordination/memory-store.js';
import { createLogger } from '../src/log.js';
import { REDIS, startRedis } from './redis-server.js';

const tmp = (t: Test) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-memory-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const stores: { name: string; options?: object; open(t: Test): Promise<MemoryStore & { url?: string }> }[] = [
  {
    name: 'sqlite',
    async open(t) {
      const s = createSqliteMemory({ dataDir: tmp(t) });
      t.teardown(() => s.close());
      return s;
    },
  },
  {
    name: 'redis',
    options: REDIS.options,
    async open(t) {
      const r = await startRedis(t);
      const s = createRedisMemory({ url: r.url, keyPrefix: 'test', commandTimeoutMs: 2000, log: createLogger('silent') });
      t.teardown(() => s.close());
      return Object.assign(s, { url: r.url });
    },
  },
];

const put = (s: MemoryStore, ns: string, key: string, value: unknown, condition: Precondition = { kind: 'new' }, ttlMs: number | null = null) =>
  s.put(ns, key, { value: JSON.stringify(value), text: searchText(key, value), ttlMs, condition });

for (const def of stores) {
  t.test(`${def.name}: get, put, versions, preconditions, delete`, def.options ?? {}, async (t) => {
    const s = await def.open(t);
    t.equal(await s.get('team:a', 'k'), null, 'absent');
    const created = await put(s, 'team:a', 'k', { n: 1 });
    t.ok(created.ok && created.created, 'created');
    if (!created.ok) return;
    const got = await s.get('team:a', 'k');
    t.same(got && { value: got.value, etag: got.etag, expiresMs: got.expiresMs }, { value: '{"n":1}', etag: created.etag, expiresMs: null }, 'read back with its etag');
    t.ok(got!.updatedMs > Date.now() - 10_000 && got!.updatedMs <= Date.now(), 'updated time');
    t.equal(await s.get('team:b', 'k'), null, 'namespaces do not mix');

    t.same(await put(s, 'team:a', 'k', { n: 2 }), { ok: false, reason: 'required', etag: created.etag }, 'an existing key without a precondition: refused (If-Match required)');
    t.same(await put(s, 'team:a', 'k', { n: 2 }, { kind: 'absent' }), { ok: false, reason: 'exists', etag: created.etag }, 'If-None-Match: * on an existing key');
    t.same(await put(s, 'team:a', 'k', { n: 2 }, { kind: 'match', etag: 'stale' }), { ok: false, reason: 'mismatch', etag: created.etag }, 'a stale If-Match');
    const updated = await put(s, 'team:a', 'k', { n: 2 }, { kind: 'match', etag: created.etag });
    t.ok(updated.ok && !updated.created, 'If-Match with the current etag replaces it');
    if (!updated.ok) return;
    t.not(updated.etag, created.etag, 'a new version, a new etag');
    t.equal((await s.get('team:a', 'k'))!.value, '{"n":2}');
    const forced = await put(s, 'team:a', 'k', { n: 3 }, { kind: 'any' });
    t.ok(forced.ok, 'If-Match: * overwrites whatever version is there');
    t.same(await put(s, 'team:a', 'nope', {}, { kind: 'any' }), { ok: false, reason: 'missing', etag: null }, 'If-Match: * on an absent key');
    t.same(await put(s, 'team:a', 'nope', {}, { kind: 'match', etag: 'x' }), { ok: false, reason: 'missing', etag: null }, 'If-Match on an absent key');
    t.ok((await put(s, 'team:a', 'fresh', {}, { kind: 'absent' })).ok, 'If-None-Match: * creates');

    const now = (await s.get('team:a', 'k'))!.etag;
    t.same(await s.delete('team:a', 'k', { kind: 'match', etag: 'stale' }), { ok: false, reason: 'mismatch', etag: now }, 'a delete with a stale If-Match');
    t.same(await s.delete('team:a', 'k', { kind: 'match', etag: now }), { ok: true, etag: now }, 'deleted');
    t.equal(await s.get('team:a', 'k'), null, 'gone');
    t.same(await s.delete('team:a', 'k', { kind: 'none' }), { ok: false, reason: 'missing', etag: null }, 'deleting an absent key');
    const again = await put(s, 'team:a', 'k', { n: 9 });
    t.ok(again.ok && again.created, 'a deleted key is created again without a precondition');
    t.ok(again.ok && again.etag !== now && again.etag !== created.etag, 'with an etag never used before');
    t.same(await s.delete('team:a', 'k', { kind: 'none' }), { ok: true, etag: again.ok ? again.etag : '' }, 'a delete without If-Match');
  });

  t.test(`${def.name}: TTL`, def.options ?? {}, async (t) => {
    const s = await def.open(t);
    const w = await put(s, 'org', 'short', { a: 1 }, { kind: 'new' }, 200);
    t.ok(w.ok && w.expiresMs !== null && Math.abs(w.expiresMs - (Date.now() + 200)) < 100, 'expiry reported');
    t.ok(await s.get('org', 'short'), 'there before its TTL');
    t.equal((await s.get('org', 'short'))!.expiresMs, w.ok ? w.expiresMs : -1, 'read with its expiry');
    await put(s, 'org', 'long', { a: 2 });
    await new Promise((r) => setTimeout(r, 350));
    t.equal(await s.get('org', 'short'), null, 'gone after its TTL');
    t.same(
      (await s.list('org', '', null, 10)).items.map((i) => i.key),
      ['long'],
      'not listed once expired',
    );
    t.ok((await put(s, 'org', 'short', { a: 3 })).ok, 'an expired key is absent: created without If-Match');
    const forever = await s.get('org', 'short');
    t.equal(forever!.expiresMs, null, 'a write without TTL never expires');
    // A TTL is per write: If-Match with a new TTL moves it.
    const moved = await put(s, 'org', 'short', { a: 4 }, { kind: 'match', etag: forever!.etag }, 100);
    t.ok(moved.ok);
    await new Promise((r) => setTimeout(r, 250));
    t.equal(await s.get('org', 'short'), null, 'the new TTL applies');
    t.equal((await s.search('org', ['long'], 10, 100)).items.length, 1, 'search sees the live one');
  });

  t.test(`${def.name}: list by prefix, in key order, with a cursor`, def.options ?? {}, async (t) => {
    const s = await def.open(t);
    const keys = ['notes/a', 'notes/b', 'notes/c', 'notes/d', 'notes/e', 'notesX', 'other/1', 'note'];
    for (const k of keys) await put(s, 'team:a', k, { k });
    await put(s, 'team:b', 'notes/zz', {});
    const first = await s.list('team:a', 'notes/', null, 2);
    t.same(
      first.items.map((i) => i.key),
      ['notes/a', 'notes/b'],
    );
    t.equal(first.next, 'notes/b');
    t.same(first.items[0].bytes, Buffer.byteLength('{"k":"notes/a"}'), 'bytes of the value');
    const second = await s.list('team:a', 'notes/', first.next, 2);
    t.same(
      second.items.map((i) => i.key),
      ['notes/c', 'notes/d'],
    );
    const last = await s.list('team:a', 'notes/', second.next, 2);
    t.same(
      last.items.map((i) => i.key),
      ['notes/e'],
    );
    t.equal(last.next, null, 'the end');
    t.same(
      (await s.list('team:a', '', null, 100)).items.map((i) => i.key),
      [...keys].sort(),
      'everything, sorted',
    );
    t.same(
      (await s.list('team:a', 'notes', null, 100)).items.map((i) => i.key),
      ['notes/a', 'notes/b', 'notes/c', 'notes/d', 'notes/e', 'notesX'],
    );
    t.same((await s.list('team:a', 'zzz', null, 10)).items, [], 'no match');
    t.same(
      (await s.list('team:a', 'notes/', 'a', 1)).items.map((i) => i.key),
      ['notes/a'],
      'a cursor before the prefix starts at the prefix',
    );
  });

  t.test(`${def.name}: text search`, def.options ?? {}, async (t) => {
    const s = await def.open(t);
    await put(s, 'org', 'runbooks/db', { title: 'Database Failover', steps: ['promote the replica', 'update DNS'] });
    await put(s, 'org', 'runbooks/cache', { title: 'Cache warmup', owner: { name: 'Zoë Ünal' } });
    await put(s, 'org', 'people/zoe', { name: 'Zoë', note: 'on call for the DATABASE' });
    await put(s, 'team:x', 'other', { title: 'database' });
    const keysOf = async (q: string, limit = 10, scan = 100) => (await s.search('org', searchTerms(q), limit, scan)).items.map((i) => i.key);
    t.same(await keysOf('database'), ['people/zoe', 'runbooks/db'], 'case-insensitive, in key order, one namespace');
    t.same(await keysOf('replica dns'), ['runbooks/db'], 'every term must match (array values included)');
    t.same(await keysOf('ÜNAL'), ['runbooks/cache'], 'non-ASCII lower-cased');
    t.same(await keysOf('runbooks'), ['runbooks/cache', 'runbooks/db'], 'the key is searched too');
    t.same(await keysOf('owner'), ['runbooks/cache'], 'object keys are searched');
    t.same(await keysOf('nothing-like-this'), []);
    t.same(await keysOf('database', 1), ['people/zoe'], 'limit');
    const hit = (await s.search('org', ['failover'], 10, 100)).items[0];
    t.same(JSON.parse(hit.value), { title: 'Database Failover', steps: ['promote the replica', 'update DNS'] }, 'the value comes back');
    const bounded = await s.search('org', ['runbooks/db'], 10, 2);
    t.same(bounded, { items: [], truncated: true }, 'reads at most maxScan documents (in key order) and says so');
    t.same((await s.search('org', ['people'], 1, 1)).truncated, false, 'the limit reached within the bound: not truncated');
  });

  t.test(`${def.name}: 100 concurrent If-Match writers incrementing one counter lose nothing`, def.options ?? {}, async (t) => {
    const s = await def.open(t);
    // On Redis, every writer has its own connection: the compare-and-set is the server's.
    const others: MemoryStore[] = [];
    if (s.url !== undefined) {
      for (let i = 0; i < 4; i++) {
        const o = createRedisMemory({ url: s.url, keyPrefix: 'test', commandTimeoutMs: 2000, log: createLogger('silent') });
        t.teardown(() => o.close());
        others.push(o);
      }
    }
    const pool = [s, ...others];
    t.ok((await put(s, 'org', 'counter', { n: 0 })).ok);
    let refusals = 0;
    const reasons = new Set<string>();
    const writer = async (i: number) => {
      const store = pool[i % pool.length];
      for (;;) {
        const cur = (await store.get('org', 'counter'))!;
        const n = (JSON.parse(cur.value) as { n: number }).n;
        // Yield between the read and the write, so writers interleave.
        await new Promise((r) => setImmediate(r));
        const w = await put(store, 'org', 'counter', { n: n + 1 }, { kind: 'match', etag: cur.etag });
        if (w.ok) return;
        reasons.add(w.reason);
        refusals += 1;
      }
    };
    await Promise.all(Array.from({ length: 100 }, (_, i) => writer(i)));
    t.same(JSON.parse((await s.get('org', 'counter'))!.value), { n: 100 }, 'every increment is there');
    t.ok(refusals > 0, `writers did collide (${refusals} refusals), and retried`);
    t.same([...reasons], ['mismatch'], 'every refusal was a stale version');
  });
}

t.test('redis: a document carries its TTL; the index expires with its longest-lived document', REDIS.options, async (t) => {
  const r = await startRedis(t);
  const s = createRedisMemory({ url: r.url, keyPrefix: 'aos', commandTimeoutMs: 2000, log: createLogger('silent') });
  t.teardown(() => s.close());
  const probe = new Redis(r.url);
  t.teardown(() => probe.disconnect());
  await put(s, 'workflow:w1', 'a', {}, { kind: 'new' }, 30_000);
  await put(s, 'workflow:w1', 'b', {}, { kind: 'new' }, 60_000);
  const docTtl = await probe.pttl('aos:mem:{workflow:w1}:d:a');
  t.ok(docTtl > 29_000 && docTtl <= 30_000, `document PTTL ${docTtl}`);
  const indexTtl = await probe.pttl('aos:mem:{workflow:w1}:i');
  t.ok(indexTtl > 59_000 && indexTtl <= 60_000, `index PTTL ${indexTtl}`);
  await put(s, 'workflow:w1', 'c', {});
  t.equal(await probe.pttl('aos:mem:{workflow:w1}:i'), -1, 'a document without TTL keeps the index');
  await probe.del('aos:mem:{workflow:w1}:d:a');
  t.same(
    (await s.list('workflow:w1', '', null, 10)).items.map((i) => i.key),
    ['b', 'c'],
  );
  t.same(await probe.zrange('aos:mem:{workflow:w1}:i', '0', '-1'), ['b', 'c'], 'a member whose document is gone is dropped when met');
});

t.test('redis: a Redis that does not answer fails the operation', async (t) => {
  const s = createRedisMemory({ url: 'redis://127.0.0.1:9', keyPrefix: 'aos', commandTimeoutMs: 100, log: createLogger('silent') });
  t.teardown(() => s.close());
  await t.rejects(s.get('org', 'k'));
  await t.rejects(put(s, 'org', 'k', {}));
});

t.test('search text and terms', async (t) => {
  t.equal(searchText('K/1', { A: 'Hello', n: 5, list: ['X', { y: 'Ünïcode' }], no: null }), 'k/1\na\nhello\nn\nlist\nx\ny\nünïcode\nno');
  t.same(searchTerms('  Hello   WORLD hello '), ['hello', 'world']);
  t.ok(searchText('k', { big: 'x'.repeat(100_000) }).length <= 64 * 1024 + 10, 'bounded');
});
