import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { GatewayError, renderError } from '../errors.js';
import { encodeMcpName, type RpcId } from '../providers/mcp.js';
import { type SseEvent, SseSplitter } from '../upstream/sse.js';
import type { ResponseTap } from '../upstream/tap.js';
import type { Upstream } from '../upstream/upstreams.js';
import { isRecord, parseRecord } from './json.js';
import { LIST_CHANGED } from './mcp-listen.js';
import { REV_SESSION, REV_STATELESS } from './mcp-revisions.js';
import { postMessage } from './mcp-schemas.js';

/**
 * A 2025-11-25 agent in front of a server that speaks only 2026-07-28: the gateway plays the
 * session the agent expects.
 *
 * - `initialize` is answered by the gateway from the server's `server/discover` result (cached),
 *   with an `Mcp-Session-Id` of its own; `notifications/initialized`, `ping` and
 *   `logging/setLevel` are answered locally (the level goes into each request's `_meta`).
 * - Every other request goes to the server stateless: the agent's client info and capabilities (from
 *   its `initialize`) in `_meta`, `MCP-Protocol-Version`/`Mcp-Method`/`Mcp-Name` headers, no session.
 * - `notifications/cancelled` cuts the request it names upstream (in 2026-07-28, closing a
 *   request's stream cancels it). DELETE ends the session locally.
 * - A result `resultType: "input_required"` (the server needs an elicitation, a sampling, roots)
 *   becomes the 2025-11-25 shape: the gateway sends each of `inputRequests` to the agent as a
 *   JSON-RPC request on the call's SSE stream (a JSON answer is turned into one), waits for the
 *   agent to POST its responses, then sends the call again to the server with `inputResponses` and
 *   `requestState`, and answers the agent's call with what that retry gets (or asks again). The
 *   agent's last response stands for the retry: it is decided by policy and audited as the call.
 * - The GET stream is the gateway's: it carries what the server sends on a `subscriptions/listen`
 *   the gateway opens for it (list changes, and the resources the agent `resources/subscribe`d).
 */

/** How long a call waits for the agent's answers to the server's input requests. */
const ROUND_MS = 10 * 60_000;
const MAX_SESSIONS = 10_000;
const SESSION_REVISIONS = [REV_SESSION, '2025-06-18', '2025-03-26'];
/** Requests whose answer may be `input_required` (2026-07-28's multi-round-trip requests). */
const ROUND_TRIP = new Set(['tools/call', 'prompts/get', 'resources/read']);

export interface EmulatedSession {
  readonly id: string;
  readonly agent: string;
  readonly protocolVersion: string;
  /** What every upstream request carries in `_meta`: the revision, the agent's client info and capabilities, its log level. */
  readonly meta: Record<string, unknown>;
  /** The agent's requests in flight upstream, by JSON-RPC id: `notifications/cancelled` cuts one. */
  readonly inflight: Map<string, () => void>;
  /** Requests the gateway sent the agent for the server (input required), by the id it gave them. */
  readonly asked: Map<string, Round>;
  /** Resource URIs the agent subscribed to (relayed through the GET stream's `subscriptions/listen`). */
  readonly subscribed: Set<string>;
  /** The agent's GET stream, while open, and the upstream listen feeding it. */
  stream: { res: ServerResponse; stop: (() => void) | null } | null;
}

export interface EmulatedSessions {
  open(agent: string, params: Record<string, unknown> | null): EmulatedSession;
  get(id: string): EmulatedSession | undefined;
  end(id: string): boolean;
  size(): number;
  /** Ends every session (config reload, shutdown): their waiting calls and GET streams too. */
  close(): void;
}

const sse = (msg: unknown) => `event: message\ndata: ${JSON.stringify(msg)}\n\n`;

function closeSession(s: EmulatedSession): void {
  for (const round of new Set(s.asked.values())) round.fail(new GatewayError('aos_upstream_error', 'the MCP session ended while the call waited for its answers'));
  s.asked.clear();
  for (const cut of s.inflight.values()) cut();
  s.inflight.clear();
  const stream = s.stream;
  s.stream = null;
  stream?.stop?.();
  if (stream !== null && !stream.res.writableEnded) stream.res.end();
}

export function createEmulatedSessions(): EmulatedSessions {
  const sessions = new Map<string, EmulatedSession>();
  return {
    open(agent, params) {
      const requested = typeof params?.protocolVersion === 'string' ? params.protocolVersion : REV_SESSION;
      const s: EmulatedSession = {
        id: `aos-${randomUUID()}`,
        agent,
        protocolVersion: SESSION_REVISIONS.includes(requested) ? requested : REV_SESSION,
        meta: {
          'io.modelcontextprotocol/protocolVersion': REV_STATELESS,
          'io.modelcontextprotocol/clientInfo': isRecord(params?.clientInfo) ? params.clientInfo : { name: 'unknown', version: '0' },
          'io.modelcontextprotocol/clientCapabilities': isRecord(params?.capabilities) ? params.capabilities : {},
        },
        inflight: new Map(),
        asked: new Map(),
        subscribed: new Set(),
        stream: null,
      };
      sessions.set(s.id, s);
      if (sessions.size > MAX_SESSIONS) {
        const [oldest, first] = sessions.entries().next().value!;
        sessions.delete(oldest);
        closeSession(first);
      }
      return s;
    },
    get: (id) => sessions.get(id),
    end(id) {
      const s = sessions.get(id);
      if (s === undefined) return false;
      sessions.delete(id);
      closeSession(s);
      return true;
    },
    size: () => sessions.size,
    close() {
      for (const s of sessions.values()) closeSession(s);
      sessions.clear();
    },
  };
}

/** `initialize`'s result for a 2025-11-25 agent, from a 2026-07-28 server's `server/discover` result. */
export function initializeResult(discover: Record<string, unknown>, session: EmulatedSession): Record<string, unknown> {
  const meta = isRecord(discover._meta) ? discover._meta : {};
  const info = meta['io.modelcontextprotocol/serverInfo'];
  const out: Record<string, unknown> = {
    protocolVersion: session.protocolVersion,
    capabilities: isRecord(discover.capabilities) ? discover.capabilities : {},
    serverInfo: isRecord(info) ? info : { name: 'unknown', version: '0' },
  };
  if (typeof discover.instructions === 'string') out.instructions = discover.instructions;
  return out;
}

/** The headers of a stateless request to the server (and an empty session id: the agent's is not sent). */
export function statelessHeaders(method: string, params: Record<string, unknown> | undefined): string[] {
  const own = ['mcp-protocol-version', REV_STATELESS, 'mcp-method', method, 'mcp-session-id', ''];
  const named = method === 'tools/call' || method === 'prompts/get' ? params?.name : method === 'resources/read' ? params?.uri : undefined;
  if (typeof named === 'string') own.push('mcp-name', encodeMcpName(named));
  return own;
}

/** The agent's request made stateless: the session's `_meta` added to its own. */
export function withSessionMeta(session: EmulatedSession, params: Record<string, unknown> | undefined): Record<string, unknown> {
  const own = isRecord(params?._meta) ? params._meta : {};
  return { ...params, _meta: { ...own, ...session.meta } };
}

/**
 * One call of the agent's answered `input_required` by the server: the requests sent to the agent,
 * its answers as they come, and the retry that carries them.
 */
export class Round {
  readonly keys = new Map<string, string>();
  answers: Record<string, unknown> = {};
  requestState: unknown;
  /** The agent's last answer was decided and the retry is on its way (or the round is over). */
  continued = false;
  private resolve: ((last: Buffer | null) => void) | null = null;
  readonly done: Promise<Buffer | null>;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly session: EmulatedSession,
    readonly id: RpcId,
    readonly method: string,
    /** The params sent upstream (the session's `_meta` in), without the round trip's own fields. */
    readonly params: Record<string, unknown>,
    readonly headers: Record<string, string>,
    private readonly res: ServerResponse,
  ) {
    this.done = new Promise((r) => {
      this.resolve = r;
    });
    this.timer = setTimeout(() => this.fail(new GatewayError('aos_upstream_error', `no answer to the server's requests within ${ROUND_MS / 60_000} minutes`)), ROUND_MS);
    this.timer.unref();
    // The agent gave up on its call: its pending requests are forgotten.
    res.once('close', () => {
      this.forget();
      clearTimeout(this.timer);
    });
  }

  /** The requests of an `input_required` result, as JSON-RPC requests to the agent (SSE events). */
  ask(result: Record<string, unknown>): string {
    this.forget();
    this.answers = {};
    this.continued = false;
    this.requestState = result.requestState;
    const requests = isRecord(result.inputRequests) ? Object.entries(result.inputRequests) : [];
    let out = '';
    for (const [key, req] of requests) {
      if (!isRecord(req) || typeof req.method !== 'string') continue;
      const id = `aos-input-${randomUUID()}`;
      this.keys.set(id, key);
      this.session.asked.set(id, this);
      out += sse({ jsonrpc: '2.0', id, method: req.method, params: isRecord(req.params) ? req.params : {} });
    }
    if (this.keys.size === 0) this.fail(new GatewayError('aos_upstream_error', `the server answered ${this.method} input_required without any inputRequests`));
    return out;
  }

  /** The agent's JSON-RPC response to one of the requests: whether it was the last one awaited. */
  answer(id: string, message: Record<string, unknown>): 'more' | 'complete' | 'failed' {
    const key = this.keys.get(id);
    if (key === undefined) return 'more';
    this.keys.delete(id);
    this.session.asked.delete(id);
    if (message.error !== undefined) {
      // The agent could not answer: its error is the call's (the server cannot go on without it).
      this.finish(sse({ jsonrpc: '2.0', id: this.id, error: message.error }));
      return 'failed';
    }
    this.answers[key] = message.result;
    return this.keys.size === 0 ? 'complete' : 'more';
  }

  /** Sends the call again with the agent's answers; relays what comes back (or asks again). */
  async retry(upstream: Upstream, requestId: string): Promise<void> {
    this.continued = true;
    const params: Record<string, unknown> = { ...this.params, inputResponses: this.answers };
    if (this.requestState !== undefined) params.requestState = this.requestState;
    try {
      const posted = await postMessage(upstream, { ...this.headers, 'x-aos-request-id': requestId }, { jsonrpc: '2.0', id: this.id, method: this.method, params });
      let out = '';
      for (const m of posted.messages) {
        if (!isRecord(m)) continue;
        if (m.id === this.id && m.method === undefined) {
          if (isRecord(m.result) && m.result.resultType === 'input_required') return this.write(out + this.ask(m.result));
          return this.finish(out + sse(m));
        }
        out += sse(m);
      }
      this.write(out);
      throw new GatewayError('aos_upstream_error', `the server answered the retry of ${this.method} without a result (HTTP ${posted.status})`);
    } catch (err) {
      this.fail(err instanceof GatewayError ? err : new GatewayError('aos_upstream_error', `the retry of ${this.method} failed: ${(err as Error).message}`, { cause: err }));
    }
  }

  /** Ends the agent's call with an error (JSON-RPC, its id) when the round cannot go on. */
  fail(err: GatewayError): void {
    this.finish(`event: message\ndata: ${renderError(err, 'jsonrpc', this.id)}\n\n`);
  }

  private write(text: string): void {
    if (text !== '' && !this.res.destroyed && !this.res.writableEnded) this.res.write(text);
  }

  private finish(last: string): void {
    this.continued = true;
    this.forget();
    clearTimeout(this.timer);
    const r = this.resolve;
    this.resolve = null;
    r?.(Buffer.from(last));
  }

  private forget(): void {
    for (const id of this.keys.keys()) this.session.asked.delete(id);
    this.keys.clear();
  }
}

export interface RoundTapOptions {
  session: EmulatedSession;
  res: ServerResponse;
  id: RpcId;
  method: string;
  params: Record<string, unknown>;
  headers: Record<string, string>;
  /** The answer became a stream (a JSON answer turned into SSE): errors then end it as an event. */
  streaming: () => void;
}

/** Whether a request of an emulated session may be answered `input_required`, and so needs the round tap. */
export const mayAskInput = (method: string): boolean => ROUND_TRIP.has(method);

/**
 * Watches the server's answer to a call of an emulated session: an `input_required` result becomes
 * requests to the agent on the call's stream (a JSON answer becomes an SSE stream for that), and
 * the response is held open (ResponseTap.hold) until the round trip ends.
 */
export function createRoundTap(opts: RoundTapOptions): ResponseTap {
  let mode: 'pass' | 'json' | 'sse' = 'pass';
  let splitter: SseSplitter | null = null;
  let held: Buffer[] = [];
  let round: Round | null = null;
  const scan = (events: SseEvent[], json: boolean): Buffer | null => {
    let out = '';
    for (const e of events) {
      const msg = e.data === '' ? null : parseRecord(e.data);
      if (msg !== null && msg.id === opts.id && msg.method === undefined && isRecord(msg.result) && msg.result.resultType === 'input_required') {
        round = new Round(opts.session, opts.id, opts.method, opts.params, opts.headers, opts.res);
        out += round.ask(msg.result);
        continue;
      }
      out += json ? (msg === null ? `data: ${e.data}\n\n` : sse(msg)) : e.raw;
    }
    return out === '' ? null : Buffer.from(out);
  };
  return {
    onStart(status, headers) {
      if (status !== 200) return;
      const type = String(headers['content-type'] ?? '');
      if (type.startsWith('text/event-stream')) {
        mode = 'sse';
        splitter = new SseSplitter();
      } else if (type.startsWith('application/json')) {
        // The agent may have to answer requests before the result: a stream, which 2025-11-25 allows for any POST.
        mode = 'json';
        headers['content-type'] = 'text/event-stream';
        headers['cache-control'] = 'no-cache';
        delete headers['content-length'];
        opts.streaming();
      }
    },
    onData(chunk) {
      if (mode === 'pass') return chunk;
      if (mode === 'sse') return scan(splitter!.push(chunk), false);
      held.push(chunk);
      return null;
    },
    onEnd() {
      if (mode === 'sse') return scan(splitter!.end(), false);
      if (mode !== 'json') return null;
      const text = Buffer.concat(held).toString('utf8');
      held = [];
      return text === '' ? null : scan([{ raw: text, event: null, data: text }], true);
    },
    hold() {
      return (round as Round | null)?.done ?? null;
    },
  };
}

/** Which `subscriptions/listen` filter a GET stream asks for: the lists the server announces changes of, and the agent's resources. */
function listenFilter(capabilities: Record<string, unknown>, subscribed: ReadonlySet<string>): Record<string, unknown> {
  const says = (k: string) => isRecord(capabilities[k]) && (capabilities[k] as Record<string, unknown>).listChanged === true;
  const f: Record<string, unknown> = {};
  if (says('tools')) f.toolsListChanged = true;
  if (says('prompts')) f.promptsListChanged = true;
  if (says('resources')) f.resourcesListChanged = true;
  if (subscribed.size > 0) f.resourceSubscriptions = [...subscribed];
  return f;
}

/**
 * Feeds an emulated session's GET stream: a `subscriptions/listen` of the gateway's to the server,
 * its notifications relayed to the agent (their subscription id dropped: the agent never asked for
 * one). Opened again when the agent's subscriptions change; stopped when the stream or session ends.
 */
export function listen(session: EmulatedSession, upstream: Upstream, capabilities: Record<string, unknown>, requestId: string, onListChanged: (list: 'tools' | 'prompts' | 'resources') => void): void {
  const stream = session.stream;
  if (stream === null) return;
  stream.stop?.();
  const filter = listenFilter(capabilities, session.subscribed);
  if (Object.keys(filter).length === 0) {
    stream.stop = null;
    return;
  }
  const abort = new AbortController();
  stream.stop = () => abort.abort();
  const id = `aos-listen-${randomUUID()}`;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': REV_STATELESS,
    'mcp-method': 'subscriptions/listen',
    'x-aos-request-id': requestId,
  };
  for (let i = 0; i < upstream.headers.length; i += 2) headers[upstream.headers[i]] = upstream.headers[i + 1];
  if (upstream.auth !== null) headers[upstream.auth[0]] = upstream.auth[1];
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: { notifications: filter, _meta: session.meta } });
  const relay = async () => {
    const res = await upstream.pool.request({ path: upstream.basePath, method: 'POST', headers, body, signal: abort.signal, bodyTimeout: 0 });
    const splitter = new SseSplitter();
    for await (const chunk of res.body) {
      for (const e of splitter.push(chunk as Buffer)) {
        const msg = e.data === '' ? null : parseRecord(e.data);
        if (msg === null || typeof msg.method !== 'string' || msg.method === 'notifications/subscriptions/acknowledged') continue;
        const list = LIST_CHANGED[msg.method];
        if (list !== undefined) onListChanged(list);
        if (isRecord(msg.params) && isRecord(msg.params._meta)) {
          delete msg.params._meta['io.modelcontextprotocol/subscriptionId'];
          if (Object.keys(msg.params._meta).length === 0) delete msg.params._meta;
        }
        if (!stream.res.writableEnded) stream.res.write(sse(msg));
      }
    }
  };
  relay().catch(() => {});
}
