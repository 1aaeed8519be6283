import { AuditQueryError } from '../errors.js';
import type { AuditRecord } from './event.js';
import type { AuditFilter } from './store.js';

/** A time bound: an ISO 8601 date/time, epoch milliseconds, or a duration back from now (`90s`, `15m`, `2h`, `7d`). */
export function parseTime(text: string, now: number = Date.now()): number {
  const t = text.trim();
  const rel = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(t);
  if (rel !== null) return now - Number(rel[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[rel[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  if (/^\d{10,}$/.test(t)) return Number(t);
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) throw new AuditQueryError(null, `expected a time (ISO 8601 like 2026-01-31T12:00:00Z, or a duration back from now like 15m, 2h, 7d), got "${text}"`);
  return ms;
}

const DECISIONS = new Set(['allow', 'deny', 'none']);

/** A filter from query options (CLI flags or admin API query parameters); throws on a bad value. */
export function auditFilter(o: { agent?: string; team?: string; decision?: string; since?: string; until?: string; trace?: string; workflow?: string; limit?: string }, now = Date.now()): AuditFilter {
  const f: AuditFilter = {};
  if (o.agent) f.agent = o.agent;
  if (o.team) f.team = o.team;
  if (o.decision) {
    if (!DECISIONS.has(o.decision)) throw new AuditQueryError('decision', `expected allow, deny or none, got "${o.decision}"`);
    f.decision = o.decision;
  }
  if (o.trace) f.trace = o.trace.toLowerCase();
  if (o.workflow) f.workflow = o.workflow;
  if (o.since) f.sinceMs = parseTime(o.since, now);
  if (o.until) f.untilMs = parseTime(o.until, now);
  if (o.limit !== undefined) {
    const n = Number(o.limit);
    if (!Number.isInteger(n) || n < 1) throw new AuditQueryError('limit', `expected a positive integer, got "${o.limit}"`);
    f.limit = n;
  }
  return f;
}

/** One line per event for people: time, agent, decision/outcome, status, route, model or tool, tokens, cost, id. */
export function formatLine(r: AuditRecord): string {
  const tokens = r.input_tokens === null && r.output_tokens === null ? '-' : `${r.input_tokens ?? '?'}→${r.output_tokens ?? '?'}`;
  const what = r.tool ?? r.model ?? '-';
  const why = r.decision === 'deny' && r.reasons.length > 0 ? `  (${r.reasons.join('; ')})` : '';
  return (
    [
      r.time,
      (r.agent_id ?? '-').padEnd(20),
      `${r.decision}/${r.outcome}`.padEnd(20),
      String(r.status ?? '-').padEnd(3),
      (r.route ?? r.path).padEnd(28),
      what.padEnd(20),
      tokens.padEnd(11),
      r.cost_usd === null ? '-' : `$${r.cost_usd.toFixed(6)}`,
      r.id,
    ].join(' ') + why
  );
}
