/**
 * One suite, two stores: the embedded SQLite store and the Redis fleet store (a real redis-server
 * on loopback) keep the same contract: all-or-nothing reservations, settlement to the real amount,
 * overrides, resets, expiry of a crashed process's reservations, and no overspend under concurrency.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { createLogger } from '../src/log.js';
import { createRedisStore } from '../src/metering/redis-store.js';
import { createSqliteStore, SETTLEMENT_DELAY_MS } from '../src/metering/sqlite-store.js';
import type { BudgetStore, ReserveLine } from '../src/metering/store.js';
import { REDIS, startRedis } from './redis-server.js';

type Factory = (t: Test, clock: { now: number }) => Promise<BudgetStore>;

const STORES: [string, Factory][] = [
  [
    'sqlite',
    async (t, clock) => {
      const dir = mkdtempSync(join(tmpdir(), 'aos-budget-'));
      const store = createSqliteStore({ dataDir: dir, snapshotIntervalMs: 50, now: () => clock.now });
      t.teardown(async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return store;
    },
  ],
  [
    'redis',
    async (t, clock) => {
      const redis = await startRedis(t);
      const store = await createRedisStore({
        url: redis.url,
        keyPrefix: `t${Math.random().toString(36).slice(2)}`,
        failMode: 'closed',
        localFraction: 0.1,
        commandTimeoutMs: 1000,
        log: createLogger('silent'),
        now: () => clock.now,
      });
      t.teardown(() => store.close());
      return store;
    },
  ],
];

const line = (key: string, limit: number, amount: number, clock: { now: number }): ReserveLine => ({ key: `${key}|p`, limitId: key, limit, amount, until: clock.now + 3_600_000 });

for (const [name, make] of STORES) {
  t.test(`${name} store`, name === 'redis' ? REDIS.options : {}, async (t) => {
    t.test('reserve is all or nothing; settle moves reserved to the real amount', async (t) => {
      const clock = { now: 1_800_000_000_000 };
      const s = await make(t, clock);
      const a = line('agent:a|usd|daily', 100, 60, clock);
      const team = line('team:x|usd|daily', 1000, 60, clock);
      const r1 = await s.reserve([a, team], 60_000);
      t.ok(r1.ok);
      t.same(r1.ok && r1.states, [
        { spent: 0, reserved: 60, limit: 100 },
        { spent: 0, reserved: 60, limit: 1000 },
      ]);
      const r2 = await s.reserve([team, a], 60_000);
      t.notOk(r2.ok, 'the agent line would go over');
      t.same(!r2.ok && [r2.index, r2.state, r2.reason], [1, { spent: 0, reserved: 60, limit: 100 }, 'limit']);
      t.same((await s.read([team]))[0], { spent: 0, reserved: 60, limit: 1000 }, 'nothing reserved on the team line either');
      await s.settle(r1.ok ? r1.id : '', [a, team], [25, 25]);
      t.same(await s.read([a, team]), [
        { spent: 25, reserved: 0, limit: 100 },
        { spent: 25, reserved: 0, limit: 1000 },
      ]);
      t.same(s.peek(a), { spent: 25, reserved: 0, limit: 100 }, 'the local view follows');
      t.equal(await s.openReservations(), 0);
      const exact = await s.reserve([{ ...a, amount: 75 }], 60_000);
      t.ok(exact.ok, 'exactly at the limit is allowed');
      t.notOk((await s.reserve([{ ...a, amount: 1 }], 60_000)).ok, 'one more is not');
    });

    t.test('no limit (-1) counts without refusing; overrides win over the configured limit and persist', async (t) => {
      const clock = { now: 1_800_000_000_000 };
      const s = await make(t, clock);
      const free = line('org|usd|monthly', -1, 1e12, clock);
      t.ok((await s.reserve([free], 1000)).ok);
      const a = line('agent:b|usd|daily', 10, 5, clock);
      await s.setLimit('agent:b|usd|daily', 4);
      t.same(await s.limits(), new Map([['agent:b|usd|daily', 4]]));
      const r = await s.reserve([a], 1000);
      t.notOk(r.ok);
      t.equal(!r.ok && r.state.limit, 4);
      await s.setLimit('agent:b|usd|daily', null);
      t.ok((await s.reserve([a], 1000)).ok, 'override removed: the configured limit again');
    });

    t.test('reset sets spent back to zero; reservations in flight stay', async (t) => {
      const clock = { now: 1_800_000_000_000 };
      const s = await make(t, clock);
      const a = line('agent:c|usd|daily', 100, 40, clock);
      const r = await s.reserve([a], 60_000);
      await s.settle(r.ok ? r.id : '', [a], [40]);
      const held = await s.reserve([a], 60_000);
      t.ok(held.ok);
      await s.reset([a.key]);
      t.same((await s.read([a]))[0], { spent: 0, reserved: 40, limit: 100 });
    });

    t.test('an unsettled reservation expires after its TTL; a late settlement still counts', async (t) => {
      const clock = { now: 1_800_000_000_000 };
      const s = await make(t, clock);
      const a = line('agent:d|usd|daily', 100, 80, clock);
      const r = await s.reserve([a], 1_000);
      t.ok(r.ok);
      t.notOk((await s.reserve([{ ...a, amount: 30 }], 1_000)).ok, 'held');
      clock.now += 2_000;
      if (name === 'sqlite') await new Promise((r) => setTimeout(r, 120)); // the sweep runs with the snapshot
      const again = await s.reserve([{ ...a, amount: 30 }], 1_000);
      t.ok(again.ok, 'the expired reservation no longer counts');
      await s.settle(r.ok ? r.id : '', [a], [10]);
      t.same((await s.read([a]))[0], { spent: 10, reserved: 30, limit: 100 }, 'late settlement: spent counted, nothing double-released');
    });

    t.test('200 concurrent reservations against a limit that fits 50: exactly 50 allowed, never over', async (t) => {
      const clock = { now: 1_800_000_000_000 };
      const s = await make(t, clock);
      const a = line('agent:e|usd|daily', 50 * 1000, 1000, clock);
      const results = await Promise.all(Array.from({ length: 200 }, () => Promise.resolve(s.reserve([a], 60_000))));
      const ok = results.filter((r) => r.ok);
      t.equal(ok.length, 50);
      await Promise.all(ok.map((r) => Promise.resolve(s.settle(r.ok ? r.id : '', [a], [700]))));
      t.same((await s.read([a]))[0], { spent: 50 * 700, reserved: 0, limit: 50 * 1000 }, 'every allowed call accounted');
    });
  });
}

t.test('sqlite store: state survives a restart; a reservation left open by a dead process is charged in full', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-budget-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = { now: 1_800_000_000_000 };
  const a = line('agent:f|usd|daily', 1000, 100, clock);
  const s1 = createSqliteStore({ dataDir: dir, snapshotIntervalMs: 60_000, now: () => clock.now });
  const r1 = s1.reserve([a], 60_000) as { ok: true; id: string };
  s1.settle(r1.id, [a], [30]);
  s1.reserve([a], 60_000); // left open: the process "dies" without closing (no snapshot after this)
  // Simulate the crash: no close(); open the same directory as the next process would.
  const s2 = createSqliteStore({ dataDir: dir, snapshotIntervalMs: 60_000, now: () => clock.now });
  t.same(s2.peek(a), { spent: 130, reserved: 0, limit: 1000 }, 'settled spend from the log, the orphan charged at its reservation');
  await s2.close();
});

/** Every budget log line of a store's folder. */
function logText(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.startsWith('budgets-log.'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');
}

t.test("sqlite store: a settlement within its reservation may reach the log after the call, never to the budget's loss", async (t) => {
  // A settlement the reservation covers is written with the next log write (the next call's
  // reservation) or SETTLEMENT_DELAY_MS later; a crash before that charges the open reservation in
  // full (more than the real cost, never less). A settlement above its reservation, and any reset,
  // is written before it returns.
  const cases: { name: string; actual: number; after: 'crash' | 'next reservation' | 'delay' | 'reset'; spent: number }[] = [
    { name: 'covered, crash at once: the reservation is charged in full', actual: 30, after: 'crash', spent: 100 },
    { name: 'covered, crash after the next reservation was written: the real cost', actual: 30, after: 'next reservation', spent: 30 },
    { name: 'covered, crash after the delay: the real cost', actual: 30, after: 'delay', spent: 30 },
    { name: 'above the reservation, crash at once: the real cost', actual: 150, after: 'crash', spent: 150 },
    { name: 'covered, then a reset: the reset stays last', actual: 30, after: 'reset', spent: 0 },
  ];
  for (const c of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'aos-budget-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const clock = { now: 1_800_000_000_000 };
    const a = line('agent:f|usd|daily', 1000, 100, clock);
    const other = line('agent:o|usd|daily', 1000, 10, clock);
    const s1 = createSqliteStore({ dataDir: dir, snapshotIntervalMs: 60_000, now: () => clock.now });
    const r = s1.reserve([a], 60_000) as { ok: true; id: string };
    s1.settle(r.id, [a], [c.actual]);
    if (c.after === 'reset') await s1.reset([a.key]);
    t.same(s1.peek(a), { spent: c.after === 'reset' ? 0 : c.actual, reserved: 0, limit: 1000 }, `${c.name}: counted at once in memory`);
    if (c.after === 'next reservation') {
      await new Promise((resolve) => setImmediate(resolve));
      t.notMatch(logText(dir), /\["S"/, 'the settlement waits after its turn: no write of its own');
      t.ok((s1.reserve([other], 60_000) as { ok: boolean }).ok, 'another call reserves');
      t.match(logText(dir), /\["S".*\n\["R"/, 'the settlement went out ahead of the next reservation, in one write');
    }
    if (c.after === 'delay') await new Promise((resolve) => setTimeout(resolve, SETTLEMENT_DELAY_MS + 20));
    // The crash: s1 is never closed; the next process opens the same directory.
    const s2 = createSqliteStore({ dataDir: dir, snapshotIntervalMs: 60_000, now: () => clock.now });
    t.same(s2.peek(a), { spent: c.spent, reserved: 0, limit: 1000 }, c.name);
    await s2.close();
  }
});

t.test('sqlite store: snapshots reach budgets.db through their thread; a counter is forgotten an hour after its period, looked for once a minute', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-budget-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = { now: 1_800_000_000_000 };
  const rows = () => {
    const db = new Database(join(dir, 'budgets.db'), { readonly: true });
    try {
      return db.prepare('SELECT key, spent FROM budget_counters ORDER BY key').all() as { key: string; spent: number }[];
    } finally {
      db.close();
    }
  };
  const until = async (what: string, ok: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const s = createSqliteStore({ dataDir: dir, snapshotIntervalMs: 20, now: () => clock.now });
  t.teardown(() => s.close());
  const short: ReserveLine = { key: 'agent:g|usd|minute|p', limitId: 'agent:g|usd|minute', limit: 1000, amount: 10, until: clock.now + 60_000 };
  const r = s.reserve([short], 60_000) as { ok: true; id: string };
  s.settle(r.id, [short], [7]);
  await until('the counter is in budgets.db', () => rows().some((x) => x.key === short.key && x.spent === 7));
  t.pass('a background snapshot wrote it');

  // An hour and a minute past its period: forgotten at the next look (at most a minute after the last).
  clock.now += 3_600_000 + 60_000 + 1;
  const other: ReserveLine = { ...short, key: 'agent:h|usd|minute|p', limitId: 'agent:h|usd|minute', until: clock.now + 60_000 };
  const r2 = s.reserve([other], 60_000) as { ok: true; id: string };
  s.settle(r2.id, [other], [3]);
  await until('the old counter is gone and the new one written', () => {
    const keys = rows().map((x) => x.key);
    return !keys.includes(short.key) && keys.includes(other.key);
  });
  t.same(s.peek(short), { spent: 0, reserved: 0, limit: 1000 }, 'and gone from memory');

  // Counters past their hour are not looked for again within the minute.
  const third: ReserveLine = { ...short, key: 'agent:i|usd|minute|p', limitId: 'agent:i|usd|minute', until: clock.now - 3_600_001 };
  const r3 = s.reserve([third], 60_000) as { ok: true; id: string };
  s.settle(r3.id, [third], [5]);
  await until('the third counter is written', () => rows().some((x) => x.key === third.key));
  await new Promise((r) => setTimeout(r, 100));
  t.ok(
    rows().some((x) => x.key === third.key),
    'kept until the next minute',
  );
  clock.now += 60_000;
  const r4 = s.reserve([other], 60_000) as { ok: true; id: string };
  s.settle(r4.id, [other], [1]);
  await until('forgotten at the next look', () => !rows().some((x) => x.key === third.key));
  t.pass('forgotten a minute later');
});
