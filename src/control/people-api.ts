/**
 * The people's API under /api (protocol.ts lists the routes): one table of routes, each with the
 * role it needs. Every change is one store mutation (recorded as an action with who and why), then
 * the new snapshot is pushed to the gateways before the answer goes out. The web console is served
 * under /console (console.ts); its pages call these routes with a session cookie instead of a bearer
 * token, and every change they make carries the session's CSRF token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuditQueryError } from '../errors.js';
import { type PeopleAuth, type Person, requireRole } from './auth.js';
import type { Console } from './console.js';
import { badRequest, ControlHttpError, notFound } from './errors.js';
import { bearer, readJson, sendError, sendJson } from './http.js';
import type { ControlMetrics } from './metrics.js';
import type { PeopleApiDeps, Route, RouteContext, RouteResult } from './routes.js';
import { agentRoutes } from './routes-agents.js';
import { auditRoutes } from './routes-audit.js';
import { liveRoutes } from './routes-live.js';
import { templateRoutes } from './routes-templates.js';

export interface PeopleApiOptions extends PeopleApiDeps {
  /** A bearer credential → the person. */
  authenticate: PeopleAuth;
  /** The web console (null: not served, and no cookie is read). */
  console: Console | null;
  metrics: Pick<ControlMetrics, 'registry'>;
  maxBodyBytes: number;
  /** How often `GET /api/live` pushes the fleet summary. */
  liveMs: number;
}

export function createPeopleApi(opts: PeopleApiOptions) {
  const routes: Route[] = [...agentRoutes(opts), ...templateRoutes(opts), ...auditRoutes(opts), ...liveRoutes(opts)];

  /** The bearer credential when there is one; else the console's session cookie (CSRF-checked on a change). */
  async function personOf(req: IncomingMessage): Promise<Person> {
    if (req.headers.authorization === undefined && opts.console !== null) {
      const p = await opts.console.person(req, req.method !== 'GET' && req.method !== 'HEAD');
      if (p !== null) return p;
    }
    return opts.authenticate(bearer(req));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://control');
    if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok', store: opts.store.dialect, version: opts.hub.version() });
    // Open like /healthz, for the scrapers: the people listener is kept off the agents' network.
    if (url.pathname === '/metrics') return sendMetrics(req, res);
    if (opts.console !== null && (url.pathname === '/console' || url.pathname.startsWith('/console/'))) return opts.console.handle(req, res, url.pathname);
    const matching = routes.map((r) => ({ r, m: r.path.exec(url.pathname) })).filter((x) => x.m !== null);
    if (matching.length === 0) throw notFound(`no route ${url.pathname}`);
    const hit = matching.find((x) => x.r.method === req.method);
    if (hit === undefined) throw new ControlHttpError('control_method_not_allowed', `${url.pathname} takes ${[...new Set(matching.map((x) => x.r.method))].join(', ')}`);
    const person = await personOf(req);
    requireRole(person, hit.r.role);
    let params: string[];
    try {
      params = hit.m!.slice(1).map((p) => decodeURIComponent(p));
    } catch {
      throw badRequest('malformed percent-encoding in the path');
    }
    const ctx: RouteContext = {
      person,
      params,
      query: url.searchParams,
      res,
      body: async () => {
        const b = await readJson(req, opts.maxBodyBytes);
        if (typeof b !== 'object' || b === null || Array.isArray(b)) throw badRequest('request body: expected a JSON object');
        return b as Record<string, unknown>;
      },
    };
    let result: RouteResult;
    try {
      result = await hit.r.handle(ctx);
    } catch (err) {
      if (err instanceof AuditQueryError) throw badRequest(err.message);
      throw err;
    }
    if (result === null) return;
    // The change is committed: a failed push is retried by the version poll, not reported as a failed change.
    if (req.method !== 'GET') await opts.hub.refresh().catch((err: unknown) => opts.log.warn('snapshot push after a change failed (the version poll retries it)', { err }));
    sendJson(res, result.status ?? 200, result.body);
  }

  async function sendMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new ControlHttpError('control_method_not_allowed', '/metrics takes GET or HEAD');
    const { registry } = opts.metrics;
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => sendError(res, err, opts.log));
  };
}
