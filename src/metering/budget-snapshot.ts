import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../store/database.js';

/** Migrations of budgets.db (its own file: budget writes never contend with other features' locks). */
export const BUDGET_MIGRATIONS: readonly string[] = [
  `CREATE TABLE budget_counters (key TEXT PRIMARY KEY, spent INTEGER NOT NULL, until INTEGER NOT NULL) STRICT;
   CREATE TABLE budget_reservations (id TEXT PRIMARY KEY, keys TEXT NOT NULL, amounts TEXT NOT NULL, expires_at INTEGER NOT NULL) STRICT;
   CREATE TABLE budget_limits (limit_id TEXT PRIMARY KEY, value INTEGER NOT NULL, at TEXT NOT NULL) STRICT;
   CREATE TABLE budget_log (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL) STRICT;
   INSERT INTO budget_log (id, seq) VALUES (1, 1);`,
];

/** The append logs' file names: `budgets-log.<seq>`. */
export const LOG = /^budgets-log\.(\d+)$/;

/**
 * One snapshot of the in-memory counters: the counters changed since the last one (key, spent,
 * until, flat), those pruned, every open reservation (id, keys JSON, amounts JSON, expiry, flat), and
 * the log it covers up to: the logs up to `old` may go once it is committed, replay starts at `seq`.
 */
export interface BudgetSnapshot {
  seq: number;
  old: number;
  counters: (string | number)[];
  gone: string[];
  held: (string | number)[];
}

/** Writes a snapshot into budgets.db in one transaction, then deletes the logs it covers. */
export function writeBudgetSnapshot(db: Db, dir: string, s: BudgetSnapshot): void {
  const upsertCounter = db.prepare('INSERT INTO budget_counters (key, spent, until) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET spent = excluded.spent, until = excluded.until');
  const deleteCounter = db.prepare('DELETE FROM budget_counters WHERE key = ?');
  const insertHeld = db.prepare('INSERT INTO budget_reservations (id, keys, amounts, expires_at) VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < s.counters.length; i += 3) upsertCounter.run(s.counters[i], s.counters[i + 1], s.counters[i + 2]);
    for (const key of s.gone) deleteCounter.run(key);
    db.prepare('DELETE FROM budget_reservations').run();
    for (let i = 0; i < s.held.length; i += 4) insertHeld.run(s.held[i], s.held[i + 1], s.held[i + 2], s.held[i + 3]);
    db.prepare('UPDATE budget_log SET seq = ? WHERE id = 1').run(s.seq);
  })();
  for (const f of readdirSync(dir)) {
    const m = LOG.exec(f);
    if (m !== null && Number(m[1]) <= s.old) unlinkSync(join(dir, f));
  }
}
