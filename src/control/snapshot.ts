/**
 * The FleetSnapshot made from the store's state: the registry in agents.yaml's shape (an agent
 * pinned to a version other than the active one names its template `<name>@<version>`),
 * suspensions, kill switches, budget overrides and the fleet's policy bundle.
 */
import type { AgentRegistryFile, TemplateFile } from '../config/agents-schema.js';
import type { FleetSnapshot } from './protocol.js';
import type { FleetState, RegistryBase } from './store.js';

/** A store that was never seeded: agents.yaml's defaults. */
const EMPTY_BASE: RegistryBase = {
  claims: { agent: 'sub', team: 'team', roles: 'roles' },
  unknownAgents: { action: 'deny', team: 'unassigned' },
  budgets: { org: {}, teams: {}, workflowTtlSeconds: 86_400 },
};

/** A2A delegation settings: a fleet's registry does not carry them yet, so the defaults apply. */
const DELEGATION_DEFAULTS: AgentRegistryFile['delegation'] = { maxDepth: 4, ttlSeconds: 600 };

export function buildSnapshot(state: FleetState, policy: FleetSnapshot['policy'], at = new Date()): FleetSnapshot {
  const templates: Record<string, TemplateFile> = {};
  for (const v of state.templates) templates[state.active.get(v.name) === v.version ? v.name : `${v.name}@${v.version}`] = v.template;
  const registry: AgentRegistryFile = {
    delegation: DELEGATION_DEFAULTS,
    ...(state.base ?? EMPTY_BASE),
    templates,
    agents: state.agents.map((a) => ({
      id: a.id,
      team: a.team,
      ...(a.owner === null ? {} : { owner: a.owner }),
      roles: a.roles,
      labels: a.labels,
      template: a.pinned === null || state.active.get(a.template) === a.pinned ? a.template : `${a.template}@${a.pinned}`,
    })),
  };
  return { version: state.version, at: at.toISOString(), registry, suspensions: state.suspensions, kills: state.kills, budgetOverrides: state.overrides, policy };
}
