import type { Statement } from 'better-sqlite3';
import { openDatabase } from '../store/database.js';
import { type DeleteResult, type ListPage, type MemoryDoc, type MemoryMeta, type MemoryStore, newEtag, type Precondition, type PutRequest, type WriteResult } from './memory-store.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE memory_docs (
     ns         TEXT NOT NULL,
     key        TEXT NOT NULL,
     value      TEXT NOT NULL,
     etag       TEXT NOT NULL,
     bytes      INTEGER NOT NULL,
     updated_ms INTEGER NOT NULL,
     expires_ms INTEGER,
     text       TEXT NOT NULL,
     PRIMARY KEY (ns, key)
   ) STRICT, WITHOUT ROWID`,
  'CREATE INDEX memory_docs_expires ON memory_docs (expires_ms) WHERE expires_ms IS NOT NULL',
];

/** Expired documents are swept this often (besides never being returned once expired). */
const SWEEP_MS = 60_000;
/** Above every character a key may hold (keys are printable ASCII): `prefix + END` bounds a prefix range. */
const END = '\x7f';

export interface SqliteMemoryOptions {
  dataDir: string;
  now?: () => number;
}

type Row = { key: string; value: string; etag: string; updated_ms: number; expires_ms: number | null };
type MetaRow = { key: string; etag: string; bytes: number; updated_ms: number; expires_ms: number | null };

const doc = (r: Row): MemoryDoc => ({ key: r.key, value: r.value, etag: r.etag, updatedMs: r.updated_ms, expiresMs: r.expires_ms });
const meta = (r: MetaRow): MemoryMeta => ({ key: r.key, etag: r.etag, bytes: r.bytes, updatedMs: r.updated_ms, expiresMs: r.expires_ms });

/**
 * The embedded store: dataDir/memory.db (WAL), one row per document. A write is one IMMEDIATE
 * transaction: read the current version, check the precondition, write; so writers in this process
 * or another (the CLI) never interleave between the check and the write. Expired rows are never
 * answered and are swept once a minute. The text search reads the namespace's rows in key order, at
 * most `maxScan`, matching each term as a substring of the lower-cased text (`instr`).
 */
export function createSqliteMemory(opts: SqliteMemoryOptions): MemoryStore {
  const now = opts.now ?? Date.now;
  const db = openDatabase(opts.dataDir, 'memory.db', MIGRATIONS);
  const LIVE = '(expires_ms IS NULL OR expires_ms > @now)';
  const select = db.prepare(`SELECT key, value, etag, updated_ms, expires_ms FROM memory_docs WHERE ns = @ns AND key = @key AND ${LIVE}`) as Statement<[{ ns: string; key: string; now: number }], Row>;
  const current = db.prepare('SELECT etag, expires_ms FROM memory_docs WHERE ns = ? AND key = ?') as Statement<[string, string], { etag: string; expires_ms: number | null }>;
  const upsert = db.prepare(
    `INSERT INTO memory_docs (ns, key, value, etag, bytes, updated_ms, expires_ms, text) VALUES (@ns, @key, @value, @etag, @bytes, @now, @expires, @text)
     ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, etag = excluded.etag, bytes = excluded.bytes, updated_ms = excluded.updated_ms, expires_ms = excluded.expires_ms, text = excluded.text`,
  );
  const remove = db.prepare('DELETE FROM memory_docs WHERE ns = ? AND key = ?');
  const page = db.prepare(
    `SELECT key, etag, bytes, updated_ms, expires_ms FROM memory_docs WHERE ns = @ns AND key >= @from AND key < @to AND key > @after AND ${LIVE} ORDER BY key LIMIT @limit`,
  ) as Statement<[{ ns: string; from: string; to: string; after: string; now: number; limit: number }], MetaRow>;
  const sweep = db.prepare('DELETE FROM memory_docs WHERE expires_ms IS NOT NULL AND expires_ms <= ?');
  /** Search statements by number of terms (1–16), prepared on first use. */
  const searches = new Map<number, Statement<unknown[], Row>>();
  const searchOf = (n: number) => {
    let s = searches.get(n);
    if (s === undefined) {
      const terms = Array.from({ length: n }, (_, i) => `instr(text, @t${i}) > 0`).join(' AND ');
      s = db.prepare(
        `SELECT key, value, etag, updated_ms, expires_ms FROM (SELECT * FROM memory_docs WHERE ns = @ns AND ${LIVE} ORDER BY key LIMIT @scan) WHERE ${terms} ORDER BY key LIMIT @limit`,
      ) as Statement<unknown[], Row>;
      searches.set(n, s);
    }
    return s;
  };
  const countUpTo = db.prepare(`SELECT count(*) FROM (SELECT 1 FROM memory_docs WHERE ns = @ns AND ${LIVE} LIMIT @n)`).pluck() as Statement<[{ ns: string; now: number; n: number }], number>;

  /** The live version of a document, or null (an expired row counts as absent). */
  const live = (ns: string, key: string, t: number): string | null => {
    const row = current.get(ns, key);
    return row === undefined || (row.expires_ms !== null && row.expires_ms <= t) ? null : row.etag;
  };

  const write = db.transaction((ns: string, key: string, req: PutRequest, t: number): WriteResult => {
    const cur = live(ns, key, t);
    const refusal = refuse(req.condition, cur);
    if (refusal !== null) return refusal;
    const etag = newEtag();
    const expires = req.ttlMs === null ? null : t + req.ttlMs;
    upsert.run({ ns, key, value: req.value, etag, bytes: Buffer.byteLength(req.value), now: t, expires, text: req.text });
    return { ok: true, etag, created: cur === null, expiresMs: expires };
  });
  const del = db.transaction((ns: string, key: string, condition: Precondition, t: number): DeleteResult => {
    const cur = live(ns, key, t);
    if (cur === null) return { ok: false, reason: 'missing', etag: null };
    if (condition.kind === 'match' && condition.etag !== cur) return { ok: false, reason: 'mismatch', etag: cur };
    remove.run(ns, key);
    return { ok: true, etag: cur };
  });

  const timer = setInterval(() => {
    try {
      sweep.run(now());
    } catch {
      // A busy or closing database: the next sweep tries again (expired rows are never answered meanwhile).
    }
  }, SWEEP_MS);
  timer.unref();

  return {
    name: 'sqlite',
    async get(ns, key) {
      const row = select.get({ ns, key, now: now() });
      return row === undefined ? null : doc(row);
    },
    async put(ns, key, req) {
      return write.immediate(ns, key, req, now());
    },
    async delete(ns, key, condition) {
      return del.immediate(ns, key, condition, now());
    },
    async list(ns, prefix, after, limit): Promise<ListPage> {
      const rows = page.all({ ns, from: prefix, to: prefix + END, after: after ?? '', now: now(), limit: limit + 1 });
      const more = rows.length > limit;
      const items = (more ? rows.slice(0, limit) : rows).map(meta);
      return { items, next: more ? items[items.length - 1].key : null };
    },
    async search(ns, terms, limit, maxScan) {
      const t = now();
      const params: Record<string, unknown> = { ns, now: t, scan: maxScan, limit };
      terms.forEach((term, i) => {
        params[`t${i}`] = term;
      });
      const rows = terms.length === 0 ? [] : searchOf(terms.length).all(params);
      // Truncated: the scan stopped at maxScan short of `limit` matches, with documents left unread.
      return { items: rows.map(doc), truncated: rows.length < limit && countUpTo.get({ ns, now: t, n: maxScan + 1 })! > maxScan };
    },
    async close() {
      clearInterval(timer);
      db.close();
    },
  };
}

/** The refusal of a write whose precondition does not hold against the current version (null: none). */
function refuse(condition: Precondition, cur: string | null): WriteResult | null {
  switch (condition.kind) {
    case 'new':
      return cur === null ? null : { ok: false, reason: 'required', etag: cur };
    case 'absent':
      return cur === null ? null : { ok: false, reason: 'exists', etag: cur };
    case 'any':
      return cur !== null ? null : { ok: false, reason: 'missing', etag: null };
    case 'match':
      return cur === null ? { ok: false, reason: 'missing', etag: null } : cur === condition.etag ? null : { ok: false, reason: 'mismatch', etag: cur };
    case 'none':
      return null;
  }
}
