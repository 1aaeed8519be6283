/**
 * The fleet audit store: every gateway's chain, stored by (gateway, seq) exactly as the gateway
 * hashed it. A batch is checked link by link against the last record held for that gateway (the
 * head in `gateways`, locked for the batch), so the stored chains verify on their own later.
 */
import { canonicalEventJson, chainHash, GENESIS_HASH } from '../audit/canonical.js';
import type { AuditEvent, AuditRecord } from '../audit/event.js';
import { conflict } from './errors.js';
import type { Row, Sql, SqlDriver } from './sql.js';
import type { AuditGroup, AuditQuery, AuditStatsRow, ChainCheck, IngestResult } from './store.js';

const PAGE = 1000;

const GROUP_COLUMN: Record<AuditGroup, string> = { team: 'team', agent: 'agent_id', gateway: 'gateway' };

/** The canonical body a record's hash covers: the record without its chain fields. */
export function recordBody(record: AuditRecord): string {
  const { seq: _seq, prev_hash: _prev, hash: _hash, ...event } = record;
  return canonicalEventJson(event);
}

function recordOf(r: Row): AuditRecord & { gateway: string } {
  return { gateway: String(r.gateway), seq: Number(r.seq), ...(JSON.parse(String(r.body)) as AuditEvent), prev_hash: String(r.prev_hash), hash: String(r.hash) };
}

/** The WHERE clause of a query and its parameters. */
function where(q: AuditQuery): { clause: string; params: unknown[] } {
  const terms: string[] = [];
  const params: unknown[] = [];
  const add = (term: string, value: unknown) => {
    terms.push(term);
    params.push(value);
  };
  if (q.gateway !== undefined) add('gateway = ?', q.gateway);
  if (q.agent !== undefined) add('agent_id = ?', q.agent);
  if (q.team !== undefined) add('team = ?', q.team);
  if (q.decision !== undefined) add('decision = ?', q.decision);
  if (q.trace !== undefined) add('trace_id = ?', q.trace);
  if (q.workflow !== undefined) add('workflow_id = ?', q.workflow);
  if (q.sinceMs !== undefined) add('time_ms >= ?', q.sinceMs);
  if (q.untilMs !== undefined) add('time_ms < ?', q.untilMs);
  if (q.after !== undefined) {
    const { timeMs, gateway, seq } = q.after;
    terms.push('(time_ms > ? OR (time_ms = ? AND (gateway > ? OR (gateway = ? AND seq > ?))))');
    params.push(timeMs, timeMs, gateway, gateway, seq);
  }
  return { clause: terms.length === 0 ? '' : `WHERE ${terms.join(' AND ')}`, params };
}

/** A call that failed: the gateway or the upstream erred, or it was cut short. Denials are counted apart. */
const isError = (r: AuditRecord) => r.outcome === 'failed' || r.outcome === 'interrupted' || (r.outcome === 'completed' && (r.status ?? 0) >= 400);

/** Adds a batch's stored records to the per-agent totals (one upsert per agent of the batch). */
async function count(sql: Sql, stored: readonly AuditRecord[]): Promise<void> {
  const byAgent = new Map<string, { calls: number; denied: number; errors: number; spend: number; last: number }>();
  for (const r of stored) {
    if (r.agent_id === null) continue;
    const c = byAgent.get(r.agent_id) ?? { calls: 0, denied: 0, errors: 0, spend: 0, last: 0 };
    c.calls += 1;
    if (r.decision === 'deny') c.denied += 1;
    if (isError(r)) c.errors += 1;
    c.spend += r.cost_usd ?? 0;
    c.last = Math.max(c.last, Date.parse(r.time));
    byAgent.set(r.agent_id, c);
  }
  for (const [agent, c] of byAgent) {
    await sql.run(
      `INSERT INTO agent_counters (agent_id, calls, denied, errors, spend_usd, last_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (agent_id) DO UPDATE SET calls = agent_counters.calls + excluded.calls, denied = agent_counters.denied + excluded.denied,
         errors = agent_counters.errors + excluded.errors, spend_usd = agent_counters.spend_usd + excluded.spend_usd,
         last_ms = CASE WHEN excluded.last_ms > agent_counters.last_ms THEN excluded.last_ms ELSE agent_counters.last_ms END`,
      [agent, c.calls, c.denied, c.errors, c.spend, c.last],
    );
  }
}

/** The rollup's bucket: an hour (sql.ts audit_rollup). */
export const ROLLUP_MS = 3_600_000;

/** Adds a batch's stored records to the hourly rollup of its gateway (one upsert per hour and team of the batch). */
async function rollup(sql: Sql, gateway: string, stored: readonly AuditRecord[]): Promise<void> {
  const byKey = new Map<string, { hour: number; team: string; calls: number; denied: number; errors: number; spend: number }>();
  for (const r of stored) {
    const hour = Math.floor(Date.parse(r.time) / ROLLUP_MS) * ROLLUP_MS;
    const team = r.team ?? '';
    const k = `${hour} ${team}`;
    let c = byKey.get(k);
    if (c === undefined) {
      c = { hour, team, calls: 0, denied: 0, errors: 0, spend: 0 };
      byKey.set(k, c);
    }
    c.calls += 1;
    if (r.decision === 'deny') c.denied += 1;
    if (isError(r)) c.errors += 1;
    c.spend += r.cost_usd ?? 0;
  }
  for (const c of byKey.values()) {
    await sql.run(
      `INSERT INTO audit_rollup (hour_ms, gateway, team, calls, denied, errors, spend_usd) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (hour_ms, gateway, team) DO UPDATE SET calls = audit_rollup.calls + excluded.calls, denied = audit_rollup.denied + excluded.denied,
         errors = audit_rollup.errors + excluded.errors, spend_usd = audit_rollup.spend_usd + excluded.spend_usd`,
      [c.hour, gateway, c.team, c.calls, c.denied, c.errors, c.spend],
    );
  }
}

/** True when the rollup can answer a stats query: filtered and grouped only by time, gateway and team, in whole-hour buckets. */
const rollable = (q: AuditQuery, opts: { by?: AuditGroup; bucketMs?: number }) =>
  q.agent === undefined &&
  q.decision === undefined &&
  q.trace === undefined &&
  q.workflow === undefined &&
  q.after === undefined &&
  opts.by !== 'agent' &&
  (opts.bucketMs === undefined || (opts.bucketMs >= ROLLUP_MS && opts.bucketMs % ROLLUP_MS === 0));

/** Sums rows of the same group and bucket (the rollup's whole hours and the events at the edges), ordered by bucket then group. */
function merge(parts: AuditStatsRow[][]): AuditStatsRow[] {
  const out = new Map<string, AuditStatsRow>();
  for (const rows of parts) {
    for (const r of rows) {
      const k = `${r.t} ${r.key === null ? '\u0000' : `=${r.key}`}`;
      const held = out.get(k);
      if (held === undefined) out.set(k, { ...r });
      else {
        held.calls += r.calls;
        held.denied += r.denied;
        held.errors += r.errors;
        held.spendUsd += r.spendUsd;
      }
    }
  }
  return [...out.values()].sort((a, b) => a.t - b.t || (a.key === b.key ? 0 : a.key === null ? -1 : b.key === null ? 1 : a.key < b.key ? -1 : 1));
}

const statsRow = (r: Row): AuditStatsRow => ({
  key: r.k === null ? null : String(r.k),
  t: Number(r.t),
  calls: Number(r.calls),
  denied: Number(r.denied),
  errors: Number(r.errors),
  spendUsd: Number(r.spend),
});

export function createAuditStatements(driver: SqlDriver) {
  async function store(sql: Sql, gateway: string, r: AuditRecord, body: string): Promise<void> {
    await sql.run(
      `INSERT INTO audit_events (gateway, seq, id, time_ms, agent_id, team, decision, outcome, status, workflow_id, trace_id, cost_usd, body, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [gateway, r.seq, r.id, Date.parse(r.time), r.agent_id, r.team, r.decision, r.outcome, r.status, r.workflow_id, r.trace_id, r.cost_usd, body, r.prev_hash, r.hash],
    );
  }

  async function eventStats(q: AuditQuery, opts: { by?: AuditGroup; bucketMs?: number }): Promise<AuditStatsRow[]> {
    const { clause, params } = where(q);
    const key = opts.by === undefined ? 'NULL' : GROUP_COLUMN[opts.by];
    // Integer division in both SQLite and PostgreSQL (bigint / bigint); the bucket is an integer of ms.
    const bucket = opts.bucketMs === undefined ? '0' : `(time_ms / ${Math.floor(opts.bucketMs)}) * ${Math.floor(opts.bucketMs)}`;
    const rows = await driver.all(
      `SELECT ${key} AS k, ${bucket} AS t, COUNT(*) AS calls,
         SUM(CASE WHEN decision = 'deny' THEN 1 ELSE 0 END) AS denied,
         SUM(CASE WHEN outcome IN ('failed', 'interrupted') OR (outcome = 'completed' AND status >= 400) THEN 1 ELSE 0 END) AS errors,
         COALESCE(SUM(cost_usd), 0) AS spend
       FROM audit_events ${clause} GROUP BY 1, 2 ORDER BY 2, 1`,
      params,
    );
    return rows.map(statsRow);
  }

  /** The rollup's hours in [first, end) (either side open when undefined). */
  async function rollupStats(q: AuditQuery, opts: { by?: AuditGroup; bucketMs?: number }, first: number | undefined, end: number | undefined): Promise<AuditStatsRow[]> {
    const terms: string[] = [];
    const params: unknown[] = [];
    const add = (term: string, value: unknown) => {
      terms.push(term);
      params.push(value);
    };
    if (q.gateway !== undefined) add('gateway = ?', q.gateway);
    if (q.team !== undefined) add('team = ?', q.team);
    if (first !== undefined) add('hour_ms >= ?', first);
    if (end !== undefined) add('hour_ms < ?', end);
    const key = opts.by === 'team' ? "NULLIF(team, '')" : opts.by === 'gateway' ? 'gateway' : 'NULL';
    const bucket = opts.bucketMs === undefined ? '0' : `(hour_ms / ${Math.floor(opts.bucketMs)}) * ${Math.floor(opts.bucketMs)}`;
    const rows = await driver.all(
      `SELECT ${key} AS k, ${bucket} AS t, SUM(calls) AS calls, SUM(denied) AS denied, SUM(errors) AS errors, COALESCE(SUM(spend_usd), 0) AS spend
       FROM audit_rollup ${terms.length === 0 ? '' : `WHERE ${terms.join(' AND ')}`} GROUP BY 1, 2`,
      params,
    );
    return rows.map(statsRow);
  }

  return {
    ingest: (gateway: string, records: readonly AuditRecord[]) =>
      driver.tx(async (sql): Promise<IngestResult> => {
        const [head] = await sql.all<{ audit_seq: number; audit_hash: string }>(`SELECT audit_seq, audit_hash FROM gateways WHERE id = ?${driver.lockClause}`, [gateway]);
        if (head === undefined) throw conflict(`gateway ${gateway} has not said hello`);
        let seq = Number(head.audit_seq);
        let hash = head.audit_hash;
        const result: IngestResult = { acked: seq, stored: 0, duplicates: 0, refused: null };
        const stored: AuditRecord[] = [];
        for (const r of records) {
          if (r.seq <= seq) {
            const [held] = await sql.all<{ hash: string }>('SELECT hash FROM audit_events WHERE gateway = ? AND seq = ?', [gateway, r.seq]);
            if (held !== undefined && held.hash === r.hash) {
              result.duplicates += 1;
              continue;
            }
            result.refused = { kind: 'broken', seq: r.seq, message: `record seq ${r.seq} differs from the record held at that seq` };
            break;
          }
          if (r.seq > seq + 1) {
            result.refused = { kind: 'gap', expected: seq + 1 };
            break;
          }
          const body = recordBody(r);
          if (r.prev_hash !== hash) {
            result.refused = { kind: 'broken', seq: r.seq, message: `record seq ${r.seq} does not link to record seq ${seq} (prev_hash ${r.prev_hash}, held ${hash})` };
            break;
          }
          if (chainHash(r.prev_hash, r.seq, body) !== r.hash) {
            result.refused = { kind: 'broken', seq: r.seq, message: `record seq ${r.seq} does not match its hash (modified)` };
            break;
          }
          await store(sql, gateway, r, body);
          seq = r.seq;
          hash = r.hash;
          stored.push(r);
        }
        result.stored = stored.length;
        if (stored.length > 0) {
          await sql.run('UPDATE gateways SET audit_seq = ?, audit_hash = ? WHERE id = ?', [seq, hash, gateway]);
          await count(sql, stored);
          await rollup(sql, gateway, stored);
        }
        result.acked = seq;
        return result;
      }),

    /** Matching records, oldest first (newest first with `newestFirst`), across gateways. */
    async query(q: AuditQuery): Promise<(AuditRecord & { gateway: string })[]> {
      const { clause, params } = where(q);
      const order = q.newestFirst ? 'DESC' : 'ASC';
      const rows = await driver.all(`SELECT gateway, seq, body, prev_hash, hash FROM audit_events ${clause} ORDER BY time_ms ${order}, gateway ${order}, seq ${order} LIMIT ?`, [
        ...params,
        q.limit ?? PAGE,
      ]);
      return rows.map(recordOf);
    },

    /**
     * Totals per group and time bucket. From the events (one aggregate over the indexed time range;
     * the SQL is the same in both dialects), or, when the query filters and groups only by time,
     * gateway and team, from the hourly rollup for the whole hours it spans plus the events of the
     * partial hours at its edges: a month's totals read a few rows per hour, not every event.
     */
    async stats(q: AuditQuery, opts: { by?: AuditGroup; bucketMs?: number }): Promise<AuditStatsRow[]> {
      if (!rollable(q, opts)) return eventStats(q, opts);
      const lo = q.sinceMs;
      const hi = q.untilMs;
      const first = lo === undefined ? undefined : Math.ceil(lo / ROLLUP_MS) * ROLLUP_MS;
      const end = hi === undefined ? undefined : Math.floor(hi / ROLLUP_MS) * ROLLUP_MS;
      if (first !== undefined && end !== undefined && first >= end) return eventStats(q, opts);
      const parts = [await rollupStats(q, opts, first, end)];
      if (lo !== undefined && first !== undefined && lo < first) parts.push(await eventStats({ ...q, sinceMs: lo, untilMs: first }, opts));
      if (hi !== undefined && end !== undefined && end < hi) parts.push(await eventStats({ ...q, sinceMs: end, untilMs: hi }, opts));
      return merge(parts);
    },

    /** Walks one gateway's stored chain from genesis to the head it acknowledged. */
    async verify(gateway: string): Promise<ChainCheck> {
      const [head] = await driver.all<{ audit_seq: number; audit_hash: string }>('SELECT audit_seq, audit_hash FROM gateways WHERE id = ?', [gateway]);
      let seq = 0;
      let hash = GENESIS_HASH;
      let checked = 0;
      const fail = (at: number, message: string): ChainCheck => ({ gateway, ok: false, checked, headSeq: seq, headHash: hash, broken: { seq: at, message } });
      for (;;) {
        const rows = await driver.all('SELECT seq, body, prev_hash, hash FROM audit_events WHERE gateway = ? AND seq > ? ORDER BY seq LIMIT ?', [gateway, seq, PAGE]);
        for (const r of rows) {
          const at = Number(r.seq);
          if (at !== seq + 1) return fail(seq + 1, `records missing: the chain jumps from seq ${seq} to ${at}`);
          if (r.prev_hash !== hash) return fail(at, `record seq ${at} does not link to record seq ${seq}`);
          if (chainHash(hash, at, String(r.body)) !== r.hash || canonicalEventJson(JSON.parse(String(r.body))) !== r.body)
            return fail(at, `record seq ${at} was modified: its content does not match its hash`);
          seq = at;
          hash = String(r.hash);
          checked += 1;
        }
        if (rows.length < PAGE) break;
      }
      if (head !== undefined && (Number(head.audit_seq) !== seq || head.audit_hash !== hash)) {
        return fail(seq + 1, `the head acknowledged to the gateway (seq ${head.audit_seq}) is not the last record stored (seq ${seq})`);
      }
      return { gateway, ok: true, checked, headSeq: seq, headHash: hash, broken: null };
    },
  };
}
