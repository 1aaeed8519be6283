/**
 * The one SQL layer under both stores. The statements are written once, in the subset SQLite and
 * PostgreSQL share (`?` placeholders, rewritten to `$n` for PostgreSQL; TEXT, BIGINT, DOUBLE
 * PRECISION; ON CONFLICT upserts); a driver supplies transactions and change notification.
 */
import type { ActionInput } from './store.js';

export type Row = Record<string, unknown>;

export interface Sql {
  all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a statement; the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

export interface SqlDriver extends Sql {
  readonly dialect: 'sqlite' | 'postgres';
  /** Where the data lives, for logs and the fleet view (no credentials). */
  readonly where: string;
  /**
   * Runs `fn` in one transaction. `consistent`: every statement sees the same snapshot (a read of
   * the whole fleet state); otherwise each sees what is committed when it runs, and row locks
   * (`lockClause`) serialize writers.
   */
  tx<T>(fn: (sql: Sql) => Promise<T>, opts?: { consistent?: boolean }): Promise<T>;
  /** ` FOR UPDATE` where the dialect has it: writers of the same row wait for each other. */
  readonly lockClause: string;
  /** Inside a mutation: tell every replica the fleet version is now `version` (on commit). */
  announce(sql: Sql, version: number): Promise<void>;
  /** Called with a version another replica announced (PostgreSQL LISTEN); never for SQLite. */
  onAnnounce(listener: (version: number) => void): void;
  close(): Promise<void>;
}

/**
 * The schema, in order; `control_schema.version` records how many ran. Append only. The fleet
 * version is one row bumped in the same transaction as every mutation; actions are numbered by it.
 */
export const CONTROL_MIGRATIONS: readonly string[] = [
  `CREATE TABLE fleet (k INTEGER PRIMARY KEY, version BIGINT NOT NULL)`,
  `INSERT INTO fleet (k, version) VALUES (1, 0)`,
  `CREATE TABLE settings (k TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE template_versions (
     name TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, yaml TEXT NOT NULL,
     status TEXT NOT NULL, author TEXT NOT NULL, reason TEXT NOT NULL, created_at TEXT NOT NULL,
     reviewer TEXT, review_reason TEXT, approved_at TEXT,
     PRIMARY KEY (name, version))`,
  `CREATE TABLE template_active (name TEXT PRIMARY KEY, version INTEGER NOT NULL)`,
  `CREATE TABLE agents (
     id TEXT PRIMARY KEY, team TEXT NOT NULL, template TEXT NOT NULL, pinned INTEGER,
     owner TEXT, roles TEXT NOT NULL, labels TEXT NOT NULL, updated_at TEXT NOT NULL)`,
  `CREATE TABLE suspensions (agent_id TEXT PRIMARY KEY, reason TEXT NOT NULL, actor TEXT NOT NULL, at TEXT NOT NULL)`,
  `CREATE TABLE kills (
     id TEXT PRIMARY KEY, scope TEXT NOT NULL, value TEXT, live TEXT NOT NULL,
     reason TEXT NOT NULL, actor TEXT NOT NULL, at TEXT NOT NULL)`,
  `CREATE TABLE budget_overrides (limit_id TEXT PRIMARY KEY, value DOUBLE PRECISION NOT NULL)`,
  `CREATE TABLE approvals (
     id TEXT PRIMARY KEY, agent_id TEXT, request TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,
     decided_by TEXT, decided_at TEXT, reason TEXT)`,
  `CREATE TABLE gateways (
     id TEXT PRIMARY KEY, issuer TEXT NOT NULL, subject TEXT NOT NULL, version TEXT NOT NULL, labels TEXT NOT NULL,
     snapshot_version BIGINT NOT NULL, snapshot_error TEXT, policy_revision TEXT,
     first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, connected INTEGER NOT NULL,
     revoked_at TEXT, revoked_by TEXT, audit_seq BIGINT NOT NULL, audit_hash TEXT NOT NULL)`,
  `CREATE TABLE audit_events (
     gateway TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL, time_ms BIGINT NOT NULL,
     agent_id TEXT, team TEXT, decision TEXT NOT NULL, outcome TEXT NOT NULL, status INTEGER,
     workflow_id TEXT, trace_id TEXT, cost_usd DOUBLE PRECISION,
     body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
     PRIMARY KEY (gateway, seq))`,
  `CREATE INDEX audit_events_time ON audit_events (time_ms)`,
  `CREATE INDEX audit_events_agent ON audit_events (agent_id, time_ms)`,
  `CREATE INDEX audit_events_workflow ON audit_events (workflow_id)`,
  `CREATE TABLE actions (
     version BIGINT PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
     target TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL)`,
  // Per-agent totals of the ingested audit, added to in the transaction that stores the events.
  `CREATE TABLE agent_counters (
     agent_id TEXT PRIMARY KEY, calls BIGINT NOT NULL, denied BIGINT NOT NULL, errors BIGINT NOT NULL,
     spend_usd DOUBLE PRECISION NOT NULL, last_ms BIGINT NOT NULL)`,
  // Approvals bound to a gateway's call (src/approvals/): the request hash, the deadline (of the
  // decision while pending, of its use once approved), how long it stays usable, when it was used.
  `ALTER TABLE approvals ADD COLUMN request_hash TEXT`,
  `ALTER TABLE approvals ADD COLUMN expires_ms BIGINT`,
  `ALTER TABLE approvals ADD COLUMN ttl_seconds INTEGER`,
  `ALTER TABLE approvals ADD COLUMN used_at TEXT`,
  `ALTER TABLE approvals ADD COLUMN gateway TEXT`,
  `CREATE INDEX approvals_key ON approvals (agent_id, request_hash)`,
  // The console's aggregates (store-audit.ts stats: series, totals) read only these columns: a
  // covering index answers them without reading the events' bodies (about 1 KB each).
  `CREATE INDEX audit_events_stats ON audit_events (time_ms, team, agent_id, gateway, decision, outcome, status, cost_usd)`,
  // Hourly totals by gateway and team, added to in the transaction that stores the events (as the
  // agent counters are), so the console's summaries over days and months read a few rows per hour
  // instead of every event (store-audit.ts stats). No team: ''. Filled from the events already held.
  `CREATE TABLE audit_rollup (
     hour_ms BIGINT NOT NULL, gateway TEXT NOT NULL, team TEXT NOT NULL, calls BIGINT NOT NULL, denied BIGINT NOT NULL,
     errors BIGINT NOT NULL, spend_usd DOUBLE PRECISION NOT NULL, PRIMARY KEY (hour_ms, gateway, team))`,
  `INSERT INTO audit_rollup (hour_ms, gateway, team, calls, denied, errors, spend_usd)
   SELECT (time_ms / 3600000) * 3600000, gateway, COALESCE(team, ''), COUNT(*),
     SUM(CASE WHEN decision = 'deny' THEN 1 ELSE 0 END),
     SUM(CASE WHEN outcome IN ('failed', 'interrupted') OR (outcome = 'completed' AND status >= 400) THEN 1 ELSE 0 END),
     COALESCE(SUM(cost_usd), 0)
   FROM audit_events GROUP BY (time_ms / 3600000) * 3600000, gateway, COALESCE(team, '')`,
  // Console sessions (store-sessions.ts), shared by replicas and kept across restarts. Keyed by a
  // SHA-256 of the cookie's value: the store never holds a value a browser could present.
  `CREATE TABLE console_sessions (
     key_hash TEXT PRIMARY KEY, actor TEXT NOT NULL, role TEXT NOT NULL, csrf TEXT NOT NULL, via TEXT NOT NULL,
     created_ms BIGINT NOT NULL, last_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL, id_token TEXT)`,
  `CREATE INDEX console_sessions_expires ON console_sessions (expires_ms)`,
];

/** `?` placeholders as PostgreSQL's `$1, $2, …` (the statements here hold no `?` inside literals). */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** A person's change, run by the store in one transaction with the version bump and the action record. */
export type Mutate = <T>(action: ActionInput, fn: (sql: Sql, version: number, at: string) => Promise<T>) => Promise<T>;
