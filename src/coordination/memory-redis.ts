import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { type DeleteResult, type MemoryDoc, type MemoryStore, newEtag, type Refusal, type WriteResult } from './memory-store.js';

export interface RedisMemoryOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  log: Logger;
}

/**
 * A document is a hash `<prefix>:mem:{<ns>}:d:<key>` (v: value, t: search text, e: etag, b: bytes,
 * u: updated, x: expires, 0 for none) carrying the document's TTL; a namespace's keys are a sorted
 * set `<prefix>:mem:{<ns>}:i` (all scores 0: ordered by key, ranged with ZRANGEBYLEX). The `{<ns>}`
 * hash tag keeps a namespace in one Redis Cluster slot. Writes are Lua scripts: the version check
 * and the write are one atomic step on the server, whichever gateway of the fleet sends them. A
 * member whose document expired is dropped from the index when a listing or a search meets it; the
 * index itself expires with its longest-lived document (never while one has no TTL).
 */
const PUT = `
local cur = redis.call('HGET', KEYS[1], 'e')
local kind = ARGV[7]
if cur then
  if kind == 'new' then return {'required', cur} end
  if kind == 'absent' then return {'exists', cur} end
  if kind == 'match' and cur ~= ARGV[8] then return {'mismatch', cur} end
elseif kind == 'match' or kind == 'any' then
  return {'missing', false}
end
local ttl = tonumber(ARGV[6])
local exp = 0
if ttl > 0 then exp = tonumber(ARGV[5]) + ttl end
local ittl = redis.call('PTTL', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 't', ARGV[3], 'e', ARGV[4], 'b', ARGV[9], 'u', ARGV[5], 'x', exp)
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  if ittl == -2 or (ittl >= 0 and ittl < ttl) then redis.call('PEXPIRE', KEYS[2], ttl) end
else
  redis.call('PERSIST', KEYS[2])
end
if cur then return {'ok', '0'} end
return {'ok', '1'}
`;

const DELETE = `
local cur = redis.call('HGET', KEYS[1], 'e')
if not cur then return {'missing', false} end
if ARGV[2] == 'match' and cur ~= ARGV[3] then return {'mismatch', cur} end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {'ok', cur}
`;

/** ARGV: document key prefix, min, max (ZRANGEBYLEX bounds), limit. Returns flat [key, etag, bytes, updated, expires, ...]. */
const LIST = `
local out = {}
local n = 0
local limit = tonumber(ARGV[4])
local min = ARGV[2]
while n <= limit do
  local ms = redis.call('ZRANGEBYLEX', KEYS[1], min, ARGV[3], 'LIMIT', 0, 256)
  if #ms == 0 then break end
  for _, m in ipairs(ms) do
    local h = redis.call('HMGET', ARGV[1] .. m, 'e', 'b', 'u', 'x')
    if h[1] then
      n = n + 1
      out[#out + 1] = m
      out[#out + 1] = h[1]
      out[#out + 1] = h[2]
      out[#out + 1] = h[3]
      out[#out + 1] = h[4]
      if n > limit then break end
    else
      redis.call('ZREM', KEYS[1], m)
    end
  end
  min = '(' .. ms[#ms]
end
return out
`;

/** ARGV: document key prefix, limit, maxScan, terms... Returns {truncated, key, value, etag, updated, expires, ...}. */
const SEARCH = `
local out = {0}
local found = 0
local scanned = 0
local limit = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local min = '-'
while found < limit do
  local ms = redis.call('ZRANGEBYLEX', KEYS[1], min, '+', 'LIMIT', 0, 256)
  if #ms == 0 then break end
  for _, m in ipairs(ms) do
    local t = redis.call('HGET', ARGV[1] .. m, 't')
    if t then
      if scanned >= max then out[1] = 1 break end
      scanned = scanned + 1
      local hit = true
      for i = 4, #ARGV do
        if not string.find(t, ARGV[i], 1, true) then hit = false break end
      end
      if hit then
        local h = redis.call('HMGET', ARGV[1] .. m, 'v', 'e', 'u', 'x')
        out[#out + 1] = m
        out[#out + 1] = h[1]
        out[#out + 1] = h[2]
        out[#out + 1] = h[3]
        out[#out + 1] = h[4]
        found = found + 1
        if found >= limit then break end
      end
    else
      redis.call('ZREM', KEYS[1], m)
    end
  end
  if out[1] == 1 then break end
  min = '(' .. ms[#ms]
end
return out
`;

interface Scripts {
  aosMemPut(doc: string, index: string, ...argv: (string | number)[]): Promise<[string, string | null]>;
  aosMemDelete(doc: string, index: string, key: string, kind: string, etag: string): Promise<[string, string | null]>;
  aosMemList(index: string, docPrefix: string, min: string, max: string, limit: number): Promise<string[]>;
  aosMemSearch(index: string, docPrefix: string, limit: number, maxScan: number, ...terms: string[]): Promise<(string | number)[]>;
}

/** Above every character a key may hold (keys are printable ASCII): `(prefix + END` bounds a prefix range. */
const END = '\x7f';
const expiresOf = (x: string | null): number | null => (x === null || x === '0' ? null : Number(x));

/**
 * The fleet's store: documents in Redis, shared by every gateway that names the same server and key
 * prefix. Commands wait for a connection (bounded by `commandTimeoutMs`); a Redis that does not
 * answer fails the operation (503 `aos_memory_unavailable`), never half-applies it.
 */
export function createRedisMemory(opts: RedisMemoryOptions): MemoryStore {
  const redis = new Redis(opts.url, {
    maxRetriesPerRequest: 1,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(50 * times, 1_000),
  });
  redis.defineCommand('aosMemPut', { lua: PUT, numberOfKeys: 2 });
  redis.defineCommand('aosMemDelete', { lua: DELETE, numberOfKeys: 2 });
  redis.defineCommand('aosMemList', { lua: LIST, numberOfKeys: 1 });
  redis.defineCommand('aosMemSearch', { lua: SEARCH, numberOfKeys: 1 });
  const scripts = redis as unknown as Redis & Scripts;
  let warned = false;
  redis.on('error', (err: Error) => {
    if (!warned) opts.log.warn('shared memory: Redis failed; memory operations answer 503 until it is back', { error: err.message });
    warned = true;
  });
  redis.on('ready', () => {
    warned = false;
  });
  const base = `${opts.keyPrefix}:mem:`;
  const nsPrefix = (ns: string) => `${base}{${ns}}:`;
  const docKey = (ns: string, key: string) => `${nsPrefix(ns)}d:${key}`;
  const indexKey = (ns: string) => `${nsPrefix(ns)}i`;

  return {
    name: 'redis',
    async get(ns, key) {
      const [v, e, u, x] = await redis.hmget(docKey(ns, key), 'v', 'e', 'u', 'x');
      if (v === null || e === null) return null;
      return { key, value: v, etag: e, updatedMs: Number(u), expiresMs: expiresOf(x) };
    },
    async put(ns, key, req): Promise<WriteResult> {
      const t = Date.now();
      const etag = newEtag();
      const c = req.condition;
      const ttl = req.ttlMs ?? 0;
      const [status, cur] = await scripts.aosMemPut(docKey(ns, key), indexKey(ns), key, req.value, req.text, etag, t, ttl, c.kind, c.kind === 'match' ? c.etag : '', Buffer.byteLength(req.value));
      if (status !== 'ok') return { ok: false, reason: status as Refusal, etag: cur };
      return { ok: true, etag, created: cur === '1', expiresMs: ttl > 0 ? t + ttl : null };
    },
    async delete(ns, key, condition): Promise<DeleteResult> {
      const [status, cur] = await scripts.aosMemDelete(docKey(ns, key), indexKey(ns), key, condition.kind, condition.kind === 'match' ? condition.etag : '');
      if (status === 'ok') return { ok: true, etag: cur! };
      return { ok: false, reason: status as 'missing' | 'mismatch', etag: cur };
    },
    async list(ns, prefix, after, limit) {
      const min = after !== null && after >= prefix ? `(${after}` : `[${prefix}`;
      const flat = await scripts.aosMemList(indexKey(ns), `${nsPrefix(ns)}d:`, min, `(${prefix}${END}`, limit);
      const items = [];
      for (let i = 0; i < flat.length; i += 5) items.push({ key: flat[i], etag: flat[i + 1], bytes: Number(flat[i + 2]), updatedMs: Number(flat[i + 3]), expiresMs: expiresOf(flat[i + 4]) });
      const more = items.length > limit;
      if (more) items.length = limit;
      return { items, next: more ? items[items.length - 1].key : null };
    },
    async search(ns, terms, limit, maxScan) {
      if (terms.length === 0) return { items: [], truncated: false };
      const flat = await scripts.aosMemSearch(indexKey(ns), `${nsPrefix(ns)}d:`, limit, maxScan, ...terms);
      const items: MemoryDoc[] = [];
      for (let i = 1; i < flat.length; i += 5) {
        items.push({ key: String(flat[i]), value: String(flat[i + 1]), etag: String(flat[i + 2]), updatedMs: Number(flat[i + 3]), expiresMs: expiresOf(String(flat[i + 4])) });
      }
      return { items, truncated: flat[0] === 1 };
    },
    async close() {
      redis.disconnect();
    },
  };
}
