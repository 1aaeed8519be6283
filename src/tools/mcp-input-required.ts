import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { GatewayError, renderError } from '../errors.js';
import type { RpcId } from '../providers/mcp.js';
import { type SseEvent, SseSplitter } from '../upstream/sse.js';
import type { ResponseTap } from '../upstream/tap.js';
import type { Upstream } from '../upstream/upstreams.js';
import { isRecord, parseRecord } from './json.js';
import { postMessage } from './mcp-schemas.js';

/**
 * Server-initiated requests (elicitation, sampling, roots) of a 2025-11-25 server, as the
 * 2026-07-28 "input required" round trip its stateless agent expects.
 *
 * 2025-11-25: while answering a request on an SSE stream, the server sends a JSON-RPC request of
 * its own (`elicitation/create`, …) on that stream; the client POSTs the JSON-RPC response in the
 * session, and the stream goes on to the original request's result.
 *
 * 2026-07-28 (our reading of the specification and its multi-round-trip proposal): the server
 * answers the request with `result: {resultType: "input_required", inputRequests: {<key>:
 * {method, params}}, requestState}`; the client sends the same request again with
 * `params.inputResponses: {<key>: <the result of that request>}` and `params.requestState`.
 *
 * The gateway holds the upstream session, so it does the mapping: the tap below watches the
 * answer of a 2026-07-28 agent's request; at a server request it answers the agent with
 * `input_required` (the key is the server request's id, the state a token of the gateway's) and
 * ends the agent's response, while the upstream stream stays open and what follows is held
 * (parked). When the agent sends the request again with the answer, the gateway POSTs it upstream
 * as the JSON-RPC response and relays the held stream to the agent as the answer to the retry,
 * until the original request's result (or another server request: another round trip).
 */
const SERVER_REQUESTS = new Set(['elicitation/create', 'sampling/createMessage', 'roots/list']);
/** How long a parked request waits for the agent's answer. */
const PARK_MS = 10 * 60_000;
const MAX_PARKED = 10_000;

/** A request of the agent's, its upstream stream held while the agent answers the server's request. */
interface Parked {
  readonly agent: string;
  /** The session headers the upstream request went with (the answer goes in the same session). */
  readonly headers: Record<string, string>;
  /** The original request's id upstream, and what it asked (a retry must ask the same). */
  readonly id: RpcId;
  readonly method: string;
  readonly fingerprint: string;
  /** The server's pending request: its id (also the key of `inputRequests`). */
  serverId: RpcId;
  readonly stream: HeldStream;
  /** Cuts the upstream request (expired, gateway stopping). */
  readonly abort: () => void;
  readonly at: number;
}

/** The rest of an upstream SSE stream, its events held until the agent's retry reads them. */
interface HeldStream {
  events: SseEvent[];
  /** 'open' while the upstream sends; the reason when it failed. */
  state: 'open' | 'ended' | string;
  wake: (() => void) | null;
}

export interface InputRequests {
  park(p: Omit<Parked, 'at'>): string;
  /** The parked request of `requestState`, taken (once) by its agent; undefined when unknown, expired or another agent's. */
  take(state: string, agent: string): Parked | undefined;
  size(): number;
  /** Cuts every parked upstream request (the registry is closing: its pools wait for open requests). */
  close(): void;
}

export function createInputRequests(now: () => number = () => performance.now()): InputRequests {
  const parked = new Map<string, Parked>();
  return {
    park(p) {
      for (const [k, v] of parked) {
        if (now() - v.at < PARK_MS && parked.size < MAX_PARKED) break;
        parked.delete(k);
        v.abort();
      }
      const token = `aos-${randomUUID()}`;
      parked.set(token, { ...p, at: now() });
      return token;
    },
    take(state, agent) {
      const p = parked.get(state);
      if (p === undefined || p.agent !== agent || now() - p.at >= PARK_MS) return undefined;
      parked.delete(state);
      return p;
    },
    size: () => parked.size,
    close() {
      for (const p of parked.values()) p.abort();
      parked.clear();
    },
  };
}

/** What a retry must repeat of the original request: its method and params, without the round trip's own fields. */
export function fingerprint(method: string, params: Record<string, unknown> | undefined): string {
  const { _meta, inputResponses, requestState, ...rest } = params ?? {};
  return JSON.stringify([method, rest]);
}

const sse = (msg: unknown) => `data: ${JSON.stringify(msg)}\n\n`;

function inputRequired(agentId: RpcId, server: Record<string, unknown>, state: string): string {
  return sse({
    jsonrpc: '2.0',
    id: agentId,
    result: { resultType: 'input_required', inputRequests: { [String(server.id)]: { method: server.method, params: server.params ?? {} } }, requestState: state },
  });
}

export interface WatchOptions {
  store: InputRequests;
  res: ServerResponse;
  agent: string;
  headers: Record<string, string>;
  id: RpcId;
  method: string;
  params: Record<string, unknown> | undefined;
  /** Cuts the upstream request (the forwarder's interrupt, read when the request is parked). */
  interrupt: () => ((err: GatewayError) => void) | null;
  /** The upstream answer is over (ended or cut). */
  onClose?: () => void;
}

/**
 * Watches a 2026-07-28 agent's request answered on an SSE stream by a 2025-11-25 server: at the
 * first server request, answers `input_required`, ends the agent's response and parks the rest.
 */
export function createInputRequiredTap(opts: WatchOptions): ResponseTap & { inject(msg: Record<string, unknown>): boolean } {
  let splitter: SseSplitter | null = null;
  let held: HeldStream | null = null;
  let ended = false;
  const push = (events: SseEvent[]) => {
    held!.events.push(...events);
    const w = held!.wake;
    held!.wake = null;
    w?.();
  };
  const scan = (events: SseEvent[]): Buffer | null => {
    if (held !== null) {
      push(events);
      return null;
    }
    let out = '';
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const msg = e.data === '' ? null : parseRecord(e.data);
      if (msg === null || typeof msg.method !== 'string' || msg.id === undefined || !SERVER_REQUESTS.has(msg.method)) {
        out += e.raw;
        continue;
      }
      held = { events: [], state: 'open', wake: null };
      const cut = opts.interrupt();
      const state = opts.store.park({
        agent: opts.agent,
        headers: opts.headers,
        id: opts.id,
        method: opts.method,
        fingerprint: fingerprint(opts.method, opts.params),
        serverId: msg.id as RpcId,
        stream: held,
        abort: () => cut?.(new GatewayError('aos_upstream_error', `the ${opts.method} waiting for the agent's answer to the server's request was cut`)),
      });
      push(events.slice(i + 1));
      // The agent's answer ends here; the upstream stream goes on, held for the retry.
      opts.res.end(out + inputRequired(opts.id, msg, state));
      return null;
    }
    return out === '' ? null : Buffer.from(out);
  };
  return {
    onStart(status, headers) {
      if (status === 200 && String(headers['content-type'] ?? '').startsWith('text/event-stream')) splitter = new SseSplitter();
    },
    onData(chunk) {
      return splitter === null ? chunk : scan(splitter.push(chunk));
    },
    /**
     * A request the server sent on the session's GET stream rather than on this call's stream
     * (2025-11-25 allows both): handled as if it came on the call's. False when the call's answer
     * is not a stream under way (or is over).
     */
    inject(msg) {
      if (ended || splitter === null || typeof msg.method !== 'string' || !SERVER_REQUESTS.has(msg.method)) return false;
      const data = JSON.stringify(msg);
      const event = { raw: `data: ${data}\n\n`, event: null, data };
      if (held !== null) push([event]);
      else scan([event]);
      return true;
    },
    onEnd() {
      ended = true;
      opts.onClose?.();
      if (splitter === null) return null;
      const out = scan(splitter.end());
      if (held !== null) {
        held.state = 'ended';
        push([]);
      }
      return out;
    },
    onAbort(reason) {
      ended = true;
      opts.onClose?.();
      if (held === null) return;
      held.state = reason === 'upstream' ? 'the server failed mid-answer' : 'ended';
      push([]);
    },
  };
}

/**
 * The agent's retry of a parked request: its answer POSTed upstream as the JSON-RPC response to
 * the server's request, then the held stream relayed as the retry's answer (the original's id
 * replaced by the retry's), until the result or the next server request.
 */
export async function resumeParked(
  p: Parked,
  retry: { id: RpcId; params: Record<string, unknown> },
  ctx: { res: ServerResponse; requestId: string; upstream: Upstream; store: InputRequests },
): Promise<void> {
  const responses = retry.params.inputResponses;
  const answer = isRecord(responses) ? responses[String(p.serverId)] : undefined;
  if (answer === undefined) throw new GatewayError('aos_invalid_arguments', `the retry carries no inputResponses[${JSON.stringify(String(p.serverId))}]`);
  const posted = await postMessage(ctx.upstream, { ...p.headers, 'x-aos-request-id': ctx.requestId }, { jsonrpc: '2.0', id: p.serverId, result: answer });
  if (posted.status >= 300) throw new GatewayError('aos_upstream_error', `the server refused the answer to its ${p.method} request (HTTP ${posted.status})`);
  const { res } = ctx;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-aos-request-id': ctx.requestId });
  const held = p.stream;
  for (;;) {
    const events = held.events;
    held.events = [];
    for (let i = 0; i < events.length; i++) {
      const msg = events[i].data === '' ? null : parseRecord(events[i].data);
      if (msg === null) continue;
      if (typeof msg.method === 'string' && msg.id !== undefined && SERVER_REQUESTS.has(msg.method)) {
        // Another round trip: parked again, with what is left of the stream.
        held.events = events.slice(i + 1);
        const state = ctx.store.park({ ...p, serverId: msg.id as RpcId });
        res.end(inputRequired(retry.id, msg, state));
        return;
      }
      if (msg.id === p.id && msg.method === undefined) {
        msg.id = retry.id;
        if (isRecord(msg.result)) msg.result.resultType ??= 'complete';
        res.end(sse(msg));
        return;
      }
      res.write(sse(msg));
    }
    if (held.state !== 'open') {
      const why = held.state === 'ended' ? 'the server ended the stream without a result' : held.state;
      res.end(`data: ${renderError(new GatewayError('aos_upstream_error', `${why} (after the answer to its ${p.method} request)`), 'jsonrpc', retry.id)}\n\n`);
      return;
    }
    if (res.destroyed) return;
    await new Promise<void>((r) => {
      held.wake = r;
    });
  }
}
