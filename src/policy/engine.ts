import { createRequire } from 'node:module';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { BundleError } from '../errors.js';

// The package's ESM entry does not export loadPolicySync (its types say it does); its CJS entry does.
const { loadPolicySync } = createRequire(import.meta.url)('@open-policy-agent/opa-wasm') as typeof import('@open-policy-agent/opa-wasm');

import type { Decision, Obligations, PolicyBundle, PolicyInput, PolicyRegistryData, PolicyResult } from './types.js';

export const ENTRYPOINT = 'aos/decision';

export interface EngineLimits {
  /** Wasm memory cap in 64 KiB pages. */
  maxMemoryPages: number;
  maxInputBytes: number;
}

/** One loaded bundle, ready to decide. `evaluate` never throws: any failure is a denial. */
export interface PolicyEngine {
  readonly bundle: PolicyBundle;
  readonly revision: string;
  evaluate(input: PolicyInput): Decision;
}

/** Decisions remembered per engine; the map is emptied when full (simple, and bounded). */
const DECISION_CACHE_SIZE = 10_000;

const OBLIGATION_KEYS = new Set(['max_tokens', 'model', 'redact', 'require_approval']);

/** Why a policy result is not a decision, or null when it is one. */
export function checkResult(value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'the policy result is not an object';
  const r = value as Record<string, unknown>;
  if (typeof r.allow !== 'boolean') return 'the policy result has no boolean "allow"';
  if (!Array.isArray(r.reasons) || !r.reasons.every((x) => typeof x === 'string')) return 'the policy result has no string array "reasons"';
  const o = r.obligations;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return 'the policy result has no object "obligations"';
  for (const [k, v] of Object.entries(o)) {
    if (!OBLIGATION_KEYS.has(k)) return `unknown obligation "${k}"`;
    if (k === 'max_tokens' && !(Number.isInteger(v) && (v as number) > 0)) return 'obligation max_tokens must be a positive integer';
    if (k === 'model' && !(typeof v === 'string' && v.length > 0)) return 'obligation model must be a non-empty string';
    if ((k === 'redact' || k === 'require_approval') && typeof v !== 'boolean') return `obligation ${k} must be a boolean`;
  }
  return null;
}

/**
 * Compiles a bundle's Wasm and loads its data (the bundle's own, plus the agent registry's templates
 * under `registry`), off to the side: the caller swaps the engine in only once this resolved, so a
 * bad bundle never replaces a good one. Refuses a bundle without the `aos/decision` entrypoint or
 * whose decision on a probe input is malformed.
 */
export async function loadEngine(bundle: PolicyBundle, registry: PolicyRegistryData, limits: EngineLimits): Promise<PolicyEngine> {
  const module = await WebAssembly.compile(bundle.wasm as Uint8Array<ArrayBuffer>);
  const data = new TextEncoder().encode(JSON.stringify({ ...bundle.data, registry })).buffer as ArrayBuffer;
  const instantiate = (): LoadedPolicy => {
    const policy = loadPolicySync(module, { initial: 2, maximum: limits.maxMemoryPages });
    if (!(ENTRYPOINT in (policy.entrypoints as Record<string, number>))) {
      throw new BundleError('AOS_ERR_BUNDLE_UNLOADABLE', `the bundle has no ${ENTRYPOINT} entrypoint (has: ${Object.keys(policy.entrypoints).join(', ') || 'none'})`);
    }
    policy.setData(data);
    return policy;
  };
  let policy = instantiate();
  const encoder = new TextEncoder();
  const revision = bundle.revision;
  // A bundle may declare (data.aos.gateway.cache_decisions) that its decision depends on nothing
  // but the input less request.id and request.time_ns and the bundle's data. Its decisions are then
  // remembered per engine (a new bundle or registry is a new engine), bounded in size. The object
  // form `{ "ignore": ["call.est_input_tokens", …] }` names more input fields the decision does not
  // read: they are null in what the policy evaluates, so the cache can never hide a field it uses.
  const gateway = (bundle.data.aos as { gateway?: { cache_decisions?: unknown } } | undefined)?.gateway;
  const ignored = cacheDeclaration(gateway?.cache_decisions);
  const cache = ignored === null ? null : new Map<string, Decision>();

  const deny = (error: string): Decision => ({ allow: false, reasons: [], obligations: {}, revision, error });

  const engine: PolicyEngine = {
    bundle,
    revision,
    evaluate(input) {
      if (cache === null) return decideNow(JSON.stringify(input));
      // The decision depends on neither field (the bundle says so): the key's JSON is evaluated as it is.
      const { id, time_ns } = input.request;
      input.request.id = '';
      input.request.time_ns = 0;
      const kept = ignored!.length === 0 ? null : blank(input, ignored!);
      const key = JSON.stringify(input);
      input.request.id = id;
      input.request.time_ns = time_ns;
      if (kept !== null) restore(input, ignored!, kept);
      const hit = cache.get(key);
      if (hit !== undefined) return hit;
      const decision = decideNow(key);
      if (decision.error === null) {
        if (cache.size >= DECISION_CACHE_SIZE) cache.clear();
        cache.set(key, decision);
      }
      return decision;
    },
  };
  function decideNow(input: string): Decision {
    const json = encoder.encode(input);
    if (json.byteLength > limits.maxInputBytes) return deny(`policy input too large (${json.byteLength} bytes, limit ${limits.maxInputBytes})`);
    let rs: unknown;
    try {
      rs = policy.evaluate(json.buffer, ENTRYPOINT);
    } catch (err) {
      // A trap (memory exhausted, abort) leaves the instance in an unknown state: start a fresh one.
      try {
        policy = instantiate();
      } catch {
        /* the module loaded before; keep the old instance if a fresh one cannot be made */
      }
      return deny(`policy evaluation failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!Array.isArray(rs) || rs.length === 0) return deny('the policy returned no decision');
    const result = (rs[0] as { result?: unknown }).result;
    const problem = checkResult(result);
    if (problem !== null) return deny(problem);
    const r = result as PolicyResult;
    return Object.freeze({ allow: r.allow, reasons: r.reasons, obligations: Object.freeze(r.obligations as Obligations), revision, error: null });
  }
  const probe = engine.evaluate(PROBE_INPUT);
  if (probe.error !== null) throw new BundleError('AOS_ERR_BUNDLE_UNLOADABLE', `the bundle's decision on a probe input is invalid: ${probe.error}`);
  return engine;
}

/** An input field by its dotted path: the object that holds it and its key. */
interface FieldPath {
  readonly parents: readonly string[];
  readonly key: string;
}

/** What a bundle's cache declaration says: null (no cache), or the extra input fields its decision ignores. */
export function cacheDeclaration(value: unknown): FieldPath[] | null {
  if (value === true) return [];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const ignore = (value as { ignore?: unknown }).ignore;
  if (!Array.isArray(ignore)) return null;
  const paths: FieldPath[] = [];
  for (const p of ignore) {
    // agent.id or request.path would merge decisions of different agents or routes: only fields
    // of the call and the budget may be declared.
    if (typeof p !== 'string' || !/^(call|budget)(\.[a-z_]+)+$/.test(p)) {
      throw new BundleError('AOS_ERR_BUNDLE_UNLOADABLE', `data.aos.gateway.cache_decisions.ignore: ${JSON.stringify(p)} is not a field of call or budget (e.g. "call.est_input_tokens")`);
    }
    const parts = p.split('.');
    paths.push({ parents: parts.slice(0, -1), key: parts[parts.length - 1] });
  }
  return paths;
}

function holder(input: PolicyInput, path: FieldPath): Record<string, unknown> | null {
  let o: unknown = input;
  for (const k of path.parents) {
    o = (o as Record<string, unknown>)[k];
    if (o === null || typeof o !== 'object') return null;
  }
  return o as Record<string, unknown>;
}

/** Sets the ignored fields that are present to null; returns their values, in order. */
function blank(input: PolicyInput, paths: readonly FieldPath[]): unknown[] {
  const kept: unknown[] = [];
  for (const p of paths) {
    const h = holder(input, p);
    kept.push(h === null ? undefined : h[p.key]);
    if (h !== null && p.key in h) h[p.key] = null;
  }
  return kept;
}

function restore(input: PolicyInput, paths: readonly FieldPath[], kept: readonly unknown[]): void {
  for (let i = 0; i < paths.length; i++) {
    const h = holder(input, paths[i]);
    if (h !== null && kept[i] !== undefined) h[paths[i].key] = kept[i];
  }
}

/** A plausible input, evaluated once at load to refuse bundles that cannot produce a decision. */
const PROBE_INPUT: PolicyInput = {
  agent: { id: 'probe', team: 'probe', roles: [], template: 'probe', template_version: 1, labels: {}, status: 'active' },
  request: { id: 'probe', method: 'POST', path: '/v1/chat/completions', route: 'probe/chat.completions', time_ns: 0 },
  call: { kind: 'model', provider: 'probe', operation: 'chat.completions', model: 'probe', stream: false, max_tokens: null, est_input_tokens: null, tool: null, findings: [] },
  budget: null,
};
