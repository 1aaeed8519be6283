/**
 * The load generator of the two long scenarios (bench/README.md), where wrk does not fit: wrk can
 * neither hold thousands of slow streams open and time each event, nor keep a fixed request rate.
 * It runs pinned to the load CPU beside the fake upstream, and prints its result as one line,
 * `LOADGEN_JSON {...}` (and, in `rate` mode, one `LOADGEN_WINDOW {...}` line per window).
 *
 *   loadgen.ts streams URL COUNT INTERVAL_MS EVENTS AUTHORIZATION
 *     Opens COUNT streaming chat completions (never more than OPENING at a time waiting for their
 *     headers), each asking the fake upstream for a slow stream of EVENTS timestamped content events
 *     INTERVAL_MS apart (`"user":"bench-slow:…"`). For every content event it takes the time from
 *     the upstream's write (`"sent"`, process.hrtime: one monotonic clock for the whole machine) to
 *     its arrival here, over all chunks and over those that arrived while every stream was open (the
 *     steady state: the ramp, when the proxy is busy accepting thousands of new streams, delays the
 *     first streams' chunks by up to its length). A stream fails on a status other than 200, a connection error, or a body
 *     that does not hold every event and end with [DONE].
 *
 *   loadgen.ts rate URL RPS SECONDS WINDOW_S WARMUP_S AUTHORIZATION
 *     Open loop: request i is due at start + i / RPS whatever happened to the ones before, and its
 *     latency runs from when it was due (so a stalled proxy shows as latency, not as a lower rate).
 *     Every WINDOW_S seconds: requests completed, errors, p50/p99 of that window. The overall p50/p99
 *     leave out the requests due in the first WARMUP_S seconds.
 */
import { type Dispatcher, Pool } from 'undici';
import { CHAT_MESSAGES } from './chat-request.js';

const PATH = '/v1/chat/completions';
/** Streams waiting for their response headers at once: the ramp is paced by how fast the proxy accepts. */
const OPENING = 256;

const body = (extra: Record<string, unknown>) =>
  JSON.stringify({
    model: 'gpt-4o-mini',
    messages: CHAT_MESSAGES,
    temperature: 0.2,
    max_tokens: 256,
    user: 'bench-agent-01',
    ...extra,
  });

const headers = (authorization: string, accept: string) => ({ 'content-type': 'application/json', accept, authorization, 'user-agent': 'aos-bench/loadgen' });

/** Percentile of an ascending array (nearest rank). */
function pct(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function print(tag: string, value: object): void {
  process.stdout.write(`${tag} ${JSON.stringify(value)}\n`);
}

// ---------------------------------------------------------------------------------------------

async function streams(url: string, count: number, intervalMs: number, events: number, authorization: string): Promise<void> {
  const pool = new Pool(url, { connections: count, pipelining: 1, connectTimeout: 30_000, headersTimeout: 60_000, bodyTimeout: 60_000, keepAliveTimeout: 1000 });
  const requestBody = body({ user: `bench-slow:${intervalMs}:${events}`, stream: true, stream_options: { include_usage: true } });
  const requestHeaders = headers(authorization, 'text/event-stream');
  const expectedEvents = events + 4; // role, content × events, finish, usage, [DONE]
  const latencyUs = new Float64Array(count * events);
  let samples = 0;
  const steadyUs = new Float64Array(count * events);
  let steadySamples = 0;
  let opened = 0;
  let completed = 0;
  let failed = 0;
  let open = 0;
  let peakOpen = 0;
  let waiting = 0;
  let started = 0;
  const errors = new Map<string, number>();
  const t0 = performance.now();
  let allOpenMs = Number.NaN;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const fail = (why: string) => {
    failed += 1;
    errors.set(why, (errors.get(why) ?? 0) + 1);
  };
  const settled = () => {
    if (completed + failed === count) finish();
    else launch();
  };
  const one = () => {
    started += 1;
    waiting += 1;
    let status = 0;
    let seen = 0;
    let tail = '';
    let last = '';
    let counted = false;
    const headersDone = () => {
      if (counted) return;
      counted = true;
      waiting -= 1;
    };
    pool.dispatch(
      { method: 'POST', path: PATH, headers: requestHeaders, body: requestBody },
      {
        onRequestStart() {},
        onResponseStart(_c: Dispatcher.DispatchController, statusCode: number) {
          status = statusCode;
          headersDone();
          if (status === 200) {
            opened += 1;
            open += 1;
            if (open > peakOpen) peakOpen = open;
            if (opened === count) allOpenMs = performance.now() - t0;
          }
          launch();
        },
        onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer) {
          const now = process.hrtime.bigint();
          const text = tail + chunk.toString('latin1');
          let from = 0;
          for (;;) {
            const end = text.indexOf('\n\n', from);
            if (end < 0) break;
            const event = text.slice(from, end);
            from = end + 2;
            seen += 1;
            last = event;
            const at = event.indexOf('"sent":"');
            if (at >= 0 && samples < latencyUs.length) {
              const us = Number(now - BigInt(event.slice(at + 8, event.indexOf('"', at + 8)))) / 1000;
              latencyUs[samples++] = us;
              if (open === count) steadyUs[steadySamples++] = us;
            }
          }
          tail = text.slice(from);
        },
        onResponseEnd() {
          if (status === 200) open -= 1;
          if (status !== 200) fail(`HTTP ${status}`);
          else if (seen !== expectedEvents || last !== 'data: [DONE]') fail(`incomplete stream (${seen} events, last ${last.slice(0, 40)})`);
          else completed += 1;
          settled();
        },
        onResponseError(_c: unknown, err: Error) {
          headersDone();
          if (status === 200) open -= 1;
          fail((err as { code?: string }).code ?? err.message);
          settled();
        },
      },
    );
  };
  function launch(): void {
    while (started < count && waiting < OPENING) one();
  }
  // A bound on the whole run: a stream that neither ends nor fails by then counts as failed.
  const limit = setTimeout(
    () => {
      const stuck = count - completed - failed;
      for (let i = 0; i < stuck; i++) fail('still open at the time limit');
      finish();
    },
    intervalMs * events + 60_000,
  );
  launch();
  await finished;
  clearTimeout(limit);
  const sorted = latencyUs.subarray(0, samples).sort();
  const steady = steadyUs.subarray(0, steadySamples).sort();
  const percentiles = (a: Float64Array) => ({ p50: pct(a, 50), p90: pct(a, 90), p99: pct(a, 99), p999: pct(a, 99.9), max: pct(a, 100) });
  print('LOADGEN_JSON', {
    streams: count,
    opened,
    completed,
    failed,
    errors: Object.fromEntries(errors),
    peakOpen,
    allOpenMs: Math.round(allOpenMs),
    wallMs: Math.round(performance.now() - t0),
    chunks: samples,
    chunkLatencyUs: percentiles(sorted),
    steadyChunks: steadySamples,
    steadyChunkLatencyUs: percentiles(steady),
  });
  await pool.destroy();
}

// ---------------------------------------------------------------------------------------------

async function rate(url: string, rps: number, seconds: number, windowS: number, warmupS: number, authorization: string): Promise<void> {
  const pool = new Pool(url, { connections: 128, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const requestBody = body({});
  const requestHeaders = headers(authorization, 'application/json');
  const total = Math.round(rps * seconds);
  const periodMs = 1000 / rps;
  const t0 = performance.now();
  const measuredFrom = t0 + warmupS * 1000;
  let next = 0;
  let settledCount = 0;
  let window: number[] = [];
  let windowErrors = 0;
  let windows = 0;
  let errors = 0;
  let completed = 0;
  const all: number[] = [];
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const done = (dueAt: number, ok: boolean) => {
    settledCount += 1;
    if (ok) {
      const ms = performance.now() - dueAt;
      window.push(ms);
      if (dueAt >= measuredFrom) all.push(ms);
      completed += 1;
    } else {
      windowErrors += 1;
      errors += 1;
    }
    if (settledCount === total) finish();
  };
  const send = (dueAt: number) => {
    let status = 0;
    pool.dispatch(
      { method: 'POST', path: PATH, headers: requestHeaders, body: requestBody },
      {
        onRequestStart() {},
        onResponseStart(_c: Dispatcher.DispatchController, statusCode: number) {
          status = statusCode;
        },
        onResponseData() {},
        onResponseEnd() {
          done(dueAt, status === 200);
        },
        onResponseError() {
          done(dueAt, false);
        },
      },
    );
  };
  const flushWindow = () => {
    windows += 1;
    const sorted = window.sort((a, b) => a - b);
    print('LOADGEN_WINDOW', { t: windows * windowS, requests: sorted.length, errors: windowErrors, p50Ms: pct(sorted, 50), p99Ms: pct(sorted, 99) });
    window = [];
    windowErrors = 0;
  };
  const windowTimer = setInterval(flushWindow, windowS * 1000);
  const tick = () => {
    const due = Math.min(total, Math.floor((performance.now() - t0) / periodMs) + 1);
    while (next < due) {
      send(t0 + next * periodMs);
      next += 1;
    }
    if (next < total) setTimeout(tick, 1);
  };
  tick();
  const limit = setTimeout(finish, (seconds + 60) * 1000);
  await finished;
  clearTimeout(limit);
  clearInterval(windowTimer);
  const sorted = all.sort((a, b) => a - b);
  print('LOADGEN_JSON', { rps, seconds, sent: next, completed, errors, unanswered: next - settledCount, p50Ms: pct(sorted, 50), p99Ms: pct(sorted, 99), wallMs: Math.round(performance.now() - t0) });
  await pool.destroy();
}

// ---------------------------------------------------------------------------------------------

const [mode, url, a, b, c, ...rest] = process.argv.slice(2);
const run = mode === 'streams' ? streams(url, Number(a), Number(b), Number(c), rest[0] ?? '') : mode === 'rate' ? rate(url, Number(a), Number(b), Number(c), Number(rest[0]), rest[1] ?? '') : null;
if (run === null) {
  process.stderr.write('usage: loadgen.ts streams URL COUNT INTERVAL_MS EVENTS AUTHORIZATION | rate URL RPS SECONDS WINDOW_S WARMUP_S AUTHORIZATION\n');
  process.exit(2);
}
run.then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`loadgen: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
process.on('SIGTERM', () => process.exit(0));
