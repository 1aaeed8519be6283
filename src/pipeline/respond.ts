import type { ServerResponse } from 'node:http';
import { type ErrorCode, errorHeaders, type GatewayError, renderError, renderStreamError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallContext } from './context.js';

/** Answers with an error in the caller's dialect; after headers were sent, ends the stream with it. */
export function sendError(ctx: CallContext, err: GatewayError, log: Logger): void {
  const { res } = ctx;
  ctx.errorCode = err.code;
  if (err.code === 'aos_internal_error') log.error('request failed', { id: ctx.id, path: ctx.path, err: err.cause });
  if (res.destroyed) return;
  if (res.headersSent) {
    if (ctx.streaming) res.end(renderStreamError(err, ctx.dialect, ctx.rpcId));
    else res.destroy();
    return;
  }
  // An MCP request's error is a JSON-RPC response to it (HTTP 200), which the MCP SDKs raise as
  // that request's error; a status would fail the transport instead. Without an id, the status;
  // and a header mismatch keeps its 400 (MCP 2026-07-28 says so: only its clients send those headers).
  const status = ctx.rpcId !== null && ctx.dialect === 'jsonrpc' && err.code !== 'aos_mcp_header_mismatch' ? 200 : err.status;
  const dialectHeaders = errorHeaders(err, ctx.dialect);
  writeError(res, status, err.code, renderError(err, ctx.dialect, ctx.rpcId), ctx.id, dialectHeaders === null ? err.headers : { ...dialectHeaders, ...err.headers });
}

export function writeError(res: ServerResponse, status: number, code: ErrorCode, body: string, id: string, extra: Record<string, string> | null): void {
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-aos-request-id': id,
    'x-aos-error-code': code,
  };
  if (extra !== null) Object.assign(headers, extra);
  res.writeHead(status, headers);
  res.end(body);
}
