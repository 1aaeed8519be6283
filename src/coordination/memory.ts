import { resolve } from 'node:path';
import type { Registry } from 'prom-client';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Operation } from '../providers/dialect.js';
import { httpToolDialect } from '../providers/http-tool.js';
import { mcpDialect } from '../providers/mcp.js';
import type { RouteTarget } from '../routing/target.js';
import { createUpstream, type Upstream } from '../upstream/upstreams.js';
import { createMemoryMetrics, type MemoryMetrics } from './memory-metrics.js';
import { createRedisMemory } from './memory-redis.js';
import { createSqliteMemory } from './memory-sqlite.js';
import type { MemoryStore } from './memory-store.js';

/** Where shared memory is mounted on the proxy listener. */
export const MEMORY_PREFIX = '/memory/v1/';
export const MEMORY_MCP_PATH = '/mcp/memory';

/** Shared memory's store, metrics and route targets: opened once at start (null when `memory.mode: off`). */
export interface MemoryService {
  readonly store: MemoryStore;
  readonly metrics: MemoryMetrics;
  /** The mounts, for the router: `/memory/v1/<namespace>[/<key>]` and `/mcp/memory`. */
  match(path: string, method: string): RouteTarget | null;
  close(): Promise<void>;
}

/**
 * The "upstreams" of the memory routes name the route for the policy (`call.provider: memory`), the
 * metrics and the audit trail, and pick the error shape (the gateway's JSON errors on the REST API,
 * JSON-RPC on the MCP server). The gateway answers these routes itself: their pools are never dialled.
 */
function memoryUpstream(config: GatewayConfig, mcp: boolean): Upstream {
  return createUpstream('memory', { baseUrl: 'http://memory.invalid', dialect: mcp ? mcpDialect : httpToolDialect, headers: {}, credential: undefined }, config.upstream);
}

const op = (name: string, methods: string[]): Operation => ({ name, methods, inspect: false });
const DOCUMENT: Record<string, Operation> = {
  GET: op('get', ['GET', 'PUT', 'DELETE']),
  PUT: op('put', ['GET', 'PUT', 'DELETE']),
  DELETE: op('delete', ['GET', 'PUT', 'DELETE']),
};
const OTHER = op('document', ['GET', 'PUT', 'DELETE']);
const NAMESPACE = op('list', ['GET']);
const MCP = op('mcp', ['POST']);

export function openMemory(config: GatewayConfig, log: Logger, registry: Registry): MemoryService | null {
  const c = config.memory;
  if (c.mode === 'off') return null;
  const store = c.store === 'redis' ? createRedisMemory({ ...c.redis, log }) : createSqliteMemory({ dataDir: resolve(config.dataDir) });
  const rest = memoryUpstream(config, false);
  const mcpUpstream = memoryUpstream(config, true);
  const mcpTarget: RouteTarget = { name: 'memory/mcp', upstream: mcpUpstream, operation: MCP, upstreamPath: '', tool: { kind: 'memory', mcp: true, namespace: null, key: null } };
  return {
    store,
    metrics: createMemoryMetrics(registry),
    match(path, method) {
      if (path === MEMORY_MCP_PATH) return mcpTarget;
      if (!path.startsWith(MEMORY_PREFIX)) return null;
      const tail = path.slice(MEMORY_PREFIX.length);
      const slash = tail.indexOf('/');
      if (slash === -1) {
        return { name: 'memory/list', upstream: rest, operation: NAMESPACE, upstreamPath: '', tool: { kind: 'memory', mcp: false, namespace: tail, key: null } };
      }
      const operation = DOCUMENT[method] ?? OTHER;
      return {
        name: `memory/${operation.name}`,
        upstream: rest,
        operation,
        upstreamPath: '',
        tool: { kind: 'memory', mcp: false, namespace: tail.slice(0, slash), key: tail.slice(slash + 1) },
      };
    },
    async close() {
      await Promise.allSettled([store.close(), rest.pool.close(), mcpUpstream.pool.close()]);
    },
  };
}
