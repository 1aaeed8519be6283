import type { Dialect as ErrorDialect } from '../errors.js';
import type { RouteConfig } from '../config/schema.js';
import type { Operation } from '../providers/dialect.js';
import type { Upstream } from '../upstream/upstreams.js';
import type { ToolMatch, ToolRegistry } from '../tools/registry.js';

/** Where one request goes: built once per config, shared by every request it matches. */
export interface RouteTarget {
  /** Bounded metric label: `<provider>/<operation>`. */
  readonly name: string;
  readonly upstream: Upstream;
  readonly operation: Operation;
  /** Path on the upstream, before the query string. */
  readonly upstreamPath: string;
  /** Tool registry routes (`/tools/<name>/…`, `/mcp/<name>`): what was matched; they run the tool stages. */
  readonly tool?: ToolMatch;
  /** Overrides upstream.bodyTimeoutMs for this route (0: none), e.g. an MCP GET stream, idle by nature. */
  readonly bodyTimeoutMs?: number;
}

export interface Router {
  /**
   * The target for a path (no query string), or null. `anthropic` says the request carries an
   * `anthropic-version` header (every Anthropic SDK sends one): it picks the Anthropic route when
   * two mounts claim the same path, e.g. `GET /v1/models` with OpenAI at /v1 and Anthropic at /.
   */
  match(path: string, anthropic: boolean, method?: string): RouteTarget | null;
  /** The error dialect for a path that matched nothing, guessed from its mount. */
  dialectFor(path: string, anthropic: boolean): ErrorDialect;
}

const PASSTHROUGH: Operation = { name: 'passthrough', methods: [], inspect: false };

/**
 * Exact operations of every mount go in one Map, so a request costs one lookup; mounts marked
 * `passthrough` are then tried longest prefix first. Earlier routes win a path two routes share.
 */
export function createRouter(routes: readonly RouteConfig[], upstreams: ReadonlyMap<string, Upstream>, tools: ToolRegistry | null = null): Router {
  const exact = new Map<string, RouteTarget>();
  /** Anthropic targets of paths an earlier route of another dialect took. */
  const anthropicAlt = new Map<string, RouteTarget>();
  const mounts: { prefix: string; upstream: Upstream; passthrough: boolean }[] = [];
  for (const route of routes) {
    const upstream = upstreams.get(route.provider)!;
    const prefix = route.prefix === '/' ? '' : route.prefix;
    for (const [path, operation] of upstream.dialect.operations) {
      const target = { name: `${upstream.name}/${operation.name}`, upstream, operation, upstreamPath: upstream.basePath + path };
      const taken = exact.get(prefix + path);
      if (taken === undefined) exact.set(prefix + path, target);
      else if (upstream.dialect.name === 'anthropic' && taken.upstream.dialect.name !== 'anthropic' && !anthropicAlt.has(prefix + path)) anthropicAlt.set(prefix + path, target);
    }
    mounts.push({ prefix, upstream, passthrough: route.passthrough });
  }
  mounts.sort((a, b) => b.prefix.length - a.prefix.length);
  const passthrough = mounts.filter((m) => m.passthrough);

  return {
    match(path, anthropic, method = 'GET') {
      const hit = exact.get(path);
      if (hit !== undefined) return anthropic ? (anthropicAlt.get(path) ?? hit) : hit;
      // The tool registry's mounts come before pass-through mounts (a passthrough `/` would take them).
      if (tools !== null) {
        const target = tools.match(path, method);
        if (target !== null) return target;
      }
      for (const m of passthrough) {
        if (path.startsWith(m.prefix) && (path.length === m.prefix.length || path.charCodeAt(m.prefix.length) === 47)) {
          return { name: `${m.upstream.name}/passthrough`, upstream: m.upstream, operation: PASSTHROUGH, upstreamPath: m.upstream.basePath + path.slice(m.prefix.length) };
        }
      }
      return null;
    },
    dialectFor(path, anthropic) {
      if (path.startsWith('/mcp/')) return 'jsonrpc';
      if (anthropic) return 'anthropic';
      for (const m of mounts) if (m.prefix !== '' && path.startsWith(`${m.prefix}/`)) return m.upstream.dialect.errors;
      return path.includes('/messages') ? 'anthropic' : 'openai';
    },
  };
}
