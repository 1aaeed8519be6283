import { crc32 } from 'node:zlib';

/**
 * The one registry of gateway error codes. Every error the gateway answers with is created here,
 * has a stable `aos_*` code and an HTTP status, and renders in the caller's protocol so unmodified
 * SDKs surface it: OpenAI-shaped, Anthropic-shaped or JSON-RPC. docs/errors.md is checked against
 * this table by a test.
 */

/**
 * How errors are shaped on a route: OpenAI's, Anthropic's, JSON-RPC (MCP), Google's (`google.rpc.Status`,
 * Gemini and Vertex AI) or AWS's (REST-JSON with `x-amzn-ErrorType`, Bedrock); A2A's two bindings:
 * JSON-RPC (`a2a`) and HTTP+JSON (`a2a-rest`, a google.rpc.Status body, `event: error` in a stream).
 */
export type Dialect = 'openai' | 'anthropic' | 'jsonrpc' | 'google' | 'aws' | 'a2a' | 'a2a-rest';

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
  aos_bad_request: {
    status: 400,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    jsonrpc: -32600,
    retryable: false,
    summary: 'The request is malformed: invalid JSON, wrong content type, or a body the route cannot read.',
  },
  aos_mcp_header_mismatch: {
    status: 400,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    jsonrpc: -32020,
    retryable: false,
    summary: "An MCP request's Mcp-Method, Mcp-Name or MCP-Protocol-Version header disagrees with its body (MCP 2026-07-28 HeaderMismatch): answered HTTP 400.",
  },
  aos_invalid_arguments: {
    status: 400,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    jsonrpc: -32602,
    retryable: false,
    summary: "A tool call's query, body or arguments do not match the tool's JSON Schema (HTTP querySchema/bodySchema, MCP inputSchema).",
  },
  aos_unauthenticated: {
    status: 401,
    openai: 'invalid_request_error',
    anthropic: 'authentication_error',
    jsonrpc: -32001,
    retryable: false,
    summary: 'No valid agent credential: missing, expired, wrong audience, unknown key.',
  },
  aos_policy_denied: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'The policy denied the call; the message carries its reasons.',
  },
  aos_policy_error: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'The policy could not decide (no bundle, an evaluation error, a malformed result): the call is denied.',
  },
  aos_host_not_allowed: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: "The request's Host is not one this listener serves (`allowedHosts`): a DNS-rebinding attempt or a misrouted request.",
  },
  aos_origin_not_allowed: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'A browser request from an origin the listener does not allow (`allowedOrigins`).',
  },
  aos_obligation_unsupported: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'The policy attached an obligation the gateway cannot enforce on this call (redaction of an unscanned call, or of a value in a URL): the call is denied.',
  },
  aos_agent_unknown: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'The token is valid but names no agent in the registry, and unknown agents are denied.',
  },
  aos_model_unpriced: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'The model has no price in the price table and unknown models are denied, so its cost could not be budgeted.',
  },
  aos_agent_suspended: { status: 403, openai: 'permission_denied', anthropic: 'permission_error', jsonrpc: -32003, retryable: false, summary: 'The agent is suspended.' },
  aos_agent_killed: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'A kill switch of the control plane covers the agent (by id, team, template or the whole fleet); with `live: cut` its calls in flight are ended too.',
  },
  aos_approval_required: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'The call needs a human approval and this gateway has no approvals to ask for one (identity is off: there is no agent to bind it to).',
  },
  aos_approval_pending: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: true,
    summary:
      'The call waits for a human approval (template `approval.mode: async`): the message, the `x-aos-approval-id` header and (JSON-RPC) `error.data.approval_id` carry its id. Send the same request again once it is approved.',
  },
  aos_approval_denied: { status: 403, openai: 'permission_denied', anthropic: 'permission_error', jsonrpc: -32003, retryable: false, summary: 'A person denied the approval this call needed.' },
  aos_approval_timeout: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: true,
    summary: 'A held call (template `approval.mode: block`) was not decided within `approval.timeoutSeconds`; its approval expired. Sending it again asks again.',
  },
  aos_approval_expired: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'The approval named by `x-aos-approval-id` expired: never decided in time, or approved longer ago than `approval.ttlSeconds`.',
  },
  aos_approval_used: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'The approval named by `x-aos-approval-id` was already used: an approval lets one call through, once (a replay is refused).',
  },
  aos_approval_mismatch: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'The approval named by `x-aos-approval-id` was asked for another agent or another request (method, path, query or body differ).',
  },
  aos_delegation_loop: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'An A2A hand-off to an agent that is already in the delegation chain (it would call itself, directly or through others): refused before it reaches the agent.',
  },
  aos_delegation_too_deep: {
    status: 403,
    openai: 'permission_denied',
    anthropic: 'permission_error',
    jsonrpc: -32003,
    retryable: false,
    summary: "An A2A hand-off that would make the delegation chain deeper than the registry's `delegation.maxDepth`.",
  },
  aos_route_not_found: { status: 404, openai: 'invalid_request_error', anthropic: 'not_found_error', jsonrpc: -32601, retryable: false, summary: 'No route serves this path.' },
  aos_model_not_found: {
    status: 404,
    openai: 'invalid_request_error',
    anthropic: 'not_found_error',
    jsonrpc: -32601,
    retryable: false,
    summary: "The path or body names a model (an Azure deployment, a Bedrock model id) that the provider's `deployments` map does not list.",
  },
  aos_session_not_found: {
    status: 404,
    openai: 'invalid_request_error',
    anthropic: 'not_found_error',
    jsonrpc: -32001,
    retryable: false,
    summary: 'The MCP session named by MCP-Session-Id was opened by another agent: start a new session.',
  },
  aos_approval_not_found: {
    status: 404,
    openai: 'invalid_request_error',
    anthropic: 'not_found_error',
    jsonrpc: -32003,
    retryable: false,
    summary: 'The approval named by `x-aos-approval-id` does not exist (on this gateway, or its control plane).',
  },
  aos_tool_not_found: {
    status: 404,
    openai: 'invalid_request_error',
    anthropic: 'not_found_error',
    jsonrpc: -32602,
    retryable: false,
    summary: "The MCP server's tools/list does not offer this tool, so its call cannot be checked and is refused.",
  },
  aos_memory_invalid_key: {
    status: 400,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    jsonrpc: -32602,
    retryable: false,
    summary:
      'Shared memory: the namespace or key is not allowed (empty, `.` or `..` segments, characters outside the allowed set, over `memory.maxKeyBytes`), or a list, search or TTL parameter is malformed.',
  },
  aos_memory_not_found: {
    status: 404,
    openai: 'invalid_request_error',
    anthropic: 'not_found_error',
    jsonrpc: -32002,
    retryable: false,
    summary: 'Shared memory: no document at this key (never written, deleted or expired).',
  },
  aos_memory_precondition_failed: {
    status: 412,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    jsonrpc: -32002,
    retryable: false,
    summary:
      'Shared memory: `If-Match` names another version than the current one (or the key is absent), or `If-None-Match: *` found the key: read it again and retry. The current ETag, if any, is in the `ETag` header.',
  },
  aos_memory_precondition_required: {
    status: 428,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    jsonrpc: -32002,
    retryable: false,
    summary: 'Shared memory: a PUT to a key that exists needs `If-Match` with its ETag (or `If-Match: *` to overwrite any version), so concurrent writers never lose an update.',
  },
  aos_method_not_allowed: {
    status: 405,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    jsonrpc: -32600,
    retryable: false,
    summary: 'The route exists but not for this HTTP method.',
  },
  aos_approval_decided: {
    status: 409,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    jsonrpc: -32600,
    retryable: false,
    summary: 'Admin API: the approval was already decided, used or expired; an approval is decided once.',
  },
  aos_request_timeout: { status: 408, openai: 'invalid_request_error', anthropic: 'invalid_request_error', jsonrpc: -32000, retryable: true, summary: 'The client did not send the request in time.' },
  aos_payload_too_large: { status: 413, openai: 'invalid_request_error', anthropic: 'request_too_large', jsonrpc: -32600, retryable: false, summary: 'The request body is over the configured limit.' },
  aos_unsupported_media_type: {
    status: 415,
    openai: 'invalid_request_error',
    anthropic: 'invalid_request_error',
    jsonrpc: -32600,
    retryable: false,
    summary: 'The route reads JSON and the body is declared as something else.',
  },
  aos_budget_exceeded: { status: 429, openai: 'insufficient_quota', anthropic: 'rate_limit_error', jsonrpc: -32029, retryable: false, summary: 'A hard budget would be exceeded by this call.' },
  aos_rate_limited: { status: 429, openai: 'rate_limit_error', anthropic: 'rate_limit_error', jsonrpc: -32029, retryable: true, summary: 'A rate limit was hit; Retry-After says when to come back.' },
  aos_header_too_large: { status: 431, openai: 'invalid_request_error', anthropic: 'invalid_request_error', jsonrpc: -32600, retryable: false, summary: 'Request headers are too large or too many.' },
  aos_internal_error: { status: 500, openai: 'server_error', anthropic: 'api_error', jsonrpc: -32603, retryable: true, summary: 'A gateway bug; the log has the details.' },
  aos_upstream_error: { status: 502, openai: 'server_error', anthropic: 'api_error', jsonrpc: -32002, retryable: true, summary: 'The upstream could not be reached or failed mid-response.' },
  aos_unavailable: { status: 503, openai: 'server_error', anthropic: 'overloaded_error', jsonrpc: -32002, retryable: true, summary: 'The gateway is not ready or is shutting down.' },
  aos_approval_unavailable: {
    status: 503,
    openai: 'server_error',
    anthropic: 'overloaded_error',
    jsonrpc: -32002,
    retryable: true,
    summary: 'The call needs an approval and the approvals store (the control plane, under one) cannot be reached: the call is refused, never let through.',
  },
  aos_memory_unavailable: {
    status: 503,
    openai: 'server_error',
    anthropic: 'overloaded_error',
    jsonrpc: -32002,
    retryable: true,
    summary: 'Shared memory: the memory store (Redis) did not answer in time; nothing was written.',
  },
  aos_budget_unavailable: {
    status: 503,
    openai: 'server_error',
    anthropic: 'overloaded_error',
    jsonrpc: -32002,
    retryable: true,
    summary: 'The shared budget store (Redis) is unreachable and the gateway is configured to fail closed.',
  },
  aos_upstream_timeout: { status: 504, openai: 'server_error', anthropic: 'api_error', jsonrpc: -32002, retryable: true, summary: 'The upstream did not connect, answer or continue in time.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | null;
  readonly headers: Record<string, string> | null;
  /** Extra members of a JSON-RPC error's `data` (e.g. `approval_id`); null when none. */
  readonly data: Record<string, unknown> | null;
  /**
   * A JSON-RPC result the agent is answered instead of the error (an MCP 2026-07-28 agent's
   * `input_required`: a pending approval offered as a URL to open); the call is still recorded
   * as refused with `code`. Null: the error.
   */
  readonly result: Record<string, unknown> | null;

  constructor(code: ErrorCode, message: string, options: { param?: string; headers?: Record<string, string>; data?: Record<string, unknown>; result?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.param = options.param ?? null;
    this.headers = options.headers ?? null;
    this.data = options.data ?? null;
    this.result = options.result ?? null;
  }
}

/** Any thrown value as a GatewayError: ours pass through, anything else is an internal error. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('aos_internal_error', 'internal gateway error', { cause: err });
}

/** google.rpc.Code names by HTTP status, as Google APIs answer them (Gemini, Vertex AI). */
const GOOGLE_STATUS: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'UNIMPLEMENTED',
  408: 'DEADLINE_EXCEEDED',
  409: 'ABORTED',
  412: 'FAILED_PRECONDITION',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  428: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  431: 'INVALID_ARGUMENT',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Bedrock's exception names by HTTP status (the AWS SDK raises the class of that name). */
const AWS_EXCEPTION: Readonly<Record<number, string>> = {
  400: 'ValidationException',
  401: 'AccessDeniedException',
  403: 'AccessDeniedException',
  404: 'ResourceNotFoundException',
  405: 'ValidationException',
  408: 'ModelTimeoutException',
  409: 'ConflictException',
  412: 'ConflictException',
  413: 'ValidationException',
  415: 'ValidationException',
  428: 'ValidationException',
  429: 'ThrottlingException',
  431: 'ValidationException',
  500: 'InternalServerException',
  502: 'InternalServerException',
  503: 'ServiceUnavailableException',
  504: 'ModelTimeoutException',
};

/** The google.rpc.Code name of an error (`status` in Google's error body). */
export const googleStatus = (err: GatewayError): string => GOOGLE_STATUS[err.status] ?? 'UNKNOWN';
/** The AWS exception name of an error (`x-amzn-ErrorType`, `:exception-type` in an event stream). */
export const awsException = (err: GatewayError): string => AWS_EXCEPTION[err.status] ?? 'InternalServerException';

/** The JSON body of an error in one dialect. `id` is the JSON-RPC request id, when known. */
export function renderError(err: GatewayError, dialect: Dialect, id: string | number | null = null): string {
  const spec = ERRORS[err.code];
  switch (dialect) {
    case 'openai':
      return JSON.stringify({ error: { message: err.message, type: spec.openai, code: err.code, param: err.param } });
    case 'anthropic':
      return JSON.stringify({ type: 'error', error: { type: spec.anthropic, message: err.message, code: err.code } });
    case 'jsonrpc':
      if (err.result !== null && id !== null) return JSON.stringify({ jsonrpc: '2.0', id, result: err.result });
      return JSON.stringify({ jsonrpc: '2.0', id, error: { code: spec.jsonrpc, message: err.message, data: { ...err.data, code: err.code, status: err.status } } });
    case 'google':
      // google.rpc.Status; the gateway's code rides in an ErrorInfo detail, as Google puts its reasons.
      return JSON.stringify({
        error: {
          code: err.status,
          message: err.message,
          status: googleStatus(err),
          details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: err.code, domain: 'aos-gateway' }],
        },
      });
    case 'aws':
      // REST-JSON: the SDK reads the exception name from x-amzn-ErrorType (errorHeaders) and `message`.
      return JSON.stringify({ message: err.message, code: err.code });
    case 'a2a':
      // A2A 1.0 JSON-RPC: the gateway's code in an ErrorInfo detail, as A2A puts its own reasons.
      return JSON.stringify({ jsonrpc: '2.0', id, error: { code: a2aRpcCode(err), message: err.message, data: [errorInfo(err)] } });
    case 'a2a-rest':
      return renderError(err, 'google');
  }
}

const errorInfo = (err: GatewayError) => ({ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: err.code, domain: 'aos-gateway', metadata: { status: String(err.status) } });

/**
 * An error's JSON-RPC code on A2A routes: the registry's, except where it is one A2A reserves for
 * its own errors (-32001 to -32009, e.g. -32001 TaskNotFound): then -32040 − (status − 400) for a
 * refusal, -32050 − (status − 500) for a failure, so an A2A SDK never takes it for one of its own.
 */
export function a2aRpcCode(err: GatewayError): number {
  const code = ERRORS[err.code].jsonrpc;
  if (code > -32001 || code < -32009) return code;
  return err.status < 500 ? -32040 - (err.status - 400) : -32050 - (err.status - 500);
}

/** Headers a dialect's error needs besides its body: AWS SDKs take the exception's name from `x-amzn-ErrorType`. */
export function errorHeaders(err: GatewayError, dialect: Dialect): Record<string, string> | null {
  return dialect === 'aws' ? { 'x-amzn-errortype': `${awsException(err)}:http://internal.amazon.com/coral/com.amazon.bedrock/` } : null;
}

/**
 * What ends a stream which failed after its headers were sent, in the caller's dialect: the SDKs
 * raise it as an error instead of treating the stream as complete. Server-sent events for every
 * dialect but AWS's, whose streams are binary event-stream messages (an `exception` message).
 */
export function renderStreamError(err: GatewayError, dialect: Dialect, id: string | number | null = null): string | Buffer {
  switch (dialect) {
    case 'openai':
      // OpenAI sends stream errors as a data event carrying `error`; its SDK raises it.
      return `data: ${renderError(err, 'openai')}\n\n`;
    case 'anthropic':
      return `event: error\ndata: ${renderError(err, 'anthropic')}\n\n`;
    case 'jsonrpc':
      // With the request's id, the MCP client settles that request instead of waiting for it.
      return `event: message\ndata: ${renderError(err, 'jsonrpc', id)}\n\n`;
    case 'google':
      // Gemini's SSE streams carry errors as a data event with the google.rpc.Status body.
      return `data: ${renderError(err, 'google')}\n\n`;
    case 'a2a':
      return `data: ${renderError(err, 'a2a', id)}\n\n`;
    case 'a2a-rest':
      // A2A HTTP+JSON streams end in an `error` event carrying the google.rpc.Status body.
      return `event: error\ndata: ${renderError(err, 'google')}\n\n`;
    case 'aws':
      return eventStreamMessage(
        [
          [':message-type', 'exception'],
          [':exception-type', awsException(err)],
          [':content-type', 'application/json'],
        ],
        Buffer.from(renderError(err, 'aws')),
      );
  }
}

/**
 * A gateway error as an event of a Realtime WebSocket session (OpenAI's `error` server event, which
 * the SDKs raise): `invalid_request_error` for what the session may not do (4xx codes),
 * `server_error` for the gateway's or the upstream's failures. The session is closed after it.
 */
export function renderSessionError(err: GatewayError): string {
  const type = err.status < 500 ? 'invalid_request_error' : 'server_error';
  return JSON.stringify({ type: 'error', event_id: null, error: { type, code: err.code, message: err.message, param: null, event_id: null } });
}

/**
 * One message of the AWS event-stream encoding (string headers only): total and headers length,
 * prelude CRC32, headers, payload, message CRC32. Enough for the error the gateway itself ends a
 * Bedrock stream with; the gateway never re-encodes the upstream's messages.
 */
export function eventStreamMessage(headers: readonly (readonly [string, string])[], payload: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name);
    const v = Buffer.from(value);
    const h = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
    h.writeUInt8(n.length, 0);
    n.copy(h, 1);
    h.writeUInt8(7, 1 + n.length); // type 7: string
    h.writeUInt16BE(v.length, 2 + n.length);
    v.copy(h, 4 + n.length);
    parts.push(h);
  }
  const head = Buffer.concat(parts);
  const total = 12 + head.length + payload.length + 4;
  const out = Buffer.alloc(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(head.length, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
  head.copy(out, 12);
  payload.copy(out, 12 + head.length);
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)), total - 4);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Internal errors

/**
 * The registry of internal error codes: errors the gateway's own code tells apart (a caller catches
 * them and branches, logs them with a reason, or turns them into an answer), never sent to a client
 * as such. As in undici (`UND_ERR_*`), each kind is a class with a stable `code`; callers test
 * `instanceof` and `code`, never the message, which is free to change. test/errors.test.ts checks
 * every class against this table.
 */
export const INTERNAL_ERRORS = {
  AOS_ERR_BUNDLE_INVALID: 'A policy bundle is not a readable archive, or its contents are not a usable Wasm bundle.',
  AOS_ERR_BUNDLE_UNSIGNED: 'A verification key is configured and the policy bundle carries no signature.',
  AOS_ERR_BUNDLE_BAD_SIGNATURE: "A policy bundle's signature does not verify, names another key or scope, or is malformed.",
  AOS_ERR_BUNDLE_FILES_MISMATCH: "A policy bundle's signed file list and its archive disagree: a file not listed, missing, or changed.",
  AOS_ERR_BUNDLE_UNLOADABLE: "A valid policy bundle's Wasm module does not load: no aos/decision entrypoint, or an invalid decision.",
  AOS_ERR_TAR_READ: 'An archive is not valid gzip or tar, or holds what a bundle reader refuses (links, "..", duplicates, too much).',
  AOS_ERR_POLICY_FETCH: 'The policy bundle could not be read from its file or fetched from its URL.',
  AOS_ERR_POLICY_BUILD: 'Development mode could not build a bundle from the policies directory (no opa CLI, no directory, opa build failed).',
  AOS_ERR_POLICY_CONFIG: 'The policy configuration cannot be used (no bundle source, an unusable verification key or algorithm).',
  AOS_ERR_KEY_UNREADABLE: "The gateway's local signing key file cannot be read.",
  AOS_ERR_KEY_INVALID: "The gateway's local signing key file does not hold a usable key (not JSON, not an Ed25519 private JWK).",
  AOS_ERR_JWKS_FETCH: "An issuer's JWKS or discovery document could not be fetched: no answer, an HTTP error, too large, not JSON.",
  AOS_ERR_JWKS_INVALID: "An issuer's JWKS or discovery document was fetched but is unusable: no keys, no jwks_uri, another issuer.",
  AOS_ERR_IDENTITY_CONFIG: 'The identity configuration cannot be used (a symmetric algorithm, an issuer twice or without keys).',
  AOS_ERR_CONFIG_NOT_FOUND: 'A configuration file (gateway config, agent registry, price table, key file) does not exist (ENOENT).',
  AOS_ERR_CONFIG_UNREADABLE: 'A configuration file exists but cannot be read (permissions, a directory, …).',
  AOS_ERR_CONFIG_SYNTAX: 'A configuration file cannot be parsed: invalid YAML (a key file: invalid JSON).',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the config's `${NAME}` substitution syntax
  AOS_ERR_CONFIG_ENV_UNSET: 'A `${NAME}` reference names an environment variable that is not set and has no `:-default`.',
  AOS_ERR_CONFIG_INVALID: 'A configuration file parses but its content is refused: a wrong type, an unknown key, a missing key, a reference to nothing.',
  AOS_ERR_BUDGET_STORE_LOCKED: 'The SQLite budget store is held by another gateway process.',
  AOS_ERR_AUDIT_QUERY: 'An audit query filter (time, decision, limit) is malformed.',
  AOS_ERR_MCP_TOOLS_LIST: "An MCP server's tools/list could not be read to check a call against it.",
  AOS_ERR_TOOL_PATH_PATTERN: "A tool operation's path pattern is malformed.",
  AOS_ERR_TOOL_SCHEMA: "A tool operation's JSON Schema is not a schema.",
  AOS_ERR_ADMIN_UNREACHABLE: "The CLI cannot reach the gateway's admin listener (no gateway running there).",
} as const satisfies Record<string, string>;

export type InternalErrorCode = keyof typeof INTERNAL_ERRORS;

/** The base of internal errors: a stable `code` from INTERNAL_ERRORS and a message for people. */
export class AosError<C extends InternalErrorCode = InternalErrorCode> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // Every subclass is named after itself (what logs and stacks show) without saying so again.
    this.name = new.target.name;
    this.code = code;
  }
}

export type BundleErrorCode = Extract<InternalErrorCode, `AOS_ERR_BUNDLE_${string}`>;

/** Why a policy bundle was refused. `message` says it in words an operator can act on. */
export class BundleError extends AosError<BundleErrorCode> {}

/** An archive the tar reader refuses. */
export class TarReadError extends AosError<'AOS_ERR_TAR_READ'> {
  constructor(message: string) {
    super('AOS_ERR_TAR_READ', message);
  }
}

export type PolicySourceErrorCode = 'AOS_ERR_POLICY_FETCH' | 'AOS_ERR_POLICY_BUILD';

/** A bundle source that could not deliver a bundle (the bundle itself was not looked at). */
export class PolicySourceError extends AosError<PolicySourceErrorCode> {}

/** A policy configuration that cannot be used; found at start or at a config reload. */
export class PolicyConfigError extends AosError<'AOS_ERR_POLICY_CONFIG'> {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('AOS_ERR_POLICY_CONFIG', message, options);
  }
}

export type KeyErrorCode = Extract<InternalErrorCode, `AOS_ERR_KEY_${string}`>;

/** The local signing key cannot be read or used. (Issuer key files are configuration: ConfigError.) */
export class KeyError extends AosError<KeyErrorCode> {}

export type JwksErrorCode = Extract<InternalErrorCode, `AOS_ERR_JWKS_${string}`>;

/** An issuer's keys could not be refreshed; the last good keys stay in use. */
export class JwksError extends AosError<JwksErrorCode> {}

/** An identity configuration that cannot be used. */
export class IdentityConfigError extends AosError<'AOS_ERR_IDENTITY_CONFIG'> {
  constructor(message: string) {
    super('AOS_ERR_IDENTITY_CONFIG', message);
  }
}

/** The SQLite budget store is in use by another process. */
export class BudgetStoreLockedError extends AosError<'AOS_ERR_BUDGET_STORE_LOCKED'> {
  constructor(
    message: string,
    readonly holder: number,
  ) {
    super('AOS_ERR_BUDGET_STORE_LOCKED', message);
  }
}

/**
 * An audit query filter that cannot be read. `param` names the filter (`decision`, `limit`), null
 * for a time bound; the message is worded for the CLI (`--limit: …`), `detail` is without the flag.
 */
export class AuditQueryError extends AosError<'AOS_ERR_AUDIT_QUERY'> {
  constructor(
    readonly param: string | null,
    readonly detail: string,
  ) {
    super('AOS_ERR_AUDIT_QUERY', param === null ? detail : `--${param}: ${detail}`);
  }
}

/** An MCP server's tools/list that could not be read. */
export class McpToolsListError extends AosError<'AOS_ERR_MCP_TOOLS_LIST'> {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('AOS_ERR_MCP_TOOLS_LIST', message, options);
  }
}

export type ToolDefinitionErrorCode = Extract<InternalErrorCode, `AOS_ERR_TOOL_${string}`>;

/** A tool definition in the config that cannot be compiled; the config loader reports it with its key path. */
export class ToolDefinitionError extends AosError<ToolDefinitionErrorCode> {}

/** The CLI found no gateway answering at the configured admin address. */
export class AdminUnreachableError extends AosError<'AOS_ERR_ADMIN_UNREACHABLE'> {
  constructor(
    readonly url: string,
    options: { cause?: unknown } = {},
  ) {
    const cause = options.cause as { message?: string; cause?: { message?: string } } | undefined;
    super('AOS_ERR_ADMIN_UNREACHABLE', `cannot reach the gateway's admin listener at ${url}: ${cause?.cause?.message ?? cause?.message ?? 'no answer'}`, options);
  }
}
