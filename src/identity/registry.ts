import { ConfigError } from '../config/config-error.js';
import { loadYamlFile } from '../config/yaml-file.js';
import type { VerifiedToken } from './types.js';

/** A standardized agent blueprint: what agents built on it may use. Versioned. */
export interface AgentTemplate {
  name: string;
  version: number;
  description: string;
  /** Provider names (as in aos.yaml) the agent may call; empty = any. */
  providers: string[];
  /** Model name patterns (`*` wildcard); empty = any. */
  models: string[];
  /** Tool names the agent may call. */
  tools: string[];
  budget: Record<string, number>;
  guardrails: string;
  maxTokens: number | null;
  /** What the audit trail keeps of this template's calls beyond sizes and hashes (opt-in, redacted). */
  audit: { capture: { request: boolean; response: boolean; maxBytes: number } };
}

/** The identity every later stage (policy, budgets, audit) sees. */
export interface Agent {
  readonly id: string;
  readonly team: string;
  readonly owner: string | null;
  readonly roles: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly template: string;
  readonly templateVersion: number;
  /** True when the agent is not in the registry and was admitted under `unknownAgents`. */
  readonly unregistered: boolean;
}

interface RegistryFile {
  claims: { agent: string; team: string; roles: string };
  unknownAgents: { action: 'deny' | 'admit'; template?: string; team: string };
  templates: Record<string, Omit<AgentTemplate, 'name'>>;
  budgets: { org?: Record<string, number>; teams: Record<string, Record<string, number>> };
  agents: { id: string; team: string; owner?: string; roles: string[]; labels: Record<string, string>; template: string }[];
}

const claimName = { type: 'string', minLength: 1 } as const;
const usd = { type: 'number', minimum: 0 } as const;
const count = { type: 'integer', minimum: 0 } as const;
/** A budget (src/metering/budgets.ts): USD per window, tool calls per window, rate limits, soft threshold. */
export const budgetSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    hourly_usd: usd,
    daily_usd: usd,
    monthly_usd: usd,
    soft_ratio: { type: 'number', minimum: 0, maximum: 1 },
    tool_calls_hourly: count,
    tool_calls_daily: count,
    tool_calls_monthly: count,
    requests_per_minute: count,
    tokens_per_minute: count,
  },
} as const;
const registrySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['templates'],
  properties: {
    claims: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { agent: { ...claimName, default: 'sub' }, team: { ...claimName, default: 'team' }, roles: { ...claimName, default: 'roles' } },
    },
    unknownAgents: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        action: { enum: ['deny', 'admit'], default: 'deny' },
        template: { type: 'string', minLength: 1 },
        team: { type: 'string', minLength: 1, default: 'unassigned' },
      },
    },
    templates: {
      type: 'object',
      minProperties: 1,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['version'],
        properties: {
          version: { type: 'integer', minimum: 1 },
          description: { type: 'string', default: '' },
          providers: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
          models: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
          tools: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
          budget: budgetSchema,
          guardrails: { type: 'string', default: 'standard' },
          maxTokens: { type: ['integer', 'null'], minimum: 1, default: null },
          audit: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              capture: {
                type: 'object',
                additionalProperties: false,
                default: {},
                properties: {
                  request: { type: 'boolean', default: false },
                  response: { type: 'boolean', default: false },
                  maxBytes: { type: 'integer', minimum: 1, maximum: 1048576, default: 65536 },
                },
              },
            },
          },
        },
      },
    },
    budgets: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        org: budgetSchema,
        teams: { type: 'object', additionalProperties: budgetSchema, default: {} },
      },
    },
    agents: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'team', 'template'],
        properties: {
          id: { type: 'string', minLength: 1 },
          team: { type: 'string', minLength: 1 },
          owner: { type: 'string' },
          roles: { type: 'array', items: { type: 'string' }, default: [] },
          labels: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
          template: { type: 'string', minLength: 1 },
        },
      },
    },
  },
} as const;

export interface AgentRegistry {
  readonly file: string;
  readonly templates: ReadonlyMap<string, AgentTemplate>;
  readonly agents: ReadonlyMap<string, Agent>;
  /** Organization and team budgets (agent budgets are on their templates). */
  readonly budgets: { readonly org: Readonly<Record<string, number>>; readonly teams: ReadonlyMap<string, Readonly<Record<string, number>>> };
  /** The agent a verified token stands for, or null when unknown agents are denied. */
  resolve(token: VerifiedToken): Agent | null;
}

/**
 * Loads and validates the agent registry (agents, templates, claim mapping). Throws ConfigError; a
 * missing file is code `AOS_ERR_CONFIG_NOT_FOUND`.
 */
export function loadRegistry(file: string, env: NodeJS.ProcessEnv = process.env): AgentRegistry {
  const { data: reg, where } = loadYamlFile<RegistryFile>(file, registrySchema, 'agent registry', env);
  const problems: string[] = [];
  const templates = new Map<string, AgentTemplate>();
  for (const [name, t] of Object.entries(reg.templates)) templates.set(name, { name, ...t });
  const known = [...templates.keys()].join(', ');
  const agents = new Map<string, Agent>();
  reg.agents.forEach((a, i) => {
    const template = templates.get(a.template);
    if (template === undefined) problems.push(`${where(['agents', i, 'template'])}: expected one of the templates (${known}), got "${a.template}"`);
    if (agents.has(a.id)) problems.push(`${where(['agents', i, 'id'])}: agent "${a.id}" is listed twice`);
    agents.set(a.id, freeze({ id: a.id, team: a.team, owner: a.owner ?? null, roles: a.roles, labels: a.labels, template: a.template, templateVersion: template?.version ?? 0, unregistered: false }));
  });
  const unknown = reg.unknownAgents;
  if (unknown.action === 'admit') {
    if (unknown.template === undefined) problems.push(`${where(['unknownAgents'])}: action admit needs a template`);
    else if (!templates.has(unknown.template)) problems.push(`${where(['unknownAgents', 'template'])}: expected one of the templates (${known}), got "${unknown.template}"`);
  }
  if (problems.length > 0) throw new ConfigError(file, problems);

  const claims = reg.claims;
  return {
    file,
    templates,
    agents,
    budgets: { org: reg.budgets.org ?? {}, teams: new Map(Object.entries(reg.budgets.teams)) },
    resolve(token) {
      const id = stringClaim(token.claims[claims.agent]);
      if (id === null) return null;
      const k8s = token.kubernetes;
      const registered = agents.get(id);
      if (registered !== undefined) {
        if (k8s === null) return registered;
        return freeze({ ...registered, labels: { ...registered.labels, ...kubernetesLabels(k8s) } });
      }
      if (unknown.action === 'deny') return null;
      const template = templates.get(unknown.template!)!;
      const roles = token.claims[claims.roles];
      return freeze({
        id,
        team: stringClaim(token.claims[claims.team]) ?? k8s?.namespace ?? unknown.team,
        owner: null,
        roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
        labels: k8s === null ? {} : kubernetesLabels(k8s),
        template: template.name,
        templateVersion: template.version,
        unregistered: true,
      });
    },
  };
}

function kubernetesLabels(k8s: NonNullable<VerifiedToken['kubernetes']>): Record<string, string> {
  const out: Record<string, string> = { 'kubernetes.namespace': k8s.namespace, 'kubernetes.serviceaccount': k8s.serviceaccount };
  if (k8s.pod !== null) out['kubernetes.pod'] = k8s.pod;
  return out;
}

function stringClaim(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function freeze(agent: Agent): Agent {
  Object.freeze(agent.roles);
  Object.freeze(agent.labels);
  return Object.freeze(agent);
}
