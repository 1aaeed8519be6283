import { performance } from 'node:perf_hooks';
import type { GatewayConfig } from '../config/schema.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { CLAIM_HEADER } from '../providers/index.js';
import type { Router } from '../routing/router.js';
import type { WriteBarrier } from '../store/write-barrier.js';
import { type ForwardOptions, forward } from '../upstream/forward.js';
import type { CallContext, Stage } from './context.js';
import { sendError } from './respond.js';
import { checkUpgrade } from './session.js';

/** One configuration's pipeline: composed once, swapped whole on reload. */
export interface Pipeline {
  readonly config: GatewayConfig;
  readonly router: Router;
  /** Every request: metrics, record, request checks. */
  readonly head: readonly Stage[];
  /** After routing, by kind of route: inspected (JSON) operations, pass-through, HTTP tools, MCP. */
  readonly inspected: readonly Stage[];
  readonly passthrough: readonly Stage[];
  /** WebSocket sessions (the Realtime API): decided like a model call, then relayed. */
  readonly session: readonly Stage[];
  readonly tool: readonly Stage[];
  readonly mcp: readonly Stage[];
  /** An MCP server's protected resource metadata (answered by the gateway, no token needed). */
  readonly mcpMetadata: readonly Stage[];
  /** A2A hand-offs to a registered agent (`/a2a/<agent>`), and its card (answered by the gateway). */
  readonly a2a: readonly Stage[];
  readonly a2aCard: readonly Stage[];
  /** Shared memory (`/memory/v1/…`, `/mcp/memory`): decided like any call, answered by the gateway from its store. */
  readonly memory: readonly Stage[];
  readonly forward: ForwardOptions;
  /** Relays an accepted WebSocket session (src/upstream/realtime.ts); null: upgrades are refused. */
  readonly relay: Relay | null;
  /** The records of the calls decided in this turn are written before they are forwarded (null: written at once). */
  readonly barrier: WriteBarrier | null;
}

/** Opens and relays a decided WebSocket session; resolves when it is over, rejects (a GatewayError) only before the upgrade was answered. */
export type Relay = (ctx: CallContext) => Promise<void>;

/** Runs stages in order; a promise only when one of them is asynchronous (most are not: no tick is paid for them). */
function runStages(stages: readonly Stage[], ctx: CallContext, from = 0): Promise<void> | undefined {
  for (let i = from; i < stages.length; i++) {
    const pending = stages[i](ctx);
    if (pending !== undefined) return pending.then(() => runStages(stages, ctx, i + 1));
  }
  return undefined;
}

/** Routes the request, runs its stages, forwards it; any refusal answers in the caller's dialect. */
export async function runPipeline(p: Pipeline, ctx: CallContext, log: Logger): Promise<void> {
  try {
    const head = runStages(p.head, ctx);
    if (head !== undefined) await head;
    const method = ctx.req.method ?? 'GET';
    const route = p.router.match(ctx.path, ctx.req.headers[CLAIM_HEADER] !== undefined, method);
    if (route === null) throw new GatewayError('aos_route_not_found', `no route for ${ctx.path}`);
    ctx.route = route;
    ctx.dialect = route.upstream.dialect.errors;
    const methods = route.operation.methods;
    if (methods.length > 0 && !methods.includes(method)) {
      throw new GatewayError('aos_method_not_allowed', `${method} is not allowed on ${ctx.path} (allowed: ${methods.join(', ')})`, { headers: { allow: methods.join(', ') } });
    }
    const session = route.operation.upgrade === true && p.relay !== null;
    checkUpgrade(ctx, session);
    const kind = route.tool?.kind;
    const stages = runStages(
      kind === undefined
        ? session
          ? p.session
          : route.operation.inspect
            ? p.inspected
            : p.passthrough
        : kind === 'tool'
          ? p.tool
          : kind === 'mcp'
            ? p.mcp
            : kind === 'a2a'
              ? p.a2a
              : kind === 'a2a-card'
                ? p.a2aCard
                : kind === 'memory'
                  ? p.memory
                  : p.mcpMetadata,
      ctx,
    );
    if (stages !== undefined) await stages;
    if (ctx.answered) return;
    ctx.forwarding();
    const durable = p.barrier?.ready() ?? null;
    if (durable !== null) await durable;
    await (session ? p.relay!(ctx) : forward(ctx, p.forward));
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
  if (ctx.session !== null) {
    // A WebSocket session: 101 was its answer; how it closed is in ctx.session (and errorCode when the gateway ended it).
    ctx.finish({ status: 101, totalMs: end - ctx.start, upstreamMs: ctx.upstreamStart === 0 ? null : (ctx.upstreamEnd || end) - ctx.upstreamStart });
    return;
  }
  if (!res.writableFinished && ctx.errorCode === null) ctx.errorCode = 'client_aborted';
  const status = ctx.errorCode === 'client_aborted' || !res.headersSent ? 499 : res.statusCode;
  ctx.finish({ status, totalMs: end - ctx.start, upstreamMs: ctx.upstreamStart === 0 ? null : (ctx.upstreamEnd || end) - ctx.upstreamStart });
}
