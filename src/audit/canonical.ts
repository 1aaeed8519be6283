import { createHash } from 'node:crypto';

/** The prev_hash of the first event of a chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The canonical encoding an event's hash covers: JSON with object keys sorted (code-unit order),
 * no whitespace, arrays in order, `undefined` members left out. Two encoders that agree on this
 * agree on every hash, so a verifier in another language can check the chain.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i] === undefined ? null : value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
}

/** hash = SHA-256(prev_hash "\n" seq "\n" canonical body), hex. The sequence number is covered, so rows cannot be renumbered. */
export function chainHash(prevHash: string, seq: number, body: string): string {
  return createHash('sha256').update(`${prevHash}\n${seq}\n`).update(body).digest('hex');
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
