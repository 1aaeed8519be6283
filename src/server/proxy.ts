import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { GatewayError, renderError, renderStreamError, toGatewayError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { readBody, parseJson } from '../pipeline/body.js';
import { CallContext, type Stage } from '../pipeline/context.js';
import { requestId } from '../pipeline/request-id.js';
import type { Metrics } from '../telemetry/metrics.js';
import { forward } from '../upstream/forward.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Router } from './router.js';
import type { ToolStages } from '../tools/stages.js';

/** What one config produces for the request handler; swapped whole on reload. */
export interface ProxyState {
  readonly config: GatewayConfig;
  readonly router: Router;
  /** Stages for inspected (JSON) routes and for pass-through routes, composed once. */
  readonly inspected: readonly Stage[];
  readonly passthrough: readonly Stage[];
  /** Stages for HTTP tools (`/tools/<name>/…`) and MCP servers (`/mcp/<name>`). */
  readonly tool: readonly Stage[];
  readonly mcp: readonly Stage[];
}

/**
 * Composes the stages once per config. A stage turned off by config is absent, not checked per
 * request. Identity comes first, so no body of an unauthenticated client is read.
 */
export function createProxyState(
  config: GatewayConfig,
  router: Router,
  stages: {
    identity: Stage | null;
    policy: Stage | null;
    /** Before the policy: the pre-flight estimate and budget state for the policy input. */
    meterEstimate?: Stage | null;
    /** After the policy: the atomic budget and rate-limit reservation. */
    meterReserve?: Stage | null;
    tools?: ToolStages | null;
    /** Last before forwarding: the call is recorded as decided (audit, trace). */
    decided?: Stage | null;
  },
): ProxyState {
  const estimate = stages.meterEstimate ?? null;
  const reserve = stages.meterReserve ?? null;
  const body = readBody(config.limits.maxBodyBytes);
  const present = (...list: (Stage | null)[]) => list.filter((s): s is Stage => s !== null);
  const tools = stages.tools ?? null;
  const decided = stages.decided ?? null;
  return {
    config,
    router,
    inspected: present(stages.identity, body, parseJson, estimate, stages.policy, reserve, decided),
    passthrough: present(stages.identity, body, estimate, stages.policy, reserve, decided),
    // An undeclared operation is refused before the body is read; the MCP stage runs the policy itself
    // (for requests: notifications and answers pass through undecided). Tool calls count against
    // tool-call budgets and rate limits.
    tool: tools === null ? [] : present(stages.identity, tools.operation, body, tools.describe, stages.policy, tools.validate, reserve, decided),
    mcp: tools === null ? [] : present(stages.identity, body, tools.mcp, reserve, decided),
  };
}

export interface ProxyHandlerOptions {
  state(): ProxyState;
  metrics: Metrics;
  log: Logger;
  /** True once shutdown began: answer, then close the connection. */
  draining(): boolean;
  /** Called when a request starts and ends, for graceful shutdown accounting. */
  track(delta: 1 | -1): void;
  /**
   * Called once per request after its finishers ran (so e.g. budget reconciliation is done): the
   * audit event and the trace span are completed here. Milliseconds; upstream null when not reached.
   */
  onFinished?(ctx: CallContext, status: number, totalMs: number, upstreamMs: number | null): void;
}

/** Dot segments (plain or percent-encoded) and backslashes: a path must not climb out of its mount. */
const BAD_PATH = /(?:^|\/)\.\.?(?:\/|$)|%2e|%5c|\\/i;

/** How many Host header lines a request carries (RFC 9112 §3.2: exactly one in HTTP/1.1). */
function hostLines(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') n++;
  return n;
}

/** The request handler of the proxy listener: route, run the stages, forward, account. */
export function createProxyHandler(opts: ProxyHandlerOptions) {
  const { metrics, log } = opts;
  const onFinished = opts.onFinished ?? null;

  const finished = (ctx: CallContext) => {
    opts.track(-1);
    metrics.inflight.dec();
    const end = performance.now();
    const upstream = ctx.upstreamStart === 0 ? null : (ctx.upstreamEnd || end) - ctx.upstreamStart;
    const total = end - ctx.start;
    const status = ctx.res.headersSent ? ctx.res.statusCode : 499;
    metrics.observe(ctx.route?.name ?? 'unmatched', status, (total - (upstream ?? 0)) / 1000, upstream === null ? null : upstream / 1000);
    ctx.finish();
    if (onFinished !== null) {
      try {
        onFinished(ctx, status, total, upstream);
      } catch (err) {
        log.error('request finish hook failed', { id: ctx.id, err });
      }
    }
  };

  return async function handleProxyRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const start = performance.now();
    opts.track(1);
    metrics.inflight.inc();
    const state = opts.state();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const ctx = new CallContext(requestId(), req, res, start, path, q === -1 ? '' : url.slice(q), state.router.dialectFor(path, req.headers['anthropic-version'] !== undefined));
    req.on('error', noop);
    res.on('error', noop);
    res.once('close', () => finished(ctx));
    if (opts.draining()) res.shouldKeepAlive = false;
    try {
      if (req.httpVersionMajor !== 1) {
        // llhttp parses HTTP/0.9 (no version) and HTTP/2.0 request lines; only HTTP/1.x is spoken here.
        res.shouldKeepAlive = false;
        throw new GatewayError('aos_bad_request', `HTTP/${req.httpVersion} is not supported: use HTTP/1.1`, { headers: { connection: 'close' } });
      }
      if (url.charCodeAt(0) !== 47 /* '/' */) {
        throw new GatewayError('aos_bad_request', 'only origin-form request targets are accepted (a path starting with /)');
      }
      if (BAD_PATH.test(path)) throw new GatewayError('aos_bad_request', 'the path contains dot segments or backslashes');
      if (req.rawHeaders.length / 2 > state.config.limits.maxHeaders) {
        throw new GatewayError('aos_header_too_large', `more than ${state.config.limits.maxHeaders} request headers`);
      }
      const hosts = hostLines(req.rawHeaders);
      if (hosts > 1 || (hosts === 0 && req.httpVersionMinor === 1)) {
        throw new GatewayError('aos_bad_request', hosts > 1 ? 'more than one Host header' : 'an HTTP/1.1 request needs a Host header');
      }
      const route = state.router.match(path, req.headers['anthropic-version'] !== undefined, req.method);
      if (route === null) throw new GatewayError('aos_route_not_found', `no route for ${path}`);
      ctx.route = route;
      ctx.dialect = route.upstream.dialect.errors;
      const methods = route.operation.methods;
      if (methods.length > 0 && !methods.includes(req.method!)) {
        throw new GatewayError('aos_method_not_allowed', `${req.method} is not allowed on ${path} (allowed: ${methods.join(', ')})`, { headers: { allow: methods.join(', ') } });
      }
      const stages = route.tool === undefined ? (route.operation.inspect ? state.inspected : state.passthrough) : route.tool.kind === 'tool' ? state.tool : state.mcp;
      for (let i = 0; i < stages.length; i++) {
        const pending = stages[i](ctx);
        if (pending !== undefined) await pending;
      }
      await forward(ctx, { retries: state.config.upstream.retries, log, upstreamError: metrics.upstreamError });
    } catch (err) {
      sendError(ctx, toGatewayError(err), log);
    }
  };
}

function noop() {}

/** Answers with an error in the caller's dialect; after headers were sent, ends the stream with it. */
export function sendError(ctx: CallContext, err: GatewayError, log: Logger): void {
  const { res } = ctx;
  ctx.errorCode = err.code;
  if (err.code === 'aos_internal_error') log.error('request failed', { id: ctx.id, path: ctx.path, err: err.cause });
  if (res.destroyed) return;
  if (res.headersSent) {
    if (ctx.streaming) res.end(renderStreamError(err, ctx.dialect, ctx.rpcId));
    else res.destroy();
    return;
  }
  // An MCP request's error is a JSON-RPC response to it (HTTP 200), which the MCP SDKs raise as
  // that request's error; a status would fail the transport instead. Without an id, the status.
  const status = ctx.rpcId !== null && ctx.dialect === 'jsonrpc' ? 200 : err.status;
  writeError(res, status, err.code, renderError(err, ctx.dialect, ctx.rpcId), ctx.id, err.headers);
}

export function writeError(res: ServerResponse, status: number, code: ErrorCode, body: string, id: string, extra: Record<string, string> | null): void {
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-aos-request-id': id,
    'x-aos-error-code': code,
  };
  if (extra !== null) Object.assign(headers, extra);
  res.writeHead(status, headers);
  res.end(body);
}
