import type { MemoryCall } from '../providers/dialect.js';

/**
 * The policy contract: what Rego sees as `input` and `data.registry`, and what it must return from
 * the entrypoint `aos/decision`. Kept stable: security teams write Rego against it.
 */

export interface PolicyInput {
  agent: {
    id: string;
    team: string;
    roles: string[];
    template: string;
    template_version: number;
    labels: Record<string, string>;
    status: 'active' | 'suspended';
  } | null;
  request: {
    id: string;
    method: string;
    path: string;
    /** `<provider>/<operation>`, e.g. `openai/chat.completions`. */
    route: string;
    /** Request time in epoch nanoseconds: the Wasm SDK has no time builtins, so the gateway supplies the clock here. */
    time_ns: number;
  };
  call: {
    kind: 'model' | 'tool' | 'mcp' | 'a2a' | 'http' | 'memory';
    provider: string;
    operation: string;
    model: string | null;
    stream: boolean;
    max_tokens: number | null;
    est_input_tokens: number | null;
    /**
     * The tool of a tool/MCP call (see ToolCall in providers/dialect.ts), with its registry traits:
     * `labels`, `sensitive`, `read_only` (always set by the gateway).
     */
    tool: { name: string; server: string | null; args: unknown; labels?: Record<string, string>; sensitive?: boolean; read_only?: boolean } | null;
    findings: { detector: string; severity: 'low' | 'medium' | 'high' | 'critical'; path: string }[];
    /**
     * A2A hand-offs (`kind: a2a`, docs/coordination.md#agent-to-agent-a2a): the agent called, the A2A
     * method, the binding, and the skill when a card's skills are filtered (null otherwise). Absent on other calls.
     */
    a2a?: { agent: string; method: string; binding: 'jsonrpc' | 'rest'; skill: string | null };
    /**
     * The delegation the calling agent acts under (a gateway-signed `x-aos-delegation`): who asked
     * whom, first the agent that started, last the caller; `depth` hand-offs so far. Absent on an
     * agent's own calls.
     */
    delegation?: { chain: string[]; depth: number };
    /** Shared memory operations only (`kind: memory`; absent on every other call): see MemoryCall in providers/dialect.ts. */
    memory?: MemoryCall;
  };
  budget: {
    scope: string;
    limit_usd: number;
    spent_usd: number;
    reserved_usd: number;
    /** Worst-case cost of this call, reserved if it is allowed. */
    estimated_usd: number;
    window: string;
  } | null;
}

/**
 * `data.registry`: supplied by the gateway from the agent registry (config/agents.yaml), merged over
 * the bundle's own data, so templates are defined once.
 */
export interface PolicyRegistryData {
  templates: Record<
    string,
    {
      version: number;
      providers: string[];
      /** Glob patterns (`*`), matched with Rego's glob.match. */
      models: string[];
      tools: string[];
      /** Agents (globs; `<agent>/<skill>`) its agents may hand work to over A2A. */
      agents?: string[];
      max_tokens: number | null;
      guardrails: string;
    }
  >;
}

export interface Obligations {
  /** Cap on output tokens: the gateway rewrites the upstream request to at most this. */
  max_tokens?: number;
  /** Rewrite the model (downgrade). */
  model?: string;
  /** Redact guardrail findings before forwarding. */
  redact?: boolean;
  /** A human must approve this call first. */
  require_approval?: boolean;
}

/** What the entrypoint `aos/decision` returns. Anything else is a policy error, and a denial. */
export interface PolicyResult {
  allow: boolean;
  reasons: string[];
  obligations: Obligations;
}

export interface Decision extends PolicyResult {
  /** The bundle revision that decided. */
  revision: string;
  /** Set when the policy failed (no result, bad shape, error, timeout): always a denial. */
  error: string | null;
}

/** A policy bundle in memory: the compiled Wasm and its data, validated, ready to load. */
export interface PolicyBundle {
  revision: string;
  wasm: Uint8Array;
  data: Record<string, unknown>;
  /** Where it came from: a file path, a directory, or a URL. */
  source: string;
  /** Whether its signature was verified. */
  signed: boolean;
}
