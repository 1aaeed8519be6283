import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';
import WebSocket, { WebSocketServer } from 'ws';
import { GatewayError, renderSessionError, toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallContext, SessionRecord } from '../pipeline/context.js';
import type { Usage } from '../providers/dialect.js';
import { sessionProtocols } from '../providers/openai.js';
import { upstreamHeaders } from './forward.js';

export interface RealtimeOptions {
  log: Logger;
  /** Where the realtime metrics go (the gateway's registry). */
  registry: Registry;
  upstreamError(provider: string, code: string): void;
  /** TCP/TLS connect plus the upstream's opening handshake. */
  connectTimeoutMs: number;
  /** Bytes queued toward one side past which the other side is no longer read (default 1 MiB). */
  maxBufferedBytes?: number;
  /** The largest message relayed either way (default 16 MiB: OpenAI takes audio appends up to 15 MiB). */
  maxMessageBytes?: number;
  /** Both sides are pinged this often; a side that did not answer the previous ping is cut (default 30 s). */
  pingIntervalMs?: number;
}

/** WebSocket sessions (the Realtime API) of one gateway, across configuration reloads. */
export interface Realtime {
  /** Opens the upstream session, accepts the client's upgrade and relays both ways until either side closes. */
  relay(ctx: CallContext): Promise<void>;
  /** Graceful shutdown: no new sessions; open ones are closed with `code` (1001), cut after `timeoutMs`. */
  close(code: number, reason: string, timeoutMs: number): Promise<void>;
  /** Sessions open now. */
  open(): number;
}

/** Headers of the client's handshake that are the WebSocket's own: the gateway makes its own handshake upstream. */
const HANDSHAKE = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol', 'origin']);
/** Query parameters that may carry the agent's credential (Azure's browser clients): never forwarded. */
const CREDENTIAL_PARAMS = /(?:^|&)(?:api-key|authorization)=/i;
/** Close codes one may send (RFC 6455 §7.4): others (1005 none, 1006 dropped, 1015 TLS) are reported, never sent. */
const sendable = (code: number) => (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
/** A close reason is at most 123 bytes. */
const reasonOf = (s: string) => (Buffer.byteLength(s) <= 123 ? s : Buffer.from(s).subarray(0, 120).toString('utf8'));

/** What the opening handshake of one session needs from the upstream's answer. */
interface Pending {
  readonly id: string;
  readonly protocol: string;
}

// Longer than most functions: a factory whose body is the small functions it closes over (the sessions, the metrics).
export function createRealtime(opts: RealtimeOptions): Realtime {
  const { log } = opts;
  const high = opts.maxBufferedBytes ?? 1 << 20;
  const low = high >> 2;
  const maxPayload = opts.maxMessageBytes ?? 16 << 20;
  const pingMs = opts.pingIntervalMs ?? 30_000;
  const sessions = new Set<Session>();
  let closing = false;
  let timer: NodeJS.Timeout | null = null;

  const pending = new WeakMap<IncomingMessage, Pending>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload,
    perMessageDeflate: false,
    // The end points check UTF-8; the gateway relays text as it came.
    skipUTF8Validation: true,
    clientTracking: false,
    // The client gets the protocol the upstream chose (when it offered it).
    handleProtocols: (offered, req) => {
      const chosen = pending.get(req)?.protocol ?? '';
      return chosen !== '' && offered.has(chosen) ? chosen : false;
    },
  });
  wss.on('headers', (headers, req) => {
    const p = pending.get(req);
    if (p !== undefined) headers.push(`x-aos-request-id: ${p.id}`);
  });

  new Gauge({
    name: 'aos_realtime_sessions',
    help: 'WebSocket sessions (Realtime API) open now',
    registers: [opts.registry],
    collect() {
      this.set(sessions.size);
    },
  });
  new Gauge({
    name: 'aos_realtime_buffered_bytes',
    help: 'Bytes the gateway holds for open WebSocket sessions, queued toward clients and upstreams (bounded per session by backpressure)',
    registers: [opts.registry],
    collect() {
      let n = 0;
      for (const s of sessions) n += s.buffered();
      this.set(n);
    },
  });
  const messages = new Counter({
    name: 'aos_realtime_messages_total',
    help: 'WebSocket messages relayed, by the side that sent them (client, upstream)',
    labelNames: ['from'] as const,
    registers: [opts.registry],
  });
  const pauses = new Counter({
    name: 'aos_realtime_backpressure_total',
    help: 'Times a side of a WebSocket session stopped being read because the other side was slow, by the side paused (client, upstream)',
    labelNames: ['paused'] as const,
    registers: [opts.registry],
  });
  const counted = { client: messages.labels('client'), upstream: messages.labels('upstream'), pausedClient: pauses.labels('client'), pausedUpstream: pauses.labels('upstream') };

  /** One timer pings every session's two sides; a side that did not answer the last ping is cut. */
  const heartbeat = () => {
    for (const s of sessions) s.ping();
  };
  const track = (s: Session) => {
    sessions.add(s);
    if (timer === null) {
      timer = setInterval(heartbeat, pingMs);
      timer.unref();
    }
  };
  const untrack = (s: Session) => {
    sessions.delete(s);
    if (sessions.size === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };

  /** One session: the client and upstream sockets, the relay between them and how it ends. */
  class Session {
    readonly record: SessionRecord = { closeCode: null, closeReason: '', responses: 0, clientMessages: 0, upstreamMessages: 0, clientBytes: 0, upstreamBytes: 0 };
    /** The client is not read (the upstream is slow), the upstream is not read (the client is slow). */
    private clientPaused = false;
    private upstreamPaused = false;
    private clientAlive = true;
    private upstreamAlive = true;
    private clientClosed = false;
    private upstreamClosed = false;
    /** The gateway ended the session (a budget, a kill switch, shutdown): the close codes are its own. */
    private ended = false;
    constructor(
      private readonly ctx: CallContext,
      private readonly client: WebSocket,
      private readonly upstream: WebSocket,
      private readonly done: () => void,
    ) {
      const usage = ctx.route!.upstream.dialect.metering?.sessionUsage;
      client.on('message', (data, binary) => this.fromClient(data as Buffer, binary));
      upstream.on('message', (data, binary) => this.fromUpstream(data as Buffer, binary, usage));
      client.on('pong', () => {
        this.clientAlive = true;
      });
      upstream.on('pong', () => {
        this.upstreamAlive = true;
      });
      client.on('close', (code, reason) => this.clientClose(code, reason.toString('utf8')));
      upstream.on('close', (code, reason) => this.upstreamClose(code, reason.toString('utf8')));
      client.on('error', (err) => log.debug('realtime client socket error', { id: ctx.id, error: err.message }));
      upstream.on('error', (err) => log.warn('realtime upstream socket error', { id: ctx.id, provider: ctx.route!.upstream.name, error: err.message }));
      ctx.interrupt = (err) => this.end(err, 1008);
    }

    private readonly upstreamSent = (): void => {
      if (this.clientPaused && this.upstream.bufferedAmount <= low) {
        this.clientPaused = false;
        this.client.resume();
      }
    };
    private readonly clientSent = (): void => {
      if (this.upstreamPaused && this.client.bufferedAmount <= low) {
        this.upstreamPaused = false;
        this.upstream.resume();
      }
    };

    private fromClient(data: Buffer, binary: boolean): void {
      const r = this.record;
      r.clientMessages += 1;
      r.clientBytes += data.length;
      this.clientAlive = true;
      const up = this.upstream;
      if (up.readyState !== WebSocket.OPEN) return;
      up.send(data, { binary, compress: false }, this.upstreamSent);
      if (!this.clientPaused && up.bufferedAmount > high) {
        this.clientPaused = true;
        this.client.pause();
        counted.pausedClient.inc();
      }
    }

    private fromUpstream(data: Buffer, binary: boolean, usageOf: ((message: Buffer) => Usage | null) | undefined): void {
      const r = this.record;
      r.upstreamMessages += 1;
      r.upstreamBytes += data.length;
      this.upstreamAlive = true;
      const client = this.client;
      if (client.readyState === WebSocket.OPEN) {
        client.send(data, { binary, compress: false }, this.clientSent);
        if (!this.upstreamPaused && client.bufferedAmount > high) {
          this.upstreamPaused = true;
          this.upstream.pause();
          counted.pausedUpstream.inc();
        }
      }
      if (binary || usageOf === undefined) return;
      const usage = usageOf(data);
      if (usage === null) return;
      r.responses += 1;
      const meter = this.ctx.sessionMeter;
      if (meter === null) return;
      // Charged once the response went to the client; a budget with no room for another ends the session.
      const refused = meter.charge(usage);
      if (refused instanceof Promise)
        refused.then(
          (err) => err !== null && this.end(err, 1008),
          (err) => this.end(toGatewayError(err), 1011),
        );
      else if (refused !== null) this.end(refused, 1008);
    }

    /** A side that is not read (paused by backpressure) cannot be heard answering: it is not pinged meanwhile. */
    ping(): void {
      if (!this.clientPaused) {
        if (!this.clientAlive) this.client.terminate();
        else if (this.client.readyState === WebSocket.OPEN) {
          this.clientAlive = false;
          this.client.ping();
        }
      }
      if (!this.upstreamPaused) {
        if (!this.upstreamAlive) this.upstream.terminate();
        else if (this.upstream.readyState === WebSocket.OPEN) {
          this.upstreamAlive = false;
          this.upstream.ping();
        }
      }
    }

    /** Both sides read again (their close frames must be heard). */
    private unpause(): void {
      if (this.clientPaused) {
        this.clientPaused = false;
        this.client.resume();
      }
      if (this.upstreamPaused) {
        this.upstreamPaused = false;
        this.upstream.resume();
      }
    }

    buffered(): number {
      return this.client.bufferedAmount + this.upstream.bufferedAmount;
    }

    /**
     * The gateway ends the session: the client gets an `error` event (OpenAI's shape, which the
     * SDKs raise) and the close `code` (1008: the session may not go on; 1011: the gateway or the
     * upstream failed); the upstream is closed normally.
     */
    end(err: GatewayError | null, code: number, reason = ''): void {
      if (this.ended) return;
      this.ended = true;
      const { ctx, client, upstream } = this;
      if (err !== null) ctx.errorCode = err.code;
      this.unpause();
      if (client.readyState === WebSocket.OPEN) {
        if (err !== null) client.send(renderSessionError(err));
        client.close(code, reasonOf(err?.code ?? reason));
      }
      if (upstream.readyState === WebSocket.OPEN) upstream.close(code === 1001 ? 1001 : 1000, 'session ended by the gateway');
      else if (upstream.readyState === WebSocket.CONNECTING) upstream.terminate();
    }

    terminate(): void {
      this.client.terminate();
      this.upstream.terminate();
    }

    private clientClose(code: number, reason: string): void {
      this.clientClosed = true;
      const r = this.record;
      r.closeCode = code;
      r.closeReason = reason;
      this.unpause();
      const up = this.upstream;
      // The client's close goes upstream as it came (a code that may not be sent: none).
      if (up.readyState === WebSocket.OPEN) up.close(sendable(code) ? code : undefined, sendable(code) ? reasonOf(reason) : undefined);
      else if (up.readyState === WebSocket.CONNECTING) up.terminate();
      this.maybeDone();
    }

    private upstreamClose(code: number, reason: string): void {
      this.upstreamClosed = true;
      this.ctx.upstreamEnd = performance.now();
      this.unpause();
      const client = this.client;
      if (!this.ended && client.readyState === WebSocket.OPEN) {
        if (sendable(code)) client.close(code, reasonOf(reason));
        else {
          // The upstream dropped the connection: an error event, never a close that looks normal.
          const err = new GatewayError('aos_upstream_error', `upstream ${this.ctx.route!.upstream.name} closed the session abnormally (${code})`);
          opts.upstreamError(this.ctx.route!.upstream.name, `ws_${code}`);
          this.end(err, 1011);
        }
      }
      this.maybeDone();
    }

    private maybeDone(): void {
      if (!this.clientClosed || !this.upstreamClosed) return;
      const { ctx, record } = this;
      ctx.interrupt = null;
      counted.client.inc(record.clientMessages);
      counted.upstream.inc(record.upstreamMessages);
      untrack(this);
      this.done();
    }
  }

  /** The upstream's realtime URL: its origin as ws(s), the route's path, the query as the client sent it (minus credentials). */
  const upstreamUrl = (ctx: CallContext): string => {
    const route = ctx.route!;
    let query = ctx.query;
    if (query.length > 1 && CREDENTIAL_PARAMS.test(query.slice(1))) {
      const params = new URLSearchParams(query.slice(1));
      for (const k of [...params.keys()]) if (/^(?:api-key|authorization)$/i.test(k)) params.delete(k);
      const rest = params.toString();
      query = rest === '' ? '' : `?${rest}`;
    }
    return `${route.upstream.origin.replace(/^http/, 'ws')}${route.upstreamPath}${query}`;
  };

  /** The handshake headers for the upstream: the agent's (minus credentials, hop-by-hop and the WebSocket's own), the provider's credential, ours. */
  const handshakeHeaders = async (ctx: CallContext): Promise<Record<string, string>> => {
    const flat = upstreamHeaders(ctx);
    const upstream = ctx.route!.upstream;
    const authorize = upstream.authorize;
    if (authorize !== null) {
      const extra = await authorize.headers({ method: 'GET', host: upstream.host, path: ctx.route!.upstreamPath + ctx.query, headers: flat, body: null });
      for (let i = 0; i < extra.length; i++) flat.push(extra[i]);
    }
    const out: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i];
      if (HANDSHAKE.has(name)) continue;
      out[name] = out[name] === undefined ? flat[i + 1] : `${out[name]}, ${flat[i + 1]}`;
    }
    return out;
  };

  /** The upstream answered the handshake with an HTTP response (an error): it goes to the client as it came, like any provider error. */
  const passResponse = (ctx: CallContext, res: IncomingMessage): Promise<void> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < 65536) chunks.push(c);
        size += c.length;
      });
      const done = () => {
        const body = Buffer.concat(chunks).subarray(0, 65536);
        const out = ctx.res;
        if (!out.headersSent && !out.destroyed) {
          const type = res.headers['content-type'];
          out.writeHead(res.statusCode ?? 502, {
            ...(type === undefined ? {} : { 'content-type': type }),
            'content-length': body.length,
            'x-aos-request-id': ctx.id,
            connection: 'close',
          });
          out.end(body);
        }
        resolve();
      };
      res.on('end', done);
      res.on('error', done);
    });

  const relay = (ctx: CallContext): Promise<void> => {
    if (ctx.cutBy !== null) return Promise.reject(ctx.cutBy);
    if (closing) return Promise.reject(new GatewayError('aos_unavailable', 'the gateway is shutting down'));
    const route = ctx.route!;
    const provider = route.upstream.name;
    const { socket, head } = ctx.upgrade!;
    const { req, res } = ctx;
    return new Promise<void>((resolve, reject) => {
      let upstream: WebSocket | null = null;
      let settled = false;
      const fail = (err: GatewayError) => {
        if (settled) return;
        settled = true;
        ctx.interrupt = null;
        ctx.upstreamEnd = performance.now();
        socket.off('close', onClientGone);
        reject(err);
      };
      // The client left during the upstream's handshake: the upstream is let go, the call is an abort.
      const onClientGone = () => {
        if (settled) return;
        settled = true;
        ctx.interrupt = null;
        ctx.errorCode ??= 'client_aborted';
        upstream?.terminate();
        resolve();
      };
      socket.once('close', onClientGone);
      // A kill switch before the session exists: the handshake is answered with its error.
      ctx.interrupt = (err) => {
        upstream?.terminate();
        fail(err);
      };
      ctx.upstreamStart = performance.now();
      const connect = (headers: Record<string, string>) => {
        if (settled) return;
        const { forward } = sessionProtocols(req.headers['sec-websocket-protocol']);
        const up = new WebSocket(upstreamUrl(ctx), forward, {
          headers,
          perMessageDeflate: false,
          maxPayload,
          skipUTF8Validation: true,
          handshakeTimeout: opts.connectTimeoutMs,
          followRedirects: false,
        });
        upstream = up;
        up.once('unexpected-response', (_r, response) => {
          if (settled) return response.destroy();
          settled = true;
          ctx.interrupt = null;
          socket.off('close', onClientGone);
          void passResponse(ctx, response).then(() => {
            ctx.upstreamEnd = performance.now();
            up.terminate();
            resolve();
          });
        });
        up.once('error', (err: NodeJS.ErrnoException) => {
          if (settled || up.readyState === WebSocket.OPEN) return;
          const code = err.code ?? (/handshake has timed out/i.test(err.message) ? 'UND_ERR_CONNECT_TIMEOUT' : 'UNKNOWN');
          opts.upstreamError(provider, code);
          log.warn('realtime upstream handshake failed', { id: ctx.id, provider, error: err.message });
          fail(
            code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT'
              ? new GatewayError('aos_upstream_timeout', `upstream ${provider} did not open the session in time`)
              : new GatewayError('aos_upstream_error', `upstream ${provider} could not open the session (${code})`),
          );
        });
        up.once('open', () => {
          if (settled) return up.terminate();
          settled = true;
          socket.off('close', onClientGone);
          if (!socket.readable || !socket.writable || closing) {
            ctx.errorCode ??= 'client_aborted';
            up.terminate();
            return resolve();
          }
          // The answer is the WebSocket's own 101 from here: the HTTP response lets go of the socket.
          res.detachSocket(socket as Socket);
          pending.set(req, { id: ctx.id, protocol: up.protocol });
          wss.handleUpgrade(req, socket, head, (client) => {
            pending.delete(req);
            const session = new Session(ctx, client, up, () => {
              // The request is over: its finishers run (settlement, audit, metrics).
              res.destroyed = true;
              res.emit('close');
              resolve();
            });
            ctx.session = session.record;
            track(session);
            if (closing) session.end(null, 1001, 'gateway shutting down');
          });
        });
      };
      handshakeHeaders(ctx).then(connect, (err) => {
        opts.upstreamError(provider, 'credential');
        log.warn('no upstream credential', { id: ctx.id, provider, error: (err as Error).message });
        fail(err instanceof GatewayError ? err : new GatewayError('aos_upstream_error', `could not make a credential for provider ${provider}`, { cause: err }));
      });
    });
  };

  return {
    relay,
    async close(code, reason, timeoutMs) {
      closing = true;
      if (sessions.size === 0) return;
      for (const s of sessions) s.end(null, code, reason);
      const deadline = Date.now() + timeoutMs;
      while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const s of sessions) s.terminate();
    },
    open: () => sessions.size,
  };
}
