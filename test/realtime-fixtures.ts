/**
 * Realtime test fixtures (not a test file): a fake Realtime API server written with `ws` (it
 * checks the credential the gateway injects, answers `session.created`, echoes `response.create`
 * with text deltas and a `response.done` carrying usage, and floods on demand), and clients.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import type { Duplex } from 'node:stream';
import OpenAI, { AzureOpenAI } from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import WebSocket, { WebSocketServer } from 'ws';

/** The usage of the fake's nth response (1-based): input grows with the conversation, audio on both sides. */
export function fakeUsage(n: number) {
  const input = 100 * n;
  return {
    total_tokens: input + 30,
    input_tokens: input,
    output_tokens: 30,
    input_token_details: { cached_tokens: 20, text_tokens: input - 40, audio_tokens: 40, cached_tokens_details: { text_tokens: 10, audio_tokens: 10 } },
    output_token_details: { text_tokens: 10, audio_tokens: 20 },
  };
}

export interface FakeRealtime {
  url: string;
  /** Handshakes the fake received: path (with query), headers, offered subprotocols. */
  handshakes: { path: string; headers: IncomingMessage['headers']; protocols: string[] }[];
  /** Server-side sockets of open sessions. */
  sockets: WebSocket[];
  /** Client events received, by type. */
  events: string[];
  /** Close codes the fake saw from the gateway. */
  closes: number[];
  /** Set by a `test.flood`: the most bytes the fake's socket had queued. */
  flood: { sent: number; maxBuffered: number; done: boolean };
  close(): Promise<void>;
}

/**
 * `bearer`: the key expected in `Authorization: Bearer` (OpenAI); `apiKey`: the one expected in
 * `api-key` (Azure). A handshake without it is answered 401 with OpenAI's error body.
 */
export async function startFakeRealtime(opts: { bearer?: string; apiKey?: string }): Promise<FakeRealtime> {
  const fake: FakeRealtime = {
    url: '',
    handshakes: [],
    sockets: [],
    events: [],
    closes: [],
    flood: { sent: 0, maxBuffered: 0, done: false },
    close: async () => {},
  };
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => (p.has('realtime') ? 'realtime' : false) });
  const server = createServer((_req, res) => {
    res.writeHead(404);
    res.end();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const protocols = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    fake.handshakes.push({ path: req.url ?? '', headers: req.headers, protocols });
    const ok = opts.bearer !== undefined ? req.headers.authorization === `Bearer ${opts.bearer}` : req.headers['api-key'] === opts.apiKey;
    if (!ok) {
      const body = JSON.stringify({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key', param: null } });
      socket.end(`HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => session(ws, req));
  });
  let responses = 0;
  const session = (ws: WebSocket, req: IncomingMessage) => {
    fake.sockets.push(ws);
    const url = new URL(req.url ?? '/', 'http://fake');
    const model = url.searchParams.get('model') ?? url.searchParams.get('deployment');
    ws.send(JSON.stringify({ type: 'session.created', event_id: 'event_0', session: { id: 'sess_1', object: 'realtime.session', model } }));
    ws.on('close', (code) => fake.closes.push(code));
    ws.on('message', (data, binary) => {
      if (binary) return void ws.send(data, { binary: true });
      const e = JSON.parse(data.toString()) as { type: string; response?: { instructions?: string }; count?: number; size?: number };
      fake.events.push(e.type);
      if (e.type === 'response.create') {
        responses += 1;
        const id = `resp_${responses}`;
        const text = `Echo: ${e.response?.instructions ?? 'hello'}`;
        ws.send(JSON.stringify({ type: 'response.created', event_id: `ev_${id}_0`, response: { id, object: 'realtime.response', status: 'in_progress', output: [] } }));
        for (const word of text.split(' ')) {
          ws.send(JSON.stringify({ type: 'response.output_text.delta', event_id: `ev_${id}_d`, response_id: id, item_id: 'item_1', output_index: 0, content_index: 0, delta: `${word} ` }));
        }
        ws.send(JSON.stringify({ type: 'response.done', event_id: `ev_${id}_done`, response: { id, object: 'realtime.response', status: 'completed', output: [], usage: fakeUsage(responses) } }));
      } else if (e.type === 'test.flood') {
        // As fast as the socket takes it, whatever the reader does: backpressure must hold it back.
        const chunk = Buffer.alloc(e.size ?? 65536, 'a');
        const count = e.count ?? 100;
        for (let i = 0; i < count && ws.readyState === WebSocket.OPEN; i++) {
          ws.send(chunk, { binary: true });
          fake.flood.sent += chunk.length;
          fake.flood.maxBuffered = Math.max(fake.flood.maxBuffered, ws.bufferedAmount);
        }
        fake.flood.done = true;
      } else if (e.type === 'test.close') {
        ws.close(4000, 'closed by the fake');
      } else if (e.type === 'test.drop') {
        ws.terminate();
      }
    });
  };
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = async () => {
    for (const s of fake.sockets) s.terminate();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return fake;
}

/**
 * The SDK always connects `wss://` (it derives the URL from the base URL); the gateway here speaks
 * plain HTTP on loopback, so the socket is a plain TCP connection.
 */
const plainTcp = { createConnection: (o: { host?: string; port?: number }) => connect({ host: o.host, port: Number(o.port) }) };

/** `OpenAIRealtimeWS` (the openai SDK's Node client) through the gateway, open. */
export async function openaiRealtime(baseURL: string, apiKey: string, model: string): Promise<OpenAIRealtimeWS> {
  const client = new OpenAI({ baseURL, apiKey });
  // biome-ignore lint/suspicious/noExplicitAny: ws options the SDK passes through untyped
  const rt = new OpenAIRealtimeWS({ model, options: plainTcp as any }, client);
  record(rt);
  await opened(rt.socket);
  return rt;
}

/** `OpenAIRealtimeWS.azure` (AzureOpenAI client) through the gateway, open. */
export async function azureRealtime(baseURL: string, apiKey: string, deploymentName: string, apiVersion = '2025-04-01-preview'): Promise<OpenAIRealtimeWS> {
  const client = new AzureOpenAI({ baseURL, apiKey, apiVersion });
  // biome-ignore lint/suspicious/noExplicitAny: ws options the SDK passes through untyped
  const rt = await OpenAIRealtimeWS.azure(client, { deploymentName, options: plainTcp as any });
  record(rt);
  await opened(rt.socket);
  return rt;
}

/** Resolves when the socket opened; rejects with the HTTP status and body when the handshake was refused. */
export function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => reject(Object.assign(new Error(`handshake refused: ${res.statusCode}`), { status: res.statusCode, headers: res.headers, body })));
    });
    ws.once('error', reject);
  });
}

/** A raw `ws` client (what a browser does: subprotocols, no custom headers), not yet open. */
export function rawClient(url: string, protocols: string[] = [], headers: Record<string, string> = {}): WebSocket {
  return new WebSocket(url.replace(/^http/, 'ws'), protocols, { headers });
}

type Event = { type: string; [k: string]: unknown };
/** Events a client got that no `until` took yet: the first ones may come with the handshake's answer, before anyone listens. */
const queues = new WeakMap<OpenAIRealtimeWS, { events: Event[]; wake: (() => void) | null }>();
function record(rt: OpenAIRealtimeWS): void {
  const q = { events: [] as Event[], wake: null as (() => void) | null };
  queues.set(rt, q);
  rt.on('event', (e) => {
    q.events.push(e as unknown as Event);
    q.wake?.();
  });
}

/** The events the client got (from where the last call stopped) up to the first of `type`, inclusive. */
export async function until(rt: OpenAIRealtimeWS, type: string): Promise<Event[]> {
  const q = queues.get(rt)!;
  for (;;) {
    const i = q.events.findIndex((e) => e.type === type);
    if (i !== -1) return q.events.splice(0, i + 1);
    await new Promise<void>((r) => {
      q.wake = r;
    });
    q.wake = null;
  }
}

/** The close code and reason the client saw. */
export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}
