/**
 * The agent registry (config/agents.yaml), written once: the JSON Schema it is validated against
 * (TypeBox), the types of the file derived from it, and its section of docs/configuration.md.
 * src/identity/registry.ts loads it and checks what a schema cannot say (a template that exists,
 * an agent listed once).
 */
import { type Static, type TProperties, Type } from '@sinclair/typebox';
import { Bool, Dict, Enum, fileSchema, Int, Obj, Str } from './schema-builders.js';

const Usd = (description: string) => Type.Optional(Type.Number({ description, minimum: 0 }));
const Count = (description: string) => Type.Optional(Type.Integer({ description, minimum: 0 }));

/** A budget (src/metering/budgets.ts): USD per window, tool calls per window, rate limits, soft threshold. Every limit is optional. */
const budget = <E extends TProperties = Record<never, never>>(description: string, extra: E = {} as E) =>
  Obj(
    {
      ...extra,
      hourly_usd: Usd('Hard limit in USD per UTC hour.'),
      daily_usd: Usd('Hard limit in USD per UTC day.'),
      monthly_usd: Usd('Hard limit in USD per calendar month (UTC).'),
      soft_ratio: Type.Optional(
        Type.Number({
          description: 'Share of a limit past which calls are flagged `budget_soft_limit` (audit) and counted in `aos_budget_soft_limit_total` (default: metering.softThreshold).',
          minimum: 0,
          maximum: 1,
        }),
      ),
      tool_calls_hourly: Count('Tool and MCP calls per UTC hour.'),
      tool_calls_daily: Count('Tool and MCP calls per UTC day.'),
      tool_calls_monthly: Count('Tool and MCP calls per calendar month (UTC).'),
      requests_per_minute: Count('Rate limit: calls per minute.'),
      tokens_per_minute: Count('Rate limit: tokens per minute (prompt estimate + output cap, reconciled to real usage).'),
    },
    { title: 'a budget', description, default: {} },
  );

const BudgetSchema = budget('A budget: limits a call must fit (each one absent: no limit).');

const ClaimsSchema = Obj(
  {
    agent: Str('The claim that carries the agent id (a Kubernetes ServiceAccount token: `sub`, `system:serviceaccount:<namespace>:<name>`).', { minLength: 1, default: 'sub' }),
    team: Str("The claim that carries an unregistered agent's team.", { minLength: 1, default: 'team' }),
    roles: Str("The claim that carries an unregistered agent's roles (a list of strings).", { minLength: 1, default: 'roles' }),
  },
  { description: 'Which token claims carry the agent id, its team and its roles.', default: {} },
);

const UnknownAgentsSchema = Obj(
  {
    action: Enum(['deny', 'admit'], { description: '`deny`: 403 `aos_agent_unknown`. `admit`: the agent is admitted under `template`.', default: 'deny' }),
    template: Type.Optional(Str('The template unregistered agents are admitted under (required by `admit`).', { minLength: 1 })),
    team: Str('The team of an admitted agent when its token has no team claim and is not a Kubernetes token (whose namespace is the team).', { minLength: 1, default: 'unassigned' }),
  },
  { description: 'A valid token of an agent that is not listed in `agents`: denied, or admitted under a template.', default: {} },
);

const CaptureSchema = Obj(
  {
    request: Bool(false, 'Keep the request body (redacted).'),
    response: Bool(false, 'Keep the response body (redacted).'),
    maxBytes: Int(1, 65536, 'Longest body kept; a longer one is truncated.', 1048576),
  },
  { description: 'Bodies kept in the audit trail.', default: {} },
);

const ApprovalSchema = Obj(
  {
    mode: Enum(['block', 'async'], {
      description:
        '`async`: a call that needs an approval is answered at once with `aos_approval_pending` and its approval id; the agent sends the same request again once a person approved it. `block`: the call is held (nothing forwarded, no budget reserved) until a person approves it (it goes on), denies it (`aos_approval_denied`) or `timeoutSeconds` pass (`aos_approval_timeout`).',
      default: 'async',
    }),
    timeoutSeconds: Int(1, 300, 'How long an approval waits for a decision before it expires (and a held call is answered `aos_approval_timeout`).', 86_400),
    ttlSeconds: Int(1, 900, 'How long an approval stays usable after it was granted (it lets one call through, once).', 86_400 * 7),
  },
  { description: 'Calls the policy obliges `require_approval` (tools marked sensitive): how they wait for a person (docs/approvals.md).', default: {} },
);

const TemplateSchema = Obj(
  {
    version: Type.Integer({ description: 'The version of the template (in the policy input and the audit trail).', minimum: 1 }),
    description: Str('What agents built on it are for.', { default: '' }),
    providers: Type.Array(Str('A provider name', { minLength: 1 }), { description: 'Providers (keys of `providers` in aos.yaml) the agents may call; empty: any.', default: [] }),
    models: Type.Array(Str('A model name pattern', { minLength: 1 }), { description: 'Model name patterns (`*` a wildcard) the agents may call; empty: any.', default: [] }),
    tools: Type.Array(Str('A tool name', { minLength: 1 }), { description: 'Tools (keys of `tools` in aos.yaml) the agents may call.', default: [] }),
    budget: budget("Each agent's own budget.", {
      workflow_usd: Usd(
        "Hard limit in USD per workflow: every call of every agent in a workflow this template's agent starts draws from it (`workflow:<id>`; docs/coordination.md). Kept `budgets.workflowTtlSeconds` after the workflow's last call.",
      ),
      workflow_handoffs: Count("Fan-out: A2A hand-offs (`SendMessage`, `SendStreamingMessage`) per workflow this template's agent starts, by every agent in it (`workflow:<id>`)."),
    }),
    agents: Type.Array(Str('An agent id pattern', { minLength: 1 }), {
      description: 'Agents (ids, `*` a wildcard; `<agent>/<skill>` for one skill of it) the agents may hand work to over A2A (`/a2a/<agent>`); empty: none.',
      default: [],
    }),
    guardrails: Str('The guardrail profile of the policy (`settings.guardrail_profiles` in the policy data).', { default: 'standard' }),
    maxTokens: Type.Unsafe<number | null>({ description: 'Cap on the output tokens of a call (null: none).', type: ['integer', 'null'], minimum: 1, default: null }),
    audit: Obj({ capture: CaptureSchema }, { description: 'What the audit trail keeps of these calls beyond sizes and hashes (opt-in, redacted).', default: {} }),
    approval: ApprovalSchema,
    cache: Obj(
      {
        mode: Type.Optional(Enum(['on', 'off'], { description: '`off`: these calls are never answered from or stored in the cache; `on` (the default when the gateway has a cache).' })),
        scope: Type.Optional(Enum(['agent', 'team', 'template', 'org'], { description: "Who shares these calls' entries (default: the gateway's `cache.scope`)." })),
        ttlSeconds: Type.Optional(Type.Integer({ description: "How long these calls' entries answer (default: the gateway's `cache.ttlSeconds`).", minimum: 1, maximum: 30 * 86_400 })),
      },
      { description: 'The response cache for calls of these agents (docs/coordination.md).', default: {} },
    ),
  },
  { description: 'A template: a versioned blueprint of what agents built on it may use.' },
);

const BudgetsSchema = Obj(
  {
    org: budget('The budget of the whole organization.'),
    teams: Dict(BudgetSchema, { description: 'Team budgets, by team.', default: {} }),
    workflowTtlSeconds: Int(60, 86_400, "How long a workflow's spend (`workflow_usd`) is kept after its last call; then its counter expires.", 30 * 86_400),
  },
  { description: "Organization and team budgets, on top of each agent's own (a call must fit every one); `aos budget set` overrides them at run time.", default: {} },
);

const HttpUrl = (description: string) => Str(description, { title: 'an http(s) URL without query or fragment', pattern: '^https?://[^/?#]+(/[^?#]*)?$' });

const A2aSchema = Obj(
  {
    url: HttpUrl("The agent's A2A JSON-RPC endpoint (A2A 1.0), e.g. http://127.0.0.1:9001/a2a/jsonrpc."),
    rest: Type.Optional(HttpUrl('The base URL of its HTTP+JSON binding (`<rest>/message:send`, …); absent: only JSON-RPC is offered.')),
    card: Type.Optional(HttpUrl('Where its Agent Card is (default: `/.well-known/agent-card.json` on the origin of `url`).')),
    headers: Dict(Type.String(), { description: 'Headers the gateway adds to every call to the agent (a credential of its own).', default: {} }),
  },
  { description: 'The agent is also a callee: other agents hand it work through the gateway at `/a2a/<id>` (docs/coordination.md#agent-to-agent-a2a).' },
);

const DelegationSchema = Obj(
  {
    maxDepth: Int(1, 4, 'Longest chain of A2A hand-offs (planner → researcher → writer is 2): a hand-off past it is refused with `aos_delegation_too_deep`.', 16),
    ttlSeconds: Int(10, 600, "How long the delegation token the gateway signs for a callee stays valid (the callee's calls carry it back).", 86_400),
  },
  { description: 'Agent-to-agent hand-offs through the gateway (docs/coordination.md#agent-to-agent-a2a).', default: {} },
);

const AgentSchema = Obj(
  {
    id: Str('The agent id, as the `claims.agent` claim carries it.', { minLength: 1 }),
    team: Str('The team the agent belongs to (its team budget applies).', { minLength: 1 }),
    owner: Type.Optional(Str('Who answers for the agent (a person or a team address).')),
    roles: Type.Array(Type.String({ description: 'A role' }), { description: 'Roles the policy reads.', default: [] }),
    labels: Dict(Type.String(), { description: 'Free-form labels the policy reads (a Kubernetes token adds `kubernetes.namespace`, `kubernetes.serviceaccount`, `kubernetes.pod`).', default: {} }),
    template: Str('The template the agent is built on (a key of `templates`).', { minLength: 1 }),
    a2a: Type.Optional(A2aSchema),
  },
  { description: 'A registered agent.' },
);

export const AgentRegistrySchema = Obj(
  {
    claims: ClaimsSchema,
    unknownAgents: UnknownAgentsSchema,
    templates: Dict(TemplateSchema, { description: 'The templates, by name.', minProperties: 1 }),
    budgets: BudgetsSchema,
    delegation: DelegationSchema,
    agents: Type.Array(AgentSchema, { description: 'The registered agents.', default: [] }),
  },
  { description: 'The agent registry (config/agents.yaml).' },
);

/** The JSON Schema an agent registry file is validated against (keys with a default not required). */
export const agentRegistrySchema = fileSchema(AgentRegistrySchema);

// ---- the types, derived -----------------------------------------------------------------------

/** The agent registry file, validated (defaults filled in). */
export type AgentRegistryFile = Static<typeof AgentRegistrySchema>;
/** A budget: its limits by key (`daily_usd`, `requests_per_minute`, …). */
export type Budget = Static<typeof BudgetSchema>;
export type TemplateFile = Static<typeof TemplateSchema>;
export type AgentFile = Static<typeof AgentSchema>;
/** A template's approval settings (src/approvals/). */
export type ApprovalSettings = Static<typeof ApprovalSchema>;
/** An agent's A2A endpoint (src/coordination/a2a.ts). */
export type A2aAgentFile = Static<typeof A2aSchema>;
export type DelegationSettings = Static<typeof DelegationSchema>;
