/**
 * The console's sessions in the store (SQLite or PostgreSQL): a session made on one replica is
 * good on every other, and survives a restart. A row is keyed by a hash of the cookie's value
 * (sessions.ts computes it), so a copy of the table signs nobody in.
 */
import type { Row, SqlDriver } from './sql.js';
import type { SessionRecord } from './store.js';

/** A session's last use is written at most this often (a page load makes several calls). */
const TOUCH_MS = 60_000;

const sessionOf = (r: Row): SessionRecord => ({
  key: String(r.key_hash),
  actor: String(r.actor),
  role: r.role as SessionRecord['role'],
  csrf: String(r.csrf),
  via: String(r.via),
  createdMs: Number(r.created_ms),
  lastMs: Number(r.last_ms),
  expiresMs: Number(r.expires_ms),
  idToken: r.id_token === null || r.id_token === undefined ? null : String(r.id_token),
});

export function createSessionStatements(driver: SqlDriver) {
  return {
    async putSession(s: SessionRecord, idleMs: number): Promise<void> {
      // Ended sessions go as new ones come: the table holds only live ones and those not yet seen again.
      await driver.run('DELETE FROM console_sessions WHERE expires_ms <= ? OR last_ms <= ?', [s.createdMs, s.createdMs - idleMs]);
      await driver.run('INSERT INTO console_sessions (key_hash, actor, role, csrf, via, created_ms, last_ms, expires_ms, id_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', [
        s.key,
        s.actor,
        s.role,
        s.csrf,
        s.via,
        s.createdMs,
        s.lastMs,
        s.expiresMs,
        s.idToken,
      ]);
    },
    async session(key: string, nowMs: number, idleMs: number): Promise<SessionRecord | null> {
      const [row] = await driver.all('SELECT * FROM console_sessions WHERE key_hash = ?', [key]);
      if (row === undefined) return null;
      const s = sessionOf(row);
      if (s.expiresMs <= nowMs || s.lastMs + idleMs <= nowMs) {
        await driver.run('DELETE FROM console_sessions WHERE key_hash = ?', [key]);
        return null;
      }
      if (nowMs - s.lastMs >= TOUCH_MS) {
        await driver.run('UPDATE console_sessions SET last_ms = ? WHERE key_hash = ? AND last_ms < ?', [nowMs, key, nowMs]);
        return { ...s, lastMs: nowMs };
      }
      return s;
    },
    async endSession(key: string): Promise<boolean> {
      return (await driver.run('DELETE FROM console_sessions WHERE key_hash = ?', [key])) > 0;
    },
  };
}
