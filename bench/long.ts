/**
 * The two long scenarios, run only when asked for (`--scenario streams-10k`, `--scenario soak`; see
 * bench/README.md): many slow streams open at once through one proxy, and half of capacity for a
 * long time. Both drive floor and gateway with bench/loadgen.ts instead of wrk and watch the
 * proxy's memory from /proc/<pid>/status.
 */
import { readFileSync } from 'node:fs';
import type { Child, ProcessGroup } from './processes.js';

export const LONG_SCENARIOS = ['streams-10k', 'soak'] as const;
export type LongScenario = (typeof LONG_SCENARIOS)[number];

/** Targets of the performance issue for the two scenarios. */
export const LONG_GOALS = {
  streams: { count: 10_000, rssMb: 500, addedChunkP99Ms: 1 },
  /** A series is flat when its least-squares slope per 10 minutes stays within these. */
  soak: { rssMbPer10Min: 5, p99SharePer10Min: 0.1, p99MsFloor: 0.1 },
};

/** The slow stream the fake upstream sends: one content event every INTERVAL_MS, EVENTS of them. */
export const STREAM_INTERVAL_MS = 1000;
export const STREAM_EVENTS = 30;
/** Soak: seconds per sample, and the first seconds of load left out of the series (warm-up). */
export const SOAK_WINDOW_S = 10;
export const SOAK_WARMUP_S = 10;

export interface LongProxy {
  child: Child;
  url: string;
}

/** What the orchestrator (bench/run.ts) lends the long scenarios. */
export interface LongContext {
  group: ProcessGroup;
  /** bench/loadgen.ts with these arguments, pinned to the load CPU. */
  loadgen(args: string[]): Child;
  /**
   * A sampler of other work on the machine: each call returns the cores it used since the previous
   * call (the machine's busy time minus the bench's processes and those `pids` names).
   */
  otherLoad(pids: () => number[]): () => number;
  log(msg: string): void;
}

export type ProxyName = 'floor' | 'gateway';

/** VmRSS and VmHWM (peak RSS over the process's life) in MB. */
export function memoryMb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s*(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

function cpuSeconds(pid: number, clkTck: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / clkTck;
}

async function loadgenResult<T>(ctx: LongContext, args: string[], onLine?: (line: string) => void, onStart?: (child: Child) => void): Promise<T> {
  const child = ctx.loadgen(args);
  onStart?.(child);
  if (onLine !== undefined) child.lines.on('line', (stream: string, line: string) => stream === 'stdout' && onLine(line));
  const code = await child.exited;
  const line = child.stdout.find((l) => l.startsWith('LOADGEN_JSON '));
  if (code !== 0 || line === undefined) throw new Error(`loadgen ${args[0]} failed (exit ${code})\n${child.tail.join('\n')}`);
  return JSON.parse(line.slice('LOADGEN_JSON '.length)) as T;
}

// ---------------------------------------------------------------------------------------------
// streams-10k

interface LoadgenStreams {
  streams: number;
  opened: number;
  completed: number;
  failed: number;
  errors: Record<string, number>;
  peakOpen: number;
  allOpenMs: number;
  wallMs: number;
  chunks: number;
  chunkLatencyUs: Percentiles;
  /** The chunks that arrived while every stream was open (after the ramp, before the first stream ended). */
  steadyChunks: number;
  steadyChunkLatencyUs: Percentiles;
}

interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface StreamsRun extends LoadgenStreams {
  target: ProxyName;
  /** The proxy's RSS before the streams (after a warm-up), the largest sampled every 250 ms, and VmHWM at the end. */
  rssIdleMb: number;
  rssPeakMb: number;
  hwmMb: number;
  rssAfterMb: number;
  proxyCpuS: number;
}

/**
 * One target: a fresh proxy (started by `start`, so VmHWM is this scenario's peak), a short warm-up,
 * then `count` slow streams at once; the proxy is stopped afterwards, its sockets with it.
 */
export async function streamsRun(ctx: LongContext, target: ProxyName, count: number, proxy: LongProxy, authorization: string, clkTck: number): Promise<StreamsRun> {
  const warm = await loadgenResult<LoadgenStreams>(ctx, ['streams', proxy.url, '200', '100', '5', authorization]);
  if (warm.failed > 0) throw new Error(`${target}: ${warm.failed} of 200 warm-up streams failed: ${JSON.stringify(warm.errors)}`);
  const idle = memoryMb(proxy.child.pid);
  let peak = idle.rss;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, memoryMb(proxy.child.pid).rss);
    } catch {
      // the proxy is gone: the run fails below
    }
  }, 250);
  const cpu0 = cpuSeconds(proxy.child.pid, clkTck);
  try {
    const r = await loadgenResult<LoadgenStreams>(ctx, ['streams', proxy.url, String(count), String(STREAM_INTERVAL_MS), String(STREAM_EVENTS), authorization]);
    const end = memoryMb(proxy.child.pid);
    const run: StreamsRun = { target, ...r, rssIdleMb: idle.rss, rssPeakMb: Math.max(peak, end.rss), hwmMb: end.hwm, rssAfterMb: end.rss, proxyCpuS: cpuSeconds(proxy.child.pid, clkTck) - cpu0 };
    const l = r.steadyChunkLatencyUs;
    ctx.log(
      `  streams-10k ${target.padEnd(7)} ${r.completed}/${count} completed, ${r.failed} failed, peak ${r.peakOpen} open (all open after ${(r.allOpenMs / 1000).toFixed(1)} s); ` +
        `RSS ${idle.rss.toFixed(0)} → peak ${run.rssPeakMb.toFixed(0)} MB (VmHWM ${end.hwm.toFixed(0)}); per chunk, all open: p50 ${(l.p50 / 1000).toFixed(3)} ms p99 ${(l.p99 / 1000).toFixed(3)} ms (${r.steadyChunks} chunks; all chunks p99 ${(r.chunkLatencyUs.p99 / 1000).toFixed(3)} ms); CPU ${run.proxyCpuS.toFixed(1)} s`,
    );
    return run;
  } finally {
    clearInterval(sampler);
    await ctx.group.stop(proxy.child, 'SIGTERM', 10_000);
  }
}

export interface StreamsSummary {
  count: number;
  floor: StreamsRun;
  gateway: StreamsRun;
  addedP50Ms: number;
  addedP99Ms: number;
  checks: { goal: string; value: string; pass: boolean }[];
}

export function summarizeStreams(count: number, floor: StreamsRun, gateway: StreamsRun): StreamsSummary {
  const addedP50Ms = (gateway.steadyChunkLatencyUs.p50 - floor.steadyChunkLatencyUs.p50) / 1000;
  const addedP99Ms = (gateway.steadyChunkLatencyUs.p99 - floor.steadyChunkLatencyUs.p99) / 1000;
  const g = LONG_GOALS.streams;
  const checks = [
    {
      goal: `${count.toLocaleString('en-US')} streams open at once (target ${g.count.toLocaleString('en-US')}), none failed`,
      value: `${gateway.peakOpen.toLocaleString('en-US')} open, ${gateway.failed} failed`,
      pass: gateway.peakOpen >= count && gateway.failed === 0,
    },
    { goal: `peak RSS < ${g.rssMb} MB`, value: `${gateway.hwmMb.toFixed(0)} MB`, pass: gateway.hwmMb < g.rssMb },
    { goal: `added per chunk p99 < ${g.addedChunkP99Ms} ms (vs floor, all streams open)`, value: `${addedP99Ms.toFixed(3)} ms`, pass: addedP99Ms < g.addedChunkP99Ms },
  ];
  return { count, floor, gateway, addedP50Ms, addedP99Ms, checks };
}

export function streamsMarkdown(s: StreamsSummary): string {
  const ms = (us: number) => (us / 1000).toFixed(3);
  const row = (r: StreamsRun) =>
    `| ${r.target} | ${r.opened.toLocaleString('en-US')} | ${r.completed.toLocaleString('en-US')} | ${r.failed}${
      r.failed > 0
        ? ` (${Object.entries(r.errors)
            .map(([k, v]) => `${k}: ${v}`)
            .join(', ')})`
        : ''
    } | ${r.peakOpen.toLocaleString('en-US')} | ${(r.allOpenMs / 1000).toFixed(1)} s | ${r.rssIdleMb.toFixed(0)} | ${r.rssPeakMb.toFixed(0)} | ${r.hwmMb.toFixed(0)} | ${r.steadyChunks.toLocaleString('en-US')} | ${ms(r.steadyChunkLatencyUs.p50)} | ${ms(r.steadyChunkLatencyUs.p99)} | ${ms(r.steadyChunkLatencyUs.max)} | ${r.chunks.toLocaleString('en-US')} | ${ms(r.chunkLatencyUs.p50)} | ${ms(r.chunkLatencyUs.p99)} | ${r.proxyCpuS.toFixed(1)} s |`;
  const out = [
    `### streams-10k: ${s.count.toLocaleString('en-US')} concurrent SSE streams through one proxy`,
    '',
    `bench/loadgen.ts (undici, pinned to the load CPU) opens ${s.count.toLocaleString('en-US')} streaming chat completions (at most 256 waiting for headers at a time); the fake upstream sends each one content event every ${STREAM_INTERVAL_MS} ms, ${STREAM_EVENTS} of them, then finish, usage and [DONE]. A fresh proxy per target (so VmHWM is this run's peak), after 200 short warm-up streams. Per chunk: from the upstream's write to the generator's read (one monotonic clock); "all open" counts the chunks that arrived while every stream was open (after the ramp, before the first stream ended), "all chunks" adds those of the ramp, when the proxy is busy accepting new streams.`,
    '',
    '| target | opened | completed | failed | peak open | all open after | RSS idle (MB) | RSS peak, sampled (MB) | VmHWM (MB) | chunks, all open | p50 (ms) | p99 (ms) | max (ms) | all chunks | p50 (ms) | p99 (ms) | proxy CPU |',
    `|---|${'---:|'.repeat(16)}`,
    row(s.floor),
    row(s.gateway),
    '',
    `Added by the gateway per chunk, all streams open (vs floor): p50 ${s.addedP50Ms.toFixed(3)} ms, p99 ${s.addedP99Ms.toFixed(3)} ms. Memory per open stream (peak − idle): floor ${(((s.floor.hwmMb - s.floor.rssIdleMb) * 1024) / s.count).toFixed(1)} KB, gateway ${(((s.gateway.hwmMb - s.gateway.rssIdleMb) * 1024) / s.count).toFixed(1)} KB.`,
    '',
    '| target | measured | |',
    '|---|---:|---|',
    ...s.checks.map((c) => `| ${c.goal} | ${c.value} | ${c.pass ? 'PASS' : '**MISS**'} |`),
  ];
  if (s.count < LONG_GOALS.streams.count)
    out.push('', `Note: ${s.count.toLocaleString('en-US')} streams (--streams), fewer than the target's ${LONG_GOALS.streams.count.toLocaleString('en-US')}: a smoke run, not a verdict.`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// soak

interface LoadgenRate {
  rps: number;
  seconds: number;
  sent: number;
  completed: number;
  errors: number;
  unanswered: number;
  p50Ms: number;
  p99Ms: number;
}

export interface SoakSample {
  t: number;
  rssMb: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  /** Cores other work on the machine used during the window (noise). */
  otherCores: number;
}

export interface Trend {
  start: number;
  end: number;
  /** Least-squares slope over the series, per 10 minutes. */
  per10Min: number;
  flat: boolean;
}

export interface SoakRun {
  target: ProxyName;
  rate: number;
  totals: LoadgenRate;
  samples: SoakSample[];
  rss: Trend;
  p99: Trend;
}

function slopePer10Min(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return (num / den) * 600;
}

function trend(samples: SoakSample[], pick: (s: SoakSample) => number, limit: (ys: number[]) => number): Trend {
  const xs = samples.map((s) => s.t);
  const ys = samples.map(pick);
  const per10Min = slopePer10Min(xs, ys);
  // Only growth is a leak; a falling series is flat for this purpose.
  return { start: ys[0] ?? Number.NaN, end: ys.at(-1) ?? Number.NaN, per10Min, flat: Number.isFinite(per10Min) && per10Min <= limit(ys) };
}

/** One target at a fixed rate for `minutes` (plus the warm-up), its RSS read at every window the generator reports. */
export async function soakRun(ctx: LongContext, target: ProxyName, proxy: LongProxy, rate: number, minutes: number, authorization: string): Promise<SoakRun> {
  const samples: SoakSample[] = [];
  let loadgenPid = 0;
  const other = ctx.otherLoad(() => [proxy.child.pid, loadgenPid]);
  const seconds = SOAK_WARMUP_S + minutes * 60;
  ctx.log(`  soak ${target}: ${rate} req/s for ${minutes} min (+${SOAK_WARMUP_S} s warm-up), a sample every ${SOAK_WINDOW_S} s`);
  const totals = await loadgenResult<LoadgenRate>(
    ctx,
    ['rate', proxy.url, String(rate), String(seconds), String(SOAK_WINDOW_S), String(SOAK_WARMUP_S), authorization],
    (line) => {
      if (!line.startsWith('LOADGEN_WINDOW ')) return;
      const w = JSON.parse(line.slice('LOADGEN_WINDOW '.length)) as { t: number; requests: number; errors: number; p50Ms: number; p99Ms: number };
      const { rss } = memoryMb(proxy.child.pid);
      const otherCores = other();
      if (w.t > SOAK_WARMUP_S) samples.push({ t: w.t, rssMb: rss, p50Ms: w.p50Ms, p99Ms: w.p99Ms, requests: w.requests, errors: w.errors, otherCores });
      if (w.t % 60 === 0 || w.p99Ms > 100 || otherCores > 0.2)
        ctx.log(
          `    ${target} t=${w.t} s: RSS ${rss.toFixed(0)} MB, p50 ${w.p50Ms.toFixed(2)} ms, p99 ${w.p99Ms.toFixed(2)} ms, ${w.requests} requests, ${w.errors} errors, other load ${otherCores.toFixed(2)} cores`,
        );
    },
    (child) => {
      loadgenPid = child.pid;
    },
  );
  const g = LONG_GOALS.soak;
  const run: SoakRun = {
    target,
    rate,
    totals,
    samples,
    rss: trend(
      samples,
      (s) => s.rssMb,
      () => g.rssMbPer10Min,
    ),
    p99: trend(
      samples,
      (s) => s.p99Ms,
      (ys) => Math.max(g.p99MsFloor, g.p99SharePer10Min * [...ys].sort((a, b) => a - b)[Math.floor(ys.length / 2)]),
    ),
  };
  ctx.log(
    `  soak ${target}: ${totals.completed}/${totals.sent} completed, ${totals.errors} errors; RSS ${run.rss.start.toFixed(0)} → ${run.rss.end.toFixed(0)} MB (${signed(run.rss.per10Min, 1)} MB/10 min), ` +
      `p99 ${run.p99.start.toFixed(2)} → ${run.p99.end.toFixed(2)} ms (${signed(run.p99.per10Min, 2)} ms/10 min)`,
  );
  return run;
}

function otherMedian(r: SoakRun): number {
  const xs = r.samples.map((x) => x.otherCores).sort((a, b) => a - b);
  return xs.length === 0 ? 0 : xs[Math.floor(xs.length / 2)];
}

const signed = (n: number, digits: number) => `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;

export interface SoakSummary {
  /** The gateway's soak. */
  minutes: number;
  /** The floor's (`--soak-floor-minutes`; the same by default). */
  floorMinutes: number;
  rate: number;
  /** Where the rate came from. */
  rateSource: string;
  floor: SoakRun;
  gateway: SoakRun;
}

export function soakMarkdown(s: SoakSummary): string {
  const g = LONG_GOALS.soak;
  const verdict = (t: Trend) => (t.flat ? 'flat' : '**growing**');
  const row = (r: SoakRun) =>
    `| ${r.target} | ${r.totals.completed.toLocaleString('en-US')} / ${r.totals.sent.toLocaleString('en-US')} | ${r.totals.errors + r.totals.unanswered} | ${r.totals.p50Ms.toFixed(2)} | ${r.totals.p99Ms.toFixed(2)} | ` +
    `${otherMedian(r).toFixed(2)} / ${Math.max(0, ...r.samples.map((x) => x.otherCores)).toFixed(2)} | ` +
    `${r.rss.start.toFixed(1)} | ${r.rss.end.toFixed(1)} | ${signed(r.rss.per10Min, 2)} | ${verdict(r.rss)} | ${r.p99.start.toFixed(2)} | ${r.p99.end.toFixed(2)} | ${signed(r.p99.per10Min, 3)} | ${verdict(r.p99)} |`;
  const out = [
    `### soak: ${s.rate.toLocaleString('en-US')} req/s for ${s.floorMinutes === s.minutes ? `${s.minutes} min per target` : `${s.floorMinutes} min (floor) and ${s.minutes} min (gateway)`}`,
    '',
    `bench/loadgen.ts sends the non-streaming chat request of json-c32 on a fixed schedule (open loop: a request's latency runs from when it was due; p50/p99 over the whole run after the warm-up), ${s.rate.toLocaleString('en-US')} req/s (${s.rateSource}), to the floor and then the gateway, ${s.floorMinutes === s.minutes ? `${s.minutes} min each` : `${s.floorMinutes} and ${s.minutes} min`} after ${SOAK_WARMUP_S} s of warm-up. Every ${SOAK_WINDOW_S} s: the proxy's VmRSS, that window's p99, and the CPU other work on the machine used meanwhile (a window's spike in p99 with other load is the machine, not the proxy; at half of capacity, losing a share of the proxy's core to other work builds a queue). Slopes are least-squares over the series, per 10 minutes; flat means RSS grows by at most ${g.rssMbPer10Min} MB per 10 min and p99 by at most ${g.p99SharePer10Min * 100}% of its median (at least ${g.p99MsFloor} ms) per 10 min.`,
    '',
    '| target | completed / sent | errors | p50 (ms) | p99 (ms) | other load, median / max (cores) | RSS start (MB) | RSS end (MB) | RSS slope (MB/10 min) | RSS | p99 start (ms) | p99 end (ms) | p99 slope (ms/10 min) | p99 |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|',
    row(s.floor),
    row(s.gateway),
  ];
  if (s.minutes < 10) out.push('', `Note: ${s.minutes} min is a smoke run: a slope extrapolated from so short a series says little; the verdict needs the default 30 min.`);
  else if (s.floorMinutes < 10) out.push('', `Note: the floor ran ${s.floorMinutes} min, for its p50/p99 at this rate; its slopes, extrapolated from so short a series, are not a verdict.`);
  return out.join('\n');
}
