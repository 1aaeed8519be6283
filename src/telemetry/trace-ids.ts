import { randomFillSync } from 'node:crypto';

const pool = Buffer.allocUnsafe(4096);
let offset = pool.length;

/** A random W3C trace id (16 bytes) or span id (8 bytes) as lowercase hex, never all zeros. */
export function randomHexId(bytes: 8 | 16): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return /^0+$/.test(id) ? randomHexId(bytes) : id;
}
