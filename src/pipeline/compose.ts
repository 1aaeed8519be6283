import { performance } from 'node:perf_hooks';
import type { GatewayConfig } from '../config/schema.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { CLAIM_HEADER } from '../providers/index.js';
import type { Router } from '../routing/router.js';
import type { ToolStages } from '../tools/stages.js';
import { forward, type ForwardOptions } from '../upstream/forward.js';
import { readBody, parseJson } from './body.js';
import type { CallContext, Stage } from './context.js';
import { checkRequest } from './request-checks.js';
import { sendError } from './respond.js';

/** The stages a configuration turns on; null: off, and then absent from the pipeline. */
export interface PipelineStages {
  /** First on every request: its finisher, the last to run, counts the call and its latency. */
  metrics: Stage;
  /**
   * First on every request, before it is even checked: a stage that must see every outcome through
   * its finisher (the audit record and the call's span), after every later stage's.
   */
  record: Stage | null;
  identity: Stage | null;
  policy: Stage | null;
  /** Before the policy: the pre-flight estimate and budget state for the policy input. */
  meterEstimate: Stage | null;
  /** After the policy: the atomic budget and rate-limit reservation. */
  meterReserve: Stage | null;
  /** HTTP tools and MCP servers (null without a `tools:` section). */
  tools: ToolStages | null;
}

/** One configuration's pipeline: composed once, swapped whole on reload. */
export interface Pipeline {
  readonly config: GatewayConfig;
  readonly router: Router;
  /** Every request: metrics, record, request checks. */
  readonly head: readonly Stage[];
  /** After routing, by kind of route: inspected (JSON) operations, pass-through, HTTP tools, MCP. */
  readonly inspected: readonly Stage[];
  readonly passthrough: readonly Stage[];
  readonly tool: readonly Stage[];
  readonly mcp: readonly Stage[];
  readonly forward: ForwardOptions;
}

const present = (...list: (Stage | null)[]): Stage[] => list.filter((s): s is Stage => s !== null);

/**
 * Composes the stages once per configuration. A stage turned off by config is absent, not checked
 * per request. Identity comes first after routing, so no body of an unauthenticated client is read.
 * The order is the one docs/lifecycle.md describes.
 */
export function composePipeline(config: GatewayConfig, router: Router, s: PipelineStages, forwardOptions: ForwardOptions): Pipeline {
  const body = readBody(config.limits.maxBodyBytes);
  const t = s.tools;
  return {
    config,
    router,
    forward: forwardOptions,
    head: present(s.metrics, s.record, checkRequest(config.limits.maxHeaders)),
    inspected: present(s.identity, body, parseJson, s.meterEstimate, s.policy, s.meterReserve),
    passthrough: present(s.identity, body, s.meterEstimate, s.policy, s.meterReserve),
    // An undeclared operation is refused before the body is read. Tool calls count against
    // tool-call budgets and rate limits.
    tool: t === null ? [] : present(s.identity, t.operation, body, t.describe, s.policy, t.validate, s.meterReserve),
    mcp: t === null ? [] : present(s.identity, body, t.mcp, s.policy, t.mcpValidate, s.meterReserve),
  };
}

async function runStages(stages: readonly Stage[], ctx: CallContext): Promise<void> {
  for (let i = 0; i < stages.length; i++) {
    const pending = stages[i](ctx);
    if (pending !== undefined) await pending;
  }
}

/** Routes the request, runs its stages, forwards it; any refusal answers in the caller's dialect. */
export async function runPipeline(p: Pipeline, ctx: CallContext, log: Logger): Promise<void> {
  try {
    await runStages(p.head, ctx);
    const method = ctx.req.method ?? 'GET';
    const route = p.router.match(ctx.path, ctx.req.headers[CLAIM_HEADER] !== undefined, method);
    if (route === null) throw new GatewayError('aos_route_not_found', `no route for ${ctx.path}`);
    ctx.route = route;
    ctx.dialect = route.upstream.dialect.errors;
    const methods = route.operation.methods;
    if (methods.length > 0 && !methods.includes(method)) {
      throw new GatewayError('aos_method_not_allowed', `${method} is not allowed on ${ctx.path} (allowed: ${methods.join(', ')})`, { headers: { allow: methods.join(', ') } });
    }
    const kind = route.tool?.kind;
    await runStages(kind === undefined ? (route.operation.inspect ? p.inspected : p.passthrough) : kind === 'tool' ? p.tool : p.mcp, ctx);
    ctx.forwarding();
    await forward(ctx, p.forward);
  } catch (err) {
    sendError(ctx, toGatewayError(err), log);
  }
}

/**
 * The request's end, once, when its response closed: how it ended (a client that left before the
 * whole response was sent is `client_aborted`, status 499, even mid-stream), then the finishers.
 */
export function finishCall(ctx: CallContext): void {
  const end = performance.now();
  const { res } = ctx;
  if (!res.writableFinished && ctx.errorCode === null) ctx.errorCode = 'client_aborted';
  const status = ctx.errorCode === 'client_aborted' || !res.headersSent ? 499 : res.statusCode;
  ctx.finish({ status, totalMs: end - ctx.start, upstreamMs: ctx.upstreamStart === 0 ? null : (ctx.upstreamEnd || end) - ctx.upstreamStart });
}
