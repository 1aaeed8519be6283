/**
 * What a gateway's garbage collector did, from its `--trace-gc-nvp` output: per minute of the
 * request thread (the first isolate in the log; worker threads' lines are left out), the scavenges,
 * the bytes they promoted to the old generation, and the mark-compacts with their pauses on the
 * thread. The bench appends to its logs: the last gateway process in the file is the one summed. What a call promotes decides how often a mark-compact stops it, and those stops make the
 * soak's latency tail (bench/RESULTS-performance.md, seventh pass).
 *
 *   npm run bench -- --scenario soak --soak-minutes 5 --node-flags=--trace-gc-nvp
 *   node --import tsx bench/gc-summary.ts bench/.out/gateway.log [calls per second]
 */
import { readFileSync } from 'node:fs';

const [file, rate] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: node --import tsx bench/gc-summary.ts <log of a gateway run with --trace-gc-nvp> [calls per second]\n');
  process.exit(2);
}

interface Minute {
  scavenges: number;
  promoted: number;
  compacts: number;
  pauseMs: number;
}

const LINE = /^\[(\d+):(0x[0-9a-f]+)\]\s+(\d+) ms: (.*)$/;
/** Per process (pid): its request thread's isolate (its first in the log) and its minutes. */
const processes = new Map<string, { main: string; minutes: Map<number, Minute> }>();
let last: string | null = null;
for (const line of readFileSync(file, 'utf8').split('\n')) {
  const m = LINE.exec(line);
  if (m === null || !m[4]!.includes('gc=')) continue;
  const [, pid, isolate, ms, rest] = m as unknown as [string, string, string, string, string];
  let proc = processes.get(pid);
  if (proc === undefined) {
    proc = { main: isolate, minutes: new Map() };
    processes.set(pid, proc);
  }
  last = pid;
  if (isolate !== proc.main) continue;
  const field = (name: string) => Number(new RegExp(`(?:^| )${name}=([\\d.]+)`).exec(rest)?.[1] ?? 0);
  const kind = /gc=(\w+)/.exec(rest)?.[1];
  const minute = Math.floor(Number(ms) / 60_000);
  const row = proc.minutes.get(minute) ?? { scavenges: 0, promoted: 0, compacts: 0, pauseMs: 0 };
  if (kind === 's') {
    row.scavenges += 1;
    row.promoted += field('promoted');
  } else if (kind === 'ms' || kind === 'mc') {
    row.compacts += 1;
    row.pauseMs += field('pause');
  }
  proc.minutes.set(minute, row);
}
const main = last === null ? null : processes.get(last)!;
if (main === null) {
  process.stderr.write(`${file}: no --trace-gc-nvp lines\n`);
  process.exit(1);
}
const perCall = rate === undefined ? null : Number(rate) * 60;
process.stdout.write(`minute  scavenges  promoted MB${perCall === null ? '' : '  B/call'}  mark-compacts  their pauses (ms)\n`);
for (const [minute, r] of [...main.minutes].sort((a, b) => a[0] - b[0])) {
  const b = perCall === null ? '' : `  ${(r.promoted / perCall).toFixed(0).padStart(6)}`;
  process.stdout.write(
    `${String(minute).padStart(6)}  ${String(r.scavenges).padStart(9)}  ${(r.promoted / 1e6).toFixed(1).padStart(11)}${b}  ${String(r.compacts).padStart(13)}  ${r.pauseMs.toFixed(0).padStart(17)}\n`,
  );
}
