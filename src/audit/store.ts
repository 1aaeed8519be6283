import { statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type Db, openDatabase } from '../store/database.js';
import { chainHash, encodeEvent, GENESIS_HASH } from './canonical.js';
import type { AuditEvent, AuditRecord } from './event.js';

/**
 * audit.db, a file of its own so audit writes never wait on the core database's lock. One row per
 * event in chain order (`seq`); `body` is the canonical JSON the hash covers; the other columns are
 * copies for queries (verify checks they match the body). `audit_chain` holds the head (last seq
 * and hash, updated in the same transaction as each commit) and the retention anchor (the last
 * pruned event), so the chain stays verifiable after old events are deleted.
 */
export const AUDIT_MIGRATIONS: readonly string[] = [
  `CREATE TABLE audit_events (
     seq         INTEGER PRIMARY KEY,
     id          TEXT NOT NULL UNIQUE,
     time_ms     INTEGER NOT NULL,
     agent_id    TEXT,
     team        TEXT,
     decision    TEXT NOT NULL,
     trace_id    TEXT,
     workflow_id TEXT,
     body        TEXT NOT NULL,
     prev_hash   TEXT NOT NULL,
     hash        TEXT NOT NULL
   ) STRICT;
   CREATE INDEX audit_events_agent ON audit_events (agent_id);
   CREATE INDEX audit_events_team ON audit_events (team);
   CREATE INDEX audit_events_trace ON audit_events (trace_id) WHERE trace_id IS NOT NULL;
   CREATE INDEX audit_events_workflow ON audit_events (workflow_id) WHERE workflow_id IS NOT NULL;
   CREATE TABLE audit_chain (
     k           INTEGER PRIMARY KEY CHECK (k = 1),
     head_seq    INTEGER NOT NULL,
     head_hash   TEXT NOT NULL,
     anchor_seq  INTEGER NOT NULL,
     anchor_hash TEXT NOT NULL
   ) STRICT;
   INSERT INTO audit_chain VALUES (1, 0, '${GENESIS_HASH}', 0, '${GENESIS_HASH}')`,
];

export interface AuditFilter {
  agent?: string;
  team?: string;
  decision?: string;
  trace?: string;
  workflow?: string;
  /** Epoch milliseconds, inclusive. */
  sinceMs?: number;
  /** Epoch milliseconds, exclusive. */
  untilMs?: number;
  /** Only events after this sequence number (tail -f). */
  afterSeq?: number;
  limit?: number;
  /** Newest first (default: oldest first). */
  newestFirst?: boolean;
}

export interface StoredRow {
  seq: number;
  id: string;
  time_ms: number;
  agent_id: string | null;
  team: string | null;
  decision: string;
  trace_id: string | null;
  workflow_id: string | null;
  body: string;
  prev_hash: string;
  hash: string;
}

export interface ChainState {
  head_seq: number;
  head_hash: string;
  anchor_seq: number;
  anchor_hash: string;
}

export interface AuditStore {
  readonly db: Db;
  readonly file: string;
  /** Appends events to the chain in one transaction (a group commit); returns the records. */
  append(events: readonly AuditEvent[]): AuditRecord[];
  /**
   * The same for events already in canonical encoding (`encodeEvent`) with their query columns
   * (`columnsOf`), e.g. sent by another thread: nothing is parsed. Returns where they landed.
   */
  appendEncoded(bodies: readonly string[], columns: readonly EventColumns[]): ChainLinks;
  /** The ids of these that are already stored (recovery). */
  existing(ids: readonly string[]): Set<string>;
  query(filter: AuditFilter): AuditRecord[];
  /** Rows in chain order, for verify and export; iterate inside `snapshot` for a consistent view. */
  rows(filter?: AuditFilter): IterableIterator<StoredRow>;
  chain(): ChainState;
  /** Runs `fn` in one read transaction: a consistent snapshot while the gateway keeps writing. */
  snapshot<T>(fn: () => T): T;
  /** Deletes the oldest events older than `beforeMs` and/or until the live data fits `maxBytes`; returns how many. */
  prune(opts: { beforeMs?: number; maxBytes?: number }): number;
  sizeBytes(): number;
  close(): void;
}

/** The query columns of an event, copies of its fields: id, time_ms, agent_id, team, decision, trace_id, workflow_id. */
export type EventColumns = [string, number, string | null, string | null, string, string | null, string | null];

/** How many values EventColumns holds. */
export const COLUMNS = 7;

/** Appends an event's columns to a flat array (COLUMNS values each). */
export function pushColumns(out: EventColumns[number][], e: AuditEvent): void {
  out.push(e.id, Date.parse(e.time), e.agent_id, e.team, e.decision, e.trace_id, e.workflow_id);
}

export function columnsOf(e: AuditEvent): EventColumns {
  const out: EventColumns[number][] = [];
  pushColumns(out, e);
  return out as EventColumns;
}

/** Where a group commit landed: the first event's seq and prev_hash, and each event's hash. */
export interface ChainLinks {
  firstSeq: number;
  prevHash: string;
  hashes: string[];
}

/** The records of a group commit, from its events and where they landed. */
export function recordsOf(events: readonly AuditEvent[], links: ChainLinks): AuditRecord[] {
  return events.map((e, i) => ({ seq: links.firstSeq + i, ...e, prev_hash: i === 0 ? links.prevHash : links.hashes[i - 1], hash: links.hashes[i] }));
}

/** The smallest UUIDv7 of a millisecond: ids compare as times. */
export function idAt(ms: number): string {
  const h = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-0000-0000-000000000000`;
}

export function toRecord(row: StoredRow): AuditRecord {
  return { seq: row.seq, ...(JSON.parse(row.body) as AuditEvent), prev_hash: row.prev_hash, hash: row.hash };
}

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
/** Opens (creating) the audit store in dataDir. `readonly` for the CLI's verify/query/export. */
export function openAuditStore(dataDir: string, file = 'audit.db', opts: { readonly?: boolean } = {}): AuditStore {
  let db: Db;
  if (opts.readonly) {
    const path = join(dataDir, file);
    statSync(path); // a clear ENOENT instead of SQLite's "unable to open database file"
    // Read-write handle used read-only: a read-only one cannot open a WAL file whose -shm is gone.
    db = new Database(path, { fileMustExist: true });
    db.pragma('busy_timeout = 5000');
  } else {
    db = openDatabase(dataDir, file, AUDIT_MIGRATIONS);
    // A checkpoint copies each page once however many commits rewrote it: with ~40 MB of WAL
    // between checkpoints (1,000 pages by default) the pages every commit rewrites (the table's
    // last page, the time-ordered indexes' last pages) are copied far less often. About 7 µs less
    // per event (bench/RESULTS-performance.md).
    db.pragma('wal_autocheckpoint = 10000');
  }
  const insert = opts.readonly
    ? null
    : db.prepare('INSERT INTO audit_events (seq, id, time_ms, agent_id, team, decision, trace_id, workflow_id, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const setHead = opts.readonly ? null : db.prepare('UPDATE audit_chain SET head_seq = ?, head_hash = ? WHERE k = 1');
  const getChain = db.prepare('SELECT head_seq, head_hash, anchor_seq, anchor_hash FROM audit_chain WHERE k = 1');
  const has = db.prepare('SELECT 1 FROM audit_events WHERE id = ?').pluck();
  let head: ChainState | null = null;
  const current = () => (head ??= getChain.get() as ChainState);

  const appendTx = db.transaction((bodies: readonly string[], columns: readonly EventColumns[]): ChainLinks => {
    const c = current();
    let seq = c.head_seq;
    let prev = c.head_hash;
    const links: ChainLinks = { firstSeq: seq + 1, prevHash: prev, hashes: new Array<string>(bodies.length) };
    for (let i = 0; i < bodies.length; i++) {
      const body = bodies[i];
      const col = columns[i];
      seq += 1;
      const hash = chainHash(prev, seq, body);
      insert!.run(seq, col[0], col[1], col[2], col[3], col[4], col[5], col[6], body, prev, hash);
      links.hashes[i] = hash;
      prev = hash;
    }
    setHead!.run(seq, prev);
    return links;
  });

  const where = (f: AuditFilter): { sql: string; args: unknown[] } => {
    const parts: string[] = [];
    const args: unknown[] = [];
    const eq = (col: string, v: string | undefined) => {
      if (v !== undefined) {
        parts.push(`${col} = ?`);
        args.push(v);
      }
    };
    eq('agent_id', f.agent);
    eq('team', f.team);
    eq('decision', f.decision);
    eq('trace_id', f.trace);
    eq('workflow_id', f.workflow);
    if (f.sinceMs !== undefined) {
      parts.push('id >= ?');
      args.push(idAt(f.sinceMs));
    }
    if (f.untilMs !== undefined) {
      parts.push('id < ?');
      args.push(idAt(f.untilMs));
    }
    if (f.afterSeq !== undefined) {
      parts.push('seq > ?');
      args.push(f.afterSeq);
    }
    let sql = `SELECT * FROM audit_events${parts.length ? ` WHERE ${parts.join(' AND ')}` : ''} ORDER BY seq ${f.newestFirst ? 'DESC' : 'ASC'}`;
    if (f.limit !== undefined) sql += ` LIMIT ${Math.max(0, Math.floor(f.limit))}`;
    return { sql, args };
  };

  const store: AuditStore = {
    db,
    file: join(dataDir, file),
    append(events) {
      return recordsOf(events, store.appendEncoded(events.map(encodeEvent), events.map(columnsOf)));
    },
    appendEncoded(bodies, columns) {
      if (bodies.length === 0) return { firstSeq: current().head_seq + 1, prevHash: current().head_hash, hashes: [] };
      try {
        const links = appendTx(bodies, columns);
        const n = links.hashes.length;
        head = { ...current(), head_seq: links.firstSeq + n - 1, head_hash: links.hashes[n - 1] };
        return links;
      } catch (err) {
        head = null; // re-read: the transaction rolled back
        throw err;
      }
    },
    existing(ids) {
      const out = new Set<string>();
      for (const id of ids) if (has.get(id) !== undefined) out.add(id);
      return out;
    },
    query(filter) {
      const { sql, args } = where(filter);
      const rows = db.prepare(sql).all(...args) as StoredRow[];
      return rows.map(toRecord);
    },
    rows(filter = {}) {
      const { sql, args } = where(filter);
      return db.prepare(sql).iterate(...args) as IterableIterator<StoredRow>;
    },
    chain: () => getChain.get() as ChainState,
    snapshot(fn) {
      return db.transaction(fn)();
    },
    prune({ beforeMs, maxBytes }) {
      let total = 0;
      const oldest = db.prepare('SELECT seq, hash FROM audit_events WHERE seq <= ? ORDER BY seq DESC LIMIT 1');
      const cut = (throughSeq: number) => {
        db.transaction(() => {
          const last = oldest.get(throughSeq) as { seq: number; hash: string } | undefined;
          if (last === undefined) return;
          total += db.prepare('DELETE FROM audit_events WHERE seq <= ?').run(last.seq).changes;
          db.prepare('UPDATE audit_chain SET anchor_seq = ?, anchor_hash = ? WHERE k = 1').run(last.seq, last.hash);
        })();
      };
      if (beforeMs !== undefined) {
        const bound = idAt(beforeMs);
        const row = db.prepare('SELECT max(seq) FROM audit_events WHERE id < ? AND seq <= (SELECT min(seq) - 1 FROM audit_events WHERE id >= ?)').pluck().get(bound, bound) as number | null;
        const all = db.prepare('SELECT count(*) FROM audit_events WHERE id >= ?').pluck().get(bound) as number;
        // Events are in time order but for those recovered after a crash; cut at the first one still young.
        const through = all === 0 ? (db.prepare('SELECT max(seq) FROM audit_events').pluck().get() as number | null) : row;
        if (through !== null) cut(through);
      }
      if (maxBytes !== undefined && maxBytes > 0) {
        for (let guard = 0; guard < 10_000 && store.sizeBytes() > maxBytes; guard++) {
          const first = db.prepare('SELECT min(seq) FROM audit_events').pluck().get() as number | null;
          const count = db.prepare('SELECT count(*) FROM audit_events').pluck().get() as number;
          if (first === null || count === 0) break;
          cut(first + Math.max(1, Math.ceil(count / 20)) - 1);
        }
      }
      head = null;
      return total;
    },
    sizeBytes() {
      const pages = db.pragma('page_count', { simple: true }) as number;
      const free = db.pragma('freelist_count', { simple: true }) as number;
      return (pages - free) * (db.pragma('page_size', { simple: true }) as number);
    },
    close() {
      db.close();
    },
  };
  return store;
}
