import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { GatewayError, renderStreamError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallContext } from '../pipeline/context.js';
import { CallDeadline } from './deadlines.js';
import { tapAfter, tapData, tapEnd, tapHold } from './tap.js';
import type { Upstream } from './upstreams.js';

/** Request headers never forwarded: hop-by-hop, the agent's own credentials, and what we set. */
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'content-length',
  'expect',
  'accept-encoding',
  'x-aos-request-id',
  // The approval an agent names is the gateway's business (src/approvals/), not the upstream's.
  'x-aos-approval-id',
  // The response cache's opt-in is the gateway's business (src/coordination/).
  'x-aos-cache',
  // A delegation token is the gateway's own (src/coordination/delegation.ts): an A2A callee gets a new one.
  'x-aos-delegation',
  'authorization',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
  'cookie',
]);
/** Response headers never passed back: hop-by-hop ones (Node frames the response itself). */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/** AWS's binary event stream (Bedrock): a stream, like server-sent events. */
const EVENT_STREAM = 'application/vnd.amazon.eventstream';

/** Connection failures that happen before any byte of the request was written: safe to retry. */
const RETRYABLE = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

export interface ForwardOptions {
  retries: number;
  log: Logger;
  upstreamError(provider: string, code: string): void;
}

/**
 * Builds the upstream request headers as a flat list: the agent's, minus the dropped ones and the
 * ones this provider's config sets (its credential header and extra headers), plus ours.
 */
export function upstreamHeaders(ctx: CallContext): string[] {
  const raw = ctx.req.rawHeaders;
  const out: string[] = [];
  const upstream = ctx.route!.upstream;
  const connection = ctx.req.headers.connection;
  const listed = connection && connection !== 'keep-alive' && connection !== 'close' ? new Set(connection.toLowerCase().split(/\s*,\s*/)) : null;
  const traceparent = ctx.traceparent;
  const own = ctx.upstreamHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (DROP_REQUEST.has(name) || listed?.has(name) || setByConfig(upstream, name) || upstream.authorize?.drops.has(name)) continue;
    if (own !== null && setBy(own, name)) continue;
    // With tracing on, the upstream sees the gateway's span as its parent (tracestate passes as is).
    if (traceparent !== null && name === 'traceparent') continue;
    out.push(name, raw[i + 1]);
  }
  if (traceparent !== null) out.push('traceparent', traceparent);
  // An own header with an empty value drops the agent's (e.g. a session id the gateway emulates).
  if (own !== null) for (let i = 0; i < own.length; i += 2) if (own[i + 1] !== '') out.push(own[i], own[i + 1]);
  out.push(...upstream.headers);
  if (upstream.auth !== null) out.push(upstream.auth[0], upstream.auth[1]);
  out.push('x-aos-request-id', ctx.id);
  return out;
}

/** The header is the provider's credential header (whatever its name) or one of its extra headers. */
function setByConfig(upstream: Upstream, name: string): boolean {
  if (upstream.auth !== null && upstream.auth[0] === name) return true;
  return setBy(upstream.headers, name);
}

function setBy(list: readonly string[], name: string): boolean {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return true;
  return false;
}

// Longer than most functions: one undici handler whose callbacks share the response's state (retries, backpressure, abort).
/**
 * Sends the request upstream and streams the answer back as it comes, honouring backpressure both
 * ways. Resolves when the response is over (or was cut and reported in the caller's dialect);
 * rejects with a GatewayError only while nothing has been sent to the client, so the caller can
 * answer with a clean error.
 */
export function forward(ctx: CallContext, opts: ForwardOptions): Promise<void> {
  if (ctx.cutBy !== null) return Promise.reject(ctx.cutBy);
  return new Promise((resolve, reject) => {
    const route = ctx.route!;
    const upstream = route.upstream;
    const { res } = ctx;
    const taps = ctx.taps;
    // Stages that changed the parsed body (policy obligations, metering) mark it; serialize once.
    if (ctx.jsonChanged) ctx.body = Buffer.from(JSON.stringify(ctx.json));
    const request: Dispatcher.DispatchOptions = {
      path: ctx.query === '' ? route.upstreamPath : route.upstreamPath + ctx.query,
      method: ctx.req.method as Dispatcher.HttpMethod,
      headers: upstreamHeaders(ctx),
      body: ctx.body !== null && ctx.body.length > 0 ? ctx.body : null,
      // The limits are this call's deadline's: undici's own timers cost an old-generation object each (deadlines.ts).
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    let attempts = 0;
    let controller: Dispatcher.DispatchController | null = null;
    let started = false;
    let settled = false;
    const deadline = new CallDeadline(upstream.headersTimeoutMs, route.bodyTimeoutMs ?? upstream.bodyTimeoutMs, (err) => controller?.abort(err));
    const settle = (err?: GatewayError) => {
      if (settled) return;
      settled = true;
      deadline.end();
      ctx.interrupt = null;
      ctx.upstreamEnd = performance.now();
      res.off('close', onClientClose);
      if (err) reject(err);
      else resolve();
    };
    const onClientClose = () => {
      if (!res.writableFinished) {
        ctx.errorCode ??= 'client_aborted';
        // Settle first: the abort calls onResponseError synchronously, and a client that left is
        // not an upstream failure (no warning, no aos_upstream_errors_total).
        settle();
        controller?.abort(new Error('client closed the connection'));
        if (started && taps !== null) for (const t of taps) t.onAbort?.('client');
      }
    };
    // Before the request's finish (registered earlier): the upstream is cut and the taps told first,
    // so the finishers (budget settlement, audit) see a client abort as one.
    res.prependListener('close', onClientClose);
    const onDrain = () => {
      deadline.resume();
      controller?.resume();
    };
    // A stream's headers go out without waiting for its first event, but only once the chunk of
    // upstream bytes that carried them has been parsed: an event that came with them then shares
    // their write (one syscall instead of two), and a slow first event still finds them sent.
    let bodyWritten = false;
    const flushStreamHeaders = () => {
      if (!bodyWritten && !res.destroyed && !res.writableEnded) res.flushHeaders();
    };

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (res.destroyed || settled) c.abort(new Error(settled ? 'the call was cut' : 'client closed the connection'));
        else deadline.sent();
      },
      onResponseStart(c, statusCode, headers) {
        started = true;
        deadline.received();
        const out: Record<string, string | string[]> = {};
        for (const name in headers) {
          if (!DROP_RESPONSE.has(name)) out[name] = headers[name] as string | string[];
        }
        out['x-aos-request-id'] = ctx.id;
        const type = headers['content-type'];
        ctx.streaming = typeof type === 'string' && (type.startsWith('text/event-stream') || type.startsWith(EVENT_STREAM));
        if (res.destroyed || settled) return c.abort(new Error(settled ? 'the call was cut' : 'client closed the connection'));
        if (taps !== null) for (const t of taps) t.onStart?.(statusCode, out);
        res.writeHead(statusCode, out);
        if (ctx.streaming) queueMicrotask(flushStreamHeaders);
      },
      onResponseData(c, chunk) {
        bodyWritten = true;
        deadline.received();
        const data = taps === null ? chunk : tapData(taps, chunk);
        if (data !== null && data.length > 0 && !res.write(data)) {
          deadline.pause();
          c.pause();
          res.once('drain', onDrain);
        }
      },
      onResponseEnd() {
        const tail = taps === null ? null : tapEnd(taps);
        const held = taps === null ? null : tapHold(taps);
        if (held !== null) {
          // A tap answers more itself before the response ends (tap.ts): the upstream part is over.
          if (tail !== null && tail.length > 0) res.write(tail);
          settle();
          tapAfter(taps!);
          void held.then((last) => void (res.destroyed || res.writableEnded || (last === null ? res.end() : res.end(last))));
          return;
        }
        if (tail !== null && tail.length > 0) res.end(tail);
        else res.end();
        settle();
        // The client has its last bytes: what the taps read is worked on now (usage, settlement).
        if (taps !== null) tapAfter(taps);
      },
      onResponseError(_c, err) {
        if (settled) return;
        const code = (err as NodeJS.ErrnoException).code ?? 'UNKNOWN';
        if (!started && RETRYABLE.has(code) && attempts < opts.retries && !res.destroyed) {
          attempts += 1;
          deadline.stop();
          upstream.pool.dispatch(request, handler);
          return;
        }
        opts.upstreamError(upstream.name, code);
        const timeout = code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
        const failure = timeout
          ? new GatewayError('aos_upstream_timeout', `upstream ${upstream.name} timed out (${code})`)
          : new GatewayError('aos_upstream_error', `upstream ${upstream.name} failed (${code})`);
        if (!started) return settle(failure);
        // Headers are gone: end the stream with an error event, or cut a plain body short, so the
        // client never mistakes a failed response for a complete one.
        ctx.errorCode = failure.code;
        if (taps !== null) for (const t of taps) t.onAbort?.('upstream');
        opts.log.warn('upstream failed mid-response', { id: ctx.id, provider: upstream.name, code });
        if (ctx.streaming && !res.destroyed) res.end(renderStreamError(failure, ctx.dialect, ctx.rpcId));
        else res.destroy();
        settle();
      },
    };
    // A kill switch (ctx.cut): ended like an upstream failure, with the kill's error.
    ctx.interrupt = (failure) => {
      if (settled) return;
      if (!started) {
        settle(failure);
        controller?.abort(failure);
        return;
      }
      ctx.errorCode = failure.code;
      if (taps !== null) for (const t of taps) t.onAbort?.('upstream');
      settle();
      if (ctx.streaming && !res.destroyed) res.end(renderStreamError(failure, ctx.dialect, ctx.rpcId));
      else res.destroy();
      controller?.abort(failure);
    };
    ctx.upstreamStart = performance.now();
    const authorize = upstream.authorize;
    if (authorize === null) return void upstream.pool.dispatch(request, handler);
    // A credential made for this request (a token, a signature) goes in last, after every header it covers.
    const headers = request.headers as string[];
    const send = (extra: readonly string[]) => {
      if (settled) return;
      for (let i = 0; i < extra.length; i++) headers.push(extra[i]);
      upstream.pool.dispatch(request, handler);
    };
    const fail = (err: unknown) => {
      opts.upstreamError(upstream.name, 'credential');
      opts.log.warn('no upstream credential', { id: ctx.id, provider: upstream.name, error: (err as Error).message });
      settle(err instanceof GatewayError ? err : new GatewayError('aos_upstream_error', `could not make a credential for provider ${upstream.name}`, { cause: err }));
    };
    try {
      const extra = authorize.headers({ method: request.method, host: upstream.host, path: request.path, headers, body: ctx.body });
      if (extra instanceof Promise) extra.then(send, fail);
      else send(extra);
    } catch (err) {
      fail(err);
    }
  });
}
