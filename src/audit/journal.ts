import { closeSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { WriteBarrier } from '../store/write-barrier.js';
import type { AuditEvent } from './event.js';

/**
 * The write-ahead intent journal. Before a call is forwarded its event (as known at decision time)
 * is appended with one write(2) to a segment file; once the call's complete event is committed to
 * SQLite, the line is no longer needed. A write(2) that returned is in the kernel's page cache: it
 * survives the gateway being killed (kill -9, OOM, a crash), not the machine losing power.
 *
 * Lines: `I <json array>` an intent (a call decided and about to be forwarded): the fields known at
 * decision time (`DECIDED_KEYS`, in that order), all a recovery needs to make it an `interrupted`
 * event; `F <json>` a final event (a refused call: it was never forwarded, so it is journaled once,
 * complete). An `I <json object>` line (a whole event, as earlier versions wrote) is read too.
 * Segments rotate at `segmentBytes`; a closed segment whose lines are all committed is deleted.
 */
export interface Journal {
  /** Appends a line; returns its segment number, to hand back to `committed`. */
  append(kind: 'I' | 'F', event: AuditEvent): number;
  /**
   * Appends an intent line, with the barrier at the end of the turn (the call waits for it before
   * it is forwarded), else at once. Returns its segment number.
   */
  intent(event: AuditEvent): number;
  /** The events of these segments' lines are committed. */
  committed(segments: readonly number[]): void;
  /** Lines not yet committed. */
  outstanding(): number;
  /** Closes the segment; `clean`: every line was committed, so no segment is needed by the next start. */
  close(clean: boolean): void;
}

export interface RecoveredLine {
  kind: 'I' | 'F';
  event: AuditEvent;
}

/** An intent's fields unknown until the call ends: a recovered intent has these values. */
const UNDECIDED = {
  cost_usd: null,
  decision: 'allow',
  error_code: null,
  findings: null,
  flags: null,
  input_tokens: null,
  outcome: 'interrupted',
  output_tokens: null,
  response_bytes: null,
  response_sha256: null,
  status: null,
  tool_calls: null,
  total_ms: null,
  upstream_ms: null,
} satisfies Partial<AuditEvent>;
/** Decided, but only on some calls: written after the others when present, so older lines (without it) still read. */
type OptionalDecidedKey = 'approval' | 'mcp' | 'delegation';
/** Known only once the call is over, and only on some calls (a WebSocket session, a shared memory operation): never in an intent line. */
type OptionalCompletionKey = 'session' | 'memory';
type DecidedKey = Exclude<keyof AuditEvent, keyof typeof UNDECIDED | OptionalDecidedKey | OptionalCompletionKey>;
/** The fields of an intent line, in order. The `satisfies` fails the build when AuditEvent gains a field neither list has. */
const DECIDED_KEYS = Object.keys({
  agent_id: 1,
  capture: 1,
  id: 1,
  kind: 1,
  max_tokens: 1,
  method: 1,
  model: 1,
  operation: 1,
  parent_span_id: 1,
  path: 1,
  policy_revision: 1,
  provider: 1,
  reasons: 1,
  request_bytes: 1,
  request_sha256: 1,
  route: 1,
  span_id: 1,
  stream: 1,
  team: 1,
  template: 1,
  template_version: 1,
  time: 1,
  tool: 1,
  tool_args_sha256: 1,
  tool_server: 1,
  trace_id: 1,
  workflow_id: 1,
} satisfies Record<DecidedKey, 1>) as DecidedKey[];

/** An intent line's JSON: the decided fields as an array (no key names, none of the completion fields). */
function encodeIntent(event: AuditEvent): string {
  const values = new Array<unknown>(DECIDED_KEYS.length);
  for (let i = 0; i < DECIDED_KEYS.length; i++) values[i] = event[DECIDED_KEYS[i]];
  // Optional fields by position after the others: [approval], [approval|null, mcp] or [approval|null, mcp|null, delegation].
  const delegation = event.delegation;
  if (event.approval !== undefined || event.mcp !== undefined || delegation !== undefined) values.push(event.approval ?? null);
  if (event.mcp !== undefined || delegation !== undefined) values.push(event.mcp ?? null);
  if (delegation !== undefined) values.push(delegation);
  return JSON.stringify(values);
}

function decodeIntent(json: string): AuditEvent {
  const parsed = JSON.parse(json) as unknown;
  if (!Array.isArray(parsed)) return parsed as AuditEvent; // a whole event (earlier versions)
  if (parsed.length < DECIDED_KEYS.length || parsed.length > DECIDED_KEYS.length + 3) throw new Error('intent line of another shape');
  const event: Record<string, unknown> = { ...UNDECIDED };
  for (let i = 0; i < DECIDED_KEYS.length; i++) event[DECIDED_KEYS[i]] = parsed[i];
  if (parsed.length > DECIDED_KEYS.length && parsed[DECIDED_KEYS.length] !== null) event.approval = parsed[DECIDED_KEYS.length];
  if (parsed.length > DECIDED_KEYS.length + 1 && parsed[DECIDED_KEYS.length + 1] !== null) event.mcp = parsed[DECIDED_KEYS.length + 1];
  if (parsed.length > DECIDED_KEYS.length + 2) event.delegation = parsed[DECIDED_KEYS.length + 2];
  return event as unknown as AuditEvent;
}

const NAME = /^(.+)\.journal\.(\d+)$/;

function segmentsOf(dir: string, base: string): { n: number; file: string }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => NAME.exec(name))
    .filter((m): m is RegExpExecArray => m !== null && m[1] === base)
    .map((m) => ({ n: Number(m[2]), file: join(dir, m[0]) }))
    .sort((a, b) => a.n - b.n);
}

/**
 * Reads what a previous run left in its segments (a torn last line is skipped: its write never
 * returned, so its call was never forwarded) and deletes them once `consume` stored what it needs.
 */
export function recoverJournal(dir: string, base: string, consume: (lines: RecoveredLine[]) => void): number {
  const segments = segmentsOf(dir, base);
  const lines: RecoveredLine[] = [];
  for (const s of segments) {
    for (const line of readFileSync(s.file, 'utf8').split('\n')) {
      if (line.length < 3 || (line[0] !== 'I' && line[0] !== 'F') || line[1] !== ' ') continue;
      try {
        const kind = line[0] as 'I' | 'F';
        lines.push({ kind, event: kind === 'I' ? decodeIntent(line.slice(2)) : (JSON.parse(line.slice(2)) as AuditEvent) });
      } catch {
        // torn write of the last line
      }
    }
  }
  consume(lines);
  for (const s of segments) unlinkSync(s.file);
  return lines.length;
}

export function openJournal(dir: string, base: string, opts: { segmentBytes?: number; barrier?: WriteBarrier | null } = {}): Journal {
  const segmentBytes = opts.segmentBytes ?? 8 * 1024 * 1024;
  const existing = segmentsOf(dir, base);
  let n = existing.length === 0 ? 1 : existing[existing.length - 1].n + 1;
  const path = (i: number) => join(dir, `${base}.journal.${i}`);
  let fd = openSync(path(n), 'a', 0o600);
  let bytes = 0;
  /** Outstanding lines per segment; a closed segment at zero is deleted. */
  const open = new Map<number, number>([[n, 0]]);
  let total = 0;
  const release = (seg: number) => {
    if (seg !== n && open.get(seg) === 0) {
      open.delete(seg);
      try {
        unlinkSync(path(seg));
      } catch {
        // already gone
      }
    }
  };
  const rotate = () => {
    const seg = n;
    closeSync(fd);
    n += 1;
    fd = openSync(path(n), 'a', 0o600);
    bytes = 0;
    open.set(n, 0);
    release(seg);
  };
  /** Intent lines queued for the barrier; they belong to segment `n` (it rotates only once they are written). */
  let queued = '';
  const flush = () => {
    if (queued === '') return;
    const text = queued;
    queued = '';
    bytes += writeSync(fd, text);
    if (bytes >= segmentBytes) rotate();
  };
  const barrier = opts.barrier ?? null;
  const count = () => {
    open.set(n, open.get(n)! + 1);
    total += 1;
    return n;
  };
  return {
    append(kind, event) {
      flush(); // lines keep their order, and a rotation never leaves queued lines behind
      const line = `${kind} ${kind === 'I' ? encodeIntent(event) : JSON.stringify(event)}\n`;
      bytes += writeSync(fd, line);
      const seg = count();
      if (bytes >= segmentBytes) rotate();
      return seg;
    },
    intent(event) {
      if (barrier === null) return this.append('I', event);
      if (queued === '') barrier.defer(flush);
      queued += `I ${encodeIntent(event)}\n`;
      return count();
    },
    committed(segments) {
      for (const seg of segments) {
        const left = (open.get(seg) ?? 1) - 1;
        open.set(seg, left);
        total -= 1;
        if (left === 0) release(seg);
      }
    },
    outstanding: () => total,
    close(clean) {
      flush();
      closeSync(fd);
      if (clean && total === 0) for (const seg of [...open.keys()]) unlinkSync(path(seg));
    },
  };
}
