/**
 * Per-call costs of metering, in-process: budget reservation + settlement on the SQLite store
 * (in-memory counters + append log) and on the Redis store (a real local redis-server; one Lua
 * script round trip each, counted), and the pre-flight token estimate of a ~1 KB prompt.
 * Run: `node --import tsx bench/metering-micro.ts` (writes bench/.out/metering-micro.json and prints
 * a Markdown table for bench/RESULTS-metering.md).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { parseConfig } from '../src/config/load.js';
import { loadRegistry } from '../src/identity/registry.js';
import { createLogger } from '../src/log.js';
import { createBudgetRules, createPeriods, lineOf, rulesOf } from '../src/metering/budgets.js';
import { loadPrices } from '../src/metering/prices.js';
import { createRedisStore } from '../src/metering/redis-store.js';
import { createSqliteStore } from '../src/metering/sqlite-store.js';
import { createMeteringStages } from '../src/metering/stages.js';
import type { BudgetStore } from '../src/metering/store.js';
import { countTokens } from '../src/metering/tokens.js';
import { CallContext } from '../src/pipeline/context.js';
import { openaiDialect } from '../src/providers/openai.js';
import type { RouteTarget } from '../src/routing/target.js';
import { createMetrics } from '../src/telemetry/metrics.js';
import { tapData, tapEnd } from '../src/upstream/tap.js';
import { CHAT_MESSAGES } from './chat-request.js';

type Stats = { p50: number; p99: number; mean: number; n: number };
const stats = (times: number[]): Stats => {
  const s = [...times].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length * 0.5)], p99: s[Math.floor(s.length * 0.99)], mean: s.reduce((a, b) => a + b, 0) / s.length, n: s.length };
};

/**
 * The lines of a typical call: the agent's daily USD budget and requests per minute, its team's and
 * the org's USD budgets. `agents` > 1: the calls go round a fleet of that many agents (10 teams).
 */
const periods = createPeriods(Date.now);
const rulesFor = (agent: number) => [
  ...rulesOf(`agent:bench-agent-${agent}`, { daily_usd: 1e6, requests_per_minute: 1e9 }, 0.8),
  ...rulesOf(`team:bench-${agent % 10}`, { daily_usd: 1e6 }, 0.8),
  ...rulesOf('org', { monthly_usd: 1e7 }, 0.8),
];
const ruleSets = Array.from({ length: 1000 }, (_, i) => rulesFor(i));
let agents = 1;
let nextAgent = 0;
const linesFor = () => {
  const p = periods();
  const rules = ruleSets[agents === 1 ? 0 : nextAgent++ % agents];
  return rules.map((r) => lineOf(r, p[r.window], r.kind === 'usd' ? 250_000 : 1));
};
const actual = ruleSets[0].map((r) => (r.kind === 'usd' ? 120_000 : 1));

const cpu: Record<string, number> = {};

/**
 * One call's budget work: reserve its lines, settle them (awaited only when the store is
 * asynchronous), then a turn of the event loop, as a real call gives its I/O (the Redis store's
 * timers, its lease syncs among them, run there as they would in a gateway).
 */
async function reserveAndSettle(store: BudgetStore): Promise<void> {
  const lines = linesFor();
  let out = store.reserve(lines, 900_000);
  if (out instanceof Promise) out = await out;
  if (!out.ok) throw new Error('bench budget exhausted');
  const s = store.settle(out.id, lines, actual);
  if (s instanceof Promise) await s;
  await new Promise((r) => setImmediate(r));
}

async function storeBench(store: BudgetStore, n: number, name = ''): Promise<Stats> {
  const times: number[] = [];
  let c0 = process.cpuUsage();
  for (let i = 0; i < n + 2000; i++) {
    const t0 = performance.now();
    await reserveAndSettle(store);
    if (i === 1999) c0 = process.cpuUsage();
    if (i >= 2000) times.push((performance.now() - t0) * 1000);
  }
  const c = process.cpuUsage(c0);
  if (name !== '') cpu[name] = (c.user + c.system) / n;
  return stats(times);
}

/** `n` calls with `inFlight` of them at a time, as a gateway under load makes them: CPU per call only. */
async function storeBenchConcurrent(store: BudgetStore, n: number, inFlight: number, name: string): Promise<void> {
  let left = n;
  const worker = async () => {
    while (left-- > 0) await reserveAndSettle(store);
  };
  left = 2000; // warm-up
  await Promise.all(Array.from({ length: inFlight }, worker));
  left = n;
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const c = process.cpuUsage(c0);
  cpu[name] = (c.user + c.system) / n;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const results: Record<string, Stats | number | string> = {};
const dir = mkdtempSync(join(tmpdir(), 'aos-metering-bench-'));
try {
  const sqlite = createSqliteStore({ dataDir: dir, snapshotIntervalMs: 1000 });
  results.sqlite = await storeBench(sqlite, 50_000, 'sqlite');
  await storeBenchConcurrent(sqlite, 50_000, 32, 'sqlite32');
  agents = 1000;
  await storeBench(sqlite, 18_000); // warm-up: 1,000 agents' counters and the code paths they take
  results.sqliteFleet = await storeBench(sqlite, 18_000, 'sqliteFleet');
  await storeBenchConcurrent(sqlite, 20_000, 32, 'sqliteFleet32');
  agents = 1;
  await sqlite.close();

  // The whole metering path of one non-streaming call, in-process: estimate (tokenizer; the
  // prompt repeats, as system prompts do), reserve (4 lines), the response tap over a chat
  // completion JSON body, and the settlement. Everything but the network.
  {
    const stageDir = mkdtempSync(join(tmpdir(), 'aos-metering-stage-'));
    writeFileSync(
      join(stageDir, 'agents.yaml'),
      'templates:\n  bench: { version: 1, maxTokens: 256, budget: { daily_usd: 1000000000, requests_per_minute: 1000000000000 } }\nbudgets:\n  teams: { bench: { daily_usd: 1000000000 } }\n  org: { monthly_usd: 1000000000 }\nagents:\n  - { id: bench-agent, team: bench, template: bench }\n',
    );
    const registry = loadRegistry(join(stageDir, 'agents.yaml'));
    const { config } = parseConfig('providers: { openai: { dialect: openai, baseUrl: "http://127.0.0.1:1/v1" } }\nroutes: [{ prefix: /v1, provider: openai }]\n', join(stageDir, 'aos.yaml'), {});
    const store = createSqliteStore({ dataDir: stageDir, snapshotIntervalMs: 1000 });
    const stages = createMeteringStages({
      config: config.metering,
      store,
      prices: loadPrices(new URL('../config/prices.yaml', import.meta.url).pathname),
      rules: createBudgetRules(registry, 0.8),
      registry,
      metrics: createMetrics().metering,
      log: createLogger('silent'),
    });
    const route = {
      name: 'openai/chat.completions',
      upstream: { name: 'openai', dialect: openaiDialect },
      operation: openaiDialect.operations.get('/chat/completions')!,
      upstreamPath: '/v1/chat/completions',
    } as unknown as RouteTarget;
    const agent = registry.agents.get('bench-agent')!;
    const request = {
      model: 'gpt-4o-mini',
      messages: CHAT_MESSAGES,
      max_tokens: 256,
    };
    const response = Buffer.from(
      JSON.stringify({
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'All jobs done but the export, which waits for maintenance.' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 57, completion_tokens: 18, total_tokens: 75 },
      }),
    );
    const pathTimes: number[] = [];
    let c0 = process.cpuUsage();
    for (let i = 0; i < 22_000; i++) {
      const ctx = new CallContext(`r${i}`, {} as IncomingMessage, {} as ServerResponse, 0, '/v1/chat/completions', '', 'openai');
      ctx.route = route;
      ctx.agent = agent;
      ctx.json = structuredClone(request);
      ctx.call = openaiDialect.describe(route.operation, ctx.json);
      const t0 = performance.now();
      stages.estimate(ctx);
      stages.reserve(ctx);
      const taps = ctx.taps!;
      for (const tap of taps) tap.onStart?.(200, { 'content-type': 'application/json' });
      tapData(taps, response);
      tapEnd(taps);
      ctx.finish({ status: 200, totalMs: 1, upstreamMs: 1 });
      if (i === 1999) c0 = process.cpuUsage();
      if (i >= 2000) pathTimes.push((performance.now() - t0) * 1000);
    }
    const c = process.cpuUsage(c0);
    cpu.stagePath = (c.user + c.system) / pathTimes.length;
    results.stagePath = stats(pathTimes);
    await store.close();
    rmSync(stageDir, { recursive: true, force: true });
  }

  // The 1 KB prompt: a chat body's message text, through the dialect's prompt reader and the tokenizer.
  const text = 'Please summarise the quarterly report below and list the three main risks, with a sentence on each. '.repeat(11).slice(0, 1024);
  const op = openaiDialect.operations.get('/chat/completions')!;
  const times: number[] = [];
  for (let i = 0; i < 12_000; i++) {
    const body = {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'You are helpful.' },
        { role: 'user', content: `${text.slice(0, 1000)} #${i}` },
      ],
    };
    const t0 = performance.now();
    const texts: string[] = [];
    openaiDialect.metering!.promptText(op, body, texts);
    for (const x of texts) countTokens(x);
    if (i >= 2000) times.push((performance.now() - t0) * 1000);
  }
  results.tokenizer1k = stats(times);

  if (spawnSync('redis-server', ['--version']).status === 0) {
    const port = await freePort();
    const server = spawn('redis-server', ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1'], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100; i++) {
        const up = await new Promise<boolean>((r) => {
          const s = connect(port, '127.0.0.1', () => {
            s.end();
            r(true);
          });
          s.on('error', () => r(false));
        });
        if (up) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const probe = new Redis(`redis://127.0.0.1:${port}`);
      const processed = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await probe.info('commandstats'))?.[1] ?? 0);
      // Each variant on its own keys: with leases (the default), and without (every call a round trip).
      for (const [variant, leaseSyncMs] of [
        ['redisNoLease', 0],
        ['redis', 100],
      ] as const) {
        const redis = await createRedisStore({
          url: `redis://127.0.0.1:${port}`,
          keyPrefix: `bench-${variant}`,
          failMode: 'closed',
          localFraction: 0.1,
          commandTimeoutMs: 1000,
          leaseSyncMs,
          log: createLogger('silent'),
        });
        for (const n of [1, 1000]) {
          agents = n;
          const name = n === 1 ? variant : `${variant}Fleet`;
          await storeBench(redis, n === 1 ? 100 : 18_000); // load the scripts (EVALSHA from here on); warm up a fleet's counters
          const before = await processed();
          results[name] = await storeBench(redis, 18_000, name);
          results[`${name}CommandsPerCall`] = ((await processed()) - before) / 20_000;
          const before32 = await processed();
          await storeBenchConcurrent(redis, 20_000, 32, `${name}32`);
          results[`${name}CommandsPerCall32`] = ((await processed()) - before32) / 22_000;
        }
        agents = 1;
        await redis.close();
      }
      probe.disconnect();
    } finally {
      server.kill('SIGKILL');
    }
  } else results.redis = 'redis-server not installed';
} finally {
  rmSync(dir, { recursive: true, force: true });
}
mkdirSync(new URL('./.out/', import.meta.url), { recursive: true });
writeFileSync(new URL('./.out/metering-micro.json', import.meta.url), JSON.stringify(results, null, 2));
const row = (name: string, s: Stats | number | string | undefined) =>
  typeof s === 'object' ? `| ${name} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.mean.toFixed(1)} | ${s.n} |` : `| ${name} | ${s} | | | |`;
console.log(
  [
    '| per call | p50 µs | p99 µs | mean µs | calls |',
    '|---|---|---|---|---|',
    row('SQLite store: reserve + settle (4 lines: agent/team/org USD + agent requests/min)', results.sqlite as Stats),
    row('Redis store (local redis-server), leases (default): reserve + settle', results.redis as Stats),
    row('Redis store, leases off (`leaseSyncMs: 0`): reserve + settle, wall time incl. 2 round trips', results.redisNoLease as Stats),
    row('pre-flight token estimate, ~1 KB chat prompt (prompt text + o200k tokenizer)', results.tokenizer1k as Stats),
    row('whole metering path of a call in-process (estimate + reserve + tap over the JSON response + settle), repeated prompt', results.stagePath as Stats),
  ].join('\n'),
);
const f = (name: string) => cpu[name]?.toFixed(1);
const per = (name: string) => Number(results[name]).toFixed(3);
console.log('\nGateway CPU per call, reserve + settle (µs), and Redis scripts run per call:\n');
console.log(
  [
    '| store | one agent, 1 in flight | one agent, 32 in flight | 1,000 agents, 1 in flight | 1,000 agents, 32 in flight | scripts per call (one agent: 1 / 32; 1,000: 1 / 32) |',
    '|---|--:|--:|--:|--:|---|',
    `| SQLite | ${f('sqlite')} | ${f('sqlite32')} | ${f('sqliteFleet')} | ${f('sqliteFleet32')} | |`,
    `| Redis, leases off | ${f('redisNoLease')} | ${f('redisNoLease32')} | ${f('redisNoLeaseFleet')} | ${f('redisNoLeaseFleet32')} | ${per('redisNoLeaseCommandsPerCall')} / ${per('redisNoLeaseCommandsPerCall32')}; ${per('redisNoLeaseFleetCommandsPerCall')} / ${per('redisNoLeaseFleetCommandsPerCall32')} |`,
    `| Redis, leases | ${f('redis')} | ${f('redis32')} | ${f('redisFleet')} | ${f('redisFleet32')} | ${per('redisCommandsPerCall')} / ${per('redisCommandsPerCall32')}; ${per('redisFleetCommandsPerCall')} / ${per('redisFleetCommandsPerCall32')} |`,
  ].join('\n'),
);
console.log(`\nwhole metering path ${f('stagePath')} µs (the loop's own context setup included)`);
results.cpu = JSON.stringify(cpu);
