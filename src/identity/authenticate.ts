import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';
import type { CallContext, Stage } from '../pipeline/context.js';
import type { Agent, AgentRegistry } from './registry.js';
import type { SuspensionStore } from './suspensions.js';
import type { TokenVerifier, VerifiedToken } from './types.js';
import { unauthenticated } from './unauthenticated.js';
import type { WorkloadToken } from './workload-token.js';

/** Headers that carry an API key, by SDK: Anthropic 0.x, Azure OpenAI, Google Gen AI (Gemini). */
const KEY_HEADERS = new Set(['x-api-key', 'api-key', 'x-goog-api-key']);

/**
 * The agent token of a request: `Authorization: Bearer` (OpenAI SDKs, Anthropic SDK 1.x, AWS SDKs
 * with a Bedrock API key) or an API-key header (`x-api-key`, Azure's `api-key`, Gemini's
 * `x-goog-api-key`). All present must agree; a repeated header is refused, since Node would keep
 * one and silently drop the other. An AWS SigV4 `Authorization` is an AWS SDK signing with a
 * placeholder credential: no agent token (the gateway re-signs the request with its own).
 */
export function extractToken(req: IncomingMessage): string | null {
  const raw = req.rawHeaders;
  let auth: string | null = null;
  let key: string | null = null;
  let keyName = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      if (auth !== null) throw unauthenticated('more than one Authorization header');
      auth = raw[i + 1];
    } else if (name.length >= 7 && name.length <= 14 && KEY_HEADERS.has(name.toLowerCase())) {
      if (key !== null) throw unauthenticated(`more than one API key header (${keyName}, ${name.toLowerCase()})`);
      key = raw[i + 1];
      keyName = name.toLowerCase();
    }
  }
  let bearer: string | null = null;
  if (auth !== null && !auth.startsWith('AWS4-')) {
    if (auth.length < 8 || auth.slice(0, 7).toLowerCase() !== 'bearer ') throw unauthenticated('Authorization must be "Bearer <agent token>"');
    bearer = auth.slice(7).trim();
  }
  if (key !== null && bearer !== null && key.trim() !== bearer) throw unauthenticated(`conflicting credentials: Authorization and ${keyName} carry different tokens`);
  const token = bearer ?? (key === null ? null : key.trim());
  return token === '' ? null : token;
}

/**
 * Whether a credential is meant as a JWT: three base64url segments (a compact JWS). An API key
 * (`sk-…`, the injector's placeholder) is not, and in sidecar mode counts as no agent token; a
 * broken JWT is, and is refused rather than taken for the workload.
 */
export function looksLikeJwt(credential: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(credential);
}

export interface AuthenticateOptions {
  verifier: TokenVerifier;
  registry: AgentRegistry;
  suspensions: SuspensionStore;
  /** Under a control plane: its suspensions and kill switches instead of the local suspensions. */
  fleet?: FleetGate | null;
  /** Sidecar mode: the identity of a call that carries no agent JWT. */
  workload?: WorkloadToken | null;
}

/** What a control plane's snapshot decides about an agent's calls (src/fleet/). */
export interface FleetGate {
  /** Hot path: why the agent may not call now (suspended, killed), or null. */
  refusal(agent: Agent): GatewayError | null;
  /** Tracks an admitted call until it finishes, so a kill switch can cut it. */
  track(ctx: CallContext, agent: Agent): void;
}

function missing(): never {
  throw unauthenticated('missing agent token: send it as "Authorization: Bearer <token>" (or x-api-key)', false);
}

/**
 * Pipeline stage: verifies the agent token, resolves the agent in the registry and refuses
 * suspended agents. The resolved agent goes on the context for every later stage. In sidecar mode
 * (`workload`), a call without an agent JWT is authenticated as the workload.
 */
export function authenticate(opts: AuthenticateOptions): Stage {
  const { verifier, registry, suspensions } = opts;
  const fleet = opts.fleet ?? null;
  const workload = opts.workload ?? null;
  // The agent a verified token stands for, remembered per verification (the verifier returns the
  // same object while its cache holds the token), so a known token costs two lookups.
  const agents = new WeakMap<VerifiedToken, Agent | null>();
  // The agent goes on the context before the suspension and kill checks, so a refused call is
  // audited as that agent's (its page and an audit filter by agent show the refusals); it is
  // tracked (for a kill switch to cut) only once admitted.
  const admit = (ctx: CallContext, verified: VerifiedToken): void => {
    let agent = agents.get(verified);
    if (agent === undefined) {
      agent = registry.resolve(verified);
      agents.set(verified, agent);
    }
    if (agent === null) {
      throw new GatewayError('aos_agent_unknown', `the token is valid but its agent (${String(verified.claims.sub ?? verified.subject).slice(0, 200)}) is not in the agent registry`);
    }
    ctx.agent = agent;
    if (fleet !== null) {
      const refused = fleet.refusal(agent);
      if (refused !== null) throw refused;
      fleet.track(ctx, agent);
    } else if (suspensions.isSuspended(agent.id)) throw new GatewayError('aos_agent_suspended', `agent ${agent.id} is suspended`);
  };

  return function authenticateStage(ctx) {
    const token = extractToken(ctx.req);
    // An agent JWT wins; without one, a sidecar's call is the workload's (a placeholder key is ignored).
    const verified = token !== null && (workload === null || looksLikeJwt(token)) ? verifier.verify(token, 'agent', ctx.resource) : workload !== null ? workload.current() : missing();
    if (verified instanceof Promise) {
      return verified.then((v) => admit(ctx, v));
    }
    admit(ctx, verified);
  };
}
