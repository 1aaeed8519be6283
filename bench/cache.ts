/**
 * The response cache: the latency of a call answered from the cache (a hit), forwarded and stored
 * (a miss), and sent straight to the upstream (direct), at concurrency 1, with the SQLite store and,
 * when redis-server is installed, the Redis one. The upstream is the sample upstream on loopback
 * (it answers at once): a miss here is the gateway's whole cost, a real model adds seconds that a
 * hit saves. The gateway runs in this process with its defaults (audit, metering, metrics) and
 * identity and policy off. Writes bench/RESULTS-cache.md. Run: `node --import tsx bench/cache.ts`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { createLogger } from '../src/log.js';
import { createGateway } from '../src/main.js';
import { redisServer } from '../test/tools.js';

const N = Number(process.env.N ?? 2000);
const WARM = 200;
const dispatcher = new Agent({ connections: 1, keepAliveTimeout: 30_000 });
const body = (i: number | null, stream = false) =>
  JSON.stringify({
    model: 'gpt-4o-mini',
    temperature: 0,
    stream,
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: i === null ? 'the same question' : `question ${i}` },
    ],
  });

async function call(url: string, b: string): Promise<string | null> {
  const r = await request(url, { method: 'POST', body: b, headers: { 'content-type': 'application/json', authorization: 'Bearer k' }, dispatcher });
  await r.body.text();
  if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
  return (r.headers['x-aos-cache'] as string | undefined) ?? null;
}

interface Row {
  case: string;
  p50: number;
  p99: number;
  mean: number;
  perSec: number;
}

async function measure(name: string, url: string, bodyOf: (i: number) => string, expect: string | null): Promise<Row> {
  for (let i = 0; i < WARM; i++) await call(url, bodyOf(-1 - i));
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const got = await call(url, bodyOf(i));
    times.push(performance.now() - t0);
    if (got !== expect) throw new Error(`${name}: x-aos-cache ${got}, expected ${expect}`);
  }
  const total = performance.now() - start;
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  return { case: name, p50: q(0.5), p99: q(0.99), mean: total / N, perSec: (N / total) * 1000 };
}

async function gateway(upstreamUrl: string, cache: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'aos-cache-bench-'));
  const file = join(dir, 'aos.yaml');
  writeFileSync(
    file,
    stringify({
      listen: { port: 0 },
      admin: { port: 0 },
      dataDir: join(dir, 'data'),
      log: { level: 'error' },
      identity: { mode: 'off' },
      policy: { mode: 'off' },
      cache: { mode: 'on', ...cache },
      providers: { openai: { dialect: 'openai', baseUrl: `${upstreamUrl}/v1`, apiKey: 'sk-bench' } },
      routes: [{ prefix: '/v1', provider: 'openai' }],
    }),
  );
  const g = createGateway({ configFile: file, log: createLogger('error'), watchConfig: false });
  await g.start();
  return {
    url: `${g.addresses.proxy}/v1/chat/completions`,
    async stop() {
      await g.stop(500);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The p50 comparison of one run, in words. */
function reading(rows: Row[]): string {
  const p = (name: string) => rows.find((r) => r.case === name)?.p50 ?? Number.NaN;
  const direct = p('direct to the upstream');
  const hit = p('sqlite: hit, JSON');
  const miss = p('sqlite: miss (forwarded and stored)');
  return `at p50 a SQLite hit took ${hit.toFixed(3)} ms, ${(hit - direct).toFixed(3)} ms more than calling the upstream directly and ${(miss - hit).toFixed(3)} ms less than a miss, which goes through the whole pipeline, the upstream and the store's INSERT (in the finisher, after the response). A hit still runs every stage before it (identity and policy when on, the budget reservation, the audit event, metrics): what it skips is the upstream, which for a real model is the 0.5–30 s that dominate. A streamed hit builds the chat chunks from the stored JSON each time. The p99 column is dominated by the shared machine's scheduling.`;
}

async function main() {
  const upstream = await startSampleUpstream();
  const direct = `${upstream.url}/v1/chat/completions`;
  const rows: Row[] = [];
  rows.push(await measure('direct to the upstream', direct, (i) => body(i), null));
  let redis: ChildProcess | null = null;
  const stores: [string, Record<string, unknown>][] = [['sqlite', { store: 'sqlite' }]];
  const tool = redisServer();
  if (tool.path !== null) {
    const port = 6390 + Math.floor(Math.random() * 100);
    redis = spawn(tool.path, ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    stores.push(['redis', { store: 'redis', redis: { url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 200 } }]);
  }
  for (const [name, cache] of stores) {
    const g = await gateway(upstream.url, cache);
    // Misses: a new question each time (forwarded, then stored).
    rows.push(await measure(`${name}: miss (forwarded and stored)`, g.url, (i) => body(i + (name === 'sqlite' ? 0 : 1e6)), 'miss'));
    // Hits: the same question (stored during the warm-up).
    rows.push(await measure(`${name}: hit, JSON`, g.url, () => body(null), 'hit'));
    rows.push(await measure(`${name}: hit, replayed as a stream`, g.url, () => body(null, true), 'hit'));
    await g.stop();
  }
  redis?.kill('SIGKILL');
  await upstream.close();
  await dispatcher.close();
  const table = rows.map((r) => `| ${r.case} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.mean.toFixed(3)} | ${Math.round(r.perSec)} |`).join('\n');
  const out = `# Response cache: hit vs miss vs direct

\`node --import tsx bench/cache.ts\` (N=${N} sequential calls per case after ${WARM} warm-up calls, one keep-alive connection,
concurrency 1; ${cpus().length} cores shared with other work, so absolute numbers move between runs: compare rows of one run).
The gateway runs with its defaults (audit on, metering on, metrics) and identity and policy off; the
upstream is the sample upstream on loopback, which answers at once: a miss is the gateway's whole
overhead plus a loopback round trip, a hit has no upstream at all. A real model adds 0.5–30 s to a
miss and nothing to a hit.

| case | p50 ms | p99 ms | mean ms | calls/s |
|---|---|---|---|---|
${table}

Reading it: ${reading(rows)}
`;
  writeFileSync(new URL('./RESULTS-cache.md', import.meta.url), out);
  console.log(out);
}

await main();
