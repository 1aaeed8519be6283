/**
 * The embedded store: one SQLite file in dataDir (WAL), for a single control plane process.
 * better-sqlite3 is synchronous; the async SqlDriver contract is kept by running every statement
 * and transaction one after another on a queue, so a transaction never sees another's writes.
 */
import { join } from 'node:path';
import type { Statement } from 'better-sqlite3';
import { openDatabase } from '../store/database.js';
import { CONTROL_MIGRATIONS, type Sql, type SqlDriver } from './sql.js';
import type { ControlStore } from './store.js';
import { createSqlStore } from './store-sql.js';

export function openSqliteDriver(dataDir: string, file: string): SqlDriver {
  const db = openDatabase(dataDir, file, CONTROL_MIGRATIONS);
  const statements = new Map<string, Statement>();
  const prepare = (text: string) => {
    let s = statements.get(text);
    if (s === undefined) {
      s = db.prepare(text);
      statements.set(text, s);
    }
    return s;
  };
  const sql: Sql = {
    all: async <T>(text: string, params: readonly unknown[] = []) => prepare(text).all(...params) as T[],
    run: async (text, params = []) => prepare(text).run(...params).changes,
  };
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  };
  return {
    dialect: 'sqlite',
    where: join(dataDir, file),
    lockClause: '',
    all: (text, params) => exclusive(() => sql.all(text, params)),
    run: (text, params) => exclusive(() => sql.run(text, params)),
    tx: (fn) =>
      exclusive(async () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const out = await fn(sql);
          db.exec('COMMIT');
          return out;
        } catch (err) {
          db.exec('ROLLBACK');
          throw err;
        }
      }),
    // One process: the server hears its own changes; there is nobody else to tell.
    announce: async () => {},
    onAnnounce: () => {},
    close: () =>
      exclusive(async () => {
        db.close();
      }),
  };
}

export function openSqliteStore(dataDir: string, file = 'control.db'): ControlStore {
  return createSqlStore(openSqliteDriver(dataDir, file));
}
