/**
 * The one registry of gateway error codes. Every error the gateway answers with is created here,
 * has a stable `aos_*` code and an HTTP status, and renders in the caller's protocol so unmodified
 * SDKs surface it: OpenAI-shaped, Anthropic-shaped or JSON-RPC. docs/errors.md is checked against
 * this table by a test.
 */

export type Dialect = 'openai' | 'anthropic' | 'jsonrpc';

export interface ErrorSpec {
  readonly status: number;
  /** `error.type` on OpenAI-compatible routes. */
  readonly openai: string;
  /** `error.type` on Anthropic routes. */
  readonly anthropic: string;
  /** JSON-RPC error code on MCP routes. */
  readonly jsonrpc: number;
  /** Whether a client may retry the same request unchanged. */
  readonly retryable: boolean;
  /** What the code means, for docs/errors.md. */
  readonly summary: string;
}

export const ERRORS = {
  aos_bad_request: { status: 400, openai: 'invalid_request_error', anthropic: 'invalid_request_error', jsonrpc: -32600, retryable: false, summary: 'The request is malformed: invalid JSON, wrong content type, or a body the route cannot read.' },
  aos_invalid_arguments: { status: 400, openai: 'invalid_request_error', anthropic: 'invalid_request_error', jsonrpc: -32602, retryable: false, summary: "A tool call's query, body or arguments do not match the tool's JSON Schema (HTTP querySchema/bodySchema, MCP inputSchema)." },
  aos_unauthenticated: { status: 401, openai: 'invalid_request_error', anthropic: 'authentication_error', jsonrpc: -32001, retryable: false, summary: 'No valid agent credential: missing, expired, wrong audience, unknown key.' },
  aos_policy_denied: { status: 403, openai: 'permission_denied', anthropic: 'permission_error', jsonrpc: -32003, retryable: false, summary: 'The policy denied the call; the message carries its reasons.' },
  aos_policy_error: { status: 403, openai: 'permission_denied', anthropic: 'permission_error', jsonrpc: -32003, retryable: false, summary: 'The policy could not decide (no bundle, an evaluation error, a malformed result): the call is denied.' },
  aos_obligation_unsupported: { status: 403, openai: 'permission_denied', anthropic: 'permission_error', jsonrpc: -32003, retryable: false, summary: 'The policy attached an obligation this gateway cannot enforce yet (redaction): the call is denied.' },
  aos_agent_unknown: { status: 403, openai: 'permission_denied', anthropic: 'permission_error', jsonrpc: -32003, retryable: false, summary: 'The token is valid but names no agent in the registry, and unknown agents are denied.' },
  aos_model_unpriced: { status: 403, openai: 'permission_denied', anthropic: 'permission_error', jsonrpc: -32003, retryable: false, summary: 'The model has no price in the price table and unknown models are denied, so its cost could not be budgeted.' },
  aos_agent_suspended: { status: 403, openai: 'permission_denied', anthropic: 'permission_error', jsonrpc: -32003, retryable: false, summary: 'The agent is suspended.' },
  aos_approval_required: { status: 403, openai: 'permission_denied', anthropic: 'permission_error', jsonrpc: -32003, retryable: false, summary: 'The call needs a human approval first.' },
  aos_route_not_found: { status: 404, openai: 'invalid_request_error', anthropic: 'not_found_error', jsonrpc: -32601, retryable: false, summary: 'No route serves this path.' },
  aos_session_not_found: { status: 404, openai: 'invalid_request_error', anthropic: 'not_found_error', jsonrpc: -32001, retryable: false, summary: 'The MCP session named by MCP-Session-Id was opened by another agent: start a new session.' },
  aos_tool_not_found: { status: 404, openai: 'invalid_request_error', anthropic: 'not_found_error', jsonrpc: -32602, retryable: false, summary: "The MCP server's tools/list does not offer this tool, so its call cannot be checked and is refused." },
  aos_method_not_allowed: { status: 405, openai: 'invalid_request_error', anthropic: 'invalid_request_error', jsonrpc: -32600, retryable: false, summary: 'The route exists but not for this HTTP method.' },
  aos_request_timeout: { status: 408, openai: 'invalid_request_error', anthropic: 'invalid_request_error', jsonrpc: -32000, retryable: true, summary: 'The client did not send the request in time.' },
  aos_payload_too_large: { status: 413, openai: 'invalid_request_error', anthropic: 'request_too_large', jsonrpc: -32600, retryable: false, summary: 'The request body is over the configured limit.' },
  aos_unsupported_media_type: { status: 415, openai: 'invalid_request_error', anthropic: 'invalid_request_error', jsonrpc: -32600, retryable: false, summary: 'The route reads JSON and the body is declared as something else.' },
  aos_budget_exceeded: { status: 429, openai: 'insufficient_quota', anthropic: 'rate_limit_error', jsonrpc: -32029, retryable: false, summary: 'A hard budget would be exceeded by this call.' },
  aos_rate_limited: { status: 429, openai: 'rate_limit_error', anthropic: 'rate_limit_error', jsonrpc: -32029, retryable: true, summary: 'A rate limit was hit; Retry-After says when to come back.' },
  aos_header_too_large: { status: 431, openai: 'invalid_request_error', anthropic: 'invalid_request_error', jsonrpc: -32600, retryable: false, summary: 'Request headers are too large or too many.' },
  aos_internal_error: { status: 500, openai: 'server_error', anthropic: 'api_error', jsonrpc: -32603, retryable: true, summary: 'A gateway bug; the log has the details.' },
  aos_upstream_error: { status: 502, openai: 'server_error', anthropic: 'api_error', jsonrpc: -32002, retryable: true, summary: 'The upstream could not be reached or failed mid-response.' },
  aos_unavailable: { status: 503, openai: 'server_error', anthropic: 'overloaded_error', jsonrpc: -32002, retryable: true, summary: 'The gateway is not ready or is shutting down.' },
  aos_budget_unavailable: { status: 503, openai: 'server_error', anthropic: 'overloaded_error', jsonrpc: -32002, retryable: true, summary: 'The shared budget store (Redis) is unreachable and the gateway is configured to fail closed.' },
  aos_upstream_timeout: { status: 504, openai: 'server_error', anthropic: 'api_error', jsonrpc: -32002, retryable: true, summary: 'The upstream did not connect, answer or continue in time.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | null;
  readonly headers: Record<string, string> | null;

  constructor(code: ErrorCode, message: string, options: { param?: string; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.param = options.param ?? null;
    this.headers = options.headers ?? null;
  }
}

/** Any thrown value as a GatewayError: ours pass through, anything else is an internal error. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('aos_internal_error', 'internal gateway error', { cause: err });
}

/** The JSON body of an error in one dialect. `id` is the JSON-RPC request id, when known. */
export function renderError(err: GatewayError, dialect: Dialect, id: string | number | null = null): string {
  const spec = ERRORS[err.code];
  switch (dialect) {
    case 'openai':
      return JSON.stringify({ error: { message: err.message, type: spec.openai, code: err.code, param: err.param } });
    case 'anthropic':
      return JSON.stringify({ type: 'error', error: { type: spec.anthropic, message: err.message, code: err.code } });
    case 'jsonrpc':
      return JSON.stringify({ jsonrpc: '2.0', id, error: { code: spec.jsonrpc, message: err.message, data: { code: err.code, status: err.status } } });
  }
}

/**
 * The server-sent event that ends a stream which failed after its headers were sent, in the
 * caller's dialect: the SDKs raise it as an error instead of treating the stream as complete.
 */
export function renderStreamError(err: GatewayError, dialect: Dialect, id: string | number | null = null): string {
  switch (dialect) {
    case 'openai':
      // OpenAI sends stream errors as a data event carrying `error`; its SDK raises it.
      return `data: ${renderError(err, 'openai')}\n\n`;
    case 'anthropic':
      return `event: error\ndata: ${renderError(err, 'anthropic')}\n\n`;
    case 'jsonrpc':
      // With the request's id, the MCP client settles that request instead of waiting for it.
      return `event: message\ndata: ${renderError(err, 'jsonrpc', id)}\n\n`;
  }
}
