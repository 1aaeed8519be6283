import { Pool } from 'undici';
import type { GatewayConfig, McpToolConfig, ToolConfig, ToolTraits } from '../config/schema.js';
import type { Operation } from '../providers/dialect.js';
import { httpToolDialect } from '../providers/http-tool.js';
import { MCP_LABELS, mcpDialect } from '../providers/mcp.js';
import type { RouteTarget } from '../server/router.js';
import type { Upstream } from '../upstream/upstreams.js';
import { compileSchema, type CompiledSchema } from '../config/json-schema.js';
import { compilePathPattern, matchPathPattern, splitPath, type PathPattern } from '../config/path-pattern.js';
import { createSchemaCache, type SchemaCache } from './mcp-schemas.js';
import { createSessionOwners, type SessionOwners } from './mcp-sessions.js';

/** Traits with their defaults filled in, as the policy sees them. */
export interface Traits {
  readonly sensitive: boolean;
  readonly readOnly: boolean;
  readonly labels: Readonly<Record<string, string>>;
}

export interface HttpToolOperation {
  readonly name: string;
  readonly method: string;
  readonly pattern: PathPattern;
  readonly schema: CompiledSchema | null;
  readonly querySchema: CompiledSchema | null;
  readonly traits: Traits;
  /** Bounded metric label: `<tool>/<operation>`. */
  readonly routeName: string;
}

export interface HttpTool {
  readonly kind: 'http';
  readonly name: string;
  readonly upstream: Upstream;
  readonly operations: readonly HttpToolOperation[];
  /** Operations whose pattern has no parameter, by path (one lookup); the others are scanned. */
  readonly literal: ReadonlyMap<string, readonly HttpToolOperation[]>;
  readonly patterned: readonly HttpToolOperation[];
}

export interface McpServer {
  readonly kind: 'mcp';
  readonly name: string;
  readonly url: string;
  readonly upstream: Upstream;
  readonly traits: Traits;
  /** Traits of one of the server's tools: its own (from config) over the server's. */
  toolTraits(tool: string): Traits;
  readonly schemas: SchemaCache;
  /** Who opened each session; kept across config reloads while the server's URL stays the same. */
  readonly sessions: SessionOwners;
  /** Route targets by method label (`<server>/tools/call`, …), built once. */
  readonly targets: ReadonlyMap<string, RouteTarget>;
}

/** What the router found for a tool path; the tool stages act on it. */
export type ToolMatch =
  | { readonly kind: 'tool'; readonly tool: HttpTool; readonly operation: HttpToolOperation | null; readonly params: Record<string, string> }
  | { readonly kind: 'mcp'; readonly server: McpServer };

export interface ToolRegistry {
  readonly http: ReadonlyMap<string, HttpTool>;
  readonly mcp: ReadonlyMap<string, McpServer>;
  readonly upstreams: readonly Upstream[];
  /** The target for a path under /tools/ or /mcp/, or null when no tool claims it. */
  match(path: string, method: string): RouteTarget | null;
}

const TOOLS = '/tools/';
const MCP = '/mcp/';
const MCP_METHODS = ['GET', 'POST', 'DELETE'];

function traitsOf(own: ToolTraits | undefined, parent: Traits | null): Traits {
  return {
    sensitive: own?.sensitive ?? parent?.sensitive ?? false,
    readOnly: own?.readOnly ?? parent?.readOnly ?? false,
    labels: { ...(parent?.labels ?? {}), ...(own?.labels ?? {}) },
  };
}

function createPool(url: URL, u: GatewayConfig['upstream'], tool: ToolConfig): Pool {
  return new Pool(url.origin, {
    connections: u.connections,
    connectTimeout: u.connectTimeoutMs,
    headersTimeout: tool.headersTimeoutMs ?? u.headersTimeoutMs,
    bodyTimeout: tool.bodyTimeoutMs ?? u.bodyTimeoutMs,
    keepAliveTimeout: u.keepAliveTimeoutMs,
    pipelining: 1,
  });
}

function toolUpstream(name: string, tool: ToolConfig, base: string, key: string | undefined, u: GatewayConfig['upstream']): Upstream {
  const url = new URL(base);
  const authHeader = (tool.authHeader ?? 'authorization').toLowerCase();
  return {
    name,
    dialect: tool.kind === 'http' ? httpToolDialect : mcpDialect,
    origin: url.origin,
    basePath: tool.kind === 'http' ? url.pathname.replace(/\/+$/, '') : url.pathname,
    pool: createPool(url, u, tool),
    auth: key ? [authHeader, authHeader === 'authorization' ? `Bearer ${key}` : key] : null,
    headers: Object.entries(tool.headers).flatMap(([k, v]) => [k.toLowerCase(), v]),
  };
}

/** Builds the registry once per config (patterns and schemas compiled, one pool per tool). */
export function createToolRegistry(config: GatewayConfig, credentials: ReadonlyMap<string, string>, previous: ToolRegistry | null = null): ToolRegistry {
  const http = new Map<string, HttpTool>();
  const mcp = new Map<string, McpServer>();
  const upstreams: Upstream[] = [];
  for (const [name, tool] of Object.entries(config.tools)) {
    const key = credentials.get(name);
    if (tool.kind === 'http') {
      const upstream = toolUpstream(name, tool, tool.baseUrl, key, config.upstream);
      const traits = traitsOf(tool, null);
      const operations = Object.entries(tool.operations).map(([opName, op]): HttpToolOperation => ({
        name: opName,
        method: op.method,
        pattern: compilePathPattern(op.path),
        schema: op.bodySchema === undefined ? null : compileSchema(op.bodySchema),
        querySchema: op.querySchema === undefined ? null : compileSchema(op.querySchema, 'query'),
        traits: traitsOf(op, traits),
        routeName: `${name}/${opName}`,
      }));
      const literal = new Map<string, HttpToolOperation[]>();
      for (const op of operations) if (op.pattern.literal) literal.set(op.pattern.source, [...(literal.get(op.pattern.source) ?? []), op]);
      http.set(name, { kind: 'http', name, upstream, operations, literal, patterned: operations.filter((o) => !o.pattern.literal) });
      upstreams.push(upstream);
    } else {
      const before = previous?.mcp.get(name);
      const sessions = before !== undefined && before.url === tool.url ? before.sessions : createSessionOwners();
      mcp.set(name, createMcpServer(name, tool, toolUpstream(name, tool, tool.url, key, config.upstream), sessions));
      upstreams.push(mcp.get(name)!.upstream);
    }
  }

  return {
    http,
    mcp,
    upstreams,
    match(path, method) {
      if (path.startsWith(MCP)) {
        const server = mcp.get(path.slice(MCP.length));
        if (server === undefined) return null;
        // Before the body is read the method is unknown: the POST target is relabelled by the MCP stage.
        return server.targets.get(method === 'GET' ? 'stream' : method === 'DELETE' ? 'session.delete' : 'other')!;
      }
      if (!path.startsWith(TOOLS)) return null;
      const slash = path.indexOf('/', TOOLS.length);
      const tool = http.get(slash === -1 ? path.slice(TOOLS.length) : path.slice(TOOLS.length, slash));
      if (tool === undefined) return null;
      return matchHttpTool(tool, slash === -1 ? '' : path.slice(slash), method);
    },
  };
}

/** The operation for a method and a path under the tool; the methods other operations take on that path. */
function matchHttpTool(tool: HttpTool, rest: string, method: string): RouteTarget {
  const path = rest === '' ? '/' : rest;
  let hit: HttpToolOperation | null = null;
  let params: Record<string, string> = {};
  const methods: string[] = [];
  const consider = (op: HttpToolOperation, p: Record<string, string>) => {
    if (!methods.includes(op.method)) methods.push(op.method);
    if (hit === null && op.method === method) {
      hit = op;
      params = p;
    }
  };
  for (const op of tool.literal.get(path) ?? []) consider(op, {});
  if (tool.patterned.length > 0) {
    const parts = splitPath(path);
    for (const op of tool.patterned) {
      const p = matchPathPattern(op.pattern, parts);
      if (p !== null) consider(op, p);
    }
  }
  const found = hit as HttpToolOperation | null;
  // No operation on this path: methods stay empty and the first tool stage refuses (404) with the
  // declared operations in its message; a path with operations for other methods only is a 405.
  const operation: Operation = { name: found?.name ?? 'unmatched', methods, inspect: false };
  return {
    name: found?.routeName ?? `${tool.name}/unmatched`,
    upstream: tool.upstream,
    operation,
    upstreamPath: tool.upstream.basePath + rest,
    tool: { kind: 'tool', tool, operation: found, params },
  };
}

function createMcpServer(name: string, config: McpToolConfig, upstream: Upstream, sessions: SessionOwners): McpServer {
  const traits = traitsOf(config, null);
  const own = new Map(Object.entries(config.tools).map(([tool, t]) => [tool, traitsOf(t, traits)]));
  const targets = new Map<string, RouteTarget>();
  const server: McpServer = {
    kind: 'mcp',
    name,
    upstream,
    traits,
    toolTraits: (tool) => own.get(tool) ?? traits,
    schemas: createSchemaCache({ server: name, upstream, ttlMs: config.schemaCacheSec * 1000 }),
    sessions,
    url: config.url,
    targets,
  };
  for (const label of MCP_LABELS) {
    targets.set(label, {
      name: `${name}/${label}`,
      upstream,
      operation: { name: label, methods: MCP_METHODS, inspect: false },
      upstreamPath: upstream.basePath,
      tool: { kind: 'mcp', server },
      // The GET stream carries server-initiated messages: silence is normal, not a failure.
      ...(label === 'stream' ? { bodyTimeoutMs: 0 } : {}),
    });
  }
  return server;
}

export async function closeToolRegistry(registry: ToolRegistry | null): Promise<void> {
  if (registry === null) return;
  await Promise.allSettled(registry.upstreams.map((u) => u.pool.close()));
}
