/**
 * The agents that take A2A hand-offs: registered agents with an `a2a:` endpoint in
 * config/agents.yaml. Built once per configuration: one pool per agent origin, an upstream per
 * binding (JSON-RPC, and HTTP+JSON when the agent offers it), and the agent's card, fetched when
 * asked for and kept a short while.
 */
import type { A2aAgentFile } from '../config/agents-schema.js';
import type { GatewayConfig } from '../config/schema.js';
import type { AgentRegistry } from '../identity/registry.js';
import { a2aDialect, a2aRestDialect } from '../providers/a2a.js';
import { closeUpstreams, createUpstream, type Upstream } from '../upstream/upstreams.js';

/** How long a fetched Agent Card is served before it is fetched again. */
const CARD_TTL_MS = 30_000;
const CARD_MAX_BYTES = 1 << 20;
const CARD_TIMEOUT_MS = 5_000;

export interface A2aAgent {
  readonly id: string;
  /** The JSON-RPC endpoint (`a2a.url`). */
  readonly jsonrpc: Upstream;
  /** The HTTP+JSON binding's base (`a2a.rest`); null: not offered. */
  readonly rest: Upstream | null;
  /** Every pool of the agent (closed with the registry). */
  readonly upstreams: readonly Upstream[];
  /** Reads the agent's own card (cached `CARD_TTL_MS`); rejects when it cannot. */
  card(): Promise<Record<string, unknown>>;
}

export interface A2aRegistry {
  readonly agents: ReadonlyMap<string, A2aAgent>;
  readonly upstreams: readonly Upstream[];
}

/** The A2A agents of a registry; null when none has an endpoint (then no A2A route or stage exists). */
export function createA2aRegistry(registry: AgentRegistry | null, u: GatewayConfig['upstream']): A2aRegistry | null {
  if (registry === null || registry.a2a.size === 0) return null;
  const agents = new Map<string, A2aAgent>();
  const upstreams: Upstream[] = [];
  for (const [id, spec] of registry.a2a) {
    const agent = createAgent(id, spec, u);
    agents.set(id, agent);
    upstreams.push(...agent.upstreams);
  }
  return { agents, upstreams };
}

export async function closeA2aRegistry(r: A2aRegistry | null): Promise<void> {
  if (r !== null) await closeUpstreams(r.upstreams);
}

function createAgent(id: string, spec: A2aAgentFile, u: GatewayConfig['upstream']): A2aAgent {
  const name = `a2a:${id}`;
  const base = { headers: spec.headers, credential: undefined, keepTrailingSlash: true };
  const jsonrpc = createUpstream(name, { ...base, baseUrl: spec.url, dialect: a2aDialect }, u);
  const rest = spec.rest === undefined ? null : createUpstream(name, { ...base, baseUrl: spec.rest.replace(/\/+$/, ''), dialect: a2aRestDialect }, u);
  const cardUrl = new URL(spec.card ?? '/.well-known/agent-card.json', spec.url);
  // The card is read with the JSON-RPC endpoint's pool when it is on the same origin, else with one of its own.
  const cardUpstream = cardUrl.origin === jsonrpc.origin ? jsonrpc : createUpstream(name, { ...base, baseUrl: cardUrl.origin, dialect: a2aDialect }, u);
  let cached: { at: number; card: Promise<Record<string, unknown>> } | null = null;
  const fetchCard = async (): Promise<Record<string, unknown>> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    for (let i = 0; i < cardUpstream.headers.length; i += 2) headers[cardUpstream.headers[i]] = cardUpstream.headers[i + 1];
    const res = await cardUpstream.pool.request({ path: cardUrl.pathname + cardUrl.search, method: 'GET', headers, signal: AbortSignal.timeout(CARD_TIMEOUT_MS) });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > CARD_MAX_BYTES) throw new Error(`the agent card of ${id} is over ${CARD_MAX_BYTES} bytes`);
      chunks.push(chunk as Buffer);
    }
    if (res.statusCode !== 200) throw new Error(`the agent card of ${id} answered ${res.statusCode}`);
    const card = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (typeof card !== 'object' || card === null || Array.isArray(card)) throw new Error(`the agent card of ${id} is not a JSON object`);
    return card as Record<string, unknown>;
  };
  return {
    id,
    jsonrpc,
    rest,
    upstreams: [jsonrpc, ...(rest === null ? [] : [rest]), ...(cardUpstream === jsonrpc ? [] : [cardUpstream])],
    card() {
      const now = Date.now();
      if (cached === null || now - cached.at > CARD_TTL_MS) {
        const card = fetchCard();
        cached = { at: now, card };
        // A failed fetch is not kept: the next request tries again.
        card.catch(() => {
          if (cached?.card === card) cached = null;
        });
      }
      return cached.card;
    },
  };
}
