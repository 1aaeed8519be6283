/** People's API: the fleet audit trail: query, export (JSON lines), verify each gateway's chain. */
import { once } from 'node:events';
import { auditFilter } from '../audit/query.js';
import { notFound } from './errors.js';
import type { PeopleApiDeps, Route } from './routes.js';
import type { AuditQuery } from './store.js';

const PAGE = 1000;

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
        const limit = q.limit ?? Number.POSITIVE_INFINITY;
        // Validated before the first byte: an error after it can only cut the stream short.
        const first = await store.audit({ ...q, limit: Math.min(PAGE, limit) });
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
        let page = first;
        let sent = 0;
        while (page.length > 0) {
          for (const r of page) if (!res.write(`${JSON.stringify(r)}\n`)) await once(res, 'drain');
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
