/**
 * Delegation: who asked whom. When an agent hands work to another through the gateway's A2A route
 * (src/coordination/a2a.ts), the gateway signs a short-lived token for the callee that says so, in
 * the shape of RFC 8693's `act` claim (§4.1): `sub` is the agent that started the chain, `act` the
 * agent acting now, its nested `act` the one before, and so on. The callee sends it back on its own
 * calls (`x-aos-delegation`); the gateway verifies it with a key it trusts (its own key, or the
 * fleet's keys of `identity.delegation`: src/identity/delegation-keys.ts), binds it to the calling
 * agent, and puts the chain on the policy input (`call.delegation`) and the audit event.
 *
 * A token signed by no trusted key (or that expired, or names another agent as the one acting) is
 * ignored: the call goes on as the agent's own, flagged `delegation_ignored` in its audit event. A
 * delegation only narrows what a call may do (depth, loops, a workflow budget), so dropping a
 * forged one never lends an agent anything.
 */
import { randomUUID } from 'node:crypto';
import type { DelegationKeySet } from '../identity/delegation-keys.js';
import type { Delegation, Stage } from '../pipeline/context.js';
import { joinWorkflow } from './workflow.js';

/** The request header a callee sends the gateway's delegation token back in. */
export const DELEGATION_HEADER = 'x-aos-delegation';
/** The JOSE `typ` of a delegation token: never taken for an agent token (whose `typ` is JWT). */
const TYP = 'aos-delegation+jwt';
const AUDIENCE = 'aos-delegation';
/** Longest chain a token may carry (the registry's maxDepth is at most this). */
export const MAX_CHAIN = 32;
const CACHE_MAX = 4096;

/** A workflow's limits the first agent's template set, carried (signed) to every agent in it. */
export interface WorkflowLimits {
  readonly usd: number | null;
  readonly handoffs: number | null;
}

export interface DelegationKeys {
  /** A token for `chain` (its last agent the one acting), valid `ttlSec`. */
  sign(chain: readonly string[], workflowId: string | null, limits: WorkflowLimits): string;
  /** The delegation a token carries, or null when no trusted key signed it, or it expired or is malformed. */
  verify(token: string): Delegation | null;
}

const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** RFC 8693 §4.1: the current actor outermost, prior actors nested inside. */
function actClaim(chain: readonly string[]): Record<string, unknown> | undefined {
  let act: Record<string, unknown> | undefined;
  for (let i = 1; i < chain.length; i++) act = act === undefined ? { sub: chain[i] } : { sub: chain[i], act };
  return act;
}

function chainOf(payload: Record<string, unknown>): string[] | null {
  if (typeof payload.sub !== 'string' || payload.sub === '') return null;
  const actors: string[] = [];
  let act = payload.act as Record<string, unknown> | undefined;
  while (act !== undefined) {
    if (typeof act !== 'object' || act === null || typeof act.sub !== 'string' || act.sub === '' || actors.length >= MAX_CHAIN) return null;
    actors.push(act.sub);
    act = act.act as Record<string, unknown> | undefined;
  }
  return [payload.sub, ...actors.reverse()];
}

const headerOf = (kid: string) => b64(JSON.stringify({ alg: 'EdDSA', typ: TYP, kid }));

/**
 * Signs delegation tokens with the key set's signing key and verifies them with the key their `kid`
 * names (EdDSA), synchronously; verified tokens are remembered until they expire. Every gateway
 * writes the header of a kid in the same bytes, so the header is looked up whole: a token naming
 * another algorithm, type or an unknown kid finds no key.
 */
export function createDelegationKeys(keys: DelegationKeySet, ttlSec: number, now: () => number = Date.now): DelegationKeys {
  const header = headerOf(keys.kid);
  const byHeader = new Map<string, (data: Buffer, signature: Buffer) => boolean>();
  for (const [kid, check] of keys.trusted) byHeader.set(headerOf(kid), check);
  const issuer = keys.issuer;
  const verified = new Map<string, Delegation>();
  // A signature costs ~60-200 µs: the token of a chain is reused while more than half its life is left.
  const signed = new Map<string, { token: string; renewAt: number }>();
  const reuse = (key: string): string | null => {
    const hit = signed.get(key);
    return hit !== undefined && hit.renewAt > now() ? hit.token : null;
  };
  return {
    sign(chain, workflowId, limits) {
      const key = `${chain.join('\u0000')}\u0001${workflowId}\u0001${limits.usd}\u0001${limits.handoffs}`;
      const known = reuse(key);
      if (known !== null) return known;
      const iat = Math.floor(now() / 1000);
      const payload: Record<string, unknown> = { iss: issuer, aud: AUDIENCE, sub: chain[0], act: actClaim(chain), iat, exp: iat + ttlSec, jti: randomUUID(), aos_workflow_id: workflowId };
      if (limits.usd !== null) payload.aos_workflow_usd = limits.usd;
      if (limits.handoffs !== null) payload.aos_workflow_handoffs = limits.handoffs;
      const input = `${header}.${b64(JSON.stringify(payload))}`;
      const token = `${input}.${keys.signBytes(Buffer.from(input)).toString('base64url')}`;
      if (signed.size >= CACHE_MAX) signed.clear();
      signed.set(key, { token, renewAt: now() + (ttlSec * 1000) / 2 });
      return token;
    },
    verify(token) {
      const t = now();
      const known = verified.get(token);
      if (known !== undefined) {
        if (known.expiresAt * 1000 > t) return known;
        verified.delete(token);
        return null;
      }
      const dot = token.indexOf('.');
      const last = token.lastIndexOf('.');
      const check = dot === -1 || last === dot ? undefined : byHeader.get(token.slice(0, dot));
      if (check === undefined || !check(Buffer.from(token.slice(0, last)), Buffer.from(token.slice(last + 1), 'base64url'))) return null;
      let payload: Record<string, unknown>;
      try {
        payload = JSON.parse(Buffer.from(token.slice(dot + 1, last), 'base64url').toString('utf8')) as Record<string, unknown>;
      } catch {
        return null;
      }
      // One gateway's own key: its own issuer. A fleet's keys: the key is what is trusted, whichever gateway signed.
      if ((keys.fleet ? typeof payload.iss !== 'string' : payload.iss !== issuer) || payload.aud !== AUDIENCE || typeof payload.exp !== 'number' || payload.exp * 1000 <= t) return null;
      const chain = chainOf(payload);
      if (chain === null || chain.length < 2) return null;
      const wf = payload.aos_workflow_id;
      const usd = payload.aos_workflow_usd;
      const handoffs = payload.aos_workflow_handoffs;
      const d: Delegation = {
        chain,
        depth: chain.length - 1,
        workflowId: typeof wf === 'string' && wf !== '' ? wf : null,
        workflowUsd: typeof usd === 'number' && usd >= 0 ? usd : null,
        workflowHandoffs: Number.isInteger(handoffs) && (handoffs as number) >= 0 ? (handoffs as number) : null,
        expiresAt: payload.exp,
      };
      if (verified.size >= CACHE_MAX) verified.clear();
      verified.set(token, d);
      return d;
    },
  };
}

/**
 * Pipeline stage, right after authentication, composed when some agent has an A2A endpoint or
 * `identity.delegation` is set: a call without `x-aos-delegation` pays one header lookup. A token a
 * trusted key signed for the authenticated agent puts its chain on the call (`ctx.delegation`) and
 * joins its workflow; any other token is ignored and the call flagged `delegation_ignored`.
 */
export function createDelegationStage(keys: () => DelegationKeys | null): Stage {
  return function delegationStage(ctx) {
    const token = ctx.req.headers[DELEGATION_HEADER];
    if (token === undefined) return;
    const d = typeof token === 'string' && ctx.agent !== null ? (keys()?.verify(token) ?? null) : null;
    if (d === null || d.chain[d.chain.length - 1] !== ctx.agent!.id) {
      ctx.flag('delegation_ignored');
      return;
    }
    ctx.delegation = d;
    if (d.workflowId !== null && d.workflowId !== ctx.workflowId) joinWorkflow(ctx, d.workflowId);
  };
}
