import type { A2aAgent } from '../coordination/a2a-registry.js';
import type { Operation } from '../providers/dialect.js';
import type { HttpTool, HttpToolOperation, McpServer } from '../tools/registry.js';
import type { Upstream } from '../upstream/upstreams.js';

/** Where one request goes: built once per config, shared by every request it matches. */
export interface RouteTarget {
  /** Bounded metric label: `<provider>/<operation>`. */
  readonly name: string;
  readonly upstream: Upstream;
  readonly operation: Operation;
  /** Path on the upstream, before the query string. */
  readonly upstreamPath: string;
  /** The model the path names (a dialect's PathMatch): such targets are made per request. */
  readonly model?: string;
  /** Tool registry routes (`/tools/<name>/…`, `/mcp/<name>`) and shared memory: what was matched; they run the tool (memory) stages. */
  readonly tool?: ToolMatch;
  /** Overrides upstream.bodyTimeoutMs for this route (0: none), e.g. an MCP GET stream, idle by nature. */
  readonly bodyTimeoutMs?: number;
}

/** What the router found for a tool path; the tool stages act on it. */
export type ToolMatch =
  | { readonly kind: 'tool'; readonly tool: HttpTool; readonly operation: HttpToolOperation | null; readonly params: Record<string, string> }
  | {
      readonly kind: 'mcp';
      readonly server: McpServer;
      /** The server's targets by method label (`tools/call`, …): the MCP stage relabels a POST once it read the message. */
      readonly targets: ReadonlyMap<string, RouteTarget>;
    }
  /** `/.well-known/oauth-protected-resource/mcp/<name>`: the server's protected resource metadata, answered by the gateway. */
  | { readonly kind: 'mcp-metadata'; readonly server: McpServer }
  /**
   * `/a2a/<agent>` (JSON-RPC; the A2A stage relabels the target by method) or `/a2a/<agent>/…`
   * (HTTP+JSON, `path` below the agent's base). src/coordination/a2a.ts.
   */
  | { readonly kind: 'a2a'; readonly agent: A2aAgent; readonly binding: 'jsonrpc' | 'rest'; readonly path: string; readonly targets: ReadonlyMap<string, RouteTarget> }
  /** `/a2a/<agent>/.well-known/agent-card.json`: the agent's card as the caller may see it, answered by the gateway. */
  | { readonly kind: 'a2a-card'; readonly agent: A2aAgent }
  /**
   * Shared memory, answered by the gateway (src/coordination/memory-stages.ts): `/memory/v1/<namespace>[/<key>]`
   * with the namespace and key as the path has them (checked by the memory stage), or the MCP server `/mcp/memory`.
   */
  | { readonly kind: 'memory'; readonly mcp: boolean; readonly namespace: string | null; readonly key: string | null };
