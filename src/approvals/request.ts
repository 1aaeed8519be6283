import { createHash } from 'node:crypto';
import { MAX_SUMMARY_ARGS } from '../control/approval-rules.js';
import type { CallContext } from '../pipeline/context.js';

/** The header an agent names an approval with, and the gateway answers a pending one's id in. */
export const APPROVAL_HEADER = 'x-aos-approval-id';
/** The key of the gateway's own approval request in an MCP 2026-07-28 `input_required` (gate.ts). */
export const APPROVAL_INPUT = 'aos-approval';

/**
 * What an approval is bound to: SHA-256 over the method, the path with its query, and the body
 * bytes as the agent sent them. On MCP routes the JSON-RPC message without its `id` stands for the
 * body (re-serialized from the parsed message, keys in the order sent): a client that sends the
 * same call again under a new request id, or in a new session, matches its approval. Read from the
 * bytes, not from what later stages (obligations, redaction) made of them. An MCP 2026-07-28
 * retry's `params.inputResponses` and `params.requestState` (answers to `input_required`, the
 * approval's own among them) are left out: the retry is the same call.
 */
export function requestHash(ctx: CallContext): string {
  const h = createHash('sha256');
  h.update(`${ctx.req.method ?? 'GET'}\n${ctx.path}${ctx.query}\n`);
  const body = ctx.body;
  const message = ctx.route?.tool?.kind === 'mcp' && body !== null ? rpcMessage(body) : null;
  if (message !== null) {
    const { id: _id, ...rest } = message;
    const params = rest.params;
    if (params !== null && typeof params === 'object' && !Array.isArray(params) && ('inputResponses' in params || 'requestState' in params)) {
      const { inputResponses: _r, requestState: _s, ...same } = params as Record<string, unknown>;
      rest.params = same;
    }
    h.update(JSON.stringify(rest));
  } else if (body !== null) h.update(body);
  return h.digest('hex');
}

/** The JSON-RPC message of an MCP body as the agent sent it (parsed again: stages may have rewritten ctx.json). */
function rpcMessage(body: Buffer): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * What a person is shown of the call: kind, tool, server, operation, method, path, and the
 * arguments as JSON, redacted (credentials and secret-looking values) and cut at MAX_SUMMARY_ARGS.
 * Never headers: the agent's token and the tool's credential are not in it.
 */
export function requestSummary(ctx: CallContext, redact: (text: string) => string): Record<string, unknown> {
  const call = ctx.call;
  const tool = call?.tool ?? null;
  let args: string | null = null;
  if (tool !== null && tool.args !== undefined) args = JSON.stringify(tool.args) ?? null;
  else if (ctx.body !== null && ctx.body.length > 0) args = ctx.body.subarray(0, MAX_SUMMARY_ARGS * 2).toString('utf8');
  let truncated = false;
  if (args !== null) {
    args = redact(args);
    if (args.length > MAX_SUMMARY_ARGS) {
      args = args.slice(0, MAX_SUMMARY_ARGS);
      truncated = true;
    }
  }
  return {
    kind: call?.kind ?? 'http',
    provider: ctx.route?.upstream.name ?? null,
    tool: tool?.name ?? null,
    server: tool?.server ?? null,
    operation: call?.operation ?? ctx.route?.operation.name ?? null,
    method: ctx.req.method ?? 'GET',
    path: redact(`${ctx.path}${ctx.query}`),
    args,
    ...(truncated ? { truncated: true } : {}),
  };
}
