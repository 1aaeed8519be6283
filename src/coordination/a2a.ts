/**
 * Agent-to-agent hand-offs through the gateway (A2A 1.0): `/a2a/<agent>` proxies to a registered
 * agent's A2A endpoint, JSON-RPC (`POST /a2a/<agent>`) and HTTP+JSON (`/a2a/<agent>/message:send`, …),
 * streams relayed event by event; `GET /a2a/<agent>/.well-known/agent-card.json` serves the agent's
 * card with its interfaces pointing at the gateway and the skills the caller may not use left out.
 *
 * Every hand-off extends the delegation chain the caller acts under (src/coordination/delegation.ts):
 * a callee already in it is a loop (`aos_delegation_loop`), a chain longer than the registry's
 * `delegation.maxDepth` is refused (`aos_delegation_too_deep`), both before the policy; the policy
 * then sees `call.a2a` and `call.delegation`, and the gateway signs the callee a token for the
 * longer chain, sent as `x-aos-delegation` with the forward.
 */
import type { ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { GatewayError } from '../errors.js';
import type { AgentRegistry } from '../identity/registry.js';
import type { Logger } from '../log.js';
import type { CallContext, Stage } from '../pipeline/context.js';
import { policyInput } from '../policy/decide.js';
import type { Decision, PolicyInput } from '../policy/types.js';
import { A2A_STREAMING, restMethod } from '../providers/a2a.js';
import type { RouteTarget } from '../routing/target.js';
import type { A2aAgent } from './a2a-registry.js';
import { DELEGATION_HEADER, type DelegationKeys } from './delegation.js';

export interface A2aStageOptions {
  registry: AgentRegistry;
  /** The delegation signer; null: hand-offs are refused (no key to sign the callee's token with). */
  keys: DelegationKeys | null;
  /** The policy, for the card's skills (null: policy off, every skill is listed). */
  evaluate: ((input: PolicyInput) => Decision | null) | null;
  log: Logger;
}

export interface A2aStages {
  /** Reads the A2A message (or the HTTP+JSON path), checks the chain, describes the call and readies the callee's token. */
  describe: Stage;
  /** Describes a card's read (`GetAgentCard`), for the policy. */
  cardCall: Stage;
  /** Answers the agent's card as the caller may see it. */
  card: Stage;
}

type A2aMatch = Extract<NonNullable<RouteTarget['tool']>, { kind: 'a2a' }>;

export function createA2aStages(opts: A2aStageOptions): A2aStages {
  const { registry, keys, evaluate, log } = opts;
  const maxDepth = registry.delegation.maxDepth;

  const describe: Stage = function a2aDescribeStage(ctx) {
    const m = ctx.route!.tool as A2aMatch;
    const callee = m.agent.id;
    let method: string;
    if (m.binding === 'jsonrpc') {
      method = readRpc(ctx);
      ctx.route = m.targets.get(method) ?? m.targets.get('other')!;
    } else {
      const found = restMethod(ctx.req.method ?? 'GET', m.path);
      if (found === null)
        throw new GatewayError('aos_route_not_found', `no A2A HTTP+JSON operation ${ctx.req.method} ${m.path} (A2A 1.0: POST /message:send, POST /message:stream, GET /tasks/{id}, …)`);
      method = found;
      // A message's body is read like a JSON-RPC one, so the guardrails scan (and may redact) it.
      if (method === 'SendMessage' || method === 'SendStreamingMessage') ctx.json = readObject(ctx, 'A2A HTTP+JSON expects a SendMessageRequest object');
      const r = ctx.route!;
      ctx.route = { ...r, name: `${r.upstream.name}/${method}`, operation: { name: method, methods: [], inspect: false } };
    }
    ctx.call = { kind: 'a2a', operation: method, model: null, stream: A2A_STREAMING.has(method), maxTokens: null, tool: null, a2a: { agent: callee, method, binding: m.binding, skill: null } };
    const caller = ctx.agent;
    if (caller === null) return; // identity off: no chain to extend, no token to sign
    const chain = ctx.delegation?.chain ?? [caller.id];
    if (chain.includes(callee)) {
      throw new GatewayError('aos_delegation_loop', `delegation loop: ${callee} is already in the chain ${chain.join(' → ')}; a hand-off back to it is refused`);
    }
    if (chain.length > maxDepth) {
      throw new GatewayError('aos_delegation_too_deep', `delegation chain too deep: ${[...chain, callee].join(' → ')} is ${chain.length} hand-offs, over delegation.maxDepth ${maxDepth}`);
    }
    if (keys === null) throw new GatewayError('aos_unavailable', 'A2A hand-offs need the gateway signing key, loaded at start: restart the gateway');
    const next = [...chain, callee];
    const own = registry.templates.get(caller.template)?.budget;
    const d = ctx.delegation;
    const limits = { usd: d !== null ? d.workflowUsd : (own?.workflow_usd ?? null), handoffs: d !== null ? d.workflowHandoffs : (own?.workflow_handoffs ?? null) };
    // Signed once the call is decided (a refused call signs nothing); it replaces any the caller sent.
    ctx.onForward(() => {
      const token = keys.sign(next, ctx.workflowId, limits);
      if (ctx.upstreamHeaders === null) ctx.upstreamHeaders = [DELEGATION_HEADER, token];
      else ctx.upstreamHeaders.push(DELEGATION_HEADER, token);
    });
  };

  const cardCall: Stage = function a2aCardCallStage(ctx) {
    const agent = (ctx.route!.tool as { agent: A2aAgent }).agent;
    ctx.call = { kind: 'a2a', operation: 'GetAgentCard', model: null, stream: false, maxTokens: null, tool: null, a2a: { agent: agent.id, method: 'GetAgentCard', binding: 'jsonrpc', skill: null } };
  };

  const card: Stage = async function a2aCardStage(ctx) {
    const agent = (ctx.route!.tool as { agent: A2aAgent }).agent;
    let own: Record<string, unknown>;
    try {
      own = await agent.card();
    } catch (err) {
      log.warn('a2a: agent card unreadable', { agent: agent.id, error: (err as Error).message });
      throw new GatewayError('aos_upstream_error', `the agent card of ${agent.id} could not be read: ${(err as Error).message}`);
    }
    const base = `${(ctx.req.socket as TLSSocket).encrypted ? 'https' : 'http'}://${ctx.req.headers.host}/a2a/${agent.id}`;
    const served = rewriteCard(own, agent, base, (skill) => maySee(ctx, agent.id, skill));
    answer(ctx.res, ctx.id, served);
    ctx.answered = true;
  };

  /** Whether the policy lets the caller hand work to this skill (the card keeps it). */
  const maySee = (ctx: CallContext, agent: string, skill: string): boolean => {
    if (evaluate === null) return true;
    const input = policyInput(ctx);
    input.call.operation = 'SendMessage';
    input.call.a2a = { agent, method: 'SendMessage', binding: 'jsonrpc', skill };
    const d = evaluate(input);
    return d !== null && d.error === null && d.allow;
  };

  return { describe, cardCall, card };
}

/** The request body as one JSON object; `expects` names what the binding expects, for the error. */
function readObject(ctx: CallContext, expects: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse((ctx.body ?? Buffer.alloc(0)).toString('utf8'));
  } catch {
    throw new GatewayError('aos_bad_request', `the body is not valid JSON (${expects})`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GatewayError('aos_bad_request', expects);
  return body as Record<string, unknown>;
}

/** The JSON-RPC message of a POST: one request (A2A sends no batches); its id answers errors from here on. */
function readRpc(ctx: CallContext): string {
  const m = readObject(ctx, 'A2A JSON-RPC expects one JSON-RPC 2.0 request object (no batches)');
  if (typeof m.id === 'string' || typeof m.id === 'number') ctx.rpcId = m.id;
  if (m.jsonrpc !== '2.0' || typeof m.method !== 'string' || m.method === '') throw new GatewayError('aos_bad_request', 'not a JSON-RPC 2.0 request: `jsonrpc: "2.0"` and a `method` are required');
  ctx.json = m;
  return m.method;
}

const BINDINGS: Record<string, 'jsonrpc' | 'rest'> = { JSONRPC: 'jsonrpc', 'HTTP+JSON': 'rest' };

/**
 * The card as the caller sees it: its interfaces point at the gateway (the bindings the gateway
 * relays: JSON-RPC, and HTTP+JSON when configured; gRPC is left out), the agent token is the one
 * security scheme, the skills the policy would refuse are left out, and the agent's own signatures
 * are dropped (they signed another card).
 */
export function rewriteCard(own: Record<string, unknown>, agent: A2aAgent, base: string, keep: (skill: string) => boolean): Record<string, unknown> {
  const card: Record<string, unknown> = { ...own };
  const listed = Array.isArray(own.supportedInterfaces) ? (own.supportedInterfaces as Record<string, unknown>[]) : [];
  const interfaces: Record<string, unknown>[] = [];
  for (const i of listed) {
    const binding = BINDINGS[String(i?.protocolBinding ?? '')];
    if (binding === undefined || (binding === 'rest' && agent.rest === null)) continue;
    interfaces.push({ ...i, url: base, tenant: i.tenant ?? '' });
  }
  if (interfaces.length === 0) {
    interfaces.push({ url: base, protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' });
    if (agent.rest !== null) interfaces.push({ url: base, protocolBinding: 'HTTP+JSON', protocolVersion: '1.0', tenant: '' });
  }
  card.supportedInterfaces = interfaces;
  card.securitySchemes = { aos_agent_token: { httpAuthSecurityScheme: { description: "The calling agent's own token, verified by the AOS gateway", scheme: 'Bearer', bearerFormat: 'JWT' } } };
  card.securityRequirements = [{ schemes: { aos_agent_token: { list: [] } } }];
  delete card.signatures;
  if (Array.isArray(own.skills)) card.skills = (own.skills as Record<string, unknown>[]).filter((s) => typeof s?.id === 'string' && keep(s.id));
  return card;
}

function answer(res: ServerResponse, id: string, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'private, max-age=30', 'x-aos-request-id': id });
  res.end(text);
}
