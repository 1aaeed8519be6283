/** What both listeners share: JSON bodies in and out, the bearer credential, one error funnel. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { badRequest, ControlHttpError } from './errors.js';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** Any thrown value as a ControlError answer; what is not ours is logged and answered 500 (503 when the store is unreachable). */
export function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  let e: ControlHttpError;
  if (err instanceof ControlHttpError) e = err;
  else if (err instanceof GatewayError && err.code === 'aos_unauthenticated') e = new ControlHttpError('control_unauthenticated', err.message);
  else if (isConnectionError(err)) {
    log.error('control store unreachable', { err });
    e = new ControlHttpError('control_unavailable', 'the control plane store cannot be reached; retry');
  } else {
    log.error('control plane request failed', { err });
    e = new ControlHttpError('control_internal', 'internal control plane error');
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = e.status === 401 ? { 'www-authenticate': 'Bearer realm="aos-control"' } : {};
  const text = JSON.stringify(e.body());
  res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function isConnectionError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || (err instanceof Error && /Connection terminated|connection timeout/i.test(err.message));
}

/** The request body parsed as JSON (an empty body is `{}`); 413 past `limit` bytes, 400 when not JSON. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new ControlHttpError('control_payload_too_large', `request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw badRequest('request body is not valid JSON');
  }
}

/** The `Authorization: Bearer` credential; 401 when there is none. */
export function bearer(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (auth === undefined || auth === '') throw new ControlHttpError('control_unauthenticated', 'missing credential: send "Authorization: Bearer <token>"');
  if (!/^bearer /i.test(auth) || auth.slice(7).trim() === '') throw new ControlHttpError('control_unauthenticated', 'Authorization must be "Bearer <token>"');
  return auth.slice(7).trim();
}

/** Field checks of request bodies: each throws 400 naming the field. */
export const field = {
  object(v: unknown, name: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRequest(`${name}: expected an object`);
    return v as Record<string, unknown>;
  },
  string(o: Record<string, unknown>, key: string, opts: { optional?: boolean; max?: number } = {}): string {
    const v = o[key];
    if (v === undefined && opts.optional) return '';
    if (typeof v !== 'string' || v.trim() === '') throw badRequest(`${key}: expected a non-empty string`);
    if (v.length > (opts.max ?? 1000)) throw badRequest(`${key}: longer than ${opts.max ?? 1000} characters`);
    return v;
  },
  int(v: unknown, name: string, min = 0): number {
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) throw badRequest(`${name}: expected an integer ≥ ${min}`);
    return n;
  },
  stringMap(v: unknown, name: string): Record<string, string> {
    if (v === undefined) return {};
    const o = field.object(v, name);
    for (const [k, s] of Object.entries(o)) if (typeof s !== 'string') throw badRequest(`${name}.${k}: expected a string`);
    return o as Record<string, string>;
  },
};
