import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { Ledger } from './ledger.js';
import type { BudgetStore, LineState, ReserveLine, ReserveOutcome } from './store.js';

/**
 * Lua scripts: each call is one EVALSHA, one round trip, atomic on the server. A line uses three
 * keys: the counter hash (s: spent, r: reserved), its reservations' amounts (hash id → amount) and
 * their expiries (sorted set id → epoch ms). Expired reservations are swept as lines are touched,
 * so a crashed gateway's reservations stop counting once their TTL passes.
 */
const RESERVE = `
local n = (#KEYS - 1) / 3
local id, now, exp = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local limits = {}
for i = 1, n do
  local c, ra, rz = KEYS[3*i-1], KEYS[3*i], KEYS[3*i+1]
  local a = 4 + (i-1)*4
  local old = redis.call('ZRANGEBYSCORE', rz, '-inf', now)
  for _, rid in ipairs(old) do
    local amt = tonumber(redis.call('HGET', ra, rid) or '0')
    redis.call('HINCRBY', c, 'r', -amt)
    redis.call('HDEL', ra, rid)
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', rz, '-inf', now) end
  local lim = tonumber(redis.call('HGET', KEYS[1], ARGV[a]) or ARGV[a+1])
  limits[i] = lim
  if lim >= 0 then
    local s = tonumber(redis.call('HGET', c, 's') or '0')
    local r = tonumber(redis.call('HGET', c, 'r') or '0')
    if s + r + tonumber(ARGV[a+2]) > lim then return {0, i, s, r, lim} end
  end
end
local out = {1}
for i = 1, n do
  local c, ra, rz = KEYS[3*i-1], KEYS[3*i], KEYS[3*i+1]
  local a = 4 + (i-1)*4
  local amt = tonumber(ARGV[a+2])
  local ttl = tonumber(ARGV[a+3])
  local r = redis.call('HINCRBY', c, 'r', amt)
  redis.call('HSET', ra, id, amt)
  redis.call('ZADD', rz, exp, id)
  redis.call('EXPIRE', c, ttl)
  redis.call('EXPIRE', ra, ttl)
  redis.call('EXPIRE', rz, ttl)
  out[#out+1] = tonumber(redis.call('HGET', c, 's') or '0')
  out[#out+1] = r
  out[#out+1] = limits[i]
end
return out`;

const SETTLE = `
local n = (#KEYS - 1) / 3
local id = ARGV[1]
local out = {}
for i = 1, n do
  local c, ra, rz = KEYS[3*i-1], KEYS[3*i], KEYS[3*i+1]
  local amt = redis.call('HGET', ra, id)
  if amt then
    redis.call('HINCRBY', c, 'r', -tonumber(amt))
    redis.call('HDEL', ra, id)
    redis.call('ZREM', rz, id)
  end
  local actual = tonumber(ARGV[2*i])
  if actual ~= 0 then redis.call('HINCRBY', c, 's', actual) end
  redis.call('EXPIRE', c, tonumber(ARGV[2*i+1]))
  out[#out+1] = tonumber(redis.call('HGET', c, 's') or '0')
  out[#out+1] = tonumber(redis.call('HGET', c, 'r') or '0')
end
return out`;

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
  aosReserve(...args: (string | number)[]): Promise<number[]>;
  aosSettle(...args: (string | number)[]): Promise<number[]>;
  aosRead(...args: (string | number)[]): Promise<number[]>;
}

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  failMode: 'closed' | 'local';
  localFraction: number;
  commandTimeoutMs: number;
  log: Logger;
  /** Called when the store becomes unreachable or reachable again. */
  onHealth?(up: boolean): void;
  /** Called when a call was decided by the local fallback limit. */
  onFallback?(): void;
  now?: () => number;
}

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
  const scripts = redis as unknown as Redis & Scripts;
  const view = new Map<string, LineState>();
  const local = new Ledger(options.localFraction);
  const pending: { lines: readonly ReserveLine[]; actual: readonly number[] }[] = [];
  const boot = randomBytes(6).toString('base64url');
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

  const pushSettle = async (id: string, lines: readonly ReserveLine[], actual: readonly number[]) => {
    const args: (string | number)[] = [lines.length * 3 + 1, ...keysOf(lines), id];
    for (let i = 0; i < lines.length; i++) args.push(actual[i], ttlOf(lines[i]));
    const out = await scripts.aosSettle(...args);
    for (let i = 0; i < lines.length; i++) {
      const v = view.get(lines[i].key);
      remember(lines[i].key, out[2 * i], out[2 * i + 1], v?.limit ?? lines[i].limit);
    }
  };
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

  return {
    kind: 'redis',
    async reserve(lines, ttlMs): Promise<ReserveOutcome> {
      const id = `${boot}.${(nextId++).toString(36)}`;
      const t = now();
      if (up) {
        const args: (string | number)[] = [lines.length * 3 + 1, ...keysOf(lines), id, t, t + ttlMs];
        for (const l of lines) args.push(l.limitId, l.limit, l.amount, ttlOf(l));
        try {
          const out = await scripts.aosReserve(...args);
          if (out[0] === 0) {
            const i = out[1] - 1;
            remember(lines[i].key, out[2], out[3], out[4]);
            return { ok: false, index: i, state: { spent: out[2], reserved: out[3], limit: out[4] }, reason: 'limit' };
          }
          const states: LineState[] = [];
          for (let i = 0; i < lines.length; i++) {
            const s = { spent: out[1 + 3 * i], reserved: out[2 + 3 * i], limit: out[3 + 3 * i] };
            view.set(lines[i].key, s);
            states.push(s);
          }
          return { ok: true, id, states };
        } catch (err) {
          options.log.warn('budget store: reserve failed', { error: (err as Error).message });
          if (redis.status !== 'ready') setUp(false);
        }
      }
      if (options.failMode === 'closed') return { ok: false, index: 0, state: { spent: 0, reserved: 0, limit: 0 }, reason: 'unavailable' };
      options.onFallback?.();
      const out = local.reserve(`L.${id}`, lines, t + ttlMs);
      return out.ok ? { ok: true, id: `L.${id}`, states: out.states } : out;
    },
    async settle(id, lines, actual) {
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
      await pushSettle(id, lines, actual).catch((err: Error) => {
        options.log.warn('budget store: settle failed, kept to push later', { error: err.message });
        queue(lines, actual);
      });
    },
    peek: (line) => view.get(line.key) ?? { spent: 0, reserved: 0, limit: line.limit },
    async read(lines) {
      if (lines.length === 0) return [];
      const args: (string | number)[] = [lines.length * 3 + 1, ...keysOf(lines)];
      for (const l of lines) args.push(l.limitId, l.limit);
      const out = await scripts.aosRead(...args);
      return lines.map((l, i) => {
        const s = { spent: out[3 * i], reserved: out[3 * i + 1], limit: out[3 * i + 2] };
        view.set(l.key, s);
        return s;
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
        for (const k of keys) n += await redis.hlen(k);
      } while (cursor !== '0');
      return n + local.held.size;
    },
    healthy: () => up,
    async close() {
      await flush();
      redis.disconnect();
    },
  };
}

/** A Redis URL without its password, for logs. */
function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}
