import { hash } from 'node:crypto';
import type { AuditEvent } from './event.js';

/** The prev_hash of the first event of a chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The canonical encoding an event's hash covers: JSON with object keys sorted (code-unit order),
 * no whitespace, arrays in order, `undefined` members left out. Two encoders that agree on this
 * agree on every hash, so a verifier in another language can check the chain. Strings and numbers
 * are written as JSON.stringify writes them. This is the audit chain's contract only: OPA's normal
 * form for bundle digests (policy/bundle.ts `opaDigestJson`) differs in string escapes, key order
 * and numbers, and neither may change to match the other without breaking what it verifies.
 */
export function canonicalEventJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalEventJson(value[i] === undefined ? null : value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalEventJson(v)}`;
    first = false;
  }
  return `${out}}`;
}

/**
 * Every key an audit event can hold, at any depth (the event's own, those of `capture` and of a
 * finding), sorted. `JSON.stringify` with this list as its replacer writes every object's keys in
 * this order, which is the canonical encoding of an event at a fraction of `canonicalEventJson`'s cost.
 * The `satisfies` makes the compiler fail when AuditEvent gains a field this list lacks.
 */
const EVENT_KEYS = Object.keys({
  id: 1,
  time: 1,
  agent_id: 1,
  team: 1,
  template: 1,
  template_version: 1,
  trace_id: 1,
  span_id: 1,
  parent_span_id: 1,
  workflow_id: 1,
  max_tokens: 1,
  method: 1,
  path: 1,
  route: 1,
  provider: 1,
  operation: 1,
  kind: 1,
  model: 1,
  tool: 1,
  tool_server: 1,
  stream: 1,
  decision: 1,
  reasons: 1,
  policy_revision: 1,
  outcome: 1,
  status: 1,
  error_code: 1,
  input_tokens: 1,
  output_tokens: 1,
  cost_usd: 1,
  flags: 1,
  tool_calls: 1,
  total_ms: 1,
  upstream_ms: 1,
  request_bytes: 1,
  request_sha256: 1,
  response_bytes: 1,
  response_sha256: 1,
  tool_args_sha256: 1,
  findings: 1,
  capture: 1,
} satisfies Record<Exclude<keyof AuditEvent, OptionalKey>, 1>);
/** Keys only some events have (absent, not null, elsewhere): the fast path below stays for the rest. */
type OptionalKey = 'approval' | 'mcp' | 'session' | 'delegation' | 'memory';
const OPTIONAL_KEYS = ['approval', 'mcp', 'session', 'delegation', 'memory'] satisfies OptionalKey[];
const NESTED_KEYS = [
  'request',
  'response',
  'truncated',
  'detector',
  'severity',
  'path',
  'id',
  'status',
  'approver',
  'reason',
  'waited_ms',
  'agent_revision',
  'server_revision',
  'close_code',
  'close_reason',
  'responses',
  'client_messages',
  'upstream_messages',
  'client_bytes',
  'upstream_bytes',
  'audio_input_tokens',
  'audio_output_tokens',
  'chain',
  'depth',
  'namespace',
  'key',
  'etag',
  'value_sha256',
  'value_bytes',
  'results',
  'outcome',
] satisfies (
  | keyof NonNullable<AuditEvent['capture']>
  | keyof NonNullable<AuditEvent['findings']>[number]
  | keyof NonNullable<AuditEvent['approval']>
  | keyof NonNullable<AuditEvent['mcp']>
  | keyof NonNullable<AuditEvent['session']>
  | keyof NonNullable<AuditEvent['delegation']>
  | keyof NonNullable<AuditEvent['memory']>
)[];
const ALL_KEYS = [...new Set([...EVENT_KEYS, ...OPTIONAL_KEYS, ...NESTED_KEYS])].sort();

const SORTED_EVENT_KEYS = [...EVENT_KEYS].sort();

/**
 * The canonical encoding of an audit event, equal to `canonicalEventJson(event)`. The recorder builds
 * events with their keys in sorted order, so plain JSON.stringify is canonical for them; anything
 * else (or with nested objects, whose order is not checked here) takes the general path.
 */
export function encodeEvent(event: AuditEvent): string {
  // An empty findings list (scanned, nothing found: most calls) has no keys whose order could differ.
  if (event.capture === null && (event.findings === null || event.findings.length === 0)) {
    const keys = Object.keys(event);
    let sorted = keys.length === SORTED_EVENT_KEYS.length;
    for (let i = 0; sorted && i < keys.length; i++) sorted = keys[i] === SORTED_EVENT_KEYS[i];
    if (sorted) return JSON.stringify(event);
  }
  return JSON.stringify(event, ALL_KEYS);
}

/** hash = SHA-256(prev_hash "\n" seq "\n" canonical body), hex. The sequence number is covered, so rows cannot be renumbered. */
export function chainHash(prevHash: string, seq: number, body: string): string {
  return hash('sha256', `${prevHash}\n${seq}\n${body}`, 'hex');
}

export function sha256Hex(data: Buffer | string): string {
  return hash('sha256', data, 'hex');
}
