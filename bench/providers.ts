/**
 * What a new dialect adds to a call: latency of Gemini `generateContent` (JSON) and
 * `streamGenerateContent?alt=sse` (3 events) direct to a fake Gemini server vs through the gateway
 * with every stage on (agent identity, the default policy bundle, metering with SQLite budgets,
 * the audit trail), one call at a time, the OpenAI chat dialect alongside for comparison. Client,
 * gateway and fake upstream share one process (small and quick, not the wrk bench of run.ts): the
 * numbers are latencies at concurrency 1, not CPU per call. Run: `node --import tsx bench/providers.ts`
 * (prints a Markdown table; results in bench/RESULTS-providers.md).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { stringify } from 'yaml';
import { createLogger } from '../src/log.js';
import { createGateway } from '../src/main.js';
import { measureAsync, type Stats } from './measure.js';

const N = Number(process.env.N ?? 3000);
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

const upstream = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const url = req.url ?? '';
    if (url.includes(':streamGenerateContent')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${answer('one ')}\r\n\r\ndata: ${answer('two ')}\r\n\r\ndata: ${answer('three')}\r\n\r\n`);
    } else if (url.includes(':generateContent')) res.writeHead(200, { 'content-type': 'application/json' }).end(answer('hello'));
    else res.writeHead(200, { 'content-type': 'application/json' }).end(chat);
  });
});
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

const dir = mkdtempSync(join(tmpdir(), 'aos-bench-providers-'));
writeFileSync(
  join(dir, 'agents.yaml'),
  'templates:\n  b: { version: 1, providers: [gemini, openai], models: ["gemini-*", "gpt-4o-mini"], maxTokens: 256, budget: { daily_usd: 1000000 } }\nagents:\n  - { id: bench-agent, team: bench, template: b }\n',
);
writeFileSync(
  join(dir, 'aos.yaml'),
  stringify({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    dataDir: join(dir, 'data'),
    log: { level: 'warn' },
    identity: { registry: 'agents.yaml' },
    policy: { bundle: { file: new URL('../policies/bundle.tar.gz', import.meta.url).pathname } },
    providers: { gemini: { dialect: 'gemini', baseUrl: upstreamUrl, apiKey: 'k' }, openai: { dialect: 'openai', baseUrl: `${upstreamUrl}/v1`, apiKey: 'k' } },
    routes: [
      { prefix: '/gemini', provider: 'gemini' },
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

async function call(pool: Pool, path: string, body: string, auth: Record<string, string>): Promise<void> {
  const res = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json', ...auth }, body });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode}`);
}

const cases: [string, string, string, string][] = [
  ['gemini generateContent (JSON)', '/v1beta/models/gemini-2.5-flash:generateContent', '/gemini/v1beta/models/gemini-2.5-flash:generateContent', geminiBody],
  ['gemini streamGenerateContent (SSE, 3 events)', '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', geminiBody],
  ['openai chat.completions (JSON), for comparison', '/v1/chat/completions', '/v1/chat/completions', chatBody],
];
const fmt = (s: Stats) => `${s.p50.toFixed(0)} / ${s.p99.toFixed(0)}`;
const rows: string[] = [];
for (const [name, directPath, gatewayPath, body] of cases) {
  const d = await measureAsync(N, () => call(direct, directPath, body, { 'x-goog-api-key': 'k' }));
  const g = await measureAsync(N, () => call(viaGateway, gatewayPath, body, { 'x-goog-api-key': token, authorization: `Bearer ${token}` }));
  rows.push(`| ${name} | ${fmt(d)} | ${fmt(g)} | ${(g.p50 - d.p50).toFixed(0)} |`);
}
console.log(`Node ${process.version}, ${N} sequential calls per cell after 200 warm-up, µs (p50 / p99)\n`);
console.log('| call | direct | through the gateway | added p50 |\n|---|---|---|---|');
for (const r of rows) console.log(r);

await Promise.all([direct.close(), viaGateway.close()]);
await gateway.stop(500);
await new Promise<void>((r) => upstream.close(() => r()));
rmSync(dir, { recursive: true, force: true });
