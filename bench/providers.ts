/**
 * What a dialect and its credential add to a call: latency (p50 / p99) and CPU per call of Gemini
 * `generateContent` (API key) and `streamGenerateContent?alt=sse` (3 events), Vertex AI
 * `generateContent` (a service account's bearer token, cached), Bedrock `Converse` signed with SigV4
 * (static keys, and temporary credentials from a fake STS via web identity) and the OpenAI chat
 * dialect for comparison, each direct to a fake upstream vs through the gateway with every stage on
 * (agent identity, the default policy bundle, metering with SQLite budgets, the audit trail), one
 * call at a time, all in the same run.
 *
 * Every cell is warmed up first, then measured in interleaved rounds (each cell takes its turn in
 * every round), so load from other processes and drift spread over all cells alike.
 *
 * CPU: client, gateway and fake upstream share this process, so `process.cpuUsage()` (user +
 * system, all threads: the audit writer and GC included) is read around each cell's turns (warm-up
 * excluded) and divided by its calls; the gateway's added CPU per call is the through-the-gateway
 * cell minus the direct one (the client's and the upstream's work is the same in both). SigV4 signing alone is also timed in
 * isolation (the credential's `headers()` for one Converse request), and so is a cached bearer token.
 * Run: `node --import tsx bench/providers.ts` (prints Markdown; results in bench/RESULTS-providers.md).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { stringify } from 'yaml';
import { createLogger } from '../src/log.js';
import { createGateway } from '../src/main.js';
import { bearerAuth, createTokenCache } from '../src/providers/auth.js';
import { createSigV4Auth } from '../src/providers/aws-sigv4.js';
import type { Stats } from './measure.js';

const N = Number(process.env.N ?? 3000);
const WARMUP = Math.min(200, N);
const SONNET = 'anthropic.claude-sonnet-4-20250514-v1:0';
const usage = { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 };
const answer = (text: string) =>
  JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, finishReason: 'STOP' }], usageMetadata: usage, modelVersion: 'gemini-2.5-flash' });
const chat = JSON.stringify({
  id: 'c',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
});
const converse = JSON.stringify({
  output: { message: { role: 'assistant', content: [{ text: 'hi' }] } },
  stopReason: 'end_turn',
  usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 },
  metrics: { latencyMs: 1 },
});

// The fake upstream answers every dialect; it checks no credential (the gateway's cost is measured, not the upstream's).
const upstream = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const url = req.url ?? '';
    const ok = (type: string, body: string) => res.writeHead(200, { 'content-type': type }).end(body);
    if (url.includes(':streamGenerateContent')) ok('text/event-stream', `data: ${answer('one ')}\r\n\r\ndata: ${answer('two ')}\r\n\r\ndata: ${answer('three')}\r\n\r\n`);
    else if (url.includes(':generateContent')) ok('application/json', answer('hello'));
    else if (url.endsWith('/converse')) ok('application/json', converse);
    else ok('application/json', chat);
  });
});
// Google's token endpoint and STS (AssumeRoleWithWebIdentity), called once each: the credentials are cached.
const issuer = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.url === '/token') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'ya29.bench', expires_in: 3600 }));
    const r = 'AssumeRoleWithWebIdentity';
    const expires = new Date(Date.now() + 3600_000).toISOString();
    res
      .writeHead(200, { 'content-type': 'text/xml' })
      .end(
        `<${r}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${r}Result><Credentials><AccessKeyId>ASIABENCH</AccessKeyId><SecretAccessKey>bench-secret</SecretAccessKey><SessionToken>bench-session-token</SessionToken><Expiration>${expires}</Expiration></Credentials></${r}Result></${r}Response>`,
      );
  });
});
const listen = async (s: typeof upstream) => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};
const upstreamUrl = await listen(upstream);
const issuerUrl = await listen(issuer);

const dir = mkdtempSync(join(tmpdir(), 'aos-bench-providers-'));
writeFileSync(
  join(dir, 'agents.yaml'),
  'templates:\n  b: { version: 1, providers: [gemini, vertex, bedrock, bedrock-sts, openai], models: ["gemini-*", "gpt-4o-mini", "anthropic.claude-*"], maxTokens: 256, budget: { daily_usd: 1000000 } }\nagents:\n  - { id: bench-agent, team: bench, template: b }\n',
);
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const sa = {
  type: 'service_account',
  client_email: 'bench@proj.iam.gserviceaccount.com',
  private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  token_uri: `${issuerUrl}/token`,
};
writeFileSync(join(dir, 'sa.json'), JSON.stringify(sa));
writeFileSync(join(dir, 'token'), 'eyJhbGciOiJSUzI1NiJ9.bench.sig');
const keys = { accessKeyId: 'AKIABENCHEXAMPLE', secretAccessKey: 'bench-secret-access-key' };
writeFileSync(
  join(dir, 'aos.yaml'),
  stringify({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    dataDir: join(dir, 'data'),
    log: { level: 'warn' },
    identity: { registry: 'agents.yaml' },
    policy: { bundle: { file: new URL('../policies/bundle.tar.gz', import.meta.url).pathname } },
    providers: {
      gemini: { dialect: 'gemini', baseUrl: upstreamUrl, apiKey: 'k' },
      vertex: { dialect: 'gemini', baseUrl: upstreamUrl, auth: { kind: 'google-service-account', credentialsFile: 'sa.json' } },
      bedrock: { dialect: 'bedrock', baseUrl: upstreamUrl, auth: { kind: 'aws-sigv4', region: 'us-east-1', ...keys } },
      'bedrock-sts': {
        dialect: 'bedrock',
        baseUrl: upstreamUrl,
        auth: { kind: 'aws-sigv4', region: 'us-east-1', roleArn: 'arn:aws:iam::111122223333:role/bench', webIdentityTokenFile: 'token', stsEndpoint: issuerUrl },
      },
      openai: { dialect: 'openai', baseUrl: `${upstreamUrl}/v1`, apiKey: 'k' },
    },
    routes: [
      { prefix: '/gemini', provider: 'gemini' },
      { prefix: '/vertex', provider: 'vertex' },
      { prefix: '/bedrock-sts', provider: 'bedrock-sts' },
      { prefix: '/bedrock', provider: 'bedrock' },
      { prefix: '/v1', provider: 'openai' },
    ],
  }),
);
const gateway = createGateway({ configFile: join(dir, 'aos.yaml'), log: createLogger('warn'), watchConfig: false });
await gateway.start();
const token = await gateway.signer()!.mint({ subject: 'bench-agent', audience: 'aos-gateway', ttlSec: 3600 });

const direct = new Pool(upstreamUrl, { connections: 1 });
const viaGateway = new Pool(gateway.addresses.proxy, { connections: 1 });
const geminiBody = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Say hello to the benchmark, briefly.' }] }], generationConfig: { maxOutputTokens: 100 } });
const chatBody = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'Say hello to the benchmark, briefly.' }] });
const converseBody = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Say hello to the benchmark, briefly.' }] }], inferenceConfig: { maxTokens: 100 } });

async function call(pool: Pool, path: string, body: string, auth: Record<string, string>): Promise<void> {
  const res = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json', ...auth }, body });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode}`);
}

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const PER_ROUND = Math.ceil(N / ROUNDS);

function stats(times: number[]): Stats {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50: sorted[Math.floor(sorted.length * 0.5)], p99: sorted[Math.floor(sorted.length * 0.99)], mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, n: sorted.length };
}

/** One cell's measurements, gathered over the rounds: latencies (µs) and process CPU (µs). */
class Cell {
  readonly times: number[] = [];
  cpu = 0;
  constructor(readonly fn: () => Promise<unknown>) {}
  async run(n: number): Promise<void> {
    const before = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await this.fn();
      this.times.push((performance.now() - t0) * 1000);
    }
    const used = process.cpuUsage(before);
    this.cpu += used.user + used.system;
  }
  result(): Stats & { cpu: number } {
    return { ...stats(this.times), cpu: this.cpu / this.times.length };
  }
}

const vertexPath = '/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent';
const conversePath = `/model/${encodeURIComponent(SONNET)}/converse`;
const allCases: [string, string, string, string][] = [
  ['gemini generateContent (JSON, API key)', '/v1beta/models/gemini-2.5-flash:generateContent', '/gemini/v1beta/models/gemini-2.5-flash:generateContent', geminiBody],
  ['gemini streamGenerateContent (SSE, 3 events)', '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', geminiBody],
  ['vertex generateContent (service account token, cached)', vertexPath, `/vertex${vertexPath}`, geminiBody],
  ['bedrock Converse (SigV4, static keys)', conversePath, `/bedrock${conversePath}`, converseBody],
  ['bedrock Converse (SigV4, STS web-identity credentials, cached)', conversePath, `/bedrock-sts${conversePath}`, converseBody],
  ['openai chat.completions (JSON, API key), for comparison', '/v1/chat/completions', '/v1/chat/completions', chatBody],
];
// CASES=bedrock (a substring of the names) measures only those: for a profile of one route.
const cases = allCases.filter(([name]) => name.includes(process.env.CASES ?? ''));
const cells = cases.map(([, directPath, gatewayPath, body]) => ({
  direct: new Cell(() => call(direct, directPath, body, { 'x-goog-api-key': 'k' })),
  gateway: new Cell(() => call(viaGateway, gatewayPath, body, { 'x-goog-api-key': token, authorization: `Bearer ${token}` })),
}));
// Warm-up of every cell first (JIT, connections, the credentials fetched), then the rounds: each
// cell takes its turn in every round, so load from elsewhere and drift spread over all of them.
for (const c of cells) for (const cell of [c.direct, c.gateway]) for (let i = 0; i < WARMUP; i++) await cell.fn();
for (let r = 0; r < ROUNDS; r++) {
  for (const c of cells) {
    await c.direct.run(PER_ROUND);
    await c.gateway.run(PER_ROUND);
  }
}
const fmt = (s: Stats) => `${s.p50.toFixed(0)} / ${s.p99.toFixed(0)}`;
const rows = cases.map(([name], i) => {
  const d = cells[i].direct.result();
  const g = cells[i].gateway.result();
  return `| ${name} | ${fmt(d)} | ${fmt(g)} | ${(g.p50 - d.p50).toFixed(0)} | ${(g.p99 - d.p99).toFixed(0)} | ${d.cpu.toFixed(0)} | ${g.cpu.toFixed(0)} | ${(g.cpu - d.cpu).toFixed(0)} |`;
});

// The credential alone, as the forwarder calls it for one Converse request.
const sigv4 = createSigV4Auth({ name: 'bench', region: 'us-east-1', service: 'bedrock', credentials: keys });
const request = {
  method: 'POST',
  host: 'bedrock-runtime.us-east-1.amazonaws.com',
  path: conversePath,
  headers: ['content-type', 'application/json', 'accept', 'application/json'],
  body: Buffer.from(converseBody),
};
const signing = new Cell(async () => sigv4.headers(request));
for (let i = 0; i < WARMUP; i++) await signing.fn();
await signing.run(N);
const bearer = bearerAuth(createTokenCache({ name: 'bench', fetch: async () => ({ value: 'ya29.bench', expiresAt: Date.now() + 3600_000 }) }));
const cachedToken = new Cell(async () => bearer.headers(request));
for (let i = 0; i < WARMUP; i++) await cachedToken.fn();
await cachedToken.run(N);

console.log(
  `Node ${process.version}, ${PER_ROUND * ROUNDS} sequential calls per cell in ${ROUNDS} interleaved rounds after ${WARMUP} warm-up; latency µs (p50 / p99), CPU µs per call (process-wide)\n`,
);
console.log('| call | direct | through the gateway | added p50 | added p99 | CPU direct | CPU gateway | added CPU |\n|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log('\n| credential alone (one Converse request) | p50 / p99 µs | CPU µs per call |\n|---|---|---|');
const sig = signing.result();
const bt = cachedToken.result();
console.log(`| SigV4 signature (headers() of aws-sigv4) | ${fmt(sig)} | ${sig.cpu.toFixed(1)} |`);
console.log(`| cached bearer token (headers() of client-credentials / google-service-account) | ${fmt(bt)} | ${bt.cpu.toFixed(1)} |`);

await Promise.all([direct.close(), viaGateway.close()]);
await gateway.stop(500);
await new Promise<void>((r) => upstream.close(() => r()));
await new Promise<void>((r) => issuer.close(() => r()));
rmSync(dir, { recursive: true, force: true });
