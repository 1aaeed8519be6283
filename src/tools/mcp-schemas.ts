import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type CompiledSchema, compileSchema } from '../config/json-schema.js';
import { McpToolsListError } from '../errors.js';
import { SseSplitter } from '../upstream/sse.js';
import type { Upstream } from '../upstream/upstreams.js';

/** A tool's input schema as the server declared it: compiled, or why it could not be. */
export interface ToolSchema {
  readonly schema: CompiledSchema | null;
  /** Set when the declared inputSchema is missing or not a valid JSON Schema (calls are refused). */
  readonly error: string | null;
  /** performance.now() when it was learned. */
  readonly at: number;
}

/** What the gateway's own tools/list requests carry over from the agent's request. */
export interface FetchContext {
  readonly headers: IncomingHttpHeaders;
  readonly meta: Record<string, unknown> | null;
  readonly requestId: string;
}

/**
 * Input schemas of one MCP server's tools, learned from the tools/list results that pass through
 * the gateway (every page), and fetched by the gateway itself (all pages) when a call names a tool
 * it has not seen or whose schema is older than the TTL. Concurrent fetches share one.
 */
export interface SchemaCache {
  learn(tools: readonly unknown[]): void;
  lookup(name: string, ctx: FetchContext): Promise<ToolSchema | null>;
  /** The server said its tools changed (notifications/tools/list_changed): learn them again. */
  invalidate(): void;
  /** How many tools are known (for tests and status). */
  size(): number;
}

const MAX_TOOLS = 10_000;
const MAX_PAGES = 100;
const MAX_LIST_BYTES = 16 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 10_000;
/** Request headers of the agent that scope the gateway's own request to the same session and revision. */
const CARRIED = ['mcp-session-id', 'mcp-protocol-version'];

export function createSchemaCache(opts: { server: string; upstream: Upstream; ttlMs: number; now?: () => number }): SchemaCache {
  const now = opts.now ?? (() => performance.now());
  let tools = new Map<string, ToolSchema>();
  /** When the gateway last read the whole list (all pages); -Infinity when never. */
  let completeAt = -Infinity;
  let inflight: Promise<void> | null = null;
  let seq = 0;
  /** Bumped by invalidate(): a fetch that began before it cannot make the cache fresh. */
  let generation = 0;
  const fresh = (at: number) => now() - at < opts.ttlMs;

  const entry = (tool: unknown, at: number): [string, ToolSchema] | null => {
    if (tool === null || typeof tool !== 'object') return null;
    const { name, inputSchema } = tool as { name?: unknown; inputSchema?: unknown };
    if (typeof name !== 'string') return null;
    if (inputSchema === undefined) return [name, { schema: null, error: `tool ${name} declares no inputSchema`, at }];
    try {
      return [name, { schema: compileSchema(inputSchema), error: null, at }];
    } catch (err) {
      return [name, { schema: null, error: `the inputSchema of tool ${name} is not a valid JSON Schema (${(err as Error).message})`, at }];
    }
  };
  const add = (into: Map<string, ToolSchema>, list: readonly unknown[], at: number) => {
    for (const t of list) {
      const e = entry(t, at);
      if (e !== null && (into.size < MAX_TOOLS || into.has(e[0]))) into.set(e[0], e[1]);
    }
  };

  const refresh = async (ctx: FetchContext) => {
    const next = new Map<string, ToolSchema>();
    const at = now();
    const gen = generation;
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const params: Record<string, unknown> = {};
      if (cursor !== undefined) params.cursor = cursor;
      if (ctx.meta !== null) params._meta = ctx.meta;
      const result = await rpc(opts.upstream, ctx, `aos-tools-list-${++seq}`, 'tools/list', params);
      const list = (result as { tools?: unknown }).tools;
      if (!Array.isArray(list)) throw new McpToolsListError(`tools/list of ${opts.server} returned no tools array`);
      add(next, list, at);
      const nc = (result as { nextCursor?: unknown }).nextCursor;
      if (typeof nc !== 'string' || nc === '') {
        if (gen === generation) {
          tools = next;
          completeAt = at;
        } else {
          // The tools changed while this list was read: use it, but as already stale.
          tools = new Map([...next].map(([k, v]) => [k, { ...v, at: -Infinity }]));
        }
        return;
      }
      cursor = nc;
    }
    throw new McpToolsListError(`tools/list of ${opts.server} has more than ${MAX_PAGES} pages`);
  };

  return {
    learn(list) {
      add(tools, list, now());
    },
    async lookup(name, ctx) {
      const known = tools.get(name);
      if (known !== undefined && fresh(known.at)) return known;
      if (known === undefined && fresh(completeAt)) return null;
      inflight ??= refresh(ctx).finally(() => {
        inflight = null;
      });
      await inflight;
      return tools.get(name) ?? null;
    },
    invalidate() {
      generation++;
      tools = new Map();
      completeAt = -Infinity;
    },
    size: () => tools.size,
  };
}

/** One JSON-RPC request of the gateway's own to the server; its result, answered as JSON or SSE. */
async function rpc(upstream: Upstream, ctx: FetchContext, id: string, method: string, params: Record<string, unknown>): Promise<unknown> {
  const headers: Record<string, string> = { 'x-aos-request-id': ctx.requestId };
  for (const name of CARRIED) {
    const v = ctx.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  // A server of the session-less revision routes on these headers; send them when the agent does.
  if (ctx.headers['mcp-method'] !== undefined) headers['mcp-method'] = method;
  const res = await postMessage(upstream, headers, { jsonrpc: '2.0', id, method, params });
  if (res.status !== 200) throw new McpToolsListError(`${method} answered HTTP ${res.status}: ${res.text.slice(0, 200)}`);
  const answer = res.messages.find((m) => m !== null && typeof m === 'object' && (m as { id?: unknown }).id === id) as { result?: unknown; error?: { message?: unknown } } | undefined;
  if (answer === undefined) throw new McpToolsListError(`${method} got no answer to its request`);
  if (answer.error !== undefined) throw new McpToolsListError(`${method} failed: ${String(answer.error?.message ?? 'error')}`);
  if (answer.result === null || typeof answer.result !== 'object') throw new McpToolsListError(`${method} returned no result`);
  return answer.result;
}

/** What a POST of the gateway's own to an MCP server got back: status, headers and the JSON-RPC messages (JSON or SSE). */
export interface PostAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  messages: unknown[];
}

/** POSTs one JSON-RPC message of the gateway's own to the server (its credential and extra headers added), bounded in size and time. */
export async function postMessage(upstream: Upstream, extra: Record<string, string>, message: unknown): Promise<PostAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...extra };
  for (let i = 0; i < upstream.headers.length; i += 2) headers[upstream.headers[i]] = upstream.headers[i + 1];
  if (upstream.auth !== null) headers[upstream.auth[0]] = upstream.auth[1];
  const res = await upstream.pool.request({ path: upstream.basePath, method: 'POST', headers, body: JSON.stringify(message), signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_LIST_BYTES) {
      res.body.destroy();
      throw new McpToolsListError(`the answer to ${String((message as { method?: unknown }).method)} is over ${MAX_LIST_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const type = String(res.headers['content-type'] ?? '');
  let messages: unknown[];
  if (type.startsWith('text/event-stream')) {
    const splitter = new SseSplitter();
    messages = [...splitter.push(Buffer.from(text)), ...splitter.end()].filter((e) => e.data !== '').map((e) => safeParse(e.data));
  } else {
    messages = text === '' ? [] : [safeParse(text)];
  }
  return { status: res.statusCode, headers: res.headers, text, messages };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
