import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { nextMinute } from './budgets.js';
import { Leases } from './leases.js';
import { Ledger } from './ledger.js';
import type { BudgetStore, LineState, ReserveLine, ReserveOutcome } from './store.js';

/**
 * Lua scripts. A line uses three keys: the counter hash (s: spent, r: reserved), its reservations'
 * amounts (hash id → amount) and their expiries (sorted set id → epoch ms). Expired reservations are
 * swept as lines are touched, so a crashed gateway's reservations stop counting once their TTL passes.
 *
 * Reservations made in one event-loop turn go to Redis together, in one EVALSHA (and settlements
 * likewise): each is still decided atomically and in order, the script being atomic as a whole.
 * They travel as one JSON argument (cjson in the script) and come back as one string of integers
 * (`%d`: exact, where cjson would round to 14 digits): a client spends its time per argument and
 * per reply element, not per byte. The keys are built in the script from the line keys, all under
 * the one hash tag of KEYS[1], so the scripts still run on Redis Cluster.
 */
/** What a lease's id starts with, among the reservation ids of a counter. */
const LEASE = 'lease.';

const SWEEP = `
local function sweep(c, ra, rz, now)
  local old = redis.call('ZRANGEBYSCORE', rz, '-inf', now)
  for _, rid in ipairs(old) do
    local amt = tonumber(redis.call('HGET', ra, rid) or '0')
    redis.call('HINCRBY', c, 'r', string.format('%d', -amt))
    -- A lease its gateway stopped renewing (it died) is charged in full: what it admitted may have been served.
    if string.sub(rid, 1, ${LEASE.length}) == '${LEASE}' then redis.call('HINCRBY', c, 's', string.format('%d', amt)) end
    redis.call('HDEL', ra, rid)
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', rz, '-inf', now) end
end
`;

const RESERVE = `${SWEEP}
local tag, now = ARGV[1], tonumber(ARGV[2])
local out = {}
for _, res in ipairs(cjson.decode(ARGV[3])) do
  local id, exp, lines = res[1], res[2], res[3]
  local limits = {}
  local refused = nil
  for i, l in ipairs(lines) do
    local k = l[1]
    local c, ra, rz = tag .. ':c:' .. k, tag .. ':ra:' .. k, tag .. ':rz:' .. k
    sweep(c, ra, rz, now)
    local lim = tonumber(redis.call('HGET', KEYS[1], l[2]) or l[3])
    limits[i] = lim
    if lim >= 0 and not refused then
      local s = tonumber(redis.call('HGET', c, 's') or '0')
      local r = tonumber(redis.call('HGET', c, 'r') or '0')
      if s + r + l[4] > lim then refused = string.format('0,%d,%d,%d,%d', i, s, r, lim) end
    end
  end
  if refused then
    out[#out+1] = refused
  else
    local res = {'1'}
    for i, l in ipairs(lines) do
      local k, amt, ttl = l[1], l[4], l[5]
      local c, ra, rz = tag .. ':c:' .. k, tag .. ':ra:' .. k, tag .. ':rz:' .. k
      local r = redis.call('HINCRBY', c, 'r', string.format('%d', amt))
      redis.call('HSET', ra, id, string.format('%d', amt))
      redis.call('ZADD', rz, string.format('%d', exp), id)
      redis.call('EXPIRE', c, ttl)
      redis.call('EXPIRE', ra, ttl)
      redis.call('EXPIRE', rz, ttl)
      res[#res+1] = string.format('%d,%d,%d', tonumber(redis.call('HGET', c, 's') or '0'), r, limits[i])
    end
    out[#out+1] = table.concat(res, ',')
  end
end
return table.concat(out, ';')`;

const SETTLE = `
local tag = ARGV[1]
local out = {}
for _, st in ipairs(cjson.decode(ARGV[2])) do
  local id = st[1]
  for _, l in ipairs(st[2]) do
    local k = l[1]
    local c, ra, rz = tag .. ':c:' .. k, tag .. ':ra:' .. k, tag .. ':rz:' .. k
    local amt = redis.call('HGET', ra, id)
    if amt then
      redis.call('HINCRBY', c, 'r', string.format('%d', -tonumber(amt)))
      redis.call('HDEL', ra, id)
      redis.call('ZREM', rz, id)
    end
    if l[2] ~= 0 then redis.call('HINCRBY', c, 's', string.format('%d', l[2])) end
    redis.call('EXPIRE', c, l[3])
    out[#out+1] = string.format('%d,%d', tonumber(redis.call('HGET', c, 's') or '0'), tonumber(redis.call('HGET', c, 'r') or '0'))
  end
end
return table.concat(out, ',')`;

/**
 * A lease sync (src/metering/leases.ts): per counter, the spend settled against the lease since the
 * last sync moves to spent (out of the lease), then the lease is sized anew: in-flight plus the
 * wanted room, at most `share` of the room left, no room at all once the room is below the
 * least asked for, never more than the room; and never less than what is left of the lease (while
 * the gateway goes on admitting against it) or than what is in flight on it (while it waits). Four
 * numbers back per counter: spent, reserved (leases included), limit, the new lease.
 */
const SYNC = `${SWEEP}
local tag, now, lid, exp, share = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
local out = {}
for _, e in ipairs(cjson.decode(ARGV[6])) do
  local k, push, inflight = e[1], e[4], e[5]
  local c, ra, rz = tag .. ':c:' .. k, tag .. ':ra:' .. k, tag .. ':rz:' .. k
  sweep(c, ra, rz, now)
  local cur = tonumber(redis.call('HGET', ra, lid) or '0')
  local sr = redis.call('HMGET', c, 's', 'r')
  local s, r = tonumber(sr[1] or '0'), tonumber(sr[2] or '0') - cur
  if push ~= 0 then s = redis.call('HINCRBY', c, 's', string.format('%d', push)) end
  local held = cur - math.min(push, cur)
  local lim = tonumber(redis.call('HGET', KEYS[1], e[2]) or e[3])
  local new = 0
  if lim >= 0 then
    local room = lim - s - r
    local want = e[6]
    if room < e[7] then want = 0 end
    want = math.max(0, math.min(want, math.floor(room * share)))
    local floor = held
    if e[9] == 0 then floor = math.min(inflight, held) end
    new = math.max(math.min(inflight + want, math.max(room, 0)), floor)
  end
  if new > 0 then redis.call('ZADD', rz, exp, lid) end
  if new ~= cur then
    redis.call('HINCRBY', c, 'r', string.format('%d', new - cur))
    if new > 0 then
      redis.call('HSET', ra, lid, string.format('%d', new))
      redis.call('EXPIRE', ra, e[8])
      redis.call('EXPIRE', rz, e[8])
    else
      redis.call('HDEL', ra, lid)
      redis.call('ZREM', rz, lid)
    end
  end
  redis.call('EXPIRE', c, e[8])
  out[#out+1] = string.format('%d,%d,%d,%d', s, r + new, lim, new)
end
return table.concat(out, ',')`;

const READ = `
local n = (#KEYS - 1) / 3
local out = {}
for i = 1, n do
  local c = KEYS[3*i-1]
  out[#out+1] = tonumber(redis.call('HGET', c, 's') or '0')
  out[#out+1] = tonumber(redis.call('HGET', c, 'r') or '0')
  out[#out+1] = tonumber(redis.call('HGET', KEYS[1], ARGV[2*i-1]) or ARGV[2*i])
end
return out`;

interface Scripts {
  aosReserve(...args: (string | number)[]): Promise<string>;
  aosSettle(...args: (string | number)[]): Promise<string>;
  aosRead(...args: (string | number)[]): Promise<number[]>;
  aosSync(...args: (string | number)[]): Promise<string>;
}

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  failMode: 'closed' | 'local';
  localFraction: number;
  commandTimeoutMs: number;
  /** How often leases are synced (src/metering/leases.ts); 0: no leases, every call goes to Redis. */
  leaseSyncMs?: number;
  /** The most of a limit's room one gateway may hold as a lease. */
  leaseShare?: number;
  log: Logger;
  /** Called when the store becomes unreachable or reachable again. */
  onHealth?(up: boolean): void;
  /** Called when a call was decided by the local fallback limit. */
  onFallback?(): void;
  /** Called when a call was admitted against this gateway's leases, without a round trip. */
  onLeased?(): void;
  now?: () => number;
}

interface Reserving {
  readonly id: string;
  readonly lines: readonly ReserveLine[];
  readonly exp: number;
  resolve(out: ReserveOutcome): void;
}

interface Settling {
  readonly id: string;
  readonly lines: readonly ReserveLine[];
  readonly actual: readonly number[];
  resolve?(): void;
}

/** Counters per lease sync script: a script blocks Redis while it runs (~10 µs a counter). */
const SYNC_CHUNK = 64;

/** Pending spend to push once Redis is back (settlements that could not reach it), bounded. */
const MAX_PENDING = 100_000;

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
/**
 * The fleet budget store: counters in Redis, shared by every gateway replica; reserve and settle
 * are one Lua script each (one round trip). All keys share one hash tag (`{prefix}`), so the
 * scripts also run on Redis Cluster. When Redis is unreachable: `closed` denies, `local` decides
 * against a local share of each limit (`localFraction`) and pushes that spend to Redis once it is
 * back.
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<BudgetStore> {
  const now = options.now ?? Date.now;
  const tag = `{${options.keyPrefix}}`;
  const limitsKey = `${tag}:limits`;
  const redis = new Redis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(50 * times, 1_000),
    lazyConnect: true,
  });
  redis.defineCommand('aosReserve', { lua: RESERVE });
  redis.defineCommand('aosSettle', { lua: SETTLE });
  redis.defineCommand('aosRead', { lua: READ });
  redis.defineCommand('aosSync', { lua: SYNC });
  const scripts = redis as unknown as Redis & Scripts;
  const view = new Map<string, LineState>();
  const local = new Ledger(options.localFraction);
  const pending: { lines: readonly ReserveLine[]; actual: readonly number[] }[] = [];
  const boot = randomBytes(6).toString('base64url');
  const syncMs = options.leaseSyncMs ?? 100;
  // A lease not renewed for this long is charged in full by whoever touches its counter next (its
  // gateway died); it is renewed three times as often, and given back once its counter is idle for a sixth of it.
  const leaseTtlMs = Math.max(30_000, 300 * syncMs);
  const leases = syncMs > 0 ? new Leases(view, leaseTtlMs / 6, leaseTtlMs / 3, nextMinute) : null;
  const leaseId = `${LEASE}${boot}`;
  let nextId = 0;
  let up = false;
  const setUp = (v: boolean) => {
    if (v === up) return;
    up = v;
    options.onHealth?.(v);
    if (v) {
      options.log.info('budget store: Redis reachable', { url: redact(options.url) });
      void flush();
    } else options.log.error('budget store: Redis unreachable', { url: redact(options.url), failMode: options.failMode });
  };
  redis.on('ready', () => setUp(true));
  redis.on('error', () => {});
  redis.on('close', () => setUp(false));
  options.onHealth?.(false);

  const keysOf = (lines: readonly Pick<ReserveLine, 'key'>[]) => {
    const keys: string[] = [limitsKey];
    for (const l of lines) keys.push(`${tag}:c:${l.key}`, `${tag}:ra:${l.key}`, `${tag}:rz:${l.key}`);
    return keys;
  };
  const ttlOf = (line: ReserveLine) => Math.max(60, Math.ceil((line.until - now()) / 1000));
  const remember = (key: string, spent: number, reserved: number, limit: number) => view.set(key, { spent, reserved, limit });

  /** Settlements in one script call; rejects when Redis cannot be reached (the caller keeps them). */
  const settleNow = async (batch: readonly Settling[]) => {
    const arg = batch.map((x) => [x.id, x.lines.map((l, i) => [l.key, x.actual[i], ttlOf(l)])]);
    const out = (await scripts.aosSettle(1, limitsKey, tag, JSON.stringify(arg))).split(',');
    let o = 0;
    for (const x of batch) {
      for (const l of x.lines) {
        remember(l.key, Number(out[o]), Number(out[o + 1]), view.get(l.key)?.limit ?? l.limit);
        o += 2;
      }
    }
  };
  const pushSettle = (id: string, lines: readonly ReserveLine[], actual: readonly number[]) => settleNow([{ id, lines, actual }]);
  const queue = (lines: readonly ReserveLine[], actual: readonly number[]) => {
    if (actual.some((a) => a !== 0) && pending.length < MAX_PENDING) pending.push({ lines, actual });
  };
  let flushing = false;
  const flush = async () => {
    if (flushing) return;
    flushing = true;
    try {
      while (pending.length > 0 && up) {
        const p = pending[0];
        await pushSettle(`spend.${boot}.${(nextId++).toString(36)}`, p.lines, p.actual);
        pending.shift();
      }
    } catch {
      // still down: the next 'ready' flushes again
    } finally {
      flushing = false;
    }
  };

  await redis.connect().catch((err: Error) => options.log.error('budget store: cannot connect to Redis', { url: redact(options.url), error: err.message }));

  /** What a reservation becomes when Redis is out of reach: refused (`closed`) or held against the local share. */
  const fallback = (id: string, lines: readonly ReserveLine[], exp: number): ReserveOutcome => {
    if (options.failMode === 'closed') return { ok: false, index: 0, state: { spent: 0, reserved: 0, limit: 0 }, reason: 'unavailable' };
    options.onFallback?.();
    const out = local.reserve(`L.${id}`, lines, exp);
    return out.ok ? { ok: true, id: `L.${id}`, states: out.states } : out;
  };
  const outcomeOf = (r: Reserving, reply: string): ReserveOutcome => {
    const { lines } = r;
    const out = reply.split(',').map(Number);
    // The states a call sees leave this gateway's leases out (they are room it holds, not calls).
    if (out[0] === 0) {
      const i = out[1] - 1;
      const st = { spent: out[2], reserved: out[3], limit: out[4] };
      view.set(lines[i].key, st);
      return { ok: false, index: i, state: leases === null ? st : leases.adjusted(lines[i].key, st), reason: 'limit' };
    }
    const states: LineState[] = [];
    for (let i = 0; i < lines.length; i++) {
      const st = { spent: out[1 + 3 * i], reserved: out[2 + 3 * i], limit: out[3 + 3 * i] };
      view.set(lines[i].key, st);
      states.push(leases === null ? st : leases.adjusted(lines[i].key, st));
    }
    return { ok: true, id: r.id, states };
  };

  // The turn's reservations and settlements, sent together once the turn's I/O callbacks have run.
  let reserving: Reserving[] = [];
  let settling: Settling[] = [];
  const sending = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    sending.add(p);
    void p.finally(() => sending.delete(p));
  };
  const sendReserves = () => {
    const batch = reserving;
    reserving = [];
    if (batch.length === 0) return;
    const arg = batch.map((r) => [r.id, r.exp, r.lines.map((l) => [l.key, l.limitId, l.limit, l.amount, ttlOf(l)])]);
    track(
      scripts.aosReserve(1, limitsKey, tag, now(), JSON.stringify(arg)).then(
        (reply) => {
          const out = reply.split(';');
          for (let j = 0; j < batch.length; j++) batch[j].resolve(outcomeOf(batch[j], out[j]));
        },
        (err: Error) => {
          options.log.warn('budget store: reserve failed', { error: err.message, calls: batch.length });
          if (redis.status !== 'ready') setUp(false);
          for (const r of batch) r.resolve(fallback(r.id, r.lines, r.exp));
        },
      ),
    );
  };
  const sendSettles = () => {
    const batch = settling;
    settling = [];
    if (batch.length === 0) return;
    track(
      settleNow(batch)
        .catch((err: Error) => {
          options.log.warn('budget store: settle failed, kept to push later', { error: err.message, calls: batch.length });
          for (const x of batch) queue(x.lines, x.actual);
        })
        .finally(() => {
          for (const x of batch) x.resolve?.();
        }),
    );
  };

  /** A settlement that goes to Redis: a call's own reservation, or spend made under the local fallback. */
  const settleRemote = async (id: string, lines: readonly ReserveLine[], actual: readonly number[]): Promise<void> => {
    if (id.startsWith('L.')) {
      local.settle(
        id,
        lines.map((l) => l.key),
        actual,
        lines.map((l) => l.until),
      );
      // What was spent while Redis was away still counts fleet-wide once it is back.
      if (up) await pushSettle(`spend.${id}`, lines, actual).catch(() => queue(lines, actual));
      else queue(lines, actual);
      return;
    }
    if (!up) return queue(lines, actual);
    return new Promise<void>((resolve) => {
      if (settling.push({ id, lines, actual, resolve }) === 1) setImmediate(sendSettles);
    });
  };

  /**
   * One lease sync (at most one on its way), in scripts of SYNC_CHUNK counters sent one after the
   * other: Redis runs one script at a time, and the calls' own reservations get their turn between
   * them. A failure leaves the spend to the next sync.
   */
  let syncing: Promise<void> | null = null;
  const sync = (returning = false): Promise<void> => {
    if (leases === null || !up) return Promise.resolve();
    if (syncing !== null) return syncing;
    const t = now();
    const { counters, entries } = leases.begin(t, ttlOf, returning);
    if (counters.length === 0) return Promise.resolve();
    const share = options.leaseShare ?? 0.05;
    const run = async () => {
      for (let i = 0; i < counters.length; i += SYNC_CHUNK) {
        const part = counters.slice(i, i + SYNC_CHUNK);
        try {
          const reply = await scripts.aosSync(1, limitsKey, tag, t, leaseId, t + leaseTtlMs, share, JSON.stringify(entries.slice(i, i + SYNC_CHUNK)));
          leases.end(part, reply.split(',').map(Number), t);
        } catch (err) {
          options.log.warn('budget store: lease sync failed, its spend is pushed by the next', { error: (err as Error).message, counters: counters.length - i });
          if (redis.status !== 'ready') setUp(false);
          leases.fail(counters.slice(i));
          return;
        }
      }
    };
    syncing = run().finally(() => {
      syncing = null;
    });
    return syncing;
  };
  /** A sync that starts after any on its way: what was settled before the call is in Redis after it. */
  const syncNow = async (returning = false) => {
    if (syncing !== null) await syncing;
    await sync(returning);
  };
  const timer = leases === null ? null : setInterval(() => void sync(), syncMs);
  timer?.unref();

  return {
    kind: 'redis',
    reserve(lines, ttlMs): ReserveOutcome | Promise<ReserveOutcome> {
      const n = (nextId++).toString(36);
      const exp = now() + ttlMs;
      if (up && leases !== null) {
        const states = leases.admit(`G.${n}`, lines, exp);
        if (states !== null) {
          options.onLeased?.();
          return { ok: true, id: `G.${n}`, states };
        }
      }
      const id = `${boot}.${n}`;
      if (!up) return Promise.resolve(fallback(id, lines, exp));
      return new Promise((resolve) => {
        if (reserving.push({ id, lines, exp, resolve }) === 1) setImmediate(sendReserves);
      });
    },
    settle(id, lines, actual) {
      if (leases !== null && id.startsWith('G.')) return leases.settle(id, lines, actual);
      return settleRemote(id, lines, actual);
    },
    peek(line) {
      const v = view.get(line.key);
      if (v === undefined) return { spent: 0, reserved: 0, limit: line.limit, unknown: true };
      return leases === null ? v : leases.adjusted(line.key, v);
    },
    async read(lines) {
      if (lines.length === 0) return [];
      // What this gateway settled against its leases is in Redis before the read.
      if (leases?.unpushed(lines.map((l) => l.key))) await syncNow();
      const args: (string | number)[] = [lines.length * 3 + 1, ...keysOf(lines)];
      for (const l of lines) args.push(l.limitId, l.limit);
      const out = await scripts.aosRead(...args);
      return lines.map((l, i) => {
        const s = { spent: out[3 * i], reserved: out[3 * i + 1], limit: out[3 * i + 2] };
        view.set(l.key, s);
        return leases === null ? s : leases.adjusted(l.key, s);
      });
    },
    async setLimit(limitId, limit) {
      if (limit === null) await redis.hdel(limitsKey, limitId);
      else await redis.hset(limitsKey, limitId, String(limit));
    },
    async limits() {
      const all = await redis.hgetall(limitsKey);
      return new Map(Object.entries(all).map(([k, v]) => [k, Number(v)]));
    },
    async reset(keys) {
      if (keys.length === 0) return;
      // Spend settled here before the reset is pushed first, so the reset covers it.
      if (leases?.unpushed(keys)) await syncNow();
      const multi = redis.multi();
      for (const k of keys) multi.hset(`${tag}:c:${k}`, 's', '0');
      await multi.exec();
      for (const k of keys) view.delete(k);
    },
    async openReservations() {
      let n = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${tag}:ra:*`, 'COUNT', 1000);
        cursor = next;
        // Leases are not calls: only the reservations of calls count.
        for (const k of keys) for (const id of await redis.hkeys(k)) if (!id.startsWith(LEASE)) n++;
      } while (cursor !== '0');
      return n + local.held.size + (leases?.held.size ?? 0);
    },
    healthy: () => up,
    async close() {
      if (timer !== null) clearInterval(timer);
      // Spend made against the leases goes to Redis and the leases go back (what is in flight keeps its cover).
      await syncNow(true);
      while (reserving.length > 0 || settling.length > 0 || sending.size > 0) {
        if (reserving.length > 0) sendReserves();
        if (settling.length > 0) sendSettles();
        await Promise.all([...sending]);
      }
      await flush();
      redis.disconnect();
    },
  };
}

/** A Redis URL without its password, for logs. */
function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}
