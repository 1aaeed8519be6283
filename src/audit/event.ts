/**
 * The audit event: one per call, allowed or denied. Field names are snake_case, as they appear in
 * the export (JSON lines for a SIEM) and in OTel log records. Fields another stage fills (tokens,
 * cost, tool calls, findings) are null when that stage is absent or did not run.
 */
export type AuditDecision = 'allow' | 'deny' | 'none';

/**
 * completed: the upstream answered (whatever its status); denied: the gateway refused the call;
 * failed: it ended in a gateway or upstream error; aborted: the client went away; interrupted: the
 * gateway stopped (crash, kill -9) after recording the call as decided and before completing it.
 */
export type AuditOutcome = 'completed' | 'denied' | 'failed' | 'aborted' | 'interrupted';

export interface AuditEvent {
  /** The request id: a UUIDv7, time-ordered. */
  id: string;
  /** When the request reached the gateway, ISO 8601 UTC with milliseconds. */
  time: string;
  agent_id: string | null;
  team: string | null;
  template: string | null;
  template_version: number | null;
  trace_id: string | null;
  /** The gateway's span of this call (when tracing is on). */
  span_id: string | null;
  /** The agent's span that made the call (from its traceparent), when it sent one. */
  parent_span_id: string | null;
  workflow_id: string | null;
  method: string;
  path: string;
  /** `<provider>/<operation>`, or null when no route matched. */
  route: string | null;
  provider: string | null;
  operation: string | null;
  /** model | tool | mcp | http (uninspected pass-through). */
  kind: string | null;
  model: string | null;
  tool: string | null;
  tool_server: string | null;
  stream: boolean;
  /** Output token cap of the request as forwarded (after policy obligations). */
  max_tokens: number | null;
  decision: AuditDecision;
  /** The policy's reasons for a denial, or the error code of a refusal by another stage. */
  reasons: string[];
  policy_revision: string | null;
  outcome: AuditOutcome;
  /** HTTP status sent to the client (499: the client went away first); null when interrupted. */
  status: number | null;
  error_code: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | null;
  flags: string[] | null;
  tool_calls: string[] | null;
  total_ms: number | null;
  upstream_ms: number | null;
  request_bytes: number;
  request_sha256: string | null;
  response_bytes: number | null;
  response_sha256: string | null;
  tool_args_sha256: string | null;
  /** Guardrail findings (detector, severity, path; never the value). Null: no guardrails ran. */
  findings: { detector: string; severity: string; path: string }[] | null;
  /** Bodies kept for templates that opt in (`audit.capture`), redacted; null otherwise. */
  capture: { request?: string; response?: string; truncated?: boolean } | null;
  /**
   * The human approval the call was bound to (src/approvals/): absent when it needed none, so the
   * events of every other call (and every event written before approvals existed) encode as before.
   */
  approval?: { id: string; status: string; approver: string | null; reason: string | null; waited_ms: number };
  /**
   * MCP POSTs: the protocol revision the agent spoke and the one the gateway spoke to the server
   * (null: the server was not reached). Absent on every other call, so older events encode as before.
   */
  mcp?: { agent_revision: string; server_revision: string | null };
  /**
   * Who asked whom (docs/coordination.md#agent-to-agent-a2a): on an A2A hand-off, the chain it makes
   * (its last agent the callee); on a call an agent makes under a gateway-signed delegation, the
   * chain it acts under (its last agent the caller). `depth`: hand-offs in it. Absent on other calls.
   */
  delegation?: { chain: string[]; depth: number };
  /**
   * A shared memory operation (`kind: memory`): namespace, key, the document's ETag, the SHA-256 and
   * size of the value written or read (never the value), the number of documents a list or search
   * returned, what the store answered (`ok`, `not_found`, `precondition_failed`, `precondition_required`). Absent on every other call, so older events encode as before.
   */
  memory?: { namespace: string; key: string | null; etag: string | null; value_sha256: string | null; value_bytes: number | null; results: number | null; outcome: string };
  /**
   * A WebSocket session (the Realtime API; `status` 101): how it closed and what went through it.
   * Its tokens and cost are the session's totals (every `response.done`). Absent on other calls.
   */
  session?: {
    /** The close code of the client's side (1000 normal, 1001 going away, 1008 ended by the gateway, 1006 dropped); null if it never closed cleanly. */
    close_code: number | null;
    close_reason: string;
    /** Responses done (charged). */
    responses: number;
    client_messages: number;
    upstream_messages: number;
    client_bytes: number;
    upstream_bytes: number;
    /** Of input_tokens and output_tokens, audio. */
    audio_input_tokens: number;
    audio_output_tokens: number;
  };
}

/** A stored event: the event plus its place and links in the hash chain. */
export interface AuditRecord extends AuditEvent {
  seq: number;
  prev_hash: string;
  hash: string;
}
