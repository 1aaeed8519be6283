/**
 * Test fixture: a minimal MCP server of the stateless revision (2026-07-28), raw HTTP, written from
 * the specification because no SDK on npm speaks it yet (@modelcontextprotocol/sdk 1.x stops at
 * 2025-11-25). It answers `server/discover`, `tools/list` (with `ttlMs`/`cacheScope`, one tool
 * a page when `paged`), `resources/list`/`resources/read`, `tools/call` and `subscriptions/listen`,
 * and refuses what the revision forbids: a missing or mismatched `MCP-Protocol-Version`,
 * `Mcp-Method` or `Mcp-Name` header (400, -32020 HeaderMismatch), `initialize`, an `Mcp-Session-Id`.
 *
 * Tools: `echo`; `change` (answers on an SSE stream that first announces
 * `notifications/tools/list_changed`, also sent to listeners); `confirm` (`asks` elicitations, as
 * "input required" results: `inputRequests`, `requestState`, answered by a retry with
 * `inputResponses`; JSON answers); `summarize` (one `sampling/createMessage`, SSE answers);
 * `count` (progress notifications on SSE); `slow` (waits until its request is closed: cancelled);
 * `touch` (sends `notifications/resources/updated` for a URI to the listeners subscribed to it).
 * `subscriptions/listen` (the shapes of the 2026-07-28 subscriptions text): an SSE stream, first
 * `notifications/subscriptions/acknowledged` with the accepted filter, then the notifications it
 * asked for, each with `_meta["io.modelcontextprotocol/subscriptionId"]` (the listen request's id).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export const STATELESS = '2026-07-28';

export interface StatelessServer {
  url: string;
  requests: { headers: IncomingHttpHeaders; body: Record<string, unknown> }[];
  /** Names of the tools that ran to their end, and the ids of `slow` calls whose request was closed before. */
  called: string[];
  cancelled: unknown[];
  /** Open `subscriptions/listen` streams. */
  listeners(): number;
  close(): Promise<void>;
}

const TOOLS = [
  { name: 'echo', description: 'Echoes text', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } },
  { name: 'secret_dump', description: 'Not for agents', inputSchema: { type: 'object' } },
  { name: 'change', description: 'Announces that the tools changed', inputSchema: { type: 'object' } },
  { name: 'confirm', description: 'Asks the user `asks` times', inputSchema: { type: 'object', properties: { asks: { type: 'integer', minimum: 1, maximum: 3 } }, required: ['asks'] } },
  { name: 'summarize', description: 'Asks the client model for a summary', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } },
  { name: 'count', description: 'Counts with progress notifications', inputSchema: { type: 'object', properties: { to: { type: 'integer' } }, required: ['to'] } },
  { name: 'slow', description: 'Waits until cancelled', inputSchema: { type: 'object' } },
  { name: 'touch', description: 'Updates a resource', inputSchema: { type: 'object', properties: { uri: { type: 'string' } }, required: ['uri'] } },
];

const RESOURCES = [{ uri: 'docs://readme', name: 'readme' }];

interface Listener {
  id: unknown;
  filter: Record<string, unknown>;
  write(msg: unknown): void;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const unb64 = (v: unknown): Record<string, unknown> => (typeof v === 'string' ? JSON.parse(Buffer.from(v, 'base64url').toString('utf8')) : {});

function decodeName(v: string): string {
  const m = /^=\?base64\?(.*)\?=$/.exec(v);
  return m === null ? v : Buffer.from(m[1], 'base64').toString('utf8');
}

export async function startStatelessServer(opts: { ttlMs?: number; cacheScope?: 'public' | 'private'; paged?: boolean } = {}): Promise<StatelessServer> {
  const listeners = new Set<Listener>();
  const out: StatelessServer = { url: '', requests: [], called: [], cancelled: [], listeners: () => listeners.size, close: async () => {} };
  const notify = (method: string, params: Record<string, unknown>, wants: (f: Record<string, unknown>) => boolean) => {
    for (const l of listeners) if (wants(l.filter)) l.write({ jsonrpc: '2.0', method, params: { ...params, _meta: { 'io.modelcontextprotocol/subscriptionId': l.id } } });
  };
  const http = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, msg: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(msg));
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; method?: string; params?: Record<string, unknown> };
    out.requests.push({ headers: req.headers, body: body as Record<string, unknown> });
    const id = body.id ?? null;
    const mismatch = (message: string) => send(400, { jsonrpc: '2.0', id, error: { code: -32020, message: `Header mismatch: ${message}` } });
    const version = (body.params?._meta as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/protocolVersion'];
    if (req.headers['mcp-session-id'] !== undefined) return send(400, { jsonrpc: '2.0', id, error: { code: -32600, message: 'Sessions were removed in 2026-07-28' } });
    if (req.headers['mcp-protocol-version'] !== STATELESS) return send(400, { jsonrpc: '2.0', id, error: { code: -32022, message: 'Unsupported protocol version', data: { supported: [STATELESS] } } });
    if (version !== undefined && version !== STATELESS) return mismatch('MCP-Protocol-Version does not match _meta');
    if (req.headers['mcp-method'] !== body.method) return mismatch(`Mcp-Method ${String(req.headers['mcp-method'])} vs ${body.method}`);
    const named = body.method === 'tools/call' || body.method === 'prompts/get' ? body.params?.name : body.method === 'resources/read' ? body.params?.uri : undefined;
    if (named !== undefined && decodeName(String(req.headers['mcp-name'] ?? '')) !== named) return mismatch(`Mcp-Name ${String(req.headers['mcp-name'])} vs ${String(named)}`);
    if (id === null) return void res.writeHead(202).end();
    const meta = { 'io.modelcontextprotocol/serverInfo': { name: 'stateless-fixture', version: '1.0.0' } };
    switch (body.method) {
      case 'server/discover':
        return send(200, {
          jsonrpc: '2.0',
          id,
          result: {
            resultType: 'complete',
            supportedVersions: [STATELESS],
            capabilities: { tools: { listChanged: true }, resources: { subscribe: true, listChanged: true } },
            instructions: 'A stateless fixture',
            _meta: meta,
            ttlMs: 60_000,
            cacheScope: 'public',
          },
        });
      case 'tools/list': {
        const hints = { ttlMs: opts.ttlMs ?? 60_000, cacheScope: opts.cacheScope ?? 'public' };
        if (!opts.paged) return send(200, { jsonrpc: '2.0', id, result: { resultType: 'complete', tools: TOOLS, ...hints, _meta: meta } });
        const at = body.params?.cursor === 'page-2' ? 1 : 0;
        return send(200, { jsonrpc: '2.0', id, result: { resultType: 'complete', tools: [TOOLS[at]], ...(at === 0 ? { nextCursor: 'page-2' } : {}), ...hints, _meta: meta } });
      }
      case 'resources/list':
        return send(200, { jsonrpc: '2.0', id, result: { resultType: 'complete', resources: RESOURCES, ttlMs: 0, cacheScope: 'public', _meta: meta } });
      case 'resources/read':
        return send(200, { jsonrpc: '2.0', id, result: { resultType: 'complete', contents: [{ uri: body.params?.uri, text: 'read me' }], ttlMs: 0, cacheScope: 'public', _meta: meta } });
      case 'subscriptions/listen': {
        const asked = (body.params?.notifications ?? {}) as Record<string, unknown>;
        const filter: Record<string, unknown> = {};
        for (const k of ['toolsListChanged', 'resourcesListChanged']) if (asked[k] === true) filter[k] = true;
        if (Array.isArray(asked.resourceSubscriptions)) filter.resourceSubscriptions = asked.resourceSubscriptions;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const l: Listener = { id, filter, write: (msg) => res.write(`data: ${JSON.stringify(msg)}\n\n`) };
        l.write({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: filter, _meta: { 'io.modelcontextprotocol/subscriptionId': id } } });
        listeners.add(l);
        req.socket.once('close', () => listeners.delete(l));
        return;
      }
      case 'tools/call': {
        const args = (body.params?.arguments ?? {}) as Record<string, unknown>;
        const caps = ((body.params?._meta as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/clientCapabilities'] ?? {}) as Record<string, unknown>;
        const responses = (body.params?.inputResponses ?? {}) as Record<string, Record<string, unknown>>;
        const done = (text: string) => {
          out.called.push(String(body.params?.name));
          return { jsonrpc: '2.0', id, result: { resultType: 'complete', content: [{ type: 'text', text }], _meta: meta } };
        };
        const sse = (messages: unknown[]) => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(messages.map((m) => `data: ${JSON.stringify(m)}\n\n`).join(''));
        };
        switch (body.params?.name) {
          case 'change':
            notify('notifications/tools/list_changed', {}, (f) => f.toolsListChanged === true);
            return sse([{ jsonrpc: '2.0', method: 'notifications/tools/list_changed' }, done('changed')]);
          case 'confirm': {
            if (caps.elicitation === undefined) return send(200, { jsonrpc: '2.0', id, error: { code: -32021, message: 'Missing required client capability: elicitation' } });
            const answers = (unb64(body.params?.requestState) as { answers?: string[] }).answers ?? [];
            const given = responses[`confirm-${answers.length + 1}`];
            if (given !== undefined) answers.push(given.action === 'accept' ? `ok=${String((given.content as { ok?: unknown })?.ok)}` : String(given.action));
            if (answers.length < Number(args.asks ?? 1)) {
              const n = answers.length + 1;
              const ask = { method: 'elicitation/create', params: { message: `Proceed (${n})?`, requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } } };
              return send(200, { jsonrpc: '2.0', id, result: { resultType: 'input_required', inputRequests: { [`confirm-${n}`]: ask }, requestState: b64({ answers }), _meta: meta } });
            }
            return send(200, done(`confirmed: ${answers.join(', ')}`));
          }
          case 'summarize': {
            const note = { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'summarizing' } };
            const given = responses.summary;
            if (given === undefined) {
              const ask = { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: `Summarize: ${String(args.text)}` } }], maxTokens: 50 } };
              return sse([note, { jsonrpc: '2.0', id, result: { resultType: 'input_required', inputRequests: { summary: ask }, _meta: meta } }]);
            }
            return sse([note, done(`summary: ${String((given.content as { text?: unknown })?.text)}`)]);
          }
          case 'count': {
            const token = (body.params?._meta as Record<string, unknown> | undefined)?.progressToken;
            const to = Number(args.to ?? 1);
            const progress =
              token === undefined ? [] : Array.from({ length: to }, (_, i) => ({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: i + 1, total: to } }));
            return sse([...progress, done(`counted to ${to}`)]);
          }
          case 'slow': {
            const timer = setTimeout(() => send(200, done('slow done')), 5000);
            res.once('close', () => {
              clearTimeout(timer);
              if (!res.writableEnded) out.cancelled.push(id);
            });
            return;
          }
          case 'touch':
            notify('notifications/resources/updated', { uri: args.uri }, (f) => Array.isArray(f.resourceSubscriptions) && f.resourceSubscriptions.includes(args.uri));
            return send(200, done('touched'));
          default:
            return send(200, done(String(args.text ?? body.params?.name)));
        }
      }
      default:
        return send(404, { jsonrpc: '2.0', id, error: { code: -32601, message: `Method not found: ${body.method}` } });
    }
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  out.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  out.close = async () => {
    listeners.clear();
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  };
  return out;
}
