import { createHash } from 'node:crypto';

/**
 * Body fields that do not change a model's answer, left out of the key: whether it streams (a hit
 * is replayed in the form the caller asked for), how it streams, and who the caller says it is.
 */
const IGNORED = new Set(['stream', 'stream_options', 'user', 'metadata']);

/**
 * The cache key of a request: SHA-256 over its scope, dialect, operation and its JSON body with keys
 * sorted at every depth (so two encodings of one request share a key) and the ignored top-level
 * fields left out. The scope goes first: entries are never shared across scopes.
 */
export function cacheKey(scope: string, dialect: string, operation: string, body: Record<string, unknown>): string {
  const h = createHash('sha256');
  h.update(scope).update('\n').update(dialect).update('\n').update(operation).update('\n');
  const keys = Object.keys(body).sort();
  h.update('{');
  let first = true;
  for (const k of keys) {
    if (IGNORED.has(k) || body[k] === undefined) continue;
    if (!first) h.update(',');
    first = false;
    h.update(JSON.stringify(k)).update(':').update(canonical(body[k]));
  }
  h.update('}');
  return h.digest('hex');
}

/** JSON with object keys sorted at every depth (undefined members dropped, as JSON.stringify does). */
export function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonical(x))).join(',')}]`;
  const o = v as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(o).sort()) if (o[k] !== undefined) parts.push(`${JSON.stringify(k)}:${canonical(o[k])}`);
  return `{${parts.join(',')}}`;
}
