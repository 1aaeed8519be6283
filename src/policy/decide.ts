import { performance } from 'node:perf_hooks';
import { GatewayError } from '../errors.js';
import type { CallContext, Stage } from '../pipeline/context.js';
import { getPath, setPath, type ToolCall } from '../providers/dialect.js';
import type { PolicyMetrics } from '../telemetry/metrics.js';
import type { PolicyEngine } from './engine.js';
import type { Obligations, PolicyInput } from './types.js';

export interface DecideOptions {
  /** The engine in force; null while no bundle has loaded (calls are then denied). */
  engine(): PolicyEngine | null;
  metrics: PolicyMetrics;
  /** The approval gate (src/approvals/) a decision that obliges `require_approval` runs, last; absent: such calls are refused. */
  approve?: ((ctx: CallContext) => Promise<void>) | null;
}

/**
 * The policy input of DESIGN.md, from what earlier stages put on the context. A suspended agent
 * never gets this far (authentication refuses it), so the agent's status here is always active.
 */
export function policyInput(ctx: CallContext): PolicyInput {
  const route = ctx.route!;
  const call = ctx.call;
  const agent = ctx.agent;
  const input: PolicyInput = {
    agent:
      agent === null
        ? null
        : {
            id: agent.id,
            team: agent.team,
            roles: agent.roles as string[],
            template: agent.template,
            template_version: agent.templateVersion,
            labels: agent.labels as Record<string, string>,
            status: 'active',
          },
    request: { id: ctx.id, method: ctx.req.method ?? 'GET', path: ctx.path, route: route.name, time_ns: Date.now() * 1e6 },
    call: {
      kind: call?.kind ?? 'http',
      provider: route.upstream.name,
      operation: call?.operation ?? route.operation.name,
      model: call?.model ?? null,
      stream: call?.stream ?? false,
      max_tokens: call?.maxTokens ?? null,
      est_input_tokens: ctx.estInputTokens,
      tool: call?.tool == null ? null : policyTool(call.tool),
      findings: ctx.findings ?? [],
    },
    budget: ctx.budget,
  };
  // Only A2A hand-offs and delegated calls carry these keys: every other input stays as it was.
  if (call?.a2a !== undefined) input.call.a2a = { ...call.a2a };
  const d = ctx.delegation;
  if (d !== null) input.call.delegation = { chain: d.chain.slice(), depth: d.depth };
  // Only shared memory operations carry the key: every other call's input is as before.
  if (call?.memory !== undefined) input.call.memory = call.memory;
  return input;
}

/** A tool call as the policy sees it: traits default to unlabelled, not sensitive, not read-only. */
export function policyTool(t: ToolCall): Required<NonNullable<PolicyInput['call']['tool']>> {
  return { name: t.name, server: t.server, args: t.args, labels: t.labels ?? {}, sensitive: t.sensitive ?? false, read_only: t.readOnly ?? false };
}

/**
 * Pipeline stage: decides the call by policy and enforces the decision. Fails closed: no engine, an
 * evaluation error or a malformed result deny with `aos_policy_error`. Obligations the gateway can
 * enforce (max_tokens cap, model rewrite) rewrite the upstream request; `require_approval` binds
 * the call to a human approval (src/approvals/gate.ts); those it cannot enforce yet deny with a
 * code that says so.
 */
export function decide(opts: DecideOptions): Stage {
  const { metrics } = opts;
  return function decideStage(ctx) {
    if (ctx.call?.undecided === true) return;
    const engine = opts.engine();
    if (engine === null) {
      metrics.decided('error', 0);
      throw new GatewayError('aos_policy_error', 'no policy bundle is loaded: calls are denied until one is');
    }
    const t0 = performance.now();
    const decision = engine.evaluate(policyInput(ctx));
    ctx.decision = decision;
    if (decision.error !== null) {
      metrics.decided('error', (performance.now() - t0) / 1000);
      throw new GatewayError('aos_policy_error', `policy error (revision ${decision.revision}): ${decision.error}`);
    }
    metrics.decided(decision.allow ? 'allow' : 'deny', (performance.now() - t0) / 1000);
    if (!decision.allow) {
      const why = decision.reasons.length > 0 ? decision.reasons.join('; ') : 'no reason given';
      throw new GatewayError('aos_policy_denied', `denied by policy: ${why}`);
    }
    const o = decision.obligations;
    if (o.redact === true) {
      // Nothing scanned (guardrails off, an uninspected pass-through): redaction cannot be promised.
      if (ctx.findings === null) throw new GatewayError('aos_obligation_unsupported', 'the policy requires redaction, but the guardrails did not scan this call');
      ctx.redact?.();
    }
    if (o.max_tokens !== undefined || o.model !== undefined) enforce(ctx, o);
    if (o.require_approval === true) return requireApproval(opts, ctx);
  };
}

/** Last, once every other obligation was enforced: a call refused for another reason never asks a person. */
function requireApproval(opts: DecideOptions, ctx: CallContext): Promise<void> {
  if (opts.approve == null) throw new GatewayError('aos_approval_required', 'this call needs a human approval first (the policy requires it)');
  return opts.approve(ctx);
}

/** Rewrites the JSON body for the max_tokens cap and the model; the forwarder re-serializes it when changed. */
function enforce(ctx: CallContext, o: Obligations): void {
  const body = ctx.json as Record<string, unknown> | undefined;
  const call = ctx.call;
  if (call !== null && call.kind === 'model' && ctx.route!.operation.upgrade === true) {
    enforceOnSession(call, o);
    return;
  }
  if (body === undefined || call === null || call.kind !== 'model') return; // uninspected pass-through or a tool call: nothing to rewrite
  let changed = false;
  const route = ctx.route!;
  if (o.model !== undefined && call.model !== o.model && (route.model !== undefined || route.upstream.deployments !== null)) {
    // The model is a segment of the path, or a deployment name: not rewritten, so not enforced.
    throw new GatewayError(
      'aos_obligation_unsupported',
      `the policy requires model ${o.model}; provider ${route.upstream.name} names models by path or deployment, which the gateway does not rewrite`,
    );
  }
  if (o.model !== undefined && body.model !== o.model) {
    body.model = o.model;
    call.model = o.model;
    changed = true;
  }
  const field = o.max_tokens === undefined ? null : ctx.route!.upstream.dialect.maxTokensField(ctx.route!.operation);
  if (field !== null) {
    const cap = o.max_tokens!;
    const used = field.present.find((k) => typeof getPath(body, k) === 'number');
    if (used === undefined) {
      setPath(body, field.set, cap);
      changed = true;
    } else if ((getPath(body, used) as number) > cap) {
      setPath(body, used, cap);
      changed = true;
    }
    if (call.maxTokens === null || call.maxTokens > cap) call.maxTokens = cap;
  }
  if (changed) ctx.jsonChanged = true;
}

/**
 * A WebSocket session (Realtime) has no body to rewrite: its model is in the query string, its
 * output caps in later events. A model the policy changes is refused; a `max_tokens` cap bounds what
 * each response reserves (the events themselves are relayed unchanged).
 */
function enforceOnSession(call: NonNullable<CallContext['call']>, o: Obligations): void {
  if (o.model !== undefined && o.model !== call.model) {
    throw new GatewayError('aos_obligation_unsupported', `the policy requires model ${o.model}; a realtime session names its model when it opens, which the gateway does not rewrite`);
  }
  if (o.max_tokens !== undefined && (call.maxTokens === null || call.maxTokens > o.max_tokens)) call.maxTokens = o.max_tokens;
}
