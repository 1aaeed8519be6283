import { closeSync, openSync, readdirSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { BudgetStoreLockedError } from '../errors.js';
import { type Db, openDatabase } from '../store/database.js';
import { startWorker } from '../store/worker.js';
import type { WriteBarrier } from '../store/write-barrier.js';
import { BUDGET_MIGRATIONS, type BudgetSnapshot, LOG, writeBudgetSnapshot } from './budget-snapshot.js';
import { Ledger } from './ledger.js';
import type { FromSnapshotWriter, ToSnapshotWriter } from './snapshot-worker.js';
import type { BudgetStore, LineState, ReserveLine, ReserveOutcome } from './store.js';

export interface SqliteStoreOptions {
  dataDir: string;
  /** How often the counters are snapshotted into budgets.db and the append log rotated. */
  snapshotIntervalMs: number;
  now?: () => number;
  /** Reservation lines are then written once per event-loop turn, before the turn's calls are forwarded. */
  barrier?: WriteBarrier | null;
}

/** How long a settlement within its reservation may wait for the next log write before it is written alone. */
export const SETTLEMENT_DELAY_MS = 50;

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
/**
 * The embedded budget store: counters in memory (a reservation and its settlement cost a few
 * microseconds), made durable by an append-only log written before the call goes on (a reservation)
 * and before its cost is counted as spent (a settlement), with `write(2)`, which survives the
 * process being killed. A settlement within its reservation is written with the next record (or
 * `SETTLEMENT_DELAY_MS` later): until then a crash charges the reservation in full, never less
 * than the real cost; so a call costs one write, even one call at a time. Every `snapshotIntervalMs` the counters are written to budgets.db (WAL) in
 * one transaction and the log starts a new file. On start: the snapshot, then the logs after it;
 * a reservation left open by a process that died is charged in full (it may have been served),
 * so no spend is ever forgotten. One gateway process owns the store (a lock file names it).
 */
export function createSqliteStore(options: SqliteStoreOptions): BudgetStore {
  const now = options.now ?? Date.now;
  const dir = options.dataDir;
  const db: Db = openDatabase(dir, 'budgets.db', BUDGET_MIGRATIONS);
  takeLock(dir);
  const ledger = new Ledger();

  // --- recovery: snapshot, then every log after it, then orphans charged ---
  for (const r of db.prepare<[], { key: string; spent: number; until: number }>('SELECT key, spent, until FROM budget_counters').all()) {
    ledger.counters.set(r.key, { spent: r.spent, reserved: 0, until: r.until });
  }
  for (const r of db.prepare<[], { id: string; keys: string; amounts: string; expires_at: number }>('SELECT id, keys, amounts, expires_at FROM budget_reservations').all()) {
    const keys = JSON.parse(r.keys) as string[];
    ledger.apply(
      r.id,
      keys,
      JSON.parse(r.amounts) as number[],
      keys.map((k) => ledger.counters.get(k)?.until ?? now() + 86_400_000 * 32),
      r.expires_at,
    );
  }
  for (const r of db.prepare<[], { limit_id: string; value: number }>('SELECT limit_id, value FROM budget_limits').all()) ledger.overrides.set(r.limit_id, r.value);
  const fromSeq = (db.prepare('SELECT seq FROM budget_log WHERE id = 1').get() as { seq: number }).seq;
  const logs = readdirSync(dir)
    .map((f) => LOG.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  for (const seq of logs) if (seq >= fromSeq) replay(ledger, readFileSync(join(dir, `budgets-log.${seq}`), 'utf8'));
  const orphans = [...ledger.held.keys()];
  for (const id of orphans) {
    const h = ledger.held.get(id)!;
    ledger.settle(
      id,
      h.keys,
      h.amounts,
      h.keys.map((k) => ledger.counters.get(k)?.until ?? 0),
    );
  }

  let seq = Math.max(fromSeq, ...logs, 0) + 1;
  let fd = openSync(join(dir, `budgets-log.${seq}`), 'a', 0o600);
  const dirty = new Set<string>(ledger.counters.keys());
  let changed = true;
  let nextId = 0;
  const boot = `${now().toString(36)}.${process.pid.toString(36)}`;

  /**
   * Lines not yet written, in order. A reservation's is written at the end of its turn (with a
   * barrier the call waits for that). A settlement whose every amount is within what its
   * reservation holds needs no write of its own: until its line is written, a crash charges the
   * open reservation in full, which covers it. Such lines ride along with the next write (the next
   * call's reservation: one `write(2)` per call, at any concurrency) or are written
   * `SETTLEMENT_DELAY_MS` later, and always before a record that depends on the order (a reset,
   * an expiry) or a snapshot.
   */
  let pending = '';
  /** A flush at the end of the turn is queued: a reservation is in `pending`. */
  let flushQueued = false;
  /** Only settlements are in `pending`: they are written by this timer if no reservation comes first. */
  let settlementTimer: NodeJS.Timeout | null = null;
  const append = (line: string) => {
    if (settlementTimer !== null) {
      clearTimeout(settlementTimer);
      settlementTimer = null;
    }
    if (pending === '') writeSync(fd, line);
    else {
      const out = pending + line;
      pending = '';
      writeSync(fd, out);
    }
  };
  const flush = () => {
    flushQueued = false;
    if (pending !== '') append('');
  };
  const barrier = options.barrier ?? null;
  const deferReservation = (line: string) => {
    pending += line;
    if (!flushQueued) {
      flushQueued = true;
      barrier!.defer(flush);
    }
  };
  const deferSettlement = (line: string) => {
    pending += line;
    if (!flushQueued && settlementTimer === null) {
      settlementTimer = setTimeout(flush, SETTLEMENT_DELAY_MS);
      settlementTimer.unref();
    }
  };

  const upsertLimit = db.prepare('INSERT INTO budget_limits (limit_id, value, at) VALUES (?, ?, ?) ON CONFLICT (limit_id) DO UPDATE SET value = excluded.value, at = excluded.at');
  const deleteLimit = db.prepare('DELETE FROM budget_limits WHERE limit_id = ?');

  // Periodic snapshots are written by a background thread (started with the first one; a CLI
  // command that closes the store sooner never starts it), one at a time; the last, at close, here.
  let writer: Worker | null = null;
  let inflight: { keys: string[]; done: Promise<void>; settle: () => void } | null = null;
  const background = (snap: BudgetSnapshot, keys: string[]) => {
    if (writer === null) {
      writer = startWorker(import.meta.url, 'snapshot-worker', { dataDir: dir });
      writer.unref();
      writer.on('message', (m: FromSnapshotWriter) => {
        const done = inflight;
        inflight = null;
        if (m.error !== null && done !== null) {
          // Not written: its counters go with the next one (the logs it covered were kept).
          for (const k of done.keys) dirty.add(k);
          changed = true;
        }
        done?.settle();
      });
      writer.on('error', () => {
        const done = inflight;
        inflight = null;
        writer = null;
        if (done !== null) for (const k of done.keys) dirty.add(k);
        changed = true;
        done?.settle();
      });
    }
    let settle = () => {};
    const done = new Promise<void>((r) => {
      settle = r;
    });
    inflight = { keys, done, settle };
    writer.postMessage(snap satisfies ToSnapshotWriter);
  };

  let prunedAt = 0;
  /** Starts a new log file and writes the state into budgets.db; the old logs go once it is committed. */
  const snapshot = (here: boolean) => {
    if (inflight !== null) return; // the one before is still being written: this one's changes wait for the next
    const t = now();
    for (const id of ledger.expired(t)) {
      const h = ledger.held.get(id)!;
      append(`${JSON.stringify(['X', id])}\n`);
      for (const k of h.keys) dirty.add(k);
      ledger.release(id);
      changed = true;
    }
    if (!changed) return;
    // Counters are kept an hour past their period: looking for those to forget once a minute is
    // enough, and spares every snapshot a walk over all of them (~60,000 with a thousand agents).
    let gone: string[] = [];
    if (t - prunedAt >= 60_000) {
      gone = ledger.prune(t - 3_600_000);
      prunedAt = t;
    }
    flush(); // the old log holds every settlement the snapshot covers
    closeSync(fd);
    const old = seq;
    seq += 1;
    fd = openSync(join(dir, `budgets-log.${seq}`), 'a', 0o600);
    const counters: (string | number)[] = [];
    for (const key of dirty) {
      const c = ledger.counters.get(key);
      if (c !== undefined) counters.push(key, c.spent, c.until);
    }
    const held: (string | number)[] = [];
    for (const [id, h] of ledger.held) held.push(id, JSON.stringify(h.keys), JSON.stringify(h.amounts), h.expiresAt);
    const snap: BudgetSnapshot = { seq, old, counters, gone, held };
    const keys = [...dirty];
    dirty.clear();
    changed = false;
    if (here) writeBudgetSnapshot(db, dir, snap);
    else background(snap, keys);
  };
  snapshot(true);
  const timer = setInterval(() => snapshot(false), options.snapshotIntervalMs);
  timer.unref();

  const touched = (lines: readonly ReserveLine[]) => {
    for (let i = 0; i < lines.length; i++) {
      dirty.add(lines[i].key);
    }
    changed = true;
  };

  return {
    kind: 'sqlite',
    reserve(lines, ttlMs): ReserveOutcome {
      const id = `${boot}.${(nextId++).toString(36)}`;
      const expiresAt = now() + ttlMs;
      const out = ledger.reserve(id, lines, expiresAt);
      if (!out.ok) return out;
      let rec = `["R","${id}",${expiresAt}`;
      for (let i = 0; i < lines.length; i++) rec += `,${JSON.stringify(lines[i].key)},${lines[i].amount},${lines[i].until}`;
      // Logged before the call goes on: a crash from here on charges the reservation in full. With a
      // barrier, the line is written at the end of the turn and the call waits for it (write-barrier.ts).
      if (barrier !== null) deferReservation(`${rec}]\n`);
      else append(`${rec}]\n`);
      touched(lines);
      return out;
    },
    settle(id, lines, actual) {
      let rec = `["S","${id}"`;
      let covered = ledger.held.has(id);
      for (let i = 0; i < lines.length; i++) {
        rec += `,${JSON.stringify(lines[i].key)},${actual[i]},${lines[i].until}`;
        if (actual[i] > lines[i].amount) covered = false;
      }
      rec += ']\n';
      // Logged before it is counted, unless the open reservation already covers it (see `pending`):
      // once this returns, a crash cannot forget the spend.
      if (covered) deferSettlement(rec);
      else append(rec);
      ledger.settleLines(id, lines, actual);
      touched(lines);
    },
    peek: (line): LineState => ledger.state(line),
    read: async (lines) => lines.map((l) => ledger.state(l)),
    async setLimit(limitId, limit) {
      if (limit === null) {
        deleteLimit.run(limitId);
        ledger.overrides.delete(limitId);
      } else {
        upsertLimit.run(limitId, limit, new Date(now()).toISOString());
        ledger.overrides.set(limitId, limit);
      }
    },
    limits: async () => new Map(ledger.overrides),
    async reset(keys) {
      append(`${JSON.stringify(['Z', ...keys])}\n`);
      for (const k of keys) {
        const c = ledger.counters.get(k);
        if (c !== undefined) c.spent = 0;
        dirty.add(k);
      }
      changed = true;
    },
    openReservations: async () => ledger.held.size,
    healthy: () => true,
    async close() {
      clearInterval(timer);
      await inflight?.done;
      await writer?.terminate();
      snapshot(true);
      flush();
      closeSync(fd);
      db.close();
      releaseLock(dir);
    },
  };
}

/** Applies one log file's records; a torn last line (the process died mid-write) is skipped. */
function replay(ledger: Ledger, text: string): void {
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let rec: unknown[];
    try {
      rec = JSON.parse(line) as unknown[];
    } catch {
      continue;
    }
    const id = rec[1] as string;
    switch (rec[0]) {
      case 'R': {
        const keys: string[] = [];
        const amounts: number[] = [];
        const until: number[] = [];
        for (let i = 3; i + 2 < rec.length; i += 3) {
          keys.push(rec[i] as string);
          amounts.push(rec[i + 1] as number);
          until.push(rec[i + 2] as number);
        }
        ledger.apply(id, keys, amounts, until, rec[2] as number);
        break;
      }
      case 'S': {
        const keys: string[] = [];
        const actual: number[] = [];
        const until: number[] = [];
        for (let i = 2; i + 2 < rec.length; i += 3) {
          keys.push(rec[i] as string);
          actual.push(rec[i + 1] as number);
          until.push(rec[i + 2] as number);
        }
        ledger.settle(id, keys, actual, until);
        break;
      }
      case 'X':
        ledger.release(id);
        break;
      case 'Z':
        for (const k of rec.slice(1) as string[]) {
          const c = ledger.counters.get(k);
          if (c !== undefined) c.spent = 0;
        }
        break;
    }
  }
}

function takeLock(dir: string): void {
  const file = join(dir, 'budgets.lock');
  let holder = 0;
  try {
    holder = Number(readFileSync(file, 'utf8').trim());
  } catch {
    // no lock
  }
  if (holder > 0 && holder !== process.pid && alive(holder)) {
    throw new BudgetStoreLockedError(`the budget store in ${dir} is in use by process ${holder} (one gateway owns budgets.db; use metering.store: redis to share budgets between gateways)`, holder);
  }
  writeFileSync(file, `${process.pid}\n`, { mode: 0o600 });
}

function releaseLock(dir: string): void {
  try {
    if (Number(readFileSync(join(dir, 'budgets.lock'), 'utf8').trim()) === process.pid) unlinkSync(join(dir, 'budgets.lock'));
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
