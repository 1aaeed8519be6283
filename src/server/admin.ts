import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { approvalsRoute, isApprovalsPath } from '../approvals/admin-routes.js';
import type { LocalApprovalStore } from '../approvals/local-store.js';
import { auditFilter } from '../audit/query.js';
import type { AuditFilter, AuditStore } from '../audit/store.js';
import { verifyChain } from '../audit/verify.js';
import type { IdentityConfig, ListenConfig } from '../config/schema.js';
import { AuditQueryError, GatewayError, renderError, toGatewayError } from '../errors.js';
import { extractToken } from '../identity/authenticate.js';
import type { AgentRegistry } from '../identity/registry.js';
import type { SuspensionStore } from '../identity/suspensions.js';
import type { TokenVerifier } from '../identity/types.js';
import { unauthenticated } from '../identity/unauthenticated.js';
import type { WorkloadToken } from '../identity/workload-token.js';
import type { Logger } from '../log.js';
import type { BudgetAdmin } from '../metering/admin.js';
import { hostCheck } from '../pipeline/request-checks.js';
import type { PolicyManager } from '../policy/manager.js';
import type { Metrics } from '../telemetry/metrics.js';

export interface AdminOptions {
  /** The admin listener's config: its Host and Origin allow-lists. */
  listen: ListenConfig;
  metrics: Metrics;
  log: Logger;
  /** Null when ready, else why not (starting, shutting down, …). */
  notReady(): string | null;
  status(): Record<string, unknown>;
  verifier(): TokenVerifier | null;
  /** Sidecar mode: the workload's token (src/identity/workload-token.ts). */
  workload?(): WorkloadToken | null;
  identity(): IdentityConfig;
  registry(): AgentRegistry | null;
  suspensions(): SuspensionStore;
  policy(): PolicyManager | null;
  /** The audit store (null when audit is off). */
  audit?(): AuditStore | null;
  /** Budgets (null when metering is off). */
  budgets?(): BudgetAdmin | null;
  /** The approvals queue (null under a control plane, which keeps it). */
  approvals?(): LocalApprovalStore | null;
  /** The role that may list and decide approvals besides the admin role (config `approvals.approverRole`). */
  approverRole?(): string;
}

const AGENT_ACTION = /^\/admin\/agents\/([^/]+)\/(suspend|resume)$/;
const AGENT = /^\/admin\/agents\/([^/]+)$/;
const BUDGET = /^\/admin\/budgets\/([^/]+)$/;
const BUDGET_RESET = /^\/admin\/budgets\/([^/]+)\/reset$/;
const MAX_ADMIN_BODY = 64 * 1024;

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
/**
 * The admin listener, kept off the proxy port. `/healthz`, `/readyz` and `/metrics` are open (probes
 * and scrapers); everything under `/admin/` needs a JWT for the admin audience carrying the admin role
 * (`/admin/approvals…`: the admin or the approver role).
 */
export function createAdminServer(opts: AdminOptions): Server {
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
    res.end(text);
  };
  const fail = (res: ServerResponse, err: GatewayError) => {
    res.writeHead(err.status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-aos-error-code': err.code, ...err.headers });
    res.end(renderError(err, 'openai'));
  };

  /** The admin's subject, or a thrown 401/403. `also`: another role that grants this route. */
  const authorize = async (req: IncomingMessage, also: string | null = null): Promise<string> => {
    const verifier = opts.verifier();
    const token = extractToken(req);
    if (token === null) throw unauthenticated('missing admin token: send "Authorization: Bearer <admin token>"', false);
    if (verifier === null) throw unauthenticated('no token issuer is configured');
    const verified = await verifier.verify(token, 'admin');
    const role = opts.identity().adminRole;
    const roles = verified.claims.roles;
    const granted = (r: string) => (Array.isArray(roles) ? roles.includes(r) : typeof roles === 'string' && roles.split(' ').includes(r));
    if (!granted(role) && (also === null || !granted(also))) throw new GatewayError('aos_policy_denied', `the admin API needs the "${role}" role${also === null ? '' : ` (or "${also}")`}`);
    return verified.subject;
  };

  const agentView = (id: string) => {
    const registry = opts.registry();
    const agent = registry?.agents.get(id) ?? null;
    const suspension =
      opts
        .suspensions()
        .list()
        .find((s) => s.agentId === id) ?? null;
    return agent === null && suspension === null ? null : { id, ...agent, status: suspension === null ? 'active' : 'suspended', suspension };
  };

  // Longer than most functions: the admin API's route table, one short branch per endpoint.
  const routes = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const method = req.method ?? 'GET';
    if (isApprovalsPath(path)) {
      // People who decide approvals need not be admins: the approver role is enough here, and only here.
      const approver = await authorize(req, opts.approverRole?.() ?? 'approver');
      const q = new URL(req.url ?? '/', 'http://admin').searchParams;
      const answer = await approvalsRoute(opts.approvals?.() ?? null, method, path, q, approver, () => readJson(req));
      if (answer === null) throw new GatewayError('aos_route_not_found', `no admin endpoint ${method} ${path}`);
      if (method === 'POST') opts.log.warn('approval decided', { path, actor: approver, approval: (answer.body as { approval?: { id: string; status: string } }).approval });
      return json(res, answer.status, answer.body);
    }
    const actor = await authorize(req);
    if (path === '/admin/agents' && method === 'GET') {
      const ids = new Set([
        ...(opts.registry()?.agents.keys() ?? []),
        ...opts
          .suspensions()
          .list()
          .map((s) => s.agentId),
      ]);
      return json(res, 200, { agents: [...ids].sort().map(agentView) });
    }
    if (path === '/admin/identity' && method === 'GET') return json(res, 200, { issuers: opts.verifier()?.status() ?? [], workload: opts.workload?.()?.status() ?? null });
    if (path === '/admin/policy' && method === 'GET') {
      const policy = opts.policy();
      return json(res, 200, policy === null ? { mode: 'off' } : { mode: 'enforce', ...policy.status() });
    }
    if (path === '/admin/policy/reload' && method === 'POST') {
      const policy = opts.policy();
      if (policy !== null) await policy.reload();
      return json(res, 200, policy === null ? { mode: 'off' } : { mode: 'enforce', ...policy.status() });
    }
    if ((path === '/admin/audit' || path === '/admin/audit/verify') && method === 'GET') {
      const store = opts.audit?.() ?? null;
      if (store === null) return json(res, 200, { mode: 'off' });
      if (path === '/admin/audit/verify') return json(res, 200, verifyChain(store));
      const q = new URL(req.url ?? '/', 'http://admin').searchParams;
      let filter: AuditFilter;
      try {
        filter = auditFilter({
          agent: q.get('agent') ?? undefined,
          team: q.get('team') ?? undefined,
          decision: q.get('decision') ?? undefined,
          since: q.get('since') ?? undefined,
          until: q.get('until') ?? undefined,
          trace: q.get('trace') ?? undefined,
          workflow: q.get('workflow') ?? undefined,
          limit: q.get('limit') ?? '100',
        });
      } catch (err) {
        if (!(err instanceof AuditQueryError)) throw err;
        throw new GatewayError('aos_bad_request', err.param === null ? err.detail : `${err.param}: ${err.detail}`);
      }
      filter.limit = Math.min(filter.limit ?? 100, 1000);
      filter.newestFirst = q.get('order') !== 'asc';
      return json(res, 200, { events: store.query(filter) });
    }
    if (path === '/admin/budgets' || path.startsWith('/admin/budgets/')) {
      const budgets = opts.budgets?.() ?? null;
      if (budgets === null) return json(res, 200, { mode: 'off', budgets: [] });
      if (path === '/admin/budgets' && method === 'GET') {
        const scope = new URL(req.url ?? '/', 'http://admin').searchParams.get('scope');
        return json(res, 200, { mode: 'enforce', ...(await budgets.show(scope ?? undefined)) });
      }
      let b = BUDGET.exec(path);
      if (b !== null && method === 'GET') return json(res, 200, { mode: 'enforce', ...(await budgets.show(decodeURIComponent(b[1]))) });
      if (b !== null && (method === 'PUT' || method === 'POST')) {
        const scope = decodeURIComponent(b[1]);
        const body = await readJson(req);
        await budgets.set(scope, body);
        opts.log.warn('budget limits set', { scope, actor, limits: body });
        return json(res, 200, { mode: 'enforce', ...(await budgets.show(scope)) });
      }
      b = BUDGET_RESET.exec(path);
      if (b !== null && method === 'POST') {
        const scope = decodeURIComponent(b[1]);
        const body = await readJson(req);
        const n = await budgets.reset(scope, typeof body.window === 'string' ? body.window : undefined);
        opts.log.warn('budget reset', { scope, actor, window: body.window ?? 'all', counters: n });
        return json(res, 200, { mode: 'enforce', reset: n, ...(await budgets.show(scope)) });
      }
    }
    let m = AGENT.exec(path);
    if (m !== null && method === 'GET') {
      const view = agentView(decodeURIComponent(m[1]));
      return view === null ? json(res, 404, { error: { message: 'no such agent', code: 'aos_route_not_found' } }) : json(res, 200, view);
    }
    m = AGENT_ACTION.exec(path);
    if (m !== null && method === 'POST') {
      const id = decodeURIComponent(m[1]);
      if (m[2] === 'suspend') {
        const body = await readJson(req);
        const reason = typeof body.reason === 'string' && body.reason !== '' ? body.reason.slice(0, 500) : 'suspended by an administrator';
        opts.suspensions().suspend(id, reason, actor);
        opts.log.warn('agent suspended', { agent: id, actor, reason });
      } else {
        opts.suspensions().resume(id);
        opts.log.info('agent resumed', { agent: id, actor });
      }
      return json(res, 200, agentView(id) ?? { id, status: 'active', suspension: null });
    }
    throw new GatewayError('aos_route_not_found', `no admin endpoint ${method} ${path}`);
  };

  const checkHost = hostCheck(opts.listen);
  return createServer({ requireHostHeader: true }, (req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    const refused = checkHost(req.headers);
    if (refused !== null) return fail(res, refused);
    const path = (req.url ?? '/').split('?')[0];
    const method = req.method ?? 'GET';
    if (path === '/healthz' || path === '/readyz' || path === '/metrics') {
      if (method !== 'GET' && method !== 'HEAD') return json(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
      if (path === '/healthz') return json(res, 200, { status: 'ok' });
      if (path === '/readyz') {
        const why = opts.notReady();
        return why === null ? json(res, 200, { status: 'ready', ...opts.status() }) : json(res, 503, { status: 'not ready', reason: why });
      }
      opts.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
          res.end(text);
        },
        (err: Error) => json(res, 500, { error: err.message }),
      );
      return;
    }
    routes(req, res, path).catch((err) => {
      const e = toGatewayError(err);
      if (e.code === 'aos_internal_error') opts.log.error('admin request failed', { path, err: e.cause });
      if (!res.headersSent) fail(res, e);
    });
  });
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_ADMIN_BODY) {
        req.destroy();
        reject(new GatewayError('aos_payload_too_large', 'admin request body too large'));
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (size === 0) return resolve({});
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        resolve(v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {});
      } catch {
        reject(new GatewayError('aos_bad_request', 'the request body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}
