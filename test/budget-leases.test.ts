/**
 * Budget leases on the Redis store (src/metering/leases.ts), against a real redis-server: a busy
 * counter's calls are decided without a round trip each; what they spend reaches Redis within a
 * sync and is read at once by its own gateway; two gateways sharing a limit never admit past it and
 * leave no room stranded; a gateway that dies holding a lease has it charged in full.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { createLogger } from '../src/log.js';
import { lineOf, periodOf, rulesOf } from '../src/metering/budgets.js';
import { createRedisStore } from '../src/metering/redis-store.js';
import type { BudgetStore, ReserveLine } from '../src/metering/store.js';
import { REDIS, startRedis } from './redis-server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function open(t: Test, url: string, keyPrefix: string, extra: { leaseSyncMs?: number; now?: () => number; onLeased?: () => void } = {}): Promise<BudgetStore> {
  const store = await createRedisStore({ url, keyPrefix, failMode: 'closed', localFraction: 0.1, commandTimeoutMs: 1000, leaseSyncMs: 20, log: createLogger('silent'), ...extra });
  t.teardown(() => store.close());
  return store;
}

const line = (key: string, limit: number, amount: number): ReserveLine => ({ key: `${key}|p`, limitId: key, limit, amount, until: Date.now() + 3_600_000 });

/** EVALSHA calls Redis has run so far. */
async function scripts(probe: Redis): Promise<number> {
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(await probe.info('commandstats'))?.[1] ?? 0);
}

t.test('a busy counter: calls decided against the lease without a round trip; the spend in Redis within a sync, read at once by its gateway', REDIS.options, async (t) => {
  const redis = await startRedis(t);
  const probe = new Redis(redis.url);
  t.teardown(() => probe.disconnect());
  let leasedCalls = 0;
  const a = await open(t, redis.url, 'busy', { onLeased: () => leasedCalls++ });
  const b = await open(t, redis.url, 'busy');
  const agent = line('agent:busy|usd|daily', 1e9, 1000);
  const rpm = line('agent:busy|requests|minute', -1, 1);
  const call = async () => {
    const out = await a.reserve([agent, rpm], 60_000);
    if (!out.ok) throw new Error('refused');
    await a.settle(out.id, [agent, rpm], [700, 1]);
  };
  for (let i = 0; i < 10; i++) await call(); // demand: the next sync asks for a lease
  for (let i = 0; i < 50 && leasedCalls === 0; i++) {
    await sleep(10);
    await call();
  }
  t.ok(leasedCalls > 0, 'a lease was granted');
  // 2,000 calls, each yielding to the event loop as a real one does (its I/O): the lease follows the demand.
  const before = await scripts(probe);
  const leasedBefore = leasedCalls;
  for (let i = 0; i < 2000; i++) {
    await call();
    await new Promise((r) => setImmediate(r));
  }
  const roundTrips = (await scripts(probe)) - before;
  // Without leases: 2 scripts a call, 4,000. The margins are for a loaded machine (a late sync leaves a few calls to Redis).
  t.ok(leasedCalls - leasedBefore >= 1800, `at least 90% of the calls decided here (${leasedCalls - leasedBefore} of 2,000)`);
  t.ok(roundTrips <= 400, `a tenth of the scripts or fewer (${roundTrips} for 2,000 calls, against 4,000 without leases)`);
  const total = (await a.read([agent]))[0];
  t.ok(total.spent >= 2010 * 700, `its own gateway reads what it spent at once (${total.spent})`);
  t.equal(total.reserved, 0, "the lease is not a call in flight: this gateway's reads leave it out");
  t.equal(await a.openReservations(), 0, 'no call is open');
  // Another gateway sees the spend from Redis (and a lease not yet given back as reserved room).
  t.equal((await b.read([agent]))[0].spent, total.spent, 'the other gateway reads the same spend');
  t.equal((await b.read([rpm]))[0].spent, total.spent / 700, 'the unlimited counter is pushed too');
  await a.close();
  const after = (await b.read([agent]))[0];
  t.same(after, { spent: total.spent, reserved: 0, limit: 1e9 }, 'closing returns the lease');
});

t.test('two gateways on one limit with leases: never past it, every call accounted, no room left stranded', REDIS.options, async (t) => {
  const redis = await startRedis(t);
  const a = await open(t, redis.url, 'two', { leaseSyncMs: 10 });
  const b = await open(t, redis.url, 'two', { leaseSyncMs: 10 });
  const fits = 3000;
  const limit = line('team:two|usd|daily', fits * 1000, 1000);
  let admitted = 0;
  let leased = 0;
  /** 8 callers per gateway until each has been refused 20 times in a row (the last calls near the limit are decided by Redis). */
  const hammer = async (s: BudgetStore) => {
    const caller = async () => {
      let refusals = 0;
      while (refusals < 20) {
        const out = s.reserve([limit], 60_000);
        if (!(out instanceof Promise)) leased++;
        const r = await out;
        if (!r.ok) {
          refusals++;
          await sleep(2);
          continue;
        }
        refusals = 0;
        admitted++;
        await new Promise((r) => setImmediate(r));
        await s.settle(r.id, [limit], [1000]);
      }
    };
    await Promise.all(Array.from({ length: 8 }, caller));
  };
  await Promise.all([hammer(a), hammer(b)]);
  t.ok(admitted <= fits, `never past the limit (${admitted} of ${fits})`);
  t.ok(leased > fits / 4, `most calls decided against leases (${leased})`);
  const seen = (await a.read([limit]))[0];
  t.equal(seen.spent, admitted * 1000, 'every admitted call is accounted');
  await a.close();
  await b.close();
  // A third gateway can take exactly what is left: nothing was lost or double-counted.
  const c = await open(t, redis.url, 'two', { leaseSyncMs: 0 });
  t.same((await c.read([limit]))[0], { spent: admitted * 1000, reserved: 0, limit: fits * 1000 }, 'the leases went back');
  let rest = 0;
  while ((await c.reserve([limit], 60_000)).ok) rest++;
  t.equal(admitted + rest, fits, `the room was used up: ${admitted} by the two, ${rest} left`);
  t.equal(admitted, fits, 'and none stranded by a lease while the two were calling');
});

t.test('near a limit no lease is granted: every call is decided by Redis, exactly', REDIS.options, async (t) => {
  const redis = await startRedis(t);
  let leasedCalls = 0;
  const a = await open(t, redis.url, 'near', { onLeased: () => leasedCalls++ });
  // Room for 50 calls: under the 64 a lease needs.
  const l = line('agent:near|usd|daily', 50 * 1000, 1000);
  let ok = 0;
  for (let i = 0; i < 80; i++) {
    const r = await a.reserve([l], 60_000);
    if (r.ok) {
      ok++;
      await a.settle(r.id, [l], [1000]);
    }
    if (i % 10 === 0) await sleep(25);
  }
  t.equal(ok, 50);
  t.equal(leasedCalls, 0, 'no call decided against a lease');
  t.same((await a.read([l]))[0], { spent: 50 * 1000, reserved: 0, limit: 50 * 1000 });
});

t.test("a per-minute counter: the next minute's lease is taken ahead, so the first call of a new minute needs no round trip", REDIS.options, async (t) => {
  const redis = await startRedis(t);
  const boundary = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
  const clock = { now: boundary - 5_000 };
  let leasedCalls = 0;
  const a = await open(t, redis.url, 'minute', { now: () => clock.now, onLeased: () => leasedCalls++ });
  const [rpm] = rulesOf('agent:minute', { requests_per_minute: 1_000_000 }, 0.8);
  const call = () => a.reserve([lineOf(rpm, periodOf('minute', clock.now), 1)], 60_000);
  const settle = async (out: ReturnType<typeof call>) => {
    const r = await out;
    if (!r.ok) throw new Error('refused');
    await a.settle(r.id, [lineOf(rpm, periodOf('minute', clock.now), 1)], [1]);
  };
  // Steady calls in the minute's last seconds (the clock moves 100 ms a round).
  for (let i = 0; i < 40; i++) {
    await settle(call());
    await sleep(25);
    clock.now += 100;
  }
  t.ok(leasedCalls > 0, 'the current minute is leased');
  t.ok(clock.now < boundary, 'still before the turn of the minute');
  clock.now = boundary + 10;
  const first = call();
  t.notOk(first instanceof Promise, "the new minute's first call is decided here, against the lease taken ahead");
  await settle(first);
  const next = lineOf(rpm, periodOf('minute', clock.now), 1);
  t.same((await a.read([next]))[0], { spent: 1, reserved: 0, limit: 1_000_000 }, 'and counted on the new minute');
});

t.test('a gateway that dies holding a lease: once its TTL passes the lease is charged in full, never less than it admitted', REDIS.options, async (t) => {
  const redis = await startRedis(t);
  const holder = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./lease-holder.ts', import.meta.url)), redis.url, 'dies'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((r) => holder.once('exit', r));
  t.teardown(async () => {
    holder.kill('SIGKILL');
    await exited;
  });
  let out = '';
  holder.stdout!.on('data', (d) => (out += d));
  for (let i = 0; i < 600 && !out.includes('\n'); i++) await sleep(50);
  const done = JSON.parse(out) as { settled: number; held: number; leased: number; heldLeased: number };
  t.ok(done.leased > 0, `the dead gateway decided calls against its lease (${done.leased})`);
  t.equal(done.heldLeased, 5, 'and the 5 it left open');
  holder.kill('SIGKILL');
  await exited;
  const l = line('agent:dies|usd|daily', 10_000_000, 1);
  const probe = await open(t, redis.url, 'dies', { leaseSyncMs: 0 });
  const held = (await probe.read([l]))[0];
  t.ok(held.reserved >= done.held, `its lease still holds room (${held.reserved}), at least the calls it left open`);
  const clock = { now: Date.now() + 31_000 }; // past the lease's TTL (30 s)
  const later = await open(t, redis.url, 'dies', { leaseSyncMs: 0, now: () => clock.now });
  const r = await later.reserve([l], 60_000);
  t.ok(r.ok);
  const after = (await later.read([l]))[0];
  t.equal(after.reserved, 1, "the dead gateway's lease no longer holds room");
  t.equal(after.spent, held.spent + held.reserved, 'it was charged in full');
  t.ok(after.spent >= done.settled + done.held, `never less than what it settled and left open (${after.spent} ≥ ${done.settled + done.held})`);
});
