/** People's API: the fleet (gateways, agents), suspensions, kill switches, budgets, approvals, actions. */
import { badRequest, notFound } from './errors.js';
import { field } from './http.js';
import type { KillSwitch } from './protocol.js';
import { gatewayViewOf, type PeopleApiDeps, type Route, reasonOf } from './routes.js';

const LIMIT_ID = /^(org|team:[^|]+|agent:[^|]+)\|(usd|tool_calls|requests|tokens)\|(minute|hourly|daily|monthly)$/;
const AGENT_ID = /^[^\s/]{1,256}$/;
const KILL_SCOPES: readonly KillSwitch['scope'][] = ['agent', 'team', 'template', 'all'];

// Longer than most functions: one table of routes, each a few lines.
export function agentRoutes({ store, hub }: PeopleApiDeps): Route[] {
  const gatewayView = gatewayViewOf(hub);
  const action = (actor: string, name: string, target: string, reason: string, detail?: Record<string, unknown>) => ({ actor, action: name, target, reason, detail });

  return [
    {
      method: 'GET',
      path: /^\/api\/gateways$/,
      role: 'viewer',
      handle: async () => ({ body: { fleetVersion: hub.version(), gateways: (await store.gateways()).map(gatewayView) } }),
    },
    {
      method: 'POST',
      path: /^\/api\/gateways\/([^/]+)\/revoke$/,
      role: 'admin',
      async handle({ person, params: [id], body }) {
        const g = await store.revokeGateway(id, action(person.actor, 'gateway.revoke', id, reasonOf(await body())));
        hub.disconnect(id);
        return { body: { gateway: gatewayView(g) } };
      },
    },
    {
      method: 'GET',
      path: /^\/api\/agents$/,
      role: 'viewer',
      async handle() {
        const [agents, active, counters, snapshot] = await Promise.all([store.agents(), store.activeVersions(), store.counters(), hub.snapshot()]);
        const suspended = new Map(snapshot.suspensions.map((s) => [s.agentId, s]));
        const none = { calls: 0, denied: 0, errors: 0, spendUsd: 0, lastCall: null };
        return {
          body: {
            agents: agents.map((a) => ({
              ...a,
              version: a.pinned ?? active.get(a.template) ?? null,
              status: suspended.has(a.id) ? 'suspended' : 'active',
              suspension: suspended.get(a.id) ?? null,
              counters: counters.get(a.id) ?? none,
            })),
          },
        };
      },
    },
    {
      method: 'PUT',
      path: /^\/api\/agents\/([^/]+)$/,
      role: 'admin',
      async handle({ person, params: [id], body }) {
        if (!AGENT_ID.test(id)) throw badRequest('agent id: 1 to 256 characters, no spaces or slashes');
        const b = await body();
        const roles = b.roles ?? [];
        if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string')) throw badRequest('roles: expected a list of strings');
        const owner = b.owner === undefined || b.owner === null ? null : field.string(b, 'owner');
        const agent = {
          id,
          team: field.string(b, 'team', { max: 200 }),
          template: field.string(b, 'template', { max: 200 }),
          pinned: b.version === undefined || b.version === null ? null : field.int(b.version, 'version', 1),
          owner,
          roles: roles as string[],
          labels: field.stringMap(b.labels, 'labels'),
        };
        const reason = typeof b.reason === 'string' && b.reason.trim() !== '' ? b.reason : 'agent registered or changed';
        return { body: { agent: await store.putAgent(agent, action(person.actor, 'agent.put', id, reason, { ...agent })) } };
      },
    },
    {
      method: 'POST',
      path: /^\/api\/agents\/([^/]+)\/(suspend|resume)$/,
      role: 'operator',
      async handle({ person, params: [id, verb], body }) {
        const reason = reasonOf(await body());
        if (verb === 'suspend') return { body: { suspension: await store.suspend(id, action(person.actor, 'agent.suspend', id, reason)) } };
        return { body: { resumed: await store.resume(id, action(person.actor, 'agent.resume', id, reason)) } };
      },
    },
    { method: 'GET', path: /^\/api\/kills$/, role: 'viewer', handle: async () => ({ body: { kills: await store.kills() } }) },
    {
      method: 'POST',
      path: /^\/api\/kills$/,
      role: 'operator',
      async handle({ person, body }) {
        const b = await body();
        const scope = b.scope as KillSwitch['scope'];
        if (!KILL_SCOPES.includes(scope)) throw badRequest(`scope: expected one of ${KILL_SCOPES.join(', ')}`);
        const value = scope === 'all' ? null : field.string(b, 'value', { max: 256 });
        if (scope === 'all' && b.value !== undefined && b.value !== null) throw badRequest('value: a kill switch of scope all covers everything; leave value out');
        const live = (b.live ?? 'cut') as KillSwitch['live'];
        if (live !== 'cut' && live !== 'finish') throw badRequest('live: expected cut or finish');
        const reason = reasonOf(b);
        const target = value === null ? 'all' : `${scope}:${value}`;
        return { status: 201, body: { kill: await store.addKill({ scope, value, live, reason }, action(person.actor, 'kill', target, reason, { live })) } };
      },
    },
    {
      method: 'DELETE',
      path: /^\/api\/kills\/([^/]+)$/,
      role: 'operator',
      async handle({ person, params: [id], body, query }) {
        const reason = reasonOf(query.has('reason') ? { reason: query.get('reason') } : await body());
        return { body: { lifted: await store.liftKill(id, action(person.actor, 'kill.lift', id, reason)) } };
      },
    },
    { method: 'GET', path: /^\/api\/budgets$/, role: 'viewer', handle: async () => ({ body: await store.budgets() }) },
    {
      method: 'PUT',
      path: /^\/api\/budgets\/([^/]+)$/,
      role: 'admin',
      async handle({ person, params: [limitId], body }) {
        if (!LIMIT_ID.test(limitId))
          throw badRequest('limitId: expected <scope>|<kind>|<window>, e.g. team:platform|usd|daily (kinds usd, tool_calls, requests, tokens; windows minute, hourly, daily, monthly)');
        const b = await body();
        if (!('limit' in b)) throw badRequest('limit: a number ≥ 0, or null to remove the override');
        const limit = b.limit;
        if (limit !== null && (typeof limit !== 'number' || !Number.isFinite(limit) || limit < 0)) throw badRequest('limit: a number ≥ 0, or null to remove the override');
        await store.setBudget(limitId, limit, action(person.actor, 'budget.set', limitId, reasonOf(b), { limit }));
        return { body: await store.budgets() };
      },
    },
    {
      method: 'GET',
      path: /^\/api\/approvals$/,
      role: 'viewer',
      handle: async ({ query }) => ({ body: { approvals: await store.approvals(query.get('status') ?? undefined) } }),
    },
    {
      method: 'POST',
      path: /^\/api\/approvals\/([^/]+)\/(approve|deny)$/,
      role: 'approver',
      async handle({ person, params: [id, verb], body }) {
        const decision = verb === 'approve' ? 'approved' : 'denied';
        return { body: { approval: await store.decideApproval(id, decision, action(person.actor, `approval.${verb}`, id, reasonOf(await body()))) } };
      },
    },
    {
      method: 'GET',
      path: /^\/api\/actions$/,
      role: 'viewer',
      async handle({ query }) {
        const limit = query.has('limit') ? field.int(query.get('limit'), 'limit', 1) : 100;
        const before = query.has('before') ? field.int(query.get('before'), 'before', 1) : undefined;
        return { body: { actions: await store.actions({ limit: Math.min(limit, 1000), before }) } };
      },
    },
    { method: 'GET', path: /^\/api\/snapshot$/, role: 'viewer', handle: async () => ({ body: await hub.snapshot() }) },
    {
      method: 'GET',
      path: /^\/api\/agents\/([^/]+)$/,
      role: 'viewer',
      async handle({ params: [id] }) {
        const agent = await store.agent(id);
        if (agent === null) throw notFound(`no agent ${id}`);
        const [active, counters, snapshot] = await Promise.all([store.activeVersions(), store.counters(), hub.snapshot()]);
        const suspension = snapshot.suspensions.find((s) => s.agentId === id) ?? null;
        return {
          body: {
            agent: {
              ...agent,
              version: agent.pinned ?? active.get(agent.template) ?? null,
              status: suspension === null ? 'active' : 'suspended',
              suspension,
              counters: counters.get(id) ?? { calls: 0, denied: 0, errors: 0, spendUsd: 0, lastCall: null },
            },
          },
        };
      },
    },
  ];
}
