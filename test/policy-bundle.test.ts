/**
 * The default policy bundle (policies/bundle.tar.gz): not stale against its sources, its Rego unit
 * tests pass with enough coverage, and every default rule decides as documented through the real
 * Wasm engine (@open-policy-agent/opa-wasm), cross-checked against the pinned OPA CLI (test/tools.ts).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import t from 'tap';
import { type Header, pack } from 'tar-stream';
import { TarReadError } from '../src/errors.js';
import { packageRoot } from '../src/package-root.js';
import { readTarGz } from '../src/policy/tar.js';
import type { PolicyInput, PolicyRegistryData, PolicyResult } from '../src/policy/types.js';
import { opaCli } from './tools.js';

const policiesDir = join(packageRoot, 'policies');
const bundlePath = join(policiesDir, 'bundle.tar.gz');
const MIN_COVERAGE = 90;

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** The bundle's sources, as scripts/policy-revision.sh lists them: non-test .rego under aos/, and data.json. */
function sourceFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.rego') && !entry.name.endsWith('_test.rego')) found.push(relative(policiesDir, path));
    }
  };
  walk(join(policiesDir, 'aos'));
  found.push('data.json');
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** scripts/policy-revision.sh: sha256 over the `sha256sum` listing of the sorted sources. */
function sourceRevision(): string {
  const listing = sourceFiles()
    .map((file) => `${sha256(readFileSync(join(policiesDir, file)))}  ${file}\n`)
    .join('');
  return `sha256:${sha256(listing).slice(0, 16)}`;
}

const bundleFiles = readTarGz(readFileSync(bundlePath));

t.test('the committed bundle is built from the current sources', async (t) => {
  const files = await bundleFiles;
  for (const required of ['/policy.wasm', '/data.json', '/.manifest']) t.ok(files.has(required), `bundle holds ${required}`);
  t.notOk(
    [...files.keys()].some((p) => p.endsWith('_test.rego')),
    'no Rego tests in the bundle',
  );
  const manifest = JSON.parse(files.get('/.manifest')!.toString('utf8'));
  const stale = 'policies/bundle.tar.gz is stale against policies/: run `npm run policy:build` and commit the bundle';
  t.equal(manifest.revision, sourceRevision(), stale);
  t.strictSame(manifest.wasm, [{ entrypoint: 'aos/decision', module: '/policy.wasm' }], 'entrypoint aos/decision');
  t.strictSame(JSON.parse(files.get('/data.json')!.toString('utf8')), JSON.parse(readFileSync(join(policiesDir, 'data.json'), 'utf8')), stale);
  // (opa build stores the Rego reformatted, so the revision, not the text, tells whether it is current.)
  for (const file of sourceFiles().filter((f) => f.endsWith('.rego'))) t.ok(files.has(`/${file}`), `bundle holds /${file}: ${stale}`);
});

t.test('the revision script and this test agree', { skip: process.platform === 'win32' && 'needs bash' }, async (t) => {
  const run = spawnSync('bash', [join(packageRoot, 'scripts/policy-revision.sh')], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  t.equal(run.stdout.trim(), sourceRevision());
});

const opa = opaCli();

t.test(`opa test passes with coverage >= ${MIN_COVERAGE}%`, opa.options, async (t) => {
  const run = spawnSync(opa.path, ['test', policiesDir, '--ignore', '*.tar.gz', '--coverage', '--format=json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  t.equal(run.status, 0, 'opa test exits 0');
  if (run.status !== 0) t.comment(`${run.stderr}${run.stdout.slice(0, 4000)}`);
  const report = JSON.parse(run.stdout);
  t.ok(report.coverage >= MIN_COVERAGE, `coverage ${Number(report.coverage).toFixed(1)}% >= ${MIN_COVERAGE}%`);
});

// --- the decision table, through the real Wasm ---------------------------------------------------

/** The templates of config/agents.yaml as the gateway hands them to the policy, plus one that allows tools. */
const templates: PolicyRegistryData['templates'] = {
  standard: {
    version: 1,
    providers: ['openai', 'anthropic'],
    models: ['gpt-4o*', 'gpt-4.1*', 'gpt-5*', 'claude-*', 'text-embedding-3-*'],
    tools: [],
    max_tokens: 4096,
    guardrails: 'standard',
  },
  restricted: { version: 1, providers: ['openai'], models: ['gpt-4o-mini'], tools: [], max_tokens: 1024, guardrails: 'strict' },
  tooling: { version: 3, providers: [], models: [], tools: ['search', 'github/*', 'files.*'], max_tokens: null, guardrails: 'standard' },
  // Glob syntax beyond `*`, which the policy hands to glob.match.
  patterns: { version: 1, providers: [], models: ['gpt-4o-{mini,nano}', 'o?-*', 'llama*70b*instruct'], tools: ['db.[rw]*'], max_tokens: null, guardrails: 'standard' },
};

type Agent = NonNullable<PolicyInput['agent']>;
type Call = PolicyInput['call'];
type Finding = Call['findings'][number];

const agent = (fields: Partial<Agent> = {}): Agent => ({
  id: 'demo-agent',
  team: 'platform',
  roles: ['agent'],
  template: 'standard',
  template_version: 1,
  labels: { env: 'dev' },
  status: 'active',
  ...fields,
});

const request: PolicyInput['request'] = {
  id: 'req-1',
  method: 'POST',
  path: '/v1/chat/completions',
  route: 'openai/chat.completions',
  time_ns: 1_700_000_000_000_000_000,
};

const modelCall = (fields: Partial<Call> = {}): Call => ({
  kind: 'model',
  provider: 'openai',
  operation: 'chat.completions',
  model: 'gpt-4o',
  stream: false,
  max_tokens: null,
  est_input_tokens: 12,
  tool: null,
  findings: [],
  ...fields,
});

const toolCall = (name: string, server: string | null, kind: Call['kind'] = 'mcp'): Call =>
  modelCall({ kind, provider: 'mcp', operation: 'tools/call', model: null, tool: { name, server, args: { q: 1 } } });

const input = (fields: Partial<PolicyInput> = {}): PolicyInput => ({ agent: agent(), request, call: modelCall(), budget: null, ...fields });

const finding = (detector: string, severity: Finding['severity']): Finding => ({ detector, severity, path: 'messages.0.content' });

const budget = (spent: number, reserved: number, estimated: number): PolicyInput['budget'] => ({
  scope: 'team:platform',
  limit_usd: 20,
  spent_usd: spent,
  reserved_usd: reserved,
  estimated_usd: estimated,
  window: 'daily',
});

const allow = (obligations: PolicyResult['obligations'] = {}): PolicyResult => ({ allow: true, reasons: [], obligations });
const deny = (reasons: string[], obligations: PolicyResult['obligations'] = {}): PolicyResult => ({ allow: false, reasons, obligations });

interface Row {
  name: string;
  input: PolicyInput;
  /** Replaces keys of data.aos.settings for this row. */
  settings?: Record<string, unknown>;
  want: PolicyResult;
}

const table: Row[] = [
  // allowed calls and the max_tokens cap
  { name: 'allowed model call, no max_tokens → capped', input: input(), want: allow({ max_tokens: 4096 }) },
  { name: 'max_tokens above the template cap → capped', input: input({ call: modelCall({ max_tokens: 100_000 }) }), want: allow({ max_tokens: 4096 }) },
  { name: 'max_tokens at the cap → no obligation', input: input({ call: modelCall({ max_tokens: 4096 }) }), want: allow() },
  {
    name: 'anthropic, dotted model name matched by claude-*',
    input: input({ call: modelCall({ provider: 'anthropic', operation: 'messages', model: 'claude-3.5-sonnet', max_tokens: 512 }) }),
    want: allow(),
  },
  { name: 'template without a cap → no max_tokens obligation', input: input({ agent: agent({ template: 'tooling' }) }), want: allow() },
  { name: 'no model named (model listing) → not checked', input: input({ call: modelCall({ operation: 'models.list', model: null, max_tokens: 1 }) }), want: allow() },
  // anonymous calls
  { name: 'anonymous, default data → allowed', input: input({ agent: null }), want: allow() },
  { name: 'anonymous, settings.anonymous deny', input: input({ agent: null }), settings: { anonymous: 'deny' }, want: deny(['calls without an agent identity are denied']) },
  {
    name: 'anonymous, invalid setting → denied',
    input: input({ agent: null }),
    settings: { anonymous: 'sometimes' },
    want: deny(['invalid setting anonymous: sometimes (expected allow or deny)']),
  },
  // agent status and template
  { name: 'suspended agent', input: input({ agent: agent({ status: 'suspended' }) }), want: deny(['agent demo-agent is suspended'], { max_tokens: 4096 }) },
  {
    name: 'unexpected status',
    input: input({ agent: agent({ status: 'retired' as Agent['status'] }) }),
    want: deny(['agent demo-agent is not active (status retired)'], { max_tokens: 4096 }),
  },
  { name: 'unknown template', input: input({ agent: agent({ template: 'gold' }) }), want: deny(['template gold of agent demo-agent is not defined']) },
  // providers and models
  {
    name: 'provider not allowed',
    input: input({ call: modelCall({ provider: 'mistral' }) }),
    want: deny(['provider mistral is not allowed for template standard'], { max_tokens: 4096 }),
  },
  { name: 'provider list empty → any', input: input({ agent: agent({ template: 'tooling' }), call: modelCall({ provider: 'mistral', model: 'mistral-large' }) }), want: allow() },
  { name: 'model not allowed', input: input({ call: modelCall({ model: 'gpt-4' }) }), want: deny(['model gpt-4 is not allowed for template standard'], { max_tokens: 4096 }) },
  {
    name: 'model globs are anchored',
    input: input({ call: modelCall({ model: 'my-gpt-4o' }) }),
    want: deny(['model my-gpt-4o is not allowed for template standard'], { max_tokens: 4096 }),
  },
  // model downgrades
  {
    name: 'downgrade: restricted asks gpt-4o → gpt-4o-mini',
    input: input({ agent: agent({ template: 'restricted' }) }),
    want: allow({ model: 'gpt-4o-mini', max_tokens: 1024 }),
  },
  {
    name: 'downgrade to a model the template does not allow → denied',
    input: input({ agent: agent({ template: 'restricted' }) }),
    settings: { model_downgrades: { restricted: { 'gpt-4o': 'gpt-4' } } },
    want: deny(['model gpt-4 (downgraded from gpt-4o) is not allowed for template restricted'], { model: 'gpt-4', max_tokens: 1024 }),
  },
  {
    name: 'restricted, a model with no downgrade → denied',
    input: input({ agent: agent({ template: 'restricted' }), call: modelCall({ model: 'gpt-5', max_tokens: 10 }) }),
    want: deny(['model gpt-5 is not allowed for template restricted']),
  },
  // tools
  { name: 'tool with an empty tools list → denied', input: input({ call: toolCall('search', null) }), want: deny(['tool search is not allowed for template standard']) },
  { name: 'tool allowed by name', input: input({ agent: agent({ template: 'tooling' }), call: toolCall('search', null, 'tool') }), want: allow() },
  { name: 'tool allowed by glob', input: input({ agent: agent({ template: 'tooling' }), call: toolCall('files.read', 'fs') }), want: allow() },
  { name: 'tool allowed by server/name pattern', input: input({ agent: agent({ template: 'tooling' }), call: toolCall('create_issue', 'github') }), want: allow() },
  {
    name: 'tool not in the list',
    input: input({ agent: agent({ template: 'tooling' }), call: toolCall('wipe', 'box') }),
    want: deny(['tool wipe is not allowed for template tooling']),
  },
  {
    name: 'plain HTTP tools are checked too',
    input: input({ agent: agent({ template: 'tooling' }), call: toolCall('weather', null, 'http') }),
    want: deny(['tool weather is not allowed for template tooling']),
  },
  {
    name: 'MCP call naming no tool (tools/list) → not checked',
    input: input({ call: { ...toolCall('x', 'fs'), operation: 'tools/list', tool: null } }),
    want: allow(),
  },
  // glob syntax beyond `*`
  { name: 'model allowed by a {a,b} pattern', input: input({ agent: agent({ template: 'patterns' }), call: modelCall({ model: 'gpt-4o-nano' }) }), want: allow() },
  { name: 'model allowed by a ? pattern', input: input({ agent: agent({ template: 'patterns' }), call: modelCall({ model: 'o3-mini' }) }), want: allow() },
  { name: 'model allowed by a*b*c', input: input({ agent: agent({ template: 'patterns' }), call: modelCall({ model: 'llama-3.1-70b-instruct' }) }), want: allow() },
  {
    name: 'model matching no pattern',
    input: input({ agent: agent({ template: 'patterns' }), call: modelCall({ model: 'gpt-4o' }) }),
    want: deny(['model gpt-4o is not allowed for template patterns']),
  },
  { name: 'tool allowed by a [..] pattern', input: input({ agent: agent({ template: 'patterns' }), call: toolCall('db.read', 'pg') }), want: allow() },
  {
    name: 'tool outside a [..] pattern, and sensitive',
    input: input({ agent: agent({ template: 'patterns' }), call: toolCall('db.drop', 'pg') }),
    want: deny(['tool db.drop is not allowed for template patterns'], { require_approval: true }),
  },
  // sensitive tools
  {
    name: 'sensitive tool → require_approval',
    input: input({ agent: agent({ template: 'tooling' }), call: toolCall('files.delete', 'fs') }),
    want: allow({ require_approval: true }),
  },
  {
    name: 'sensitive by server/name from settings',
    input: input({ agent: agent({ template: 'tooling' }), call: toolCall('create_issue', 'github') }),
    settings: { sensitive_tools: ['github/*'] },
    want: allow({ require_approval: true }),
  },
  // budget
  {
    name: 'budget would be exceeded',
    input: input({ call: modelCall({ max_tokens: 10 }), budget: budget(19.5, 0.25, 0.5) }),
    want: deny(['budget would be exceeded: scope team:platform, window daily']),
  },
  { name: 'budget exactly at the limit → allowed', input: input({ call: modelCall({ max_tokens: 10 }), budget: budget(19.5, 0.25, 0.25) }), want: allow() },
  // guardrail findings
  {
    name: 'high finding → denied',
    input: input({ call: modelCall({ max_tokens: 10, findings: [finding('secrets.aws', 'high')] }) }),
    want: deny(['guardrail finding secrets.aws (high) at messages.0.content']),
  },
  {
    name: 'critical finding → denied',
    input: input({ call: modelCall({ max_tokens: 10, findings: [finding('secrets.pem', 'critical')] }) }),
    want: deny(['guardrail finding secrets.pem (critical) at messages.0.content']),
  },
  {
    name: 'medium finding, standard profile → redact',
    input: input({ call: modelCall({ max_tokens: 10, findings: [finding('pii.email', 'medium')] }) }),
    want: allow({ redact: true }),
  },
  {
    name: 'medium finding, strict profile → denied',
    input: input({ agent: agent({ template: 'restricted' }), call: modelCall({ model: 'gpt-4o-mini', max_tokens: 10, findings: [finding('pii.email', 'medium')] }) }),
    want: deny(['guardrail finding pii.email (medium) at messages.0.content']),
  },
  {
    name: 'low finding, strict profile → redact',
    input: input({ agent: agent({ template: 'restricted' }), call: modelCall({ model: 'gpt-4o-mini', max_tokens: 10, findings: [finding('pii.phone', 'low')] }) }),
    want: allow({ redact: true }),
  },
  {
    name: 'anonymous calls are still budgeted and guarded',
    input: input({ agent: null, call: modelCall({ findings: [finding('secrets.aws', 'high'), finding('pii.email', 'low')] }), budget: budget(20, 0, 0.01) }),
    want: deny(['budget would be exceeded: scope team:platform, window daily', 'guardrail finding secrets.aws (high) at messages.0.content'], { redact: true }),
  },
  {
    name: 'every reason at once, sorted',
    input: input({
      agent: agent({ status: 'suspended' }),
      call: modelCall({ provider: 'mistral', model: 'mistral-large', max_tokens: 10, findings: [finding('secrets.aws', 'high')] }),
      budget: budget(20, 0, 1),
    }),
    want: deny([
      'agent demo-agent is suspended',
      'budget would be exceeded: scope team:platform, window daily',
      'guardrail finding secrets.aws (high) at messages.0.content',
      'model mistral-large is not allowed for template standard',
      'provider mistral is not allowed for template standard',
    ]),
  },
];

async function bundleData(): Promise<{ wasm: Buffer; data: { aos: { settings: Record<string, unknown> } } }> {
  const files = await bundleFiles;
  return { wasm: files.get('/policy.wasm')!, data: JSON.parse(files.get('/data.json')!.toString('utf8')) };
}

const dataFor = (base: { aos: { settings: Record<string, unknown> } }, row: Row) => ({
  ...base,
  aos: { ...base.aos, settings: { ...base.aos.settings, ...row.settings } },
  registry: { templates } satisfies PolicyRegistryData,
});

t.test('every default rule, through the real Wasm (opa-wasm)', async (t) => {
  const { wasm, data } = await bundleData();
  const policy = await loadPolicy(wasm);
  for (const row of table) {
    policy.setData(dataFor(data, row));
    const result = policy.evaluate(row.input);
    t.equal(result.length, 1, `${row.name}: one result`);
    const decision = result[0].result as PolicyResult;
    t.strictSame(Object.keys(decision).sort(), ['allow', 'obligations', 'reasons'], `${row.name}: decision shape`);
    t.strictSame(decision, row.want, row.name);
  }
});

t.test('the OPA CLI decides the table the same way', opa.options, async (t) => {
  const { data } = await bundleData();
  const dir = mkdtempSync(join(tmpdir(), 'aos-policy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cases = table.map((row) => ({ input: row.input, data: dataFor(data, row) }));
  writeFileSync(join(dir, 'cases.json'), JSON.stringify({ aos_cases: cases }));
  const query =
    'decisions := [d | some c in data.aos_cases; i := c.input; s := c.data.aos.settings; r := c.data.registry; d := data.aos.decision with input as i with data.aos.settings as s with data.registry as r]';
  const run = spawnSync(opa.path, ['eval', '--format=json', '-d', join(policiesDir, 'aos/decision.rego'), '-d', join(dir, 'cases.json'), query], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  t.equal(run.status, 0, run.stderr);
  const decisions = JSON.parse(run.stdout).result[0].bindings.decisions as PolicyResult[];
  t.equal(decisions.length, table.length);
  for (const [i, row] of table.entries()) t.strictSame(decisions[i], row.want, `opa eval: ${row.name}`);
});

// --- src/policy/tar.ts ---------------------------------------------------------------------------

type TarEntry = Partial<Header> & Pick<Header, 'name'>;

async function tarGz(entries: [TarEntry, string?][]): Promise<Buffer> {
  const archive = pack();
  for (const [header, body] of entries) archive.entry(header, body ?? '');
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

t.test('readTarGz: paths normalized to a leading slash, directories skipped', async (t) => {
  const files = await readTarGz(
    await tarGz([[{ name: 'data.json' }, '{}'], [{ name: './a/', type: 'directory' }], [{ name: './a/b.rego' }, 'package a'], [{ name: '/.manifest' }, '{"revision":"x"}']]),
  );
  t.strictSame([...files.keys()].sort(), ['/.manifest', '/a/b.rego', '/data.json']);
  t.equal(files.get('/a/b.rego')!.toString(), 'package a');
});

t.test('readTarGz: refuses what two readers could disagree on', async (t) => {
  const refused = async (name: string, entries: [TarEntry, string?][], message: RegExp, options = {}) => {
    await t.rejects(readTarGz(await tarGz(entries), options), message, name);
    await t.rejects(readTarGz(await tarGz(entries), options), TarReadError, `${name}: a TarReadError`);
  };
  await refused(
    'duplicate path',
    [
      [{ name: 'data.json' }, '{}'],
      [{ name: './data.json' }, '{"a":1}'],
    ],
    /holds \/data\.json more than once/,
  );
  await refused('".." segment', [[{ name: 'a/../../etc/passwd' }, 'x']], /"\.\." segment/);
  await refused('symlink', [[{ name: 'data.json', type: 'symlink', linkname: '/etc/passwd' }]], /is a symlink, not a regular file/);
  await refused('too large', [[{ name: 'big' }, 'x'.repeat(100_000)]], /decompresses to more than 10000 bytes/, { maxBytes: 10_000 });
  await refused('too many files', [[{ name: 'a' }], [{ name: 'b' }], [{ name: 'c' }]], /more than 2 files/, { maxFiles: 2 });
  await t.rejects(readTarGz(Buffer.from('not gzip at all')), /not valid gzip/);
  const whole = await tarGz([[{ name: 'data.json' }, 'x'.repeat(5000)]]);
  const { gunzipSync } = await import('node:zlib');
  await t.rejects(readTarGz(gzipSync(gunzipSync(whole).subarray(0, 1024))), /not a valid tar/, 'truncated tar');
});
