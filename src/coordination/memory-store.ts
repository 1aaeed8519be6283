import { randomBytes } from 'node:crypto';

/**
 * Governed shared memory (docs/coordination.md#shared-memory): JSON documents by namespace and key,
 * with versions (ETags), TTLs, listing by prefix and a plain text search. Two stores implement the
 * same contract and run the same test suite: SQLite (dataDir/memory.db, one gateway) and Redis (a
 * fleet). Every write is a compare-and-set on the document's ETag, atomic in the store.
 */

/** A stored document. `value` is the JSON text as stored (after redaction, when the policy obliged one). */
export interface MemoryDoc {
  readonly key: string;
  readonly value: string;
  readonly etag: string;
  /** Epoch milliseconds of the last write. */
  readonly updatedMs: number;
  /** Epoch milliseconds when the document expires; null: never. */
  readonly expiresMs: number | null;
}

/** A document as a listing shows it: everything but the value. */
export interface MemoryMeta {
  readonly key: string;
  readonly etag: string;
  /** Bytes of the value (UTF-8). */
  readonly bytes: number;
  readonly updatedMs: number;
  readonly expiresMs: number | null;
}

/**
 * The condition a write is made on (HTTP's conditional requests, RFC 9110 §13):
 * - `new`: no precondition given: the key must not exist (an existing key needs If-Match: 428);
 * - `absent`: `If-None-Match: *`: create only (412 when it exists);
 * - `match`: `If-Match: "<etag>"`: the current version must be this one (412 otherwise, or when absent);
 * - `any`: `If-Match: *`: the key must exist, whatever its version (a deliberate overwrite);
 * - `none`: no condition at all (DELETE without If-Match).
 */
export type Precondition = { readonly kind: 'new' | 'absent' | 'any' | 'none' } | { readonly kind: 'match'; readonly etag: string };

/** Why a conditional write was refused: `exists` (a precondition said absent), `required` (an existing key and no If-Match), `mismatch`, `missing`. */
export type Refusal = 'exists' | 'required' | 'mismatch' | 'missing';

export type WriteResult =
  | { readonly ok: true; readonly etag: string; readonly created: boolean; readonly expiresMs: number | null }
  | { readonly ok: false; readonly reason: Refusal; readonly etag: string | null };

export type DeleteResult = { readonly ok: true; readonly etag: string } | { readonly ok: false; readonly reason: 'missing' | 'mismatch'; readonly etag: string | null };

export interface PutRequest {
  readonly value: string;
  /** What the search matches: the key and the document's string values, lower-cased (`searchText`). */
  readonly text: string;
  /** Time to live in milliseconds; null: the document stays until deleted. */
  readonly ttlMs: number | null;
  readonly condition: Precondition;
}

export interface ListPage {
  readonly items: MemoryMeta[];
  /** The last key of this page when more may follow (pass it back as `after`); null at the end. */
  readonly next: string | null;
}

export interface SearchResult {
  readonly items: MemoryDoc[];
  /** The namespace held more documents than the search may read (`maxScan`): later ones were not searched. */
  readonly truncated: boolean;
}

/**
 * Where documents live. Every method may fail (a Redis away): the memory stage answers 503
 * `aos_memory_unavailable`, and nothing is half-written (each write is one atomic step).
 */
export interface MemoryStore {
  readonly name: 'sqlite' | 'redis';
  get(ns: string, key: string): Promise<MemoryDoc | null>;
  put(ns: string, key: string, req: PutRequest): Promise<WriteResult>;
  delete(ns: string, key: string, condition: Precondition): Promise<DeleteResult>;
  /** Keys starting with `prefix`, in key order, after `after` (exclusive), at most `limit`. */
  list(ns: string, prefix: string, after: string | null, limit: number): Promise<ListPage>;
  /** Documents whose text holds every term (lower-cased substrings), in key order, at most `limit`, reading at most `maxScan` documents. */
  search(ns: string, terms: readonly string[], limit: number, maxScan: number): Promise<SearchResult>;
  close(): Promise<void>;
}

/** A new version's ETag: 12 random bytes, so a key deleted and written again never repeats an old one. */
export function newEtag(): string {
  return randomBytes(9).toString('base64url');
}

/** Longest search text kept per document (UTF-16 code units): the search reads this much of each. */
export const MAX_SEARCH_TEXT = 64 * 1024;

/**
 * What the text search matches for a document: its key and every string value (object keys
 * included), lower-cased, one per line; bounded by MAX_SEARCH_TEXT.
 */
export function searchText(key: string, value: unknown): string {
  const parts: string[] = [key];
  let left = MAX_SEARCH_TEXT - key.length;
  const walk = (v: unknown): void => {
    if (left <= 0) return;
    if (typeof v === 'string') {
      parts.push(v.length > left ? v.slice(0, left) : v);
      left -= v.length + 1;
    } else if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        walk(k);
        walk(x);
      }
    }
  };
  walk(value);
  return parts.join('\n').toLowerCase();
}

/** The terms of a query: whitespace-separated, lower-cased, distinct, at most 16. */
export function searchTerms(q: string): string[] {
  return [
    ...new Set(
      q
        .toLowerCase()
        .split(/\s+/)
        .filter((s) => s !== ''),
    ),
  ].slice(0, 16);
}
