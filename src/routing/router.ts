import { matchPathPattern, splitPath } from '../config/path-pattern.js';
import type { RouteConfig } from '../config/schema.js';
import type { A2aRegistry } from '../coordination/a2a-registry.js';
import type { Dialect as ErrorDialect } from '../errors.js';
import type { Operation } from '../providers/dialect.js';
import { unroutedErrors } from '../providers/index.js';
import { MCP_LABELS, mcpDialect } from '../providers/mcp.js';
import type { HttpTool, HttpToolOperation, McpServer, ToolRegistry } from '../tools/registry.js';
import type { Upstream } from '../upstream/upstreams.js';
import { createA2aMatcher } from './a2a-routes.js';
import type { RouteTarget } from './target.js';

export interface Router {
  /**
   * The target for a path (no query string), or null. `marked` says the request carries the header
   * of the dialect that claims shared paths (`anthropic-version`, see WireDialect.claimsSharedPaths):
   * it picks that dialect's route when two mounts claim the same path, e.g. `GET /v1/models` with
   * OpenAI at /v1 and Anthropic at /.
   */
  match(path: string, marked: boolean, method?: string): RouteTarget | null;
  /** The error dialect for a path that matched nothing, guessed from its mount. */
  dialectFor(path: string, marked: boolean): ErrorDialect;
}

const PASSTHROUGH: Operation = { name: 'passthrough', methods: [], inspect: false };
const TOOLS = '/tools/';
const MCP = '/mcp/';
const MCP_METHODS = ['GET', 'POST', 'DELETE'];
/** RFC 9728 path insertion: the metadata of the resource `/mcp/<name>`. */
const MCP_METADATA = '/.well-known/oauth-protected-resource/mcp/';

/**
 * The one place that knows the mounts: provider routes, `/tools/<name>/…` and `/mcp/<name>`. Exact
 * operations of every provider mount go in one Map, so a request costs one lookup; then the tool
 * registry's mounts; then mounts marked `passthrough`, longest prefix first. Earlier routes win a
 * path two routes share.
 */
export function createRouter(
  routes: readonly RouteConfig[],
  upstreams: ReadonlyMap<string, Upstream>,
  tools: ToolRegistry | null = null,
  a2a: A2aRegistry | null = null,
  /** Shared memory's mounts (`/memory/v1/…`, `/mcp/memory`: coordination/memory.ts), before the tool registry's; null: off. */
  memory: ((path: string, method: string) => RouteTarget | null) | null = null,
): Router {
  const matchA2a = a2a === null ? null : createA2aMatcher(a2a);
  const exact = new Map<string, RouteTarget>();
  /** Targets of a claiming dialect for paths an earlier route of another dialect took. */
  const claimedAlt = new Map<string, RouteTarget>();
  const mounts: { prefix: string; upstream: Upstream; passthrough: boolean }[] = [];
  for (const route of routes) {
    const upstream = upstreams.get(route.provider)!;
    const prefix = route.prefix === '/' ? '' : route.prefix;
    for (const [path, operation] of upstream.dialect.operations) {
      const target = { name: `${upstream.name}/${operation.name}`, upstream, operation, upstreamPath: upstream.basePath + path };
      const taken = exact.get(prefix + path);
      if (taken === undefined) exact.set(prefix + path, target);
      else if (upstream.dialect.claimsSharedPaths === true && taken.upstream.dialect.claimsSharedPaths !== true && !claimedAlt.has(prefix + path)) {
        claimedAlt.set(prefix + path, target);
      }
    }
    mounts.push({ prefix, upstream, passthrough: route.passthrough });
  }
  mounts.sort((a, b) => b.prefix.length - a.prefix.length);
  const passthrough = mounts.filter((m) => m.passthrough);
  // Mounts whose dialect knows operations by the shape of their path (the model is a segment of it).
  const patterned = mounts.filter((m) => m.upstream.dialect.match !== undefined);

  /** The target of a path whose operation names its model, or null. A new target per request: it carries the model. */
  const matchPatterned = (path: string): RouteTarget | null => {
    for (const m of patterned) {
      if (!path.startsWith(m.prefix) || path.charCodeAt(m.prefix.length) !== 47) continue;
      const rest = path.slice(m.prefix.length);
      const hit = m.upstream.dialect.match!(rest);
      if (hit !== null) {
        return { name: `${m.upstream.name}/${hit.operation.name}`, upstream: m.upstream, operation: hit.operation, upstreamPath: m.upstream.basePath + rest, model: hit.model };
      }
    }
    return null;
  };
  const http: ReadonlyMap<string, HttpTool> = tools?.http ?? new Map();
  const mcp = new Map<string, ReadonlyMap<string, RouteTarget>>();
  const metadata = new Map<string, RouteTarget>();
  for (const server of tools?.mcp.values() ?? []) {
    mcp.set(server.name, mcpTargets(server));
    metadata.set(server.name, {
      name: `${server.name}/metadata`,
      upstream: server.upstream,
      operation: { name: 'metadata', methods: ['GET'], inspect: false },
      upstreamPath: server.upstream.basePath,
      tool: { kind: 'mcp-metadata', server },
    });
  }

  /** The target for a path under /tools/ or /mcp/, or null when no tool claims it. */
  const matchTool = (path: string, method: string): RouteTarget | null => {
    if (path.startsWith(MCP)) {
      const targets = mcp.get(path.slice(MCP.length));
      if (targets === undefined) return null;
      // Before the body is read the method is unknown: the POST target is relabelled by the MCP stage.
      return targets.get(method === 'GET' ? 'stream' : method === 'DELETE' ? 'session.delete' : 'other')!;
    }
    if (path.startsWith(MCP_METADATA)) return metadata.get(path.slice(MCP_METADATA.length)) ?? null;
    if (!path.startsWith(TOOLS)) return null;
    const slash = path.indexOf('/', TOOLS.length);
    const tool = http.get(slash === -1 ? path.slice(TOOLS.length) : path.slice(TOOLS.length, slash));
    if (tool === undefined) return null;
    return matchHttpTool(tool, slash === -1 ? '' : path.slice(slash), method);
  };

  return {
    match(path, marked, method = 'GET') {
      const hit = exact.get(path);
      if (hit !== undefined) return marked ? (claimedAlt.get(path) ?? hit) : hit;
      if (patterned.length > 0) {
        const target = matchPatterned(path);
        if (target !== null) return target;
      }
      if (memory !== null) {
        const target = memory(path, method);
        if (target !== null) return target;
      }
      // The tool registry's mounts come before pass-through mounts (a passthrough `/` would take them).
      if (tools !== null) {
        const target = matchTool(path, method);
        if (target !== null) return target;
      }
      if (matchA2a !== null && path.startsWith('/a2a/')) return matchA2a(path);
      for (const m of passthrough) {
        if (path.startsWith(m.prefix) && (path.length === m.prefix.length || path.charCodeAt(m.prefix.length) === 47)) {
          return { name: `${m.upstream.name}/passthrough`, upstream: m.upstream, operation: PASSTHROUGH, upstreamPath: m.upstream.basePath + path.slice(m.prefix.length) };
        }
      }
      return null;
    },
    dialectFor(path, marked) {
      if (path.startsWith(MCP) || path.startsWith(MCP_METADATA)) return mcpDialect.errors;
      if (path.startsWith('/a2a/')) return path.indexOf('/', 5) === -1 ? 'a2a' : 'a2a-rest';
      if (!marked) for (const m of mounts) if (m.prefix !== '' && path.startsWith(`${m.prefix}/`)) return m.upstream.dialect.errors;
      return unroutedErrors(path, marked);
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

/** Route targets of an MCP server by method label (`<server>/tools/call`, …), built once per router. */
function mcpTargets(server: McpServer): ReadonlyMap<string, RouteTarget> {
  const targets = new Map<string, RouteTarget>();
  const match = { kind: 'mcp', server, targets } as const;
  const upstream = server.upstream;
  for (const label of MCP_LABELS) {
    targets.set(label, {
      name: `${server.name}/${label}`,
      upstream,
      operation: { name: label, methods: MCP_METHODS, inspect: false },
      upstreamPath: upstream.basePath,
      tool: match,
      // The GET stream (and 2026-07-28's subscriptions/listen) carries server-initiated messages: silence is normal, not a failure.
      ...(label === 'stream' || label === 'subscriptions/listen' ? { bodyTimeoutMs: 0 } : {}),
    });
  }
  return targets;
}
