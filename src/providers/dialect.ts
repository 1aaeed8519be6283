import type { Dialect as ErrorDialect } from '../errors.js';
import type { SseEvent } from '../upstream/sse.js';

/** Token usage of one call, normalized across dialects (read by the dialects' metering, see src/metering/). */
export interface Usage {
  /** All input tokens, cached ones included (OpenAI's prompt_tokens; Anthropic's input + cache read + cache write). */
  inputTokens: number;
  /** Of inputTokens, read from the provider's prompt cache. */
  cachedInputTokens: number;
  /** Of inputTokens, written to the provider's prompt cache (Anthropic cache_creation_input_tokens). */
  cacheWriteTokens: number;
  outputTokens: number;
  /** Of outputTokens, spent on reasoning. */
  reasoningTokens: number;
  /**
   * Of inputTokens, audio (the Realtime API); absent where a provider reports none. Priced at the
   * audio rates when the price table has them. `cachedAudioInputTokens` is of both the audio and the
   * cached input tokens; `audioOutputTokens` of outputTokens.
   */
  audioInputTokens?: number;
  cachedAudioInputTokens?: number;
  audioOutputTokens?: number;
  /** The provider did not report usage (e.g. a stream cut short): counted with a tokenizer instead. */
  estimated: boolean;
}

/** What the gateway understood of one call; adapters type only the fields they read. */
export interface CallInfo {
  /** model: an LLM call; tool: an HTTP tool; mcp: an MCP server; a2a: a hand-off to another agent; http: uninspected pass-through; memory: shared memory (answered by the gateway). */
  kind: 'model' | 'tool' | 'mcp' | 'a2a' | 'http' | 'memory';
  operation: string;
  model: string | null;
  stream: boolean;
  maxTokens: number | null;
  /** The tool called (tool and mcp calls); null for model calls. */
  tool?: ToolCall | null;
  /** MCP: the request's protocol `_meta` fields, repeated on the gateway's own requests to the server; null when none. */
  meta?: Record<string, unknown> | null;
  /** Not a call to decide (an MCP notification, an answer to a server request): the policy lets it pass. */
  undecided?: true;
  /** MCP POSTs: the protocol revision the agent speaks and the one the server was spoken to in (null: not known yet). */
  revisions?: { agent: string; server: string | null };
  /** A2A calls (`/a2a/<agent>`): the agent called, the A2A method, the binding; `skill` only when a card's skills are filtered. */
  a2a?: A2aCall;
  /** Shared memory operations (`kind: memory`): what the policy sees of them (src/coordination/memory-stages.ts). */
  memory?: MemoryCall;
  /** Shared memory operations, once done: what the audit event records of them (hashes and sizes, never values). */
  memoryRecord?: MemoryRecord;
}

/** A shared memory operation as the policy sees it (`input.call.memory`). */
export interface MemoryCall {
  /** `team:payments`, `org`, `workflow:<id>`, `agent:<id>`: `<kind>[:<name>]`. */
  namespace: string;
  /** The namespace's kind (`team`, `org`, `workflow`, `agent`, or another a policy of your own knows). */
  scope: string;
  /** The name after the kind (`payments`); null for `org`. */
  name: string | null;
  /** `read` (get, list, search) or `write` (put, delete). */
  access: 'read' | 'write';
  /** The document's key (get, put, delete); null for list and search. */
  key: string | null;
  /** The listing's prefix (list); null otherwise. */
  prefix: string | null;
  /** Bytes of the value a put writes; null otherwise. */
  bytes: number | null;
  /** The TTL a put asks for, in seconds; null: none. */
  ttl_seconds: number | null;
  /** For `workflow:` namespaces, the workflow this call belongs to (`x-aos-workflow-id`, or the one the gateway started); null otherwise. */
  workflow: string | null;
}

/** A shared memory operation as its audit event records it (`memory` in the event). */
export interface MemoryRecord {
  namespace: string;
  key: string | null;
  /** The document's version after the operation (put), before it (delete), or read (get); null: none. */
  etag: string | null;
  /** SHA-256 of the value written or read (as stored: after redaction); null when none. */
  value_sha256: string | null;
  value_bytes: number | null;
  /** Documents a list or search returned; null for the others. */
  results: number | null;
  /** What the store answered: `ok`, `not_found`, `precondition_failed`, `precondition_required`. */
  outcome: string;
}

export interface A2aCall {
  agent: string;
  method: string;
  binding: 'jsonrpc' | 'rest';
  skill: string | null;
}

/**
 * The tool of a tool or MCP call. HTTP tools: `name` is the registry name, `server` null, `args`
 * {params, query, body}. MCP: `name` is the server's tool (tools/call), prompt (prompts/get) or
 * resource URI (resources/read), `server` the registry name, `args` its arguments.
 */
export interface ToolCall {
  name: string;
  server: string | null;
  args: unknown;
  /** Traits from the tool registry, for the policy. */
  labels?: Record<string, string>;
  sensitive?: boolean;
  readOnly?: boolean;
  /** Bytes of the response body passed back to the agent, once it ended (audit: result size). */
  resultBytes?: number;
}

/** An operation of a dialect, addressed by its path relative to the provider's base URL. */
export interface Operation {
  readonly name: string;
  readonly methods: readonly string[];
  /** The request body is JSON the gateway reads (and may later rewrite). */
  readonly inspect: boolean;
  /**
   * A WebSocket session (the Realtime API): the request is an HTTP upgrade, decided like any call,
   * then relayed frame by frame (src/upstream/realtime.ts). Absent on every other operation.
   */
  readonly upgrade?: true;
}

/**
 * A path whose operation is known by its shape, not by exact match: the model (or Azure deployment)
 * is one of its segments, e.g. `/v1beta/models/{model}:generateContent`.
 */
export interface PathMatch {
  readonly operation: Operation;
  /** The model the path names, decoded (a Gemini model, a Bedrock model id, an Azure deployment). */
  readonly model: string;
}

/** One wire protocol (not one vendor): OpenAI-compatible, Azure OpenAI's paths, Anthropic, Gemini, Bedrock; HTTP tools and MCP for the tool registry. */
export interface WireDialect {
  readonly name: 'openai' | 'azure-openai' | 'anthropic' | 'gemini' | 'bedrock' | 'http-tool' | 'mcp' | 'a2a' | 'a2a-rest';
  readonly errors: ErrorDialect;
  /** The header the provider credential goes in (`authorization` carries it as a Bearer token). */
  readonly authHeader: string;
  /**
   * Every client of the dialect marks its requests with CLAIM_HEADER (providers/index.ts): a marked
   * request takes this dialect's route where a mount of another dialect shares the path, e.g.
   * `GET /v1/models` with OpenAI at /v1 and Anthropic at /.
   */
  readonly claimsSharedPaths?: true;
  /** Operations by path relative to the base URL, e.g. `/chat/completions`. */
  readonly operations: ReadonlyMap<string, Operation>;
  /**
   * Operations whose path names the model (Azure deployments, Gemini, Vertex AI, Bedrock): the
   * operation of a path relative to the base URL that no exact operation matched, or null. Cheap
   * and never throws (a router calls it for every such path).
   */
  match?(path: string): PathMatch | null;
  /**
   * Reads the fields the gateway needs from a parsed JSON body. Never throws on odd shapes.
   * `pathModel` is the model a PathMatch read from the path (null for exact operations).
   */
  describe(operation: Operation, body: unknown, pathModel?: string | null): CallInfo;
  /**
   * The model a WebSocket session (an `upgrade` operation) is opened for, from its query string
   * (OpenAI `?model=`, Azure `?deployment=`); null when it names none. Absent on dialects without sessions.
   */
  sessionModel?(operation: Operation, query: URLSearchParams): string | null;
  /**
   * The body field that caps output tokens for an operation, or null when it has none. `present`
   * lists fields to honour when the request already uses one of them. Nested fields are dotted:
   * `generationConfig.maxOutputTokens`.
   */
  maxTokensField(operation: Operation): { set: string; present: readonly string[] } | null;
  /**
   * A whole JSON answer of the operation as the event stream the provider would have sent (the
   * response cache replays a stored answer to a streaming call with it); null when the operation has
   * no such stream. `request` is the request body as sent. Absent on dialects the cache does not replay.
   */
  replayStream?(operation: Operation, answer: unknown, request: Record<string, unknown>): string | null;
  /** How this dialect's calls are metered (src/metering/); absent when it carries no token usage. */
  readonly metering?: DialectMetering;
}

/** A message of a binary event stream (AWS `application/vnd.amazon.eventstream`), decoded and CRC-checked. */
export interface StreamMessage {
  /** Its headers, e.g. `:message-type` (event, exception), `:event-type` (contentBlockDelta, chunk). */
  readonly headers: Readonly<Record<string, string>>;
  readonly payload: Uint8Array;
}

/** What a response reader gathers while the response goes by. */
export interface MeterState {
  /** Usage as reported by the provider (normalized), null until it came. */
  usage: Usage | null;
  /** Names of tool calls the model proposed. */
  toolCalls: string[] | null;
  /** Text the model streamed (content and tool-argument deltas): counted with the tokenizer when usage never came. */
  text: string[];
}

/**
 * The provider side of metering: where the prompt text is, how to ask for usage, how to read it
 * from a JSON body or from a stream's events. Never throws on odd shapes.
 */
export interface DialectMetering {
  /** Whether responses of the operation carry token usage (and so are metered). */
  metered(operation: Operation): boolean;
  /** The texts of the request a tokenizer should count (message contents, system, tool definitions), pushed to `out`. Returns how many messages the prompt holds (each costs a few framing tokens). */
  promptText(operation: Operation, body: Record<string, unknown>, out: string[]): number;
  /** Asks the upstream for usage where the client did not (e.g. OpenAI `stream_options.include_usage`); true when it changed the body. */
  requestUsage(operation: Operation, body: Record<string, unknown>): boolean;
  /** Reads usage and tool calls from a whole JSON response body. */
  readJson(operation: Operation, body: unknown, into: MeterState): void;
  /**
   * Reads one event of a stream. Returns what to pass on to the client: `event.raw`, a rewritten
   * raw event, or null to drop it (only when `injected`: what the gateway itself asked for).
   */
  readEvent(operation: Operation, event: SseEvent, data: unknown, into: MeterState, injected: boolean): string | null;
  /** Reads the response headers (Bedrock InvokeModel reports token counts there); absent when they carry no usage. */
  readHeaders?(operation: Operation, headers: Readonly<Record<string, unknown>>, into: MeterState): void;
  /** Reads one message of a binary event stream; absent for dialects that stream server-sent events only. */
  readMessage?(operation: Operation, message: StreamMessage, into: MeterState): void;
  /**
   * Reads one text message the upstream of a WebSocket session sent: the usage of a response that is
   * done (Realtime `response.done`), else null. Called for every message, so it parses only the ones
   * that can carry usage. Absent on dialects without sessions.
   */
  sessionUsage?(message: Buffer): Usage | null;
}

export function op(name: string, methods: readonly string[], inspect: boolean): Operation {
  return { name, methods, inspect };
}

/** A WebSocket session operation (GET, upgraded). */
export function sessionOp(name: string): Operation {
  return { name, methods: ['GET'], inspect: false, upgrade: true };
}

/** Fields read from a JSON request body, each checked for its type. */
export function field<T extends 'string' | 'number' | 'boolean'>(body: unknown, key: string, type: T): (T extends 'string' ? string : T extends 'number' ? number : boolean) | null {
  if (body === null || typeof body !== 'object') return null;
  const v = (body as Record<string, unknown>)[key];
  return typeof v === type ? (v as never) : null;
}

/** A nested field of a JSON body by its dotted path (`generationConfig.maxOutputTokens`), or undefined. */
export function getPath(body: unknown, path: string): unknown {
  let v: unknown = body;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** Sets a nested field by its dotted path, making the objects on the way (a value that is not an object is replaced). */
export function setPath(body: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = body;
  for (let i = 0; i < keys.length - 1; i++) {
    const next = o[keys[i]];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) o[keys[i]] = {};
    o = o[keys[i]] as Record<string, unknown>;
  }
  o[keys[keys.length - 1]] = value;
}
