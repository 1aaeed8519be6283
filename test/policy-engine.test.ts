/** The Wasm engine fails closed, and caches decisions only when a bundle says it may. Real opa-built bundles. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseBundle } from '../src/policy/bundle.js';
import { loadEngine } from '../src/policy/engine.js';
import type { PolicyInput } from '../src/policy/types.js';
import { opaCli } from './tools.js';

const opa = opaCli();
const LIMITS = { maxMemoryPages: 512, maxInputBytes: 65_536 };
const REGISTRY = { templates: {} };

const OK = '{"allow": true, "reasons": [], "obligations": {}}';
/** One decision per model name, so each failure mode is one call; everything else is allowed. */
const REGO = `package aos

decision := {"allow": "yes", "reasons": [], "obligations": {}} if input.call.model == "bad-shape"
else := {"allow": true, "reasons": [], "obligations": {"max_tokens": -5}} if input.call.model == "bad-obligation"
else := {"allow": true, "reasons": [1], "obligations": {}} if input.call.model == "bad-reasons"
else := big if input.call.model == "oom"
else := ${OK} if not input.call.model in {"nothing", "conflict"}

conflict contains 1 if input.call.model == "conflict"
decision := ${OK} if count(conflict) > 0
decision := {"allow": false, "reasons": ["other"], "obligations": {}} if count(conflict) > 0

big := {"allow": true, "reasons": [concat("", [s | some i in numbers.range(1, 400000); s := sprintf("%d-filler", [i])])], "obligations": {}}
`;

function build(dir: string, rego: string, data: unknown): Buffer {
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'src', 'policy.rego'), rego);
  writeFileSync(join(dir, 'src', 'data.json'), JSON.stringify(data));
  const out = join(dir, 'bundle.tar.gz');
  const run = spawnSync(opa.path, ['build', '-t', 'wasm', '-e', 'aos/decision', '--revision', 'test-1', '-o', out, join(dir, 'src')], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return readFileSync(out);
}

const input = (model: string, id = 'r1'): PolicyInput => ({
  agent: { id: 'a', team: 't', roles: [], template: 'standard', template_version: 1, labels: {}, status: 'active' },
  request: { id, method: 'POST', path: '/v1/chat/completions', route: 'openai/chat.completions', time_ns: Date.now() * 1e6 },
  call: { kind: 'model', provider: 'openai', operation: 'chat.completions', model, stream: false, max_tokens: null, est_input_tokens: null, tool: null, findings: [] },
  budget: null,
});

t.test('every failure is a denial with the reason, and the engine keeps serving', opa.options, async (t) => {
  const bundle = await parseBundle(build(t.testdir(), REGO, {}), { source: 'test', verification: null });
  const engine = await loadEngine(bundle, REGISTRY, { ...LIMITS, maxMemoryPages: 64 });
  const cases: [string, RegExp][] = [
    ['nothing', /returned no decision/],
    ['bad-shape', /no boolean "allow"/],
    ['bad-reasons', /no string array "reasons"/],
    ['bad-obligation', /max_tokens must be a positive integer/],
    ['conflict', /policy evaluation failed/],
    ['oom', /policy evaluation failed/],
  ];
  for (const [model, reason] of cases) {
    const d = engine.evaluate(input(model));
    t.equal(d.allow, false, `${model}: denied`);
    t.match(d.error, reason, `${model}: ${d.error}`);
    t.same(engine.evaluate(input('fine')), { allow: true, reasons: [], obligations: {}, revision: 'test-1', error: null }, `after ${model}: still deciding`);
  }
  const huge = input('fine');
  huge.agent!.labels = { blob: 'x'.repeat(70_000) };
  t.match(engine.evaluate(huge).error, /policy input too large \(\d+ bytes, limit 65536\)/);
});

t.test('a bundle without the entrypoint, or whose decision is broken for every input, is refused at load', opa.options, async (t) => {
  const broken = await parseBundle(build(t.testdir(), 'package aos\n\ndecision := {"allow": 1}\n', {}), { source: 'test', verification: null });
  await t.rejects(loadEngine(broken, REGISTRY, LIMITS), /probe input is invalid: the policy result has no boolean "allow"/);
});

t.test('decisions are cached only when the bundle declares it, ignoring request id and time', opa.options, async (t) => {
  const rego = `package aos\n\ndecision := {"allow": input.call.model != "no", "reasons": [], "obligations": {}}\n`;
  const cached = await loadEngine(await parseBundle(build(t.testdir(), rego, { aos: { gateway: { cache_decisions: true } } }), { source: 'test', verification: null }), REGISTRY, LIMITS);
  const a = cached.evaluate(input('yes', 'r1'));
  t.equal(cached.evaluate(input('yes', 'r2')), a, 'same input but request id and time: the same decision object');
  t.equal(cached.evaluate(input('no', 'r3')).allow, false, 'another input is evaluated');
  const plain = await loadEngine(await parseBundle(build(t.testdir(), rego, {}), { source: 'test', verification: null }), REGISTRY, LIMITS);
  t.not(plain.evaluate(input('yes', 'r1')), plain.evaluate(input('yes', 'r1')), 'no declaration: every call evaluated');
});

t.test('a bundle may declare call fields its decision ignores: they are null in what it evaluates, and out of the cache key', opa.options, async (t) => {
  // Allows only when it cannot see the prompt's size: proves the ignored field is blanked, not just left out of the key.
  const rego = `package aos\n\ndecision := {"allow": input.call.est_input_tokens == null, "reasons": [], "obligations": {}}\n`;
  const load = async (decl: unknown) =>
    loadEngine(await parseBundle(build(t.testdir(), rego, { aos: { gateway: { cache_decisions: decl } } }), { source: 'test', verification: null }), REGISTRY, LIMITS);
  const sized = (tokens: number, id: string) => {
    const i = input('yes', id);
    i.call.est_input_tokens = tokens;
    return i;
  };
  const engine = await load({ ignore: ['call.est_input_tokens'] });
  const a = engine.evaluate(sized(120, 'r1'));
  t.equal(a.allow, true, 'the policy saw null');
  t.equal(engine.evaluate(sized(9_999, 'r2')), a, 'another prompt size: the same cached decision');
  const i = sized(42, 'r3');
  engine.evaluate(i);
  t.equal(i.call.est_input_tokens, 42, 'the caller keeps its input as it was');
  t.equal((await load(true)).evaluate(sized(120, 'r4')).allow, false, 'without the declaration the policy sees the size');
  for (const bad of ['agent.id', 'request.path', 'call', 'call.Model', 7]) {
    await t.rejects(load({ ignore: [bad] }), /cache_decisions\.ignore: .* is not a field of call or budget/, `${JSON.stringify(bad)} refused`);
  }
  const uncached = await load({ ignore: 'call.model' });
  t.not(uncached.evaluate(sized(1, 'r5')), uncached.evaluate(sized(1, 'r5')), 'a malformed declaration: no cache');
});
