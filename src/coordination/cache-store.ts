/** A stored answer: the response body as the upstream sent it, and what it cost. */
export interface CacheEntry {
  /** `json`: a whole JSON body (serves both plain and streaming calls); `sse`: a stored event stream (serves streaming calls). */
  readonly kind: 'json' | 'sse';
  readonly contentType: string;
  readonly body: Buffer;
  /** Tokens and cost of the call that stored it (0 when it was not metered): what a hit saves. */
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd: number;
}

/**
 * Where entries live: SQLite (one gateway) or Redis (a fleet). `get` and `set` are synchronous on
 * SQLite and promises on Redis; neither throws (a store that fails answers a miss and drops the set).
 */
export interface CacheStore {
  readonly name: 'sqlite' | 'redis';
  get(key: string): CacheEntry | null | Promise<CacheEntry | null>;
  set(key: string, entry: CacheEntry, ttlMs: number): void | Promise<void>;
  close(): Promise<void>;
}

/** Entries on the wire and on disk: a 4-byte length, the metadata as JSON, then the body. */
export function encodeEntry(e: CacheEntry): Buffer {
  const meta = Buffer.from(JSON.stringify({ k: e.kind, t: e.contentType, i: e.inputTokens, o: e.outputTokens, c: e.costUsd }));
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(meta.length, 0);
  return Buffer.concat([head, meta, e.body]);
}

export function decodeEntry(b: Buffer): CacheEntry | null {
  if (b.length < 4) return null;
  const n = b.readUInt32BE(0);
  if (4 + n > b.length) return null;
  try {
    const m = JSON.parse(b.subarray(4, 4 + n).toString('utf8')) as { k: 'json' | 'sse'; t: string; i: number; o: number; c: number };
    if (m.k !== 'json' && m.k !== 'sse') return null;
    return { kind: m.k, contentType: m.t, inputTokens: m.i, outputTokens: m.o, costUsd: m.c, body: b.subarray(4 + n) };
  } catch {
    return null;
  }
}
