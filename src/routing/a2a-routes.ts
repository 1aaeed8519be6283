import type { A2aAgent, A2aRegistry } from '../coordination/a2a-registry.js';
import { A2A_METHODS } from '../providers/a2a.js';
import type { RouteTarget } from './target.js';

const PREFIX = '/a2a/';
export const AGENT_CARD_PATH = '/.well-known/agent-card.json';

/**
 * The targets of `/a2a/<agent>`: `POST /a2a/<agent>` is the JSON-RPC binding (its target relabelled
 * by method once the message is read), `GET /a2a/<agent>/.well-known/agent-card.json` the agent's
 * card, anything else below `/a2a/<agent>/` the HTTP+JSON binding (when the agent offers it).
 * Targets are built once per router; an HTTP+JSON target is made per request (it carries the path).
 */
export function createA2aMatcher(a2a: A2aRegistry): (path: string) => RouteTarget | null {
  const byAgent = new Map<string, { rpc: RouteTarget; card: RouteTarget; targets: ReadonlyMap<string, RouteTarget> }>();
  for (const agent of a2a.agents.values()) byAgent.set(agent.id, targetsOf(agent));
  return (path) => {
    const slash = path.indexOf('/', PREFIX.length);
    const id = slash === -1 ? path.slice(PREFIX.length) : path.slice(PREFIX.length, slash);
    const t = byAgent.get(id);
    if (t === undefined) return null;
    if (slash === -1) return t.rpc;
    const sub = path.slice(slash);
    if (sub === AGENT_CARD_PATH) return t.card;
    const rpc = t.rpc.tool as Extract<RouteTarget['tool'], { kind: 'a2a' }>;
    const rest = rpc.agent.rest;
    if (rest === null) return null;
    return {
      name: `${rest.name}/rest`,
      upstream: rest,
      operation: { name: 'rest', methods: [], inspect: false },
      upstreamPath: rest.basePath + sub,
      tool: { kind: 'a2a', agent: rpc.agent, binding: 'rest', path: sub, targets: t.targets },
    };
  };
}

function targetsOf(agent: A2aAgent) {
  const upstream = agent.jsonrpc;
  const targets = new Map<string, RouteTarget>();
  const match = { kind: 'a2a', agent, binding: 'jsonrpc', path: '', targets } as const;
  for (const label of [...A2A_METHODS, 'other']) {
    targets.set(label, { name: `${upstream.name}/${label}`, upstream, operation: { name: label, methods: ['POST'], inspect: false }, upstreamPath: upstream.basePath, tool: match });
  }
  const card: RouteTarget = {
    name: `${upstream.name}/GetAgentCard`,
    upstream,
    operation: { name: 'GetAgentCard', methods: ['GET'], inspect: false },
    upstreamPath: upstream.basePath,
    tool: { kind: 'a2a-card', agent },
  };
  return { rpc: targets.get('other')!, card, targets };
}
