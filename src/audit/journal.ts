import { closeSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent } from './event.js';

/**
 * The write-ahead intent journal. Before a call is forwarded its event (as known at decision time)
 * is appended with one write(2) to a segment file; once the call's complete event is committed to
 * SQLite, the line is no longer needed. A write(2) that returned is in the kernel's page cache: it
 * survives the gateway being killed (kill -9, OOM, a crash), not the machine losing power.
 *
 * Lines: `I <json>` an intent (a call decided and about to be forwarded), `F <json>` a final event
 * (a refused call: it was never forwarded, so it is journaled once, complete). Segments rotate at
 * `segmentBytes`; a closed segment whose lines are all committed is deleted.
 */
export interface Journal {
  /** Appends a line; returns its segment number, to hand back to `committed`. */
  append(kind: 'I' | 'F', event: AuditEvent): number;
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
        lines.push({ kind: line[0] as 'I' | 'F', event: JSON.parse(line.slice(2)) as AuditEvent });
      } catch {
        // torn write of the last line
      }
    }
  }
  consume(lines);
  for (const s of segments) unlinkSync(s.file);
  return lines.length;
}

export function openJournal(dir: string, base: string, opts: { segmentBytes?: number } = {}): Journal {
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
  return {
    append(kind, event) {
      const line = `${kind} ${JSON.stringify(event)}\n`;
      bytes += writeSync(fd, line);
      open.set(n, open.get(n)! + 1);
      total += 1;
      const seg = n;
      if (bytes >= segmentBytes) {
        closeSync(fd);
        n += 1;
        fd = openSync(path(n), 'a', 0o600);
        bytes = 0;
        open.set(n, 0);
        release(seg);
      }
      return seg;
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
      closeSync(fd);
      if (clean && total === 0) for (const seg of [...open.keys()]) unlinkSync(path(seg));
    },
  };
}
