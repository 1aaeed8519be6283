import { type A2aAgentFile, type AgentRegistryFile, agentRegistrySchema, type Budget, type DelegationSettings, type TemplateFile } from '../config/agents-schema.js';
import { ConfigError } from '../config/config-error.js';
import { loadYamlFile, parseYamlText, type YamlFile } from '../config/yaml-file.js';
import type { VerifiedToken } from './types.js';

/** A standardized agent blueprint: what agents built on it may use. Versioned (config/agents.yaml `templates`). */
export type AgentTemplate = TemplateFile & { readonly name: string };

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

export interface AgentRegistry {
  readonly file: string;
  readonly templates: ReadonlyMap<string, AgentTemplate>;
  readonly agents: ReadonlyMap<string, Agent>;
  /** Organization and team budgets (agent budgets are on their templates); how long a workflow's spend is kept. */
  readonly budgets: { readonly org: Readonly<Budget>; readonly teams: ReadonlyMap<string, Readonly<Budget>>; readonly workflowTtlSeconds: number };
  /** Agents that take A2A hand-offs (`/a2a/<id>`), by id. */
  readonly a2a: ReadonlyMap<string, A2aAgentFile>;
  readonly delegation: DelegationSettings;
  /** The agent a verified token stands for, or null when unknown agents are denied. */
  resolve(token: VerifiedToken): Agent | null;
}

/**
 * Loads and validates the agent registry (agents, templates, claim mapping). Throws ConfigError; a
 * missing file is code `AOS_ERR_CONFIG_NOT_FOUND`.
 */
export function loadRegistry(file: string, env: NodeJS.ProcessEnv = process.env): AgentRegistry {
  return registryOf(loadYamlFile<AgentRegistryFile>(file, agentRegistrySchema, 'agent registry', env), file);
}

/**
 * The same from a registry sent as data (a control plane's snapshot): validated with the same
 * schema and checks as the file (JSON is YAML, so problems are located the same way); `source`
 * names it in errors. `${NAME}` in a value is not looked up in this process's environment
 * (substituted from an empty one): the fleet's data does not depend on where it lands.
 */
export function parseRegistry(registry: unknown, source: string): AgentRegistry {
  return registryOf(parseYamlText<AgentRegistryFile>(JSON.stringify(registry ?? null, null, 1), source, agentRegistrySchema, {}), source);
}

function registryOf({ data: reg, where }: YamlFile<AgentRegistryFile>, file: string): AgentRegistry {
  const problems: string[] = [];
  const templates = new Map<string, AgentTemplate>();
  for (const [name, t] of Object.entries(reg.templates)) templates.set(name, { name, ...t });
  const known = [...templates.keys()].join(', ');
  const agents = new Map<string, Agent>();
  const a2a = new Map<string, A2aAgentFile>();
  reg.agents.forEach((a, i) => {
    if (a.a2a !== undefined) a2a.set(a.id, a.a2a);
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
    budgets: { org: reg.budgets.org, teams: new Map(Object.entries(reg.budgets.teams)), workflowTtlSeconds: reg.budgets.workflowTtlSeconds },
    a2a,
    delegation: reg.delegation,
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
