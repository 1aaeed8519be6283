import { type CompiledSchema, compileSchema } from '../config/json-schema.js';
import { compilePathPattern, type PathPattern } from '../config/path-pattern.js';
import type { GatewayConfig, McpToolConfig, ToolConfig, ToolTraits } from '../config/schema.js';
import { httpToolDialect } from '../providers/http-tool.js';
import { mcpDialect } from '../providers/mcp.js';
import { createUpstream, type Upstream } from '../upstream/upstreams.js';
import { createEmulatedSessions, type EmulatedSessions } from './mcp-emulated.js';
import { createInputRequests, type InputRequests } from './mcp-input-required.js';
import { createListCache, type ListCache } from './mcp-list-cache.js';
import { createSessionListens, type SessionListens } from './mcp-listen.js';
import { createServerRevisions, type ServerRevisions } from './mcp-revisions.js';
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
  /** The revision the server speaks (discovered once), and the sessions the gateway holds for agents of the stateless revision. */
  readonly revisions: ServerRevisions;
  /** List results kept by their `ttlMs`/`cacheScope` hints (stateless-revision servers). */
  readonly lists: ListCache;
  /** Agents' requests waiting for their answer to the server's elicitation/sampling (2026-07-28 agents, 2025-11-25 server). */
  readonly inputs: InputRequests;
  /** Sessions the gateway plays for 2025-11-25 agents in front of a 2026-07-28-only server (tools/mcp-emulated.ts). */
  readonly emulated: EmulatedSessions;
  /** 2026-07-28 agents' subscriptions/listen on a 2025-11-25 server, through their held sessions (tools/mcp-listen.ts). */
  readonly listens: SessionListens;
}

export interface ToolRegistry {
  readonly http: ReadonlyMap<string, HttpTool>;
  readonly mcp: ReadonlyMap<string, McpServer>;
  readonly upstreams: readonly Upstream[];
}

function traitsOf(own: ToolTraits | undefined, parent: Traits | null): Traits {
  return {
    sensitive: own?.sensitive ?? parent?.sensitive ?? false,
    readOnly: own?.readOnly ?? parent?.readOnly ?? false,
    labels: { ...(parent?.labels ?? {}), ...(own?.labels ?? {}) },
  };
}

function toolUpstream(name: string, tool: ToolConfig, key: string | undefined, u: GatewayConfig['upstream']): Upstream {
  const http = tool.kind === 'http';
  const spec = {
    baseUrl: http ? tool.baseUrl : tool.url,
    dialect: http ? httpToolDialect : mcpDialect,
    authHeader: tool.authHeader,
    headers: tool.headers,
    credential: key,
    headersTimeoutMs: tool.headersTimeoutMs,
    bodyTimeoutMs: tool.bodyTimeoutMs,
    keepTrailingSlash: !http,
  };
  return createUpstream(name, spec, u);
}

/** Builds the registry once per config (patterns and schemas compiled, one pool per tool). */
export function createToolRegistry(config: GatewayConfig, credentials: ReadonlyMap<string, string>, previous: ToolRegistry | null = null): ToolRegistry {
  const http = new Map<string, HttpTool>();
  const mcp = new Map<string, McpServer>();
  const upstreams: Upstream[] = [];
  for (const [name, tool] of Object.entries(config.tools)) {
    const key = credentials.get(name);
    if (tool.kind === 'http') {
      const upstream = toolUpstream(name, tool, key, config.upstream);
      const traits = traitsOf(tool, null);
      const operations = Object.entries(tool.operations).map(
        ([opName, op]): HttpToolOperation => ({
          name: opName,
          method: op.method,
          pattern: compilePathPattern(op.path),
          schema: op.bodySchema === undefined ? null : compileSchema(op.bodySchema),
          querySchema: op.querySchema === undefined ? null : compileSchema(op.querySchema, 'query'),
          traits: traitsOf(op, traits),
          routeName: `${name}/${opName}`,
        }),
      );
      const literal = new Map<string, HttpToolOperation[]>();
      for (const op of operations) if (op.pattern.literal) literal.set(op.pattern.source, [...(literal.get(op.pattern.source) ?? []), op]);
      http.set(name, { kind: 'http', name, upstream, operations, literal, patterned: operations.filter((o) => !o.pattern.literal) });
      upstreams.push(upstream);
    } else {
      const before = previous?.mcp.get(name);
      const sessions = before !== undefined && before.url === tool.url ? before.sessions : createSessionOwners();
      mcp.set(name, createMcpServer(name, tool, toolUpstream(name, tool, key, config.upstream), sessions));
      upstreams.push(mcp.get(name)!.upstream);
    }
  }

  return {
    http,
    mcp,
    upstreams,
  };
}

function createMcpServer(name: string, config: McpToolConfig, upstream: Upstream, sessions: SessionOwners): McpServer {
  const traits = traitsOf(config, null);
  const own = new Map(Object.entries(config.tools).map(([tool, t]) => [tool, traitsOf(t, traits)]));
  const schemas = createSchemaCache({ server: name, upstream, ttlMs: config.schemaCacheSec * 1000 });
  const lists = createListCache();
  // A list change the server announces on a stream the gateway reads itself (tools/mcp-listen.ts).
  const changed = (list: 'tools' | 'prompts' | 'resources') => {
    if (list === 'tools') schemas.invalidate();
    lists.invalidate(list);
  };
  const server: McpServer = {
    kind: 'mcp',
    name,
    upstream,
    traits,
    toolTraits: (tool) => own.get(tool) ?? traits,
    schemas,
    sessions,
    url: config.url,
    revisions: createServerRevisions(upstream, config.revision),
    lists,
    inputs: createInputRequests(),
    emulated: createEmulatedSessions(),
    listens: createSessionListens(upstream, changed),
  };
  return server;
}

export async function closeToolRegistry(registry: ToolRegistry | null): Promise<void> {
  if (registry === null) return;
  for (const server of registry.mcp.values()) {
    server.inputs.close();
    server.emulated.close();
    server.listens.close();
  }
  await Promise.allSettled(registry.upstreams.map((u) => u.pool.close()));
}
