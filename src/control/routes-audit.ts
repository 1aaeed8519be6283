/**
 * People's API: the fleet audit trail: query, export (JSON lines or CSV), verify each gateway's
 * chain, and the aggregates the console draws (time series, totals by team, agent or gateway).
 */
import { once } from 'node:events';
import type { AuditRecord } from '../audit/event.js';
import { auditFilter } from '../audit/query.js';
import { badRequest, notFound } from './errors.js';
import { field } from './http.js';
import type { PeopleApiDeps, Route } from './routes.js';
import type { AuditGroup, AuditQuery } from './store.js';

const PAGE = 1000;
/** Bucket sizes a series picks from (seconds): the smallest that keeps it within MAX_POINTS / 4… MAX_POINTS. */
const BUCKETS = [10, 60, 300, 900, 3600, 6 * 3600, 86_400];
const MAX_POINTS = 2000;
const GROUPS: readonly AuditGroup[] = ['team', 'agent', 'gateway'];

/** The CSV columns of an export: the fields people filter and sum on; the JSON lines export has everything. */
const CSV_COLUMNS = [
  'id',
  'time',
  'gateway',
  'seq',
  'agent_id',
  'team',
  'template',
  'template_version',
  'workflow_id',
  'trace_id',
  'method',
  'path',
  'route',
  'kind',
  'model',
  'tool',
  'decision',
  'reasons',
  'outcome',
  'status',
  'error_code',
  'input_tokens',
  'output_tokens',
  'cost_usd',
  'total_ms',
  'upstream_ms',
  'hash',
] as const;

/** One CSV cell (RFC 4180), with a leading = + - @ neutralized so a spreadsheet does not run it as a formula. */
function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = Array.isArray(v) ? v.join('; ') : String(v);
  if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

const csvLine = (r: AuditRecord & { gateway: string }) => `${CSV_COLUMNS.map((c) => csvCell((r as unknown as Record<string, unknown>)[c])).join(',')}\r\n`;

function queryOf(q: URLSearchParams, defaultLimit: number | undefined): AuditQuery {
  const get = (k: string) => q.get(k) ?? undefined;
  const filter: AuditQuery = auditFilter({
    agent: get('agent'),
    team: get('team'),
    decision: get('decision'),
    since: get('since'),
    until: get('until'),
    trace: get('trace'),
    workflow: get('workflow'),
    limit: get('limit'),
  });
  if (q.has('gateway')) filter.gateway = q.get('gateway')!;
  if (filter.limit === undefined && defaultLimit !== undefined) filter.limit = defaultLimit;
  return filter;
}

export function auditRoutes({ store }: PeopleApiDeps): Route[] {
  return [
    {
      method: 'GET',
      path: /^\/api\/audit$/,
      role: 'viewer',
      async handle({ query }) {
        const q = queryOf(query, 100);
        q.newestFirst = query.get('order') === 'newest';
        return { body: { events: await store.audit({ ...q, limit: Math.min(q.limit!, 10_000) }) } };
      },
    },
    {
      method: 'GET',
      path: /^\/api\/audit\/export$/,
      role: 'viewer',
      async handle({ query, res }) {
        const q = queryOf(query, undefined);
        const format = query.get('format') ?? 'jsonl';
        if (format !== 'jsonl' && format !== 'csv') throw badRequest('format: expected jsonl or csv');
        const limit = q.limit ?? Number.POSITIVE_INFINITY;
        // Validated before the first byte: an error after it can only cut the stream short.
        const first = await store.audit({ ...q, limit: Math.min(PAGE, limit) });
        const csv = format === 'csv';
        res.writeHead(200, {
          'content-type': csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
          'content-disposition': `attachment; filename="aos-audit.${csv ? 'csv' : 'jsonl'}"`,
          'cache-control': 'no-store',
        });
        if (csv) res.write(`${CSV_COLUMNS.join(',')}\r\n`);
        const line = csv ? csvLine : (r: AuditRecord) => `${JSON.stringify(r)}\n`;
        let page = first;
        let sent = 0;
        while (page.length > 0) {
          for (const r of page) if (!res.write(line(r))) await once(res, 'drain');
          sent += page.length;
          if (page.length < PAGE || sent >= limit || res.destroyed) break;
          const last = page[page.length - 1];
          page = await store.audit({ ...q, limit: Math.min(PAGE, limit - sent), after: { timeMs: Date.parse(last.time), gateway: last.gateway, seq: last.seq } });
        }
        res.end();
        return null;
      },
    },
    {
      method: 'GET',
      path: /^\/api\/audit\/series$/,
      role: 'viewer',
      async handle({ query }) {
        const q = queryOf(query, undefined);
        const until = q.untilMs ?? Date.now();
        const since = q.sinceMs ?? until - 3_600_000;
        if (since >= until) throw badRequest('since: must be before until');
        const span = until - since;
        const seconds = query.has('bucket') ? field.int(query.get('bucket'), 'bucket', 1) : (BUCKETS.find((b) => span / (b * 1000) <= MAX_POINTS / 4) ?? 86_400);
        const bucketMs = seconds * 1000;
        const from = Math.floor(since / bucketMs) * bucketMs;
        const points = Math.ceil((until - from) / bucketMs);
        if (points > MAX_POINTS) throw badRequest(`bucket: ${points} buckets between since and until, ${MAX_POINTS} at most: a larger bucket`);
        const rows = await store.auditStats({ ...q, sinceMs: from, untilMs: until, limit: undefined }, { bucketMs });
        const at = new Map(rows.map((r) => [r.t, r]));
        const series = Array.from({ length: points }, (_, i) => {
          const t = from + i * bucketMs;
          const r = at.get(t);
          return { t, calls: r?.calls ?? 0, denied: r?.denied ?? 0, errors: r?.errors ?? 0, spendUsd: r?.spendUsd ?? 0 };
        });
        return { body: { bucketSeconds: seconds, since: new Date(from).toISOString(), until: new Date(until).toISOString(), points: series } };
      },
    },
    {
      method: 'GET',
      path: /^\/api\/audit\/summary$/,
      role: 'viewer',
      async handle({ query }) {
        const q = queryOf(query, undefined);
        const by = query.get('by') ?? undefined;
        if (by !== undefined && !GROUPS.includes(by as AuditGroup)) throw badRequest(`by: expected one of ${GROUPS.join(', ')}`);
        const rows = await store.auditStats({ ...q, limit: undefined }, { by: by as AuditGroup | undefined });
        const total = { calls: 0, denied: 0, errors: 0, spendUsd: 0 };
        for (const r of rows) {
          total.calls += r.calls;
          total.denied += r.denied;
          total.errors += r.errors;
          total.spendUsd += r.spendUsd;
        }
        return {
          body: {
            by: by ?? null,
            since: q.sinceMs === undefined ? null : new Date(q.sinceMs).toISOString(),
            until: q.untilMs === undefined ? null : new Date(q.untilMs).toISOString(),
            total,
            rows: by === undefined ? [] : rows.map(({ t: _t, ...r }) => r).sort((a, b) => b.spendUsd - a.spendUsd || b.calls - a.calls || String(a.key).localeCompare(String(b.key))),
          },
        };
      },
    },
    {
      method: 'GET',
      path: /^\/api\/audit\/verify$/,
      role: 'viewer',
      async handle({ query }) {
        const one = query.get('gateway');
        if (one !== null && (await store.gateway(one)) === null) throw notFound(`no gateway ${one}`);
        const ids = one !== null ? [one] : (await store.gateways()).map((g) => g.id);
        const gateways = [];
        for (const id of ids) gateways.push(await store.verify(id));
        return { body: { ok: gateways.every((g) => g.ok), gateways } };
      },
    },
  ];
}
