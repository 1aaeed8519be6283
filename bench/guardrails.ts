/**
 * The guardrail scanner on realistic prompts: `npm run bench:guardrails`
 * (`node --import tsx bench/guardrails.ts [iterations]`).
 *
 * Each iteration scans a different text (prose from a seeded word list, with emails, a phone number,
 * an IP, a card and now and then a key or a JWT sprinkled in), so no cache sees the same string
 * twice. Reports p50/p99 µs per scan and µs per KB for the `standard` and `strict` profiles at 1 KB
 * and 32 KB, and the secret rules alone driven through `@secretlint/core`'s `lintSource` for
 * comparison with driving them directly.
 */
import { createRequire } from 'node:module';
import { createSecretsDetector } from '../src/guardrails/detectors/secrets.js';
import { BUILTIN_PROFILES, createScanner } from '../src/guardrails/scanner.js';
import type { Match } from '../src/guardrails/types.js';

const iterations = Number(process.argv[2] ?? 4000);

const WORDS = (
  'the a of to and in is for that on with as by this be are from at or an it not was have we can will model agent report customer revenue ' +
  'quarter summary please table chart data analysis budget forecast europe growth churn meeting tuesday review draft email invoice order ' +
  'shipment product feature release version deploy service cluster database query latency error retry timeout user account team project'
).split(' ');

let seed = 0x2545f491;
const random = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x100000000;
};
const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
const digits = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 10)).join('');

/** Sprinkles: one word in a hundred, about one every 600 characters. */
const SPRINKLES: (() => string)[] = [
  () => `${pick(WORDS)}.${pick(WORDS)}${digits(2)}@example.com`,
  () => `(212) 555-${digits(4)}`,
  () => `10.${digits(1)}.${digits(2)}.${digits(2)}`,
  () => '4242 4242 4242 4242',
  () => `AKIA${Array.from({ length: 16 }, () => pick([...'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'])).join('')}`,
  () => `ghp_${Array.from({ length: 36 }, () => pick([...'abcdefABCDEF0123456789'])).join('')}`,
  () => `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI${digits(8)}In0.${digits(20)}`,
  () => `order ${digits(4)}-${digits(6)} for ${pick(WORDS)}`,
];

function prompt(chars: number, sprinkles = 1 / 100): string {
  const parts: string[] = [];
  let length = 0;
  while (length < chars) {
    const part = random() < sprinkles ? pick(SPRINKLES)() : pick(WORDS);
    parts.push(part);
    length += part.length + 1;
    if (random() < 0.08) parts.push('.\n');
  }
  return parts.join(' ').slice(0, chars);
}

interface Row {
  name: string;
  size: string;
  p50: number;
  p99: number;
  perKb: number;
}

function measure(name: string, size: number, scan: (text: string) => void, sprinkles = 1 / 100): Row {
  const texts = Array.from({ length: Math.min(iterations, 2000) }, () => prompt(size, sprinkles));
  for (let i = 0; i < 500; i++) scan(texts[i % texts.length]!);
  const runs = size > 4096 ? Math.max(200, Math.floor(iterations / 16)) : iterations;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    // A fresh string each run: the text's tail is the iteration number.
    const text = `${texts[i % texts.length]!.slice(0, size - 6)} ${i.toString(36).padStart(5, '0')}`;
    const start = process.hrtime.bigint();
    scan(text);
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  times.sort((a, b) => a - b);
  const p50 = times[Math.floor(runs * 0.5)]!;
  return { name, size: `${size / 1024} KB`, p50, p99: times[Math.floor(runs * 0.99)]!, perKb: p50 / (size / 1024) };
}

const scanners = { standard: createScanner('standard', BUILTIN_PROFILES.standard), strict: createScanner('strict', BUILTIN_PROFILES.strict) };
const out: Match[] = [];
const scanWith = (profile: keyof typeof scanners) => (text: string) => {
  out.length = 0;
  scanners[profile].scan(text, out);
};
// Warm both up first so neither row pays for the other's compilation.
for (const profile of ['standard', 'strict'] as const) measure(profile, 1024, scanWith(profile));

const rows: Row[] = [];
for (const profile of ['standard', 'strict'] as const) {
  for (const size of [1024, 32 * 1024]) rows.push(measure(profile, size, scanWith(profile)));
}
rows.push(measure('standard, prose without sprinkles', 1024, scanWith('standard'), 0));
const secrets = createSecretsDetector();
const ungated = createSecretsDetector({ ungated: true });
const sink: Match[] = [];
for (const [name, detector] of [
  ['secrets only (gated)', secrets],
  ['secrets only (every rule on every text)', ungated],
] as const) {
  rows.push(
    measure(name, 1024, (text) => {
      sink.length = 0;
      detector.detect(text, sink);
    }),
  );
}

// The preset through secretlint's own engine, for comparison. @secretlint/core is not a dependency:
// point SECRETLINT_CORE at an installed copy (its main file) or the row is skipped.
try {
  const require = createRequire(import.meta.url);
  const core = (await import(require.resolve(process.env.SECRETLINT_CORE ?? '@secretlint/core'))) as { lintSource(o: unknown): Promise<unknown> };
  const preset = await import('@secretlint/secretlint-rule-preset-recommend');
  const config = { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: preset.creator }] };
  const texts = Array.from({ length: 500 }, () => prompt(1024));
  const times: number[] = [];
  for (const [i, content] of texts.entries()) {
    const start = process.hrtime.bigint();
    await core.lintSource({ source: { content, filePath: 'prompt.txt', ext: '.txt', contentType: 'text' }, options: { config } });
    if (i >= 50) times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  times.sort((a, b) => a - b);
  const p50 = times[Math.floor(times.length / 2)]!;
  rows.push({ name: 'secrets via @secretlint/core lintSource', size: '1 KB', p50, p99: times[Math.floor(times.length * 0.99)]!, perKb: p50 });
} catch {
  console.log('(@secretlint/core not installed: its row is skipped)');
}

console.log('| scanner | text | p50 µs | p99 µs | µs/KB (p50) |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.name} | ${r.size} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.perKb.toFixed(1)} |`);
