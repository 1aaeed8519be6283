import type { Statement } from 'better-sqlite3';
import { openDatabase } from '../store/database.js';
import { type CacheEntry, type CacheStore, decodeEntry, encodeEntry } from './cache-store.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE cache_entries (
     key        TEXT PRIMARY KEY,
     expires_ms INTEGER NOT NULL,
     used_ms    INTEGER NOT NULL,
     size       INTEGER NOT NULL,
     entry      BLOB NOT NULL
   ) STRICT`,
  'CREATE INDEX cache_entries_used ON cache_entries (used_ms)',
  'CREATE INDEX cache_entries_expires ON cache_entries (expires_ms)',
];

/** A hit refreshes an entry's last use at most this often (one write per entry per second, not per hit). */
const TOUCH_MS = 1000;
/** Expired entries are swept at most this often (on a store), besides being dropped when read. */
const SWEEP_MS = 60_000;

export interface SqliteCacheOptions {
  dataDir: string;
  /** Total size of the entries; the least recently used are evicted past it. */
  maxTotalBytes: number;
  now?: () => number;
  onEvict?: (reason: 'size' | 'expired', n: number) => void;
}

/**
 * The embedded cache: dataDir/cache.db (WAL). Bounded: a running total of the entries' sizes is kept
 * in memory and, past `maxTotalBytes`, the least recently used entries are deleted; expired entries
 * are dropped when read and swept once a minute. Reads and writes are synchronous (~10 µs a read).
 */
export function createSqliteCache(opts: SqliteCacheOptions): CacheStore {
  const now = opts.now ?? Date.now;
  const db = openDatabase(opts.dataDir, 'cache.db', MIGRATIONS);
  const select = db.prepare('SELECT expires_ms, used_ms, entry FROM cache_entries WHERE key = ?') as Statement<[string], { expires_ms: number; used_ms: number; entry: Buffer }>;
  const touch = db.prepare('UPDATE cache_entries SET used_ms = ? WHERE key = ?');
  const sizeOf = db.prepare('SELECT size FROM cache_entries WHERE key = ?').pluck() as Statement<[string], number>;
  const remove = db.prepare('DELETE FROM cache_entries WHERE key = ?');
  const upsert = db.prepare(
    'INSERT INTO cache_entries (key, expires_ms, used_ms, size, entry) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET expires_ms = excluded.expires_ms, used_ms = excluded.used_ms, size = excluded.size, entry = excluded.entry',
  );
  const oldest = db.prepare('SELECT key, size FROM cache_entries ORDER BY used_ms LIMIT 64') as Statement<[], { key: string; size: number }>;
  const total = db.prepare('SELECT coalesce(sum(size), 0) FROM cache_entries').pluck() as Statement<[], number>;
  const sweep = db.prepare('DELETE FROM cache_entries WHERE expires_ms <= ?');
  let bytes = total.get() ?? 0;
  let swept = now();

  const evict = db.transaction(() => {
    let n = 0;
    while (bytes > opts.maxTotalBytes) {
      const rows = oldest.all();
      if (rows.length === 0) break;
      for (const r of rows) {
        if (bytes <= opts.maxTotalBytes) break;
        remove.run(r.key);
        bytes -= r.size;
        n += 1;
      }
    }
    return n;
  });
  const store = db.transaction((key: string, buf: Buffer, expires: number, t: number) => {
    const old = sizeOf.get(key);
    upsert.run(key, expires, t, buf.length, buf);
    bytes += buf.length - (old ?? 0);
  });

  return {
    name: 'sqlite',
    get(key) {
      const row = select.get(key);
      if (row === undefined) return null;
      const t = now();
      if (row.expires_ms <= t) {
        remove.run(key);
        bytes -= row.entry.length;
        opts.onEvict?.('expired', 1);
        return null;
      }
      if (t - row.used_ms >= TOUCH_MS) touch.run(t, key);
      return decodeEntry(row.entry);
    },
    set(key: string, entry: CacheEntry, ttlMs: number) {
      const buf = encodeEntry(entry);
      if (buf.length > opts.maxTotalBytes) return;
      const t = now();
      if (t - swept >= SWEEP_MS) {
        swept = t;
        const n = sweep.run(t).changes;
        if (n > 0) {
          bytes = total.get() ?? 0;
          opts.onEvict?.('expired', n);
        }
      }
      store(key, buf, t + ttlMs, t);
      if (bytes > opts.maxTotalBytes) {
        const n = evict();
        if (n > 0) opts.onEvict?.('size', n);
      }
    },
    async close() {
      db.close();
    },
  };
}
