/** Timing of one operation at a time for the micro-benchmarks: p50, p99 and mean in microseconds. */
import { performance } from 'node:perf_hooks';

export type Stats = { p50: number; p99: number; mean: number; n: number };

function stats(times: Float64Array | number[], n: number): Stats {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50: sorted[Math.floor(n * 0.5)], p99: sorted[Math.floor(n * 0.99)], mean: sorted.reduce((a, b) => a + b, 0) / n, n };
}

/** Runs `fn` n times after a warm-up (so p99 includes GC pauses and timer ticks). */
export function measure(n: number, fn: (i: number) => unknown): Stats {
  for (let i = 0; i < Math.min(2000, n); i++) fn(i);
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn(i);
    times[i] = (performance.now() - t0) * 1000;
  }
  return stats(times, n);
}

export async function measureAsync(n: number, fn: (i: number) => Promise<unknown>): Promise<Stats> {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i);
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    times[i] = (performance.now() - t0) * 1000;
  }
  return stats(times, n);
}
