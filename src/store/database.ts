import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/**
 * Schema migrations of the gateway's main file (aos.db), applied in order; `user_version` records
 * how many ran. Append only. A feature with a database file of its own passes its own list.
 */
export const CORE_MIGRATIONS: readonly string[] = [
  `CREATE TABLE agent_suspensions (
     agent_id TEXT PRIMARY KEY,
     reason   TEXT NOT NULL,
     actor    TEXT NOT NULL,
     at       TEXT NOT NULL
   ) STRICT`,
];

/**
 * Opens (creating) the gateway's SQLite file in the data folder: WAL, so the CLI and the gateway
 * can use it at once; synchronous=NORMAL, durable at each checkpoint and safe against corruption.
 */
export function openDatabase(dataDir: string, name = 'aos.db', migrations: readonly string[] = CORE_MIGRATIONS): Db {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, name);
  const db = new Database(file);
  // Owner only; SQLite gives the -wal and -shm files the same mode.
  chmodSync(file, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const applied = db.pragma('user_version', { simple: true }) as number;
  if (applied < migrations.length) {
    db.transaction(() => {
      for (let i = applied; i < migrations.length; i++) db.exec(migrations[i]);
      db.pragma(`user_version = ${migrations.length}`);
    })();
  }
  return db;
}
