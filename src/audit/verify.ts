import { canonicalEventJson, chainHash } from './canonical.js';
import type { AuditEvent } from './event.js';
import type { AuditStore, StoredRow } from './store.js';

export type BreakKind = 'modified' | 'deleted' | 'inserted' | 'reordered' | 'truncated';

export interface VerifyResult {
  ok: boolean;
  /** Events checked. */
  checked: number;
  /** The head of the chain as verified: the last event's seq and hash (anchor it elsewhere to detect a rewrite). */
  headSeq: number;
  headHash: string;
  /** The first broken event, when not ok. */
  broken: { kind: BreakKind; seq: number; id: string | null; message: string } | null;
}

/**
 * Walks the chain from its anchor (genesis, or the last event pruned by retention) in sequence
 * order and names the first event that does not belong where it is:
 * - modified: its body no longer hashes to its hash (or its query columns differ from its body);
 * - deleted: one or more events before it are gone (its prev_hash or seq skips);
 * - inserted: it does not link to the event before it, but the next one does;
 * - reordered: it links to an event that comes later;
 * - truncated: the newest events are gone (the chain head records more than there is).
 * A whole chain rewritten by someone holding the file is only detectable against a copy of the
 * head hash kept elsewhere (the OTel log records carry every hash): compare it with `headHash`.
 */
export function verifyChain(store: AuditStore): VerifyResult {
  return store.snapshot(() => {
    const chain = store.chain();
    const rows = store.rows();
    let prevHash = chain.anchor_hash;
    let prevSeq = chain.anchor_seq;
    let checked = 0;
    const fail = (kind: BreakKind, row: StoredRow | null, seq: number, message: string): VerifyResult => ({
      ok: false,
      checked,
      headSeq: prevSeq,
      headHash: prevHash,
      broken: { kind, seq, id: row?.id ?? null, message },
    });
    const window: StoredRow[] = [];
    const next = (): StoredRow | null => {
      if (window.length > 0) return window.shift()!;
      const r = rows.next();
      return r.done ? null : r.value;
    };
    const peek = (n: number): StoredRow[] => {
      while (window.length < n) {
        const r = rows.next();
        if (r.done) break;
        window.push(r.value);
      }
      return window.slice(0, n);
    };
    try {
      for (let row = next(); row !== null; row = next()) {
        const name = `event seq ${row.seq} (id ${row.id})`;
        const selfOk = chainHash(row.prev_hash, row.seq, row.body) === row.hash;
        if (row.prev_hash !== prevHash || row.seq !== prevSeq + 1) {
          const ahead = peek(64);
          if (ahead.some((r) => r.hash === row.prev_hash)) {
            return fail('reordered', row, row.seq, `${name} is out of order: it links to an event that comes after it`);
          }
          if (!selfOk && row.seq === prevSeq + 1 && row.prev_hash === prevHash) {
            return fail('modified', row, row.seq, `${name} was modified: its content does not match its hash`);
          }
          if (ahead.length > 0 && ahead[0].prev_hash === prevHash) {
            return fail('inserted', row, row.seq, `${name} was inserted: it does not link to event seq ${prevSeq}, the event after it does`);
          }
          if (!selfOk && row.prev_hash === prevHash) {
            return fail('modified', row, row.seq, `${name} was modified: its sequence number or content does not match its hash`);
          }
          return fail(
            'deleted',
            row,
            row.seq,
            `events were deleted before ${name}: it does not link to event seq ${prevSeq}${row.seq !== prevSeq + 1 ? ` (sequence jumps from ${prevSeq} to ${row.seq})` : ''}`,
          );
        }
        if (!selfOk) return fail('modified', row, row.seq, `${name} was modified: its content does not match its hash`);
        const column = columnMismatch(row);
        if (column !== null)
          return fail('modified', row, row.seq, `${name} was modified: ${column === 'body' ? 'its body is not in canonical form' : `column ${column} differs from the hashed record`}`);
        prevHash = row.hash;
        prevSeq = row.seq;
        checked += 1;
      }
    } finally {
      rows.return?.();
    }
    if (chain.head_seq < prevSeq) {
      return fail('inserted', null, chain.head_seq + 1, `events after the chain head (seq ${chain.head_seq}) were added outside the gateway, up to seq ${prevSeq}`);
    }
    if (chain.head_seq > prevSeq) {
      return fail(
        'truncated',
        null,
        prevSeq + 1,
        `the newest events were deleted: event seq ${prevSeq + 1}${chain.head_seq > prevSeq + 1 ? ` to ${chain.head_seq}` : ''} (the chain head) missing after event seq ${prevSeq}`,
      );
    }
    if (chain.head_seq === prevSeq && chain.head_hash !== prevHash) {
      return fail('modified', null, prevSeq, `the chain head does not match event seq ${prevSeq}`);
    }
    return { ok: true, checked, headSeq: prevSeq, headHash: prevHash, broken: null };
  });
}

/** The query columns are copies of body fields: a row edited only there is modified too. */
function columnMismatch(row: StoredRow): string | null {
  let e: AuditEvent;
  try {
    e = JSON.parse(row.body) as AuditEvent;
  } catch {
    return 'body';
  }
  if (canonicalEventJson(e) !== row.body) return 'body';
  if (e.id !== row.id) return 'id';
  if (Date.parse(e.time) !== row.time_ms) return 'time_ms';
  if (e.agent_id !== row.agent_id) return 'agent_id';
  if (e.team !== row.team) return 'team';
  if (e.decision !== row.decision) return 'decision';
  if (e.trace_id !== row.trace_id) return 'trace_id';
  if (e.workflow_id !== row.workflow_id) return 'workflow_id';
  return null;
}
