/**
 * Per-operation costs of the pipeline stages that do real work per call, measured in-process
 * (no network): token verification (cache hit, first-seen EdDSA and RS256) and policy decisions
 * with the default bundle. Writes bench/MICRO.md. Run: `node --import tsx bench/micro.ts`.
 * End-to-end added latency and throughput are in bench/RESULTS.md (bench/run.ts).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SignJWT } from 'jose';
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { createVerifier } from '../src/identity/verifier.js';
import { loadLocalSigner } from '../src/identity/local-key.js';
import { parseBundle } from '../src/policy/bundle.js';
import { loadEngine } from '../src/policy/engine.js';
import type { PolicyInput } from '../src/policy/types.js';

type Stats = { p50: number; p99: number; mean: number; n: number };

function measure(n: number, fn: (i: number) => unknown): Stats {
  for (let i = 0; i < Math.min(2000, n); i++) fn(i); // warm-up
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn(i);
    times[i] = (performance.now() - t0) * 1000;
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { p50: sorted[Math.floor(n * 0.5)], p99: sorted[Math.floor(n * 0.99)], mean: sorted.reduce((a, b) => a + b, 0) / n, n };
}

async function measureAsync(n: number, fn: (i: number) => Promise<unknown>): Promise<Stats> {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(n * 0.5)], p99: times[Math.floor(n * 0.99)], mean: times.reduce((a, b) => a + b, 0) / n, n };
}

const dir = mkdtempSync(join(tmpdir(), 'aos-micro-'));
try {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'rsa.pem'), rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  const { config } = parseConfig(
    `providers: { openai: { dialect: openai, baseUrl: "http://127.0.0.1:1/v1" } }\nroutes: [{ prefix: /v1, provider: openai }]\n` +
      `identity: { issuers: [{ issuer: bench-rsa, keyFiles: [rsa.pem] }] }\n`,
    join(dir, 'aos.yaml'),
    {},
  );
  const signer = await loadLocalSigner(dir, config.identity.localIssuer.issuer);
  const verifier = await createVerifier(config.identity, { dataDir: dir, configDir: dir, log: createLogger('silent'), localSigner: signer });
  const eddsa = await Promise.all(Array.from({ length: 3000 }, (_, i) => signer.mint({ subject: `agent-${i}`, audience: 'aos-gateway', ttlSec: 3600 })));
  const rs256 = await Promise.all(
    Array.from({ length: 3000 }, (_, i) =>
      new SignJWT({ roles: ['agent'] }).setProtectedHeader({ alg: 'RS256' }).setIssuer('bench-rsa').setSubject(`agent-${i}`).setAudience('aos-gateway').setIssuedAt().setExpirationTime('1h').sign(rsa.privateKey),
    ),
  );
  const firstEd = await measureAsync(2500, (i) => Promise.resolve(verifier.verify(eddsa[i], 'agent')));
  const firstRs = await measureAsync(2500, (i) => Promise.resolve(verifier.verify(rs256[i], 'agent')));
  // A cached token arrives as a new header string every time: copy it so its hash is not reused.
  const hit = measure(200_000, (i) => verifier.verify((' ' + eddsa[i % 2000]).slice(1), 'agent'));
  verifier.close();

  const bundle = await parseBundle(readFileSync(new URL('../policies/bundle.tar.gz', import.meta.url)), { source: 'bench', verification: null });
  const registry = { templates: { standard: { version: 3, providers: ['openai', 'anthropic'], models: ['gpt-4o*', 'gpt-4.1*', 'claude-*'], tools: [], max_tokens: 4096, guardrails: 'standard' } } };
  const engine = await loadEngine(bundle, registry, { maxMemoryPages: 512, maxInputBytes: 262_144 });
  const input = (i: number): PolicyInput => ({
    agent: { id: 'billing-agent', team: 'finance', roles: ['agent'], template: 'standard', template_version: 3, labels: { env: 'prod' }, status: 'active' },
    request: { id: `0193a0b4-7c1e-7000-8000-${String(i).padStart(12, '0')}`, method: 'POST', path: '/v1/chat/completions', route: 'openai/chat.completions', time_ns: Date.now() * 1e6 },
    call: { kind: 'model', provider: 'openai', operation: 'chat.completions', model: 'gpt-4o-mini', stream: false, max_tokens: 1024, est_input_tokens: 350, tool: null, findings: [] },
    budget: null,
  });
  let denied = 0;
  // Every input distinct (est_input_tokens varies): each call is evaluated by the Wasm.
  const fresh = (i: number): PolicyInput => ({ ...input(i), call: { ...input(i).call, est_input_tokens: i } });
  const decisions = measure(50_000, (i) => {
    if (!engine.evaluate(fresh(i)).allow) denied++;
  });
  if (denied > 0) throw new Error('the realistic input should be allowed');
  const denyInput = (i: number): PolicyInput => ({ ...fresh(i), call: { ...fresh(i).call, model: 'o3' } });
  const denials = measure(50_000, (i) => engine.evaluate(denyInput(i)));
  // The same call again (only request id and time differ): the bundle declares decisions cacheable.
  const repeats = measure(50_000, (i) => engine.evaluate(input(i)));

  const row = (name: string, s: Stats, target: string) => `| ${name} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.mean.toFixed(1)} | ${s.n.toLocaleString('en')} | ${target} |`;
  const md = `# Stage costs (in-process)

Generated by \`node --import tsx bench/micro.ts\`; overwritten on every run. Wall time per operation
on one core, in microseconds, measured one call at a time (so p99 includes GC pauses and timer
noise). End-to-end added latency and throughput are in [RESULTS.md](RESULTS.md).

- date: ${new Date().toISOString()}
- node: ${process.version}; CPU: ${readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown'}

| operation | p50 µs | p99 µs | mean µs | n | target |
|---|---:|---:|---:|---:|---|
${row('token verification, cache hit (new header string)', hit, '≤ 10 µs')}
${row('token verification, first-seen EdDSA (local dev key)', firstEd, '≤ 150 µs')}
${row('token verification, first-seen RS256 (e.g. Kubernetes SA tokens)', firstRs, '≤ 150 µs')}
${row('policy decision, default bundle, allowed model call (input serialization included)', decisions, '≤ 25 µs p50')}
${row('policy decision, default bundle, denied model call', denials, '≤ 25 µs p50')}
${row('policy decision, repeated call (decision cache hit)', repeats, '—')}

First-seen verification is dominated by the signature check itself (WebCrypto); Ed25519
verification on this CPU costs about as much as the whole budget, RS256 about two thirds of it. A
token is verified once, then served from the cache until its \`exp\`.

The default bundle declares \`data.aos.gateway.cache_decisions\` (its decision depends only on the
input less request id and time): a repeated call is answered from a per-bundle decision cache.
The first two policy rows make every input distinct, so every decision runs the Wasm.
`;
  writeFileSync(new URL('./MICRO.md', import.meta.url), md);
  process.stdout.write(md);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
