/** Test fixture: a real MCP server (the official SDK's McpServer over Streamable HTTP) on 127.0.0.1 port 0. */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ElicitResultSchema, type JSONRPCMessage, ListToolsRequestSchema, SubscribeRequestSchema, UnsubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

export interface McpFixture {
  /** The MCP endpoint, e.g. http://127.0.0.1:PORT/mcp */
  url: string;
  /** Every HTTP request the server received: method, headers and the JSON-RPC method (POST). */
  requests: { method: string; headers: IncomingHttpHeaders; rpc: string | null; body: unknown }[];
  /** Names of the tools that ran. */
  called: string[];
  /** Resource URIs subscribed (with `streams`; the last session's). */
  subscribed(): string[];
  sessions(): number;
  close(): Promise<void>;
}

export interface McpFixtureOptions {
  /** Answer POSTs with JSON instead of SSE (enableJsonResponse). */
  json?: boolean;
  /** Page tools/list this many tools at a time (nextCursor). */
  pageSize?: number;
  /** No sessions (sessionIdGenerator undefined). */
  stateless?: boolean;
  /** tools/list fails (a JSON-RPC error): the gateway cannot learn the schemas. */
  listFails?: boolean;
  /** Keep every SSE event for resumption (GET with Last-Event-ID replays a stream's later events). */
  resumable?: boolean;
  /**
   * Resource subscriptions (`resources.subscribe`), the tool `touch` (announces
   * `notifications/resources/updated` for a subscribed URI, on the GET stream) and the tool
   * `ask_on_stream` (elicits on the GET stream rather than on the call's).
   */
  streams?: boolean;
}

/** The smallest event store: events in order, replayed after the one named, within its stream. */
function createEventStore(): EventStore {
  const events: { id: string; stream: string; message: JSONRPCMessage }[] = [];
  return {
    async storeEvent(stream, message) {
      const id = `${stream}_${events.length}`;
      events.push({ id, stream, message });
      return id;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const at = events.findIndex((e) => e.id === lastEventId);
      const stream = events[at]?.stream ?? '';
      for (const e of events.slice(at + 1)) if (e.stream === stream && Object.keys(e.message).length > 0) await send(e.id, e.message);
      return stream;
    },
  };
}

function buildServer(fixture: McpFixture, opts: McpFixtureOptions, live: Map<string | number, ServerResponse>): McpServer {
  const pageSize = opts.pageSize;
  const server = new McpServer({ name: 'fixture', version: '1.0.0' }, { capabilities: { logging: {} } });
  const ran = (name: string) => fixture.called.push(name);
  server.registerTool('echo', { description: 'Echoes text', inputSchema: { text: z.string() } }, async ({ text }) => {
    ran('echo');
    return { content: [{ type: 'text', text }] };
  });
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => {
    ran('add');
    return { content: [{ type: 'text', text: String(a + b) }] };
  });
  server.registerTool('delete_repo', { description: 'Deletes a repository', inputSchema: { repo: z.string() } }, async ({ repo }) => {
    ran('delete_repo');
    return { content: [{ type: 'text', text: `deleted ${repo}` }] };
  });
  server.registerTool('secret_dump', { description: 'Not for agents', inputSchema: {} }, async () => {
    ran('secret_dump');
    return { content: [{ type: 'text', text: 'secrets' }] };
  });
  server.registerTool('count', { description: 'Counts with progress notifications', inputSchema: { to: z.number().int().min(1).max(50) } }, async ({ to }, extra) => {
    ran('count');
    const token = extra._meta?.progressToken;
    for (let i = 1; i <= to; i++) {
      if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: to } });
      await new Promise((r) => setTimeout(r, 2));
    }
    return { content: [{ type: 'text', text: `counted to ${to}` }] };
  });
  server.registerTool(
    'confirm',
    { description: "Asks the user (elicitation on the call's stream) before it acts, as many times as `asks`", inputSchema: { asks: z.number().int().min(1).max(3) } },
    async ({ asks }, extra) => {
      ran('confirm');
      const answers: string[] = [];
      for (let i = 1; i <= asks; i++) {
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: `asking ${i}` } });
        const r = await extra.sendRequest(
          { method: 'elicitation/create', params: { message: `Proceed (${i})?`, requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } } },
          ElicitResultSchema,
        );
        answers.push(r.action === 'accept' ? `ok=${String(r.content?.ok)}` : r.action);
      }
      return { content: [{ type: 'text', text: `confirmed: ${answers.join(', ')}` }] };
    },
  );
  server.registerTool('die', { description: 'The server dies mid-call', inputSchema: {} }, async (_args, extra) => {
    ran('die');
    // Give an SSE answer time to send its headers, then cut the connection.
    await new Promise((r) => setTimeout(r, 20));
    live.get(extra.requestId)?.socket?.destroy();
    return await new Promise<never>(() => {});
  });
  server.registerTool('add_tool', { description: 'Registers the tool `extra` (the server then announces tools/list_changed)', inputSchema: {} }, async () => {
    ran('add_tool');
    server.registerTool('extra', { description: 'Added at run time', inputSchema: { n: z.number() } }, async ({ n }) => {
      ran('extra');
      return { content: [{ type: 'text', text: `extra ${n}` }] };
    });
    return { content: [{ type: 'text', text: 'added' }] };
  });
  server.registerPrompt('review', { description: 'A review prompt', argsSchema: { code: z.string() } }, ({ code }) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `Review: ${code}` } }],
  }));
  server.registerResource('readme', 'docs://readme', { description: 'The readme' }, async (uri) => ({ contents: [{ uri: uri.href, text: 'read me' }] }));
  server.registerResource('secrets', 'secret://keys', { description: 'Not for agents' }, async (uri) => ({ contents: [{ uri: uri.href, text: 'keys' }] }));
  if (pageSize !== undefined) {
    // Page the SDK's own list: the cursor is the offset.
    const handlers = (server.server as unknown as { _requestHandlers: Map<string, (req: unknown, extra: unknown) => Promise<{ tools: unknown[] }>> })._requestHandlers;
    const full = handlers.get('tools/list')!;
    server.server.setRequestHandler(ListToolsRequestSchema, async (req, extra) => {
      const all = (await full(req, extra)).tools;
      const from = Number(req.params?.cursor ?? 0);
      const next = from + pageSize;
      return { tools: all.slice(from, next) as never, ...(next < all.length ? { nextCursor: String(next) } : {}) };
    });
  }
  if (opts.streams) {
    const subscribed = new Set<string>();
    server.server.registerCapabilities({ resources: { subscribe: true } });
    server.server.setRequestHandler(SubscribeRequestSchema, async (req) => {
      subscribed.add(req.params.uri);
      return {};
    });
    server.server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
      subscribed.delete(req.params.uri);
      return {};
    });
    fixture.subscribed = () => [...subscribed];
    server.registerTool('touch', { description: 'Updates a resource', inputSchema: { uri: z.string() } }, async ({ uri }) => {
      ran('touch');
      // Not related to the call: the SDK sends it on the session's GET stream.
      if (subscribed.has(uri)) await server.server.sendResourceUpdated({ uri });
      return { content: [{ type: 'text', text: 'touched' }] };
    });
    server.registerTool('ask_on_stream', { description: 'Elicits on the GET stream', inputSchema: {} }, async () => {
      ran('ask_on_stream');
      // Without the call's request id, the SDK sends the request on the standalone GET stream.
      const r = await server.server.elicitInput({ message: 'From the GET stream?', requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } } } });
      return { content: [{ type: 'text', text: `stream answer: ${r.action}` }] };
    });
  }
  if (opts.listFails) {
    server.server.setRequestHandler(ListToolsRequestSchema, async () => {
      throw new Error('the tool catalogue is down');
    });
  }
  return server;
}

export async function startMcpServer(opts: McpFixtureOptions = {}): Promise<McpFixture> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const live = new Map<string | number, ServerResponse>();
  const fixture: McpFixture = { url: '', requests: [], called: [], subscribed: () => [], sessions: () => transports.size, close: async () => {} };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let body: unknown;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    }
    const rpc = body !== undefined && typeof (body as { method?: unknown }).method === 'string' ? (body as { method: string }).method : null;
    fixture.requests.push({ method: req.method!, headers: req.headers, rpc, body });
    const id = (body as { id?: string | number } | undefined)?.id;
    if (id !== undefined) {
      live.set(id, res);
      res.once('close', () => live.delete(id));
    }
    if (opts.stateless) {
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: opts.json });
      const server = buildServer(fixture, opts, live);
      res.once('close', () => void transport.close().then(() => server.close()));
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
      return;
    }
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
    if (transport === undefined) {
      if (rpc !== 'initialize') {
        res.writeHead(typeof sid === 'string' ? 404 : 400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: typeof sid === 'string' ? 'Session not found' : 'Bad Request: No valid session ID provided' } }));
        return;
      }
      const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: opts.json,
        eventStore: opts.resumable ? createEventStore() : undefined,
        onsessioninitialized: (id) => void transports.set(id, t),
        onsessionclosed: (id) => void transports.delete(id),
      });
      transport = t;
      await buildServer(fixture, opts, live).connect(t);
    }
    await transport.handleRequest(req, res, body);
  };

  const http = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  fixture.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  fixture.close = async () => {
    for (const t of transports.values()) await t.close().catch(() => {});
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  };
  return fixture;
}
