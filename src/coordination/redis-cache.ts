import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { type CacheEntry, type CacheStore, decodeEntry, encodeEntry } from './cache-store.js';

export interface RedisCacheOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  log: Logger;
}

/**
 * The fleet's cache: one Redis string per entry (`<prefix>:cache:<key>`), set with its TTL, so
 * Redis drops expired entries itself; the total is bounded by the server's `maxmemory` and its
 * eviction policy (`allkeys-lru`, or `volatile-ttl` on a server shared with the budget counters,
 * whose keys also carry TTLs). A Redis that is slow or away is a miss: the call is forwarded.
 */
export function createRedisCache(opts: RedisCacheOptions): CacheStore {
  const redis = new Redis(opts.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(50 * times, 1_000),
    lazyConnect: true,
  });
  let warned = false;
  const failed = (err: Error) => {
    if (!warned) opts.log.warn('response cache: Redis failed; calls are forwarded', { error: err.message });
    warned = true;
  };
  redis.on('error', failed);
  redis.on('ready', () => {
    warned = false;
  });
  redis.connect().catch(failed);
  const prefix = `${opts.keyPrefix}:cache:`;
  return {
    name: 'redis',
    async get(key) {
      try {
        const b = await redis.getBuffer(prefix + key);
        return b === null ? null : decodeEntry(b);
      } catch (err) {
        failed(err as Error);
        return null;
      }
    },
    async set(key: string, entry: CacheEntry, ttlMs: number) {
      try {
        await redis.set(prefix + key, encodeEntry(entry), 'PX', ttlMs);
      } catch (err) {
        failed(err as Error);
      }
    },
    async close() {
      redis.disconnect();
    },
  };
}
