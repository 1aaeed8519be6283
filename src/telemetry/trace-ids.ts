import { randomFillSync } from 'node:crypto';

const pool = Buffer.allocUnsafe(4096);
let offset = pool.length;

/** A random W3C span id (8 bytes) or the random part of a new trace id (10) as lowercase hex, never all zeros. */
export function randomHexId(bytes: 8 | 10): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return /^0+$/.test(id) ? randomHexId(bytes) : id;
}

/**
 * A new W3C trace id for a trace the gateway starts, time-ordered like a UUIDv7: 48 bits of Unix
 * milliseconds, then 80 random bits (W3C Trace Context Level 2 asks only the rightmost 56 to be
 * random). As unique as a random one, it sorts by when its trace began, so the audit trail's
 * indexes on trace and workflow ids grow at their end instead of rewriting a random page for each
 * event: on a trail of 1.5 million events that halves the writer's cost per event
 * (bench/RESULTS-performance.md). A trace id an agent sends is kept as it is.
 */
export function newTraceId(now = Date.now()): string {
  return now.toString(16).padStart(12, '0') + randomHexId(10);
}

/** The OTel SDK's id generator with the gateway's trace ids (the SDK's own are random). */
export const idGenerator = { generateTraceId: (): string => newTraceId(), generateSpanId: (): string => randomHexId(8) };
