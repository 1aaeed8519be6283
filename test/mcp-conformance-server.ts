/**
 * Test fixture: the server the official MCP conformance suite's server scenarios expect (the tools,
 * resources and prompts its scenarios call, as listed by the conformance repository's reference
 * "everything server"), written here with the official SDK's McpServer over Streamable HTTP on
 * 127.0.0.1 port 0. Sessions, an event store (resumable streams, SEP-1699) and a Host/Origin check
 * against DNS rebinding, as a local server must have.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { type EventStore, StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { toJsonSchemaCompat } from '@modelcontextprotocol/sdk/server/zod-json-schema-compat.js';
import { ElicitResultSchema, type JSONRPCMessage, ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

export interface ConformanceServer {
  /** The MCP endpoint, http://127.0.0.1:PORT/mcp */
  url: string;
  /** Authorization headers the server received (the gateway must send its own credential, never the agent's). */
  authorizations: (string | undefined)[];
  close(): Promise<void>;
}

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';
/** Declared as is in tools/list (SEP-1613: $schema, $defs and additionalProperties must survive). */
const SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
  properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
  additionalProperties: false,
} as const;

const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Events in memory, replayed after the one named within its stream. */
function eventStore(): EventStore {
  const events: { id: string; stream: string; message: JSONRPCMessage }[] = [];
  return {
    async storeEvent(stream, message) {
      const id = `${stream}::${String(events.length).padStart(8, '0')}`;
      events.push({ id, stream, message });
      return id;
    },
    async replayEventsAfter(last, { send }) {
      const stream = last.split('::')[0];
      for (const e of events) if (e.stream === stream && e.id > last && Object.keys(e.message).length > 0) await send(e.id, e.message);
      return stream;
    },
  };
}

const ELICIT_DEFAULTS = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'User name', default: 'John Doe' },
    age: { type: 'integer', description: 'User age', default: 30 },
    score: { type: 'number', description: 'User score', default: 95.5 },
    status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
    verified: { type: 'boolean', description: 'Verification status', default: true },
  },
  required: [],
};

const ELICIT_ENUMS = {
  type: 'object',
  properties: {
    untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
    titledSingle: {
      type: 'string',
      description: 'Select one option with titles',
      oneOf: [
        { const: 'value1', title: 'First Option' },
        { const: 'value2', title: 'Second Option' },
        { const: 'value3', title: 'Third Option' },
      ],
    },
    legacyEnum: { type: 'string', description: 'Select one option (legacy)', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'] },
    untitledMulti: { type: 'array', description: 'Select multiple options', minItems: 1, maxItems: 3, items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
    titledMulti: {
      type: 'array',
      description: 'Select multiple options with titles',
      minItems: 1,
      maxItems: 3,
      items: {
        anyOf: [
          { const: 'value1', title: 'First Choice' },
          { const: 'value2', title: 'Second Choice' },
          { const: 'value3', title: 'Third Choice' },
        ],
      },
    },
  },
  required: [],
};

function build(transports: Map<string, StreamableHTTPServerTransport>): McpServer {
  const server = new McpServer(
    { name: 'aos-conformance-fixture', version: '1.0.0' },
    { capabilities: { tools: { listChanged: true }, resources: { subscribe: true, listChanged: true }, prompts: { listChanged: true }, logging: {}, completions: {} } },
  );
  const log = (data: string) => void server.server.notification({ method: 'notifications/message', params: { level: 'info', logger: 'fixture', data } }).catch(() => {});
  // Server requests go out on the stream of the call that needs them (extra.sendRequest), not on the
  // GET stream: a GET stream the client has not opened yet would lose them.
  type Extra = { sendRequest: (req: never, schema: never) => Promise<unknown> };
  const elicit = async (extra: Extra, message: string, requestedSchema: unknown, label: string) => {
    try {
      const r = (await extra.sendRequest({ method: 'elicitation/create', params: { message, requestedSchema } } as never, ElicitResultSchema as never)) as { action: string; content?: unknown };
      return text(`${label}: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
    } catch (err) {
      return text(`Elicitation not supported or error: ${(err as Error).message}`);
    }
  };

  server.registerTool('test_simple_text', { description: 'Simple text' }, async () => text('This is a simple text response for testing.'));
  server.registerTool('test_image_content', { description: 'An image' }, async () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }));
  server.registerTool('test_audio_content', { description: 'Audio' }, async () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }));
  server.registerTool('test_embedded_resource', { description: 'An embedded resource' }, async () => ({
    content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
  }));
  server.registerTool('test_multiple_content_types', { description: 'Text, image and resource' }, async () => ({
    content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
    ],
  }));
  server.registerTool('test_tool_with_logging', { description: 'Logs while it runs', inputSchema: {} }, async (_args, extra) => {
    for (const data of ['Tool execution started', 'Tool processing data', 'Tool execution completed']) {
      await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
      await sleep(20);
    }
    return text('Tool with logging executed successfully');
  });
  server.registerTool('test_tool_with_progress', { description: 'Reports progress', inputSchema: {} }, async (_args, extra) => {
    const progressToken = extra._meta?.progressToken ?? 0;
    for (const progress of [0, 50, 100]) {
      await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` } });
      await sleep(20);
    }
    return text(String(progressToken));
  });
  server.registerTool('test_error_handling', { description: 'Fails' }, async () => {
    throw new Error('This tool intentionally returns an error for testing');
  });
  server.registerTool('test_reconnection', { description: 'Closes its SSE stream mid-call (SEP-1699)', inputSchema: {} }, async (_args, extra) => {
    const t = extra.sessionId === undefined ? undefined : transports.get(extra.sessionId);
    if (t !== undefined) t.closeSSEStream(extra.requestId);
    await sleep(100);
    return text('Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.');
  });
  server.registerTool('test_sampling', { description: 'Asks the client for a completion', inputSchema: { prompt: z.string() } }, async ({ prompt }, extra) => {
    try {
      const r = (await extra.sendRequest(
        { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 } },
        z.object({}).passthrough() as never,
      )) as { content?: { text?: string } };
      return text(`LLM response: ${r.content?.text ?? 'No response'}`);
    } catch (err) {
      return text(`Sampling not supported or error: ${(err as Error).message}`);
    }
  });
  server.registerTool('test_elicitation', { description: 'Asks the user', inputSchema: { message: z.string() } }, async ({ message }, extra) =>
    elicit(extra, message, { type: 'object', properties: { response: { type: 'string', description: "User's response" } }, required: ['response'] }, 'User response'),
  );
  server.registerTool('test_elicitation_sep1034_defaults', { description: 'Elicitation with defaults (SEP-1034)', inputSchema: {} }, async (_args, extra) =>
    elicit(extra, 'Please review and update the form fields with defaults', ELICIT_DEFAULTS, 'Elicitation completed'),
  );
  server.registerTool('test_elicitation_sep1330_enums', { description: 'Elicitation with enums (SEP-1330)', inputSchema: {} }, async (_args, extra) =>
    elicit(extra, 'Please select options from the enum fields', ELICIT_ENUMS, 'Elicitation completed'),
  );
  server.registerTool(
    'json_schema_2020_12_tool',
    { description: 'JSON Schema 2020-12 (SEP-1613)', inputSchema: { name: z.string().optional(), address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional() } },
    async (args) => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`),
  );

  const resource = (name: string, uri: string, mimeType: string, body: { text: string } | { blob: string }) =>
    server.registerResource(name, uri, { title: name, description: `The ${name} resource`, mimeType }, async () => ({ contents: [{ uri, mimeType, ...body }] }));
  resource('static-text', 'test://static-text', 'text/plain', { text: 'This is the content of the static text resource.' });
  resource('static-binary', 'test://static-binary', 'image/png', { blob: PNG });
  resource('watched-resource', 'test://watched-resource', 'text/plain', { text: 'Watched resource content' });
  server.registerResource('template', new ResourceTemplate('test://template/{id}/data', { list: undefined }), { title: 'Resource Template', mimeType: 'application/json' }, async (uri, { id }) => ({
    contents: [{ uri: uri.toString(), mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }],
  }));
  const subscriptions = new Set<string>();
  server.server.setRequestHandler(z.object({ method: z.literal('resources/subscribe'), params: z.object({ uri: z.string() }).passthrough() }).passthrough(), async (req) => {
    subscriptions.add(req.params.uri);
    log(`Subscribed to resource: ${req.params.uri}`);
    return {};
  });
  server.server.setRequestHandler(z.object({ method: z.literal('resources/unsubscribe'), params: z.object({ uri: z.string() }).passthrough() }).passthrough(), async (req) => {
    subscriptions.delete(req.params.uri);
    log(`Unsubscribed from resource: ${req.params.uri}`);
    return {};
  });

  const user = (content: Record<string, unknown>) => ({ role: 'user' as const, content: content as never });
  server.registerPrompt('test_simple_prompt', { title: 'Simple Test Prompt', description: 'No arguments' }, async () => ({
    messages: [user({ type: 'text', text: 'This is a simple prompt for testing.' })],
  }));
  server.registerPrompt(
    'test_prompt_with_arguments',
    { title: 'Prompt With Arguments', description: 'Two required arguments', argsSchema: { arg1: z.string(), arg2: z.string() } },
    async ({ arg1, arg2 }) => ({
      messages: [user({ type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` })],
    }),
  );
  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    { title: 'Prompt With Embedded Resource', description: 'Embeds a resource', argsSchema: { resourceUri: z.string() } },
    async ({ resourceUri }) => ({
      messages: [
        user({ type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } }),
        user({ type: 'text', text: 'Please process the embedded resource above.' }),
      ],
    }),
  );
  server.registerPrompt('test_prompt_with_image', { title: 'Prompt With Image', description: 'Includes an image' }, async () => ({
    messages: [user({ type: 'image', data: PNG, mimeType: 'image/png' }), user({ type: 'text', text: 'Please analyze the image above.' })],
  }));

  server.server.setRequestHandler(z.object({ method: z.literal('logging/setLevel'), params: z.object({ level: z.string() }).passthrough() }).passthrough(), async (req) => {
    log(`Log level set to: ${req.params.level}`);
    return {};
  });
  server.server.setRequestHandler(z.object({ method: z.literal('completion/complete') }).passthrough(), async () => ({ completion: { values: [], total: 0, hasMore: false } }));

  // tools/list declares the SEP-1613 tool's raw schema; the others as the SDK converts them.
  const registered = (server as unknown as { _registeredTools: Record<string, { enabled: boolean; title?: string; description?: string; inputSchema?: unknown }> })._registeredTools;
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: Object.entries(registered)
      .filter(([, t]) => t.enabled)
      .map(
        ([name, t]): Tool => ({
          name,
          title: t.title,
          description: t.description,
          inputSchema:
            name === 'json_schema_2020_12_tool'
              ? (SCHEMA_2020_12 as unknown as Tool['inputSchema'])
              : t.inputSchema === undefined
                ? { type: 'object', properties: {} }
                : (toJsonSchemaCompat(t.inputSchema as never, { strictUnions: true, pipeStrategy: 'input' }) as Tool['inputSchema']),
        }),
      ),
  }));
  return server;
}

const LOCAL = /^(?:localhost|127\.0\.0\.1|\[::1\])(?::\d+)?$/i;

/** A local server refuses foreign Host and Origin headers (DNS rebinding). */
function foreign(req: IncomingMessage): boolean {
  const host = req.headers.host ?? '';
  if (!LOCAL.test(host)) return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return !LOCAL.test(new URL(origin).host);
  } catch {
    return true;
  }
}

export async function startConformanceServer(): Promise<ConformanceServer> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const out: ConformanceServer = { url: '', authorizations: [], close: async () => {} };

  const reply = (res: ServerResponse, status: number, code: number, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    out.authorizations.push(req.headers.authorization);
    if (foreign(req)) return reply(res, 403, -32000, 'Forbidden: Host or Origin not allowed');
    let body: unknown;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(res, 400, -32700, 'Parse error');
      }
    }
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
    if (transport === undefined) {
      if (req.method !== 'POST' || (body as { method?: unknown } | undefined)?.method !== 'initialize' || sid !== undefined) {
        return reply(res, typeof sid === 'string' ? 404 : 400, -32000, typeof sid === 'string' ? 'Session not found' : 'Invalid or missing session ID');
      }
      const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: eventStore(),
        retryInterval: 500,
        onsessioninitialized: (id) => void transports.set(id, t),
        onsessionclosed: (id) => void transports.delete(id),
      });
      transport = t;
      await build(transports).connect(t);
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
  out.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  out.close = async () => {
    for (const t of transports.values()) await t.close().catch(() => {});
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  };
  return out;
}
