import type { MemoryConfig } from '../config/memory-schema.js';
import { GatewayError } from '../errors.js';
import type { Precondition } from './memory-store.js';
import { searchTerms } from './memory-store.js';

/** One shared memory operation, as the REST API or an MCP tool call asked for it, checked. */
export interface MemoryOp {
  readonly op: 'get' | 'put' | 'delete' | 'list' | 'search';
  readonly namespace: string;
  /** `team` of `team:payments`. */
  readonly scope: string;
  readonly name: string | null;
  readonly key: string | null;
  /** Writes (put, delete): the version condition. */
  readonly condition: Precondition;
  /** get: the ETag the client has (`If-None-Match`): 304 when it is still current. */
  readonly ifNoneMatch: string | null;
  /** put: the value as it will be stored (JSON text; re-serialized after a redaction). */
  value: string | null;
  readonly ttlMs: number | null;
  readonly prefix: string;
  readonly after: string | null;
  readonly limit: number;
  readonly terms: readonly string[];
}

/** A key segment's characters: unreserved URI characters and a few sub-delimiters; `/` separates segments. */
const SEGMENT = /^[A-Za-z0-9._~:@+=,-]+$/;
const NAMESPACE = /^([a-z][a-z0-9_-]{0,31})(?::([A-Za-z0-9._~:@+=,-]{1,200}))?$/;
const MAX_QUERY = 256;

const invalid = (message: string, param?: string) => new GatewayError('aos_memory_invalid_key', message, param === undefined ? {} : { param });

/** `<kind>[:<name>]`: `team:payments`, `org`, `workflow:<id>`, `agent:<id>`. */
export function parseNamespace(ns: string | null): { namespace: string; scope: string; name: string | null } {
  const m = ns === null ? null : NAMESPACE.exec(ns);
  if (m === null) {
    throw invalid(
      `invalid memory namespace ${JSON.stringify((ns ?? '').slice(0, 100))}: expected <kind>[:<name>], a lower-case kind (team, org, workflow, agent, …) and a name of letters, digits and . _ ~ : @ + = , - (at most 200)`,
      'namespace',
    );
  }
  return { namespace: ns!, scope: m[1], name: m[2] ?? null };
}

/** A key: segments of allowed characters separated by `/`, no `.` or `..` segment, no empty one, at most `maxBytes`. */
export function checkKey(key: string, maxBytes: number, what = 'key'): string {
  const bad = (why: string) => invalid(`invalid memory ${what} ${JSON.stringify(key.slice(0, 100))}: ${why}`, what);
  if (key.length === 0) throw bad('empty');
  if (key.length > maxBytes) throw bad(`longer than ${maxBytes} bytes`);
  for (const seg of key.split('/')) {
    if (seg === '') throw bad('an empty segment (a leading, trailing or doubled /)');
    if (seg === '.' || seg === '..') throw bad('a . or .. segment');
    if (!SEGMENT.test(seg)) throw bad('characters outside letters, digits, / and . _ ~ : @ + = , -');
  }
  return key;
}

/** A listing's prefix: like a key, but may be empty or end with `/`. */
function checkPrefix(prefix: string, maxBytes: number): string {
  if (prefix === '') return prefix;
  checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, maxBytes, 'prefix');
  return prefix;
}

/** The ETag named by an `If-Match` or `If-None-Match` value: `"<etag>"` or bare; `*` is handled by the caller. */
export function etagOf(header: string, name: string): string {
  const v = header.trim();
  if (v.includes(',')) throw new GatewayError('aos_bad_request', `${name}: one ETag (or *), not a list`);
  if (v.startsWith('W/')) throw new GatewayError('aos_bad_request', `${name}: memory ETags are strong; a weak ETag never matches`);
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** The TTL a write gets: asked for (seconds), else the default; bounded by `maxTtlSeconds`. */
export function ttlOf(config: MemoryConfig, asked: number | null): number | null {
  let s = asked ?? (config.defaultTtlSeconds > 0 ? config.defaultTtlSeconds : null);
  if (config.maxTtlSeconds > 0 && (s === null || s > config.maxTtlSeconds)) s = config.maxTtlSeconds;
  return s === null ? null : s * 1000;
}

/** A positive integer parameter (a TTL, a limit) given as text or a number. */
export function intParam(v: unknown, name: string, min: number, max: number): number | null {
  if (v === undefined || v === null || v === '') return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,12}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(`${name} must be an integer from ${min} to ${max}`, name);
  return n;
}

/** A list cursor: the last key of the page before, base64url-encoded so it is opaque to clients. */
export const encodeCursor = (key: string): string => Buffer.from(key).toString('base64url');

function decodeCursor(cursor: string | null, maxBytes: number): string | null {
  if (cursor === null || cursor === '') return null;
  const key = /^[A-Za-z0-9_-]{1,2000}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  try {
    return checkKey(key, maxBytes, 'cursor');
  } catch {
    throw invalid('invalid list cursor: pass back the next_cursor of the page before', 'cursor');
  }
}

export interface OpArgs {
  readonly op: MemoryOp['op'];
  readonly namespace: string | null;
  readonly key: string | null;
  readonly condition?: Precondition;
  readonly ifNoneMatch?: string | null;
  readonly ttlSeconds?: unknown;
  readonly prefix?: unknown;
  readonly cursor?: unknown;
  readonly limit?: unknown;
  readonly query?: unknown;
}

/** Checks an operation's namespace, key and parameters (400 `aos_memory_invalid_key` for the first thing wrong). */
export function memoryOp(config: MemoryConfig, a: OpArgs): MemoryOp {
  const ns = parseNamespace(a.namespace);
  const keyed = a.op === 'get' || a.op === 'put' || a.op === 'delete';
  const key = keyed ? checkKey(a.key ?? '', config.maxKeyBytes) : null;
  const maxTtl = 10 * 365 * 86_400;
  const listLimit = a.op === 'search' ? Math.min(100, config.listLimit) : config.listLimit;
  const limit = a.op === 'list' || a.op === 'search' ? (intParam(a.limit, 'limit', 1, listLimit) ?? Math.min(a.op === 'search' ? 20 : 100, listLimit)) : 0;
  let terms: string[] = [];
  if (a.op === 'search') {
    const q = a.query;
    if (typeof q !== 'string' || q.trim() === '' || q.length > MAX_QUERY) throw invalid(`a search needs a query of 1 to ${MAX_QUERY} characters`, 'q');
    terms = searchTerms(q);
  }
  if (a.prefix !== undefined && a.prefix !== null && typeof a.prefix !== 'string') throw invalid('prefix must be a string', 'prefix');
  if (a.cursor !== undefined && a.cursor !== null && typeof a.cursor !== 'string') throw invalid('cursor must be a string', 'cursor');
  return {
    op: a.op,
    ...ns,
    key,
    condition: a.condition ?? { kind: a.op === 'put' ? 'new' : 'none' },
    ifNoneMatch: a.ifNoneMatch ?? null,
    value: null,
    ttlMs: a.op === 'put' ? ttlOf(config, intParam(a.ttlSeconds, 'ttl_seconds', 1, maxTtl)) : null,
    prefix: a.op === 'list' ? checkPrefix((a.prefix as string | undefined) ?? '', config.maxKeyBytes) : '',
    after: a.op === 'list' ? decodeCursor((a.cursor as string | undefined) ?? null, config.maxKeyBytes) : null,
    limit,
    terms,
  };
}
