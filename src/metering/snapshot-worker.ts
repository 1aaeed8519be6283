/**
 * The budget snapshot thread: writes the SQLite store's periodic snapshots into budgets.db, so a
 * transaction over thousands of counters never stalls the request thread (at a thousand agents it
 * took 6–18 ms once a second there). One snapshot at a time, in the order sent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../store/database.js';
import { yieldToRequestThread } from '../store/worker.js';
import { BUDGET_MIGRATIONS, type BudgetSnapshot, writeBudgetSnapshot } from './budget-snapshot.js';

export type ToSnapshotWriter = string; // a BudgetSnapshot as JSON: one string crosses the thread boundary for the price of a copy
export type FromSnapshotWriter = { seq: number; error: string | null };

yieldToRequestThread();
const { dataDir } = workerData as { dataDir: string };
const db = openDatabase(dataDir, 'budgets.db', BUDGET_MIGRATIONS);
const port = parentPort!;
port.on('message', (m: ToSnapshotWriter) => {
  const s = JSON.parse(m) as BudgetSnapshot;
  try {
    writeBudgetSnapshot(db, dataDir, s);
    port.postMessage({ seq: s.seq, error: null } satisfies FromSnapshotWriter);
  } catch (err) {
    port.postMessage({ seq: s.seq, error: (err as Error).message } satisfies FromSnapshotWriter);
  }
});
