/**
 * Policy bundle sources, signature verification and hot reload, with bundles built by the real OPA
 * CLI (the pinned one, test/tools.ts) and loaded by the real Wasm engine:
 * signed bundles accepted and every kind of bad one refused with its reason while the last good one
 * keeps serving; a bundle server on loopback (200, then 304 on the ETag, then a new revision swapped
 * in under a load of evaluations); directory mode rebuilding on a .rego change; a replaced file.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { pack } from 'tar-stream';
import type { PolicyConfig } from '../src/config/schema.js';
import { BundleError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { opaDigestJsonText, parseBundle } from '../src/policy/bundle.js';
import { createPolicyManager, type PolicyManager, type PolicyManagerOptions } from '../src/policy/manager.js';
import { readTarGz } from '../src/policy/tar.js';
import type { PolicyInput, PolicyRegistryData } from '../src/policy/types.js';
import type { PolicyMetrics } from '../src/telemetry/metrics.js';
import { opaCli } from './tools.js';

const opa = opaCli();

const INPUT: PolicyInput = {
  agent: { id: 'a1', team: 't', roles: [], template: 'standard', template_version: 1, labels: {}, status: 'active' },
  request: { id: 'r', method: 'POST', path: '/v1/chat/completions', route: 'openai/chat.completions', time_ns: 0 },
  call: { kind: 'model', provider: 'openai', operation: 'chat.completions', model: 'gpt-4o', stream: false, max_tokens: null, est_input_tokens: null, tool: null, findings: [] },
  budget: null,
};

/** Allows everything; its reasons say which data it was given: the bundle's tag and the registry's templates. */
const regoFor = (tag: string) => `package aos

templates := [name | some name, _ in data.registry.templates]

decision := {"allow": true, "reasons": array.concat([data.tag, "${tag}"], templates), "obligations": {}}
`;

const NO_REGISTRY: PolicyRegistryData = { templates: {} };

interface Keys {
  /** PEM files of the private keys (for opa build) and the public keys (for the gateway). */
  rsa: string;
  rsaPub: string;
  ec: string;
  ecPub: string;
  otherRsa: string;
  rsaPublicKey: KeyObject;
}

function writeKeys(dir: string): Keys {
  const write = (name: string, pair: { privateKey: KeyObject; publicKey: KeyObject }) => {
    writeFileSync(join(dir, `${name}.pem`), pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, `${name}.pub.pem`), pair.publicKey.export({ type: 'spki', format: 'pem' }));
    return pair.publicKey;
  };
  const rsaPublicKey = write('rsa', generateKeyPairSync('rsa', { modulusLength: 2048 }));
  write('ec', generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  write('other', generateKeyPairSync('rsa', { modulusLength: 2048 }));
  return { rsa: join(dir, 'rsa.pem'), rsaPub: join(dir, 'rsa.pub.pem'), ec: join(dir, 'ec.pem'), ecPub: join(dir, 'ec.pub.pem'), otherRsa: join(dir, 'other.pem'), rsaPublicKey };
}

interface BuildOptions {
  revision: string;
  /** The tag the policy and its data.json report. Default: the revision. */
  tag?: string;
  sign?: { key: string; alg?: string; keyId?: string; claims?: Record<string, unknown> };
}

let builds = 0;
/** A bundle built by `opa build -b -t wasm` from the inline policy, signed when asked. */
function buildBundle(dir: string, opts: BuildOptions): Buffer {
  const src = join(dir, `build-${++builds}`);
  mkdirSync(join(src, 'root'), { recursive: true });
  const tag = opts.tag ?? opts.revision;
  writeFileSync(join(src, 'root', 'policy.rego'), regoFor(tag));
  writeFileSync(join(src, 'root', 'data.json'), JSON.stringify({ tag, numbers: [1.0, 2.5e3], text: 'a\u2028b "q" <tag>' }));
  const out = join(src, 'bundle.tar.gz');
  const args = ['build', '-b', '-t', 'wasm', '-e', 'aos/decision', '--revision', opts.revision, '-o', out];
  if (opts.sign) {
    args.push('--signing-key', opts.sign.key, '--signing-alg', opts.sign.alg ?? 'RS256');
    if (opts.sign.keyId) args.push('--verification-key-id', opts.sign.keyId);
    if (opts.sign.claims) {
      writeFileSync(join(src, 'claims.json'), JSON.stringify(opts.sign.claims));
      args.push('--claims-file', join(src, 'claims.json'));
    }
  }
  // Run in the build folder: the bundle stores the Rego under the path it was given (/root/policy.rego).
  execFileSync(opa.path, [...args, 'root'], { cwd: src, stdio: ['ignore', 'ignore', 'pipe'] });
  return readFileSync(out);
}

/** The bundle's files changed by `edit`, packed again (the signature is carried over as it is). */
async function repack(bundle: Buffer, edit: (files: Map<string, Buffer>) => void): Promise<Buffer> {
  const files = await readTarGz(bundle);
  edit(files);
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of p) chunks.push(chunk as Buffer);
  })();
  for (const [name, content] of files) p.entry({ name, size: content.length, mode: 0o644 }, content);
  p.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** Replaces a file the way deploy tools do: write beside it, then rename over it. */
function replaceFile(path: string, content: Buffer): void {
  writeFileSync(`${path}.tmp`, content);
  renameSync(`${path}.tmp`, path);
}

function recordingMetrics() {
  const loaded: string[] = [];
  const failed: string[] = [];
  const metrics: PolicyMetrics = {
    decided() {},
    loaded: (revision) => void loaded.push(revision),
    loadFailed: (source) => void failed.push(source),
  };
  return { metrics, loaded, failed };
}

function policyConfig(over: Partial<PolicyConfig>): PolicyConfig {
  return { mode: 'enforce', bundle: { file: 'bundle.tar.gz' }, pollIntervalSec: 30, maxMemoryPages: 512, maxInputBytes: 262_144, ...over };
}

function startManager(t: Test, dir: string, config: Partial<PolicyConfig>, extra: Partial<PolicyManagerOptions> = {}) {
  const m = recordingMetrics();
  const logs: string[] = [];
  const manager = createPolicyManager({
    config: policyConfig(config),
    configDir: dir,
    log: createLogger('debug', (line) => void logs.push(line)),
    metrics: m.metrics,
    registry: NO_REGISTRY,
    timing: { fileDebounceMs: 20, buildDebounceMs: 50 },
    ...extra,
  });
  t.teardown(() => manager.close());
  return Object.assign(m, { manager, logs });
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const decide = (manager: PolicyManager) => manager.current()!.evaluate(INPUT);

t.test('signed bundles: accepted; tampered, extra, missing, unsigned and wrongly signed ones refused with the reason, the last good kept', opa.options, async (t) => {
  const dir = t.testdir({});
  const keys = writeKeys(dir);
  const signed = (revision: string, sign: BuildOptions['sign'] = { key: keys.rsa }) => buildBundle(dir, { revision, sign });
  writeFileSync(join(dir, 'bundle.tar.gz'), signed('r1'));
  const { manager, loaded, failed } = startManager(t, dir, { verification: { keyFile: 'rsa.pub.pem' } });
  await manager.start();
  t.match(manager.status(), { revision: 'r1', signed: true, source: join(dir, 'bundle.tar.gz'), lastError: null, lastErrorAt: null, loadedAt: /^\d{4}-/ });
  t.match(decide(manager), { allow: true, reasons: ['r1', 'r1'], revision: 'r1', error: null });

  const good2 = signed('r2');
  const cases: { name: string; bundle: () => Promise<Buffer> | Buffer; reason: RegExp }[] = [
    { name: 'tampered data.json', bundle: () => repack(good2, (f) => f.set('/data.json', Buffer.from('{"tag":"evil"}'))), reason: /data\.json does not match its signed SHA-256 digest/ },
    {
      name: 'tampered policy.wasm',
      bundle: () =>
        repack(good2, (f) => {
          const wasm = Buffer.from(f.get('/policy.wasm')!);
          wasm[wasm.length - 1] ^= 1;
          f.set('/policy.wasm', wasm);
        }),
      reason: /policy\.wasm does not match its signed SHA-256 digest/,
    },
    { name: 'tampered revision in .manifest', bundle: () => repack(good2, (f) => f.set('/.manifest', Buffer.from('{"revision":"r1-evil","roots":[""]}'))), reason: /\.manifest does not match/ },
    { name: 'extra file', bundle: () => repack(good2, (f) => f.set('/extra/data.json', Buffer.from('{"x":1}'))), reason: /extra\/data\.json is in the bundle but not covered by its signature/ },
    { name: 'missing file', bundle: () => repack(good2, (f) => f.delete('/root/policy.rego')), reason: /root\/policy\.rego is listed in the signature but missing from the bundle/ },
    { name: 'missing signature (unsigned build)', bundle: () => buildBundle(dir, { revision: 'r2' }), reason: /not signed \(no \/\.signatures\.json\)/ },
    { name: 'signature removed', bundle: () => repack(good2, (f) => f.delete('/.signatures.json')), reason: /not signed/ },
    { name: 'wrong key', bundle: () => signed('r2', { key: keys.otherRsa }), reason: /signature does not verify with the configured key: signature verification failed/ },
    { name: 'wrong key type (ES256)', bundle: () => signed('r2', { key: keys.ec, alg: 'ES256' }), reason: /signature does not verify with the configured key/ },
    { name: 'scope claim no verifier asked for', bundle: () => signed('r2', { key: keys.rsa, claims: { scope: 'write' } }), reason: /carries the scope "write" and no policy\.verification\.scope/ },
    { name: 'not a bundle', bundle: () => Buffer.from('not gzip at all'), reason: /not a readable \.tar\.gz/ },
  ];
  for (const c of cases) {
    replaceFile(join(dir, 'bundle.tar.gz'), await c.bundle());
    await manager.reload();
    const s = manager.status();
    t.match(s.lastError, c.reason, `${c.name}: refused with the reason`);
    t.match(s.lastErrorAt, /^\d{4}-/);
    t.equal(s.revision, 'r1', `${c.name}: r1 keeps serving`);
    t.match(decide(manager), { revision: 'r1', error: null, allow: true });
  }
  t.equal(failed.length, cases.length, 'one load failure counted per refused bundle');
  t.ok(failed.every((s) => s === 'file'));

  // Re-indenting data.json does not break the signature: OPA hashes it in a normal form.
  const reindented = await repack(good2, (f) => f.set('/data.json', Buffer.from(JSON.stringify(JSON.parse(f.get('/data.json')!.toString()), null, 2))));
  replaceFile(join(dir, 'bundle.tar.gz'), reindented);
  await manager.reload();
  t.match(manager.status(), { revision: 'r2', signed: true, lastError: null, lastErrorAt: null });
  t.match(decide(manager), { revision: 'r2', reasons: ['r2', 'r2'], error: null });
  t.same(loaded, ['r1', 'r2']);
});

t.test('key id, scope and algorithm are checked when configured; ES256 bundles verify with an EC key', opa.options, async (t) => {
  const dir = t.testdir({});
  const keys = writeKeys(dir);
  const table: { name: string; verification: PolicyConfig['verification']; sign: BuildOptions['sign']; reason: RegExp | null }[] = [
    { name: 'ES256 with the EC key', verification: { keyFile: 'ec.pub.pem' }, sign: { key: keys.ec, alg: 'ES256' }, reason: null },
    { name: 'ES256 with algorithm pinned', verification: { keyFile: 'ec.pub.pem', algorithm: 'ES256' }, sign: { key: keys.ec, alg: 'ES256' }, reason: null },
    { name: 'the configured key id', verification: { keyFile: 'rsa.pub.pem', keyId: 'prod' }, sign: { key: keys.rsa, keyId: 'prod' }, reason: null },
    { name: 'another key id', verification: { keyFile: 'rsa.pub.pem', keyId: 'prod' }, sign: { key: keys.rsa }, reason: /names key "default", not the configured "prod"/ },
    { name: 'the configured scope', verification: { keyFile: 'rsa.pub.pem', scope: 'write' }, sign: { key: keys.rsa, claims: { scope: 'write' } }, reason: null },
    { name: 'another scope', verification: { keyFile: 'rsa.pub.pem', scope: 'write' }, sign: { key: keys.rsa, claims: { scope: 'read' } }, reason: /scope "read" is not the configured "write"/ },
    { name: 'no scope', verification: { keyFile: 'rsa.pub.pem', scope: 'write' }, sign: { key: keys.rsa }, reason: /scope "" is not the configured "write"/ },
    { name: 'an algorithm other than the pinned one', verification: { keyFile: 'rsa.pub.pem', algorithm: 'PS256' }, sign: { key: keys.rsa }, reason: /does not verify.*"alg"/ },
  ];
  for (const c of table) {
    const file = `${c.name.replace(/\W+/g, '-')}.tar.gz`;
    writeFileSync(join(dir, file), buildBundle(dir, { revision: 'k1', sign: c.sign }));
    const { manager } = startManager(t, dir, { bundle: { file }, verification: c.verification });
    if (c.reason === null) {
      await manager.start();
      t.match(manager.status(), { revision: 'k1', signed: true }, `${c.name}: accepted`);
    } else {
      await t.rejects(manager.start(), { message: c.reason }, `${c.name}: refused at start`);
      t.equal(manager.current(), null);
    }
    manager.close();
  }

  // parseBundle on its own: without a key, a signed bundle loads unverified.
  const bundle = await parseBundle(buildBundle(dir, { revision: 'k2', sign: { key: keys.rsa } }), { source: 'mem', verification: null });
  t.match(bundle, { revision: 'k2', signed: false, source: 'mem', data: { tag: 'k2', numbers: [1, 2500] } });
  const err = await parseBundle(buildBundle(dir, { revision: 'k3' }), { source: 'mem', verification: { key: keys.rsaPublicKey } }).catch((e: unknown) => e);
  t.ok(err instanceof BundleError);
  t.equal((err as BundleError).code, 'AOS_ERR_BUNDLE_UNSIGNED');
});

t.test('the normal form OPA hashes JSON in', async (t) => {
  const table: [string, string][] = [
    ['{ "b": 1, "a": [1.0, 2e3, -0, {"z": null, "y": true}] }', '{"a":[1.0,2e3,-0,{"y":true,"z":null}],"b":1}'],
    ['"\\u003c&\\u2028\\b\\f\\u0001\\/"', '"<&\\u2028\\b\\f\\u0001/"'],
    ['{"\\uffff": 1, "😀": 2, "Z": 3, "é": 4}', '{"Z":3,"é":4,"\uffff":1,"😀":2}'],
    ['"\\ud800x"', '"\ufffdx"'],
  ];
  for (const [input, want] of table) t.equal(opaDigestJsonText(input), want, input);
  t.throws(() => opaDigestJsonText('{"a":1,}'), /not valid JSON/);
  t.throws(() => opaDigestJsonText('01'), /not valid JSON/);
});

interface BundleServer {
  url: string;
  /** What it serves now. */
  serve(body: Buffer | null, etag: string | null, status?: number): void;
  requests: IncomingHttpHeaders[];
}

async function bundleServer(t: Test): Promise<BundleServer> {
  let current: { body: Buffer | null; etag: string | null; status: number } = { body: null, etag: null, status: 404 };
  const requests: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.headers);
    const { body, etag, status } = current;
    if (status !== 200 || body === null) {
      res.writeHead(status, { 'content-type': 'text/plain' }).end('no bundle');
    } else if (etag !== null && req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag }).end();
    } else {
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': body.length, ...(etag === null ? {} : { etag }) }).end(body);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/bundles/aos.tar.gz`,
    requests,
    serve(body, etag, status = 200) {
      current = { body, etag, status };
    },
  };
}

t.test('bundle server: 200, then 304 on the ETag, then a new revision swapped in under load with no failed evaluation', opa.options, async (t) => {
  const dir = t.testdir({});
  const server = await bundleServer(t);
  server.serve(buildBundle(dir, { revision: 'v1' }), '"etag-v1"');
  const v2 = buildBundle(dir, { revision: 'v2' });
  const { manager, loaded, failed } = startManager(t, dir, { bundle: { url: server.url }, pollIntervalSec: 0.1, token: 'bundle-secret' });
  await manager.start();
  t.match(manager.status(), { revision: 'v1', source: server.url, signed: false, lastError: null });
  t.equal(server.requests[0]['if-none-match'], undefined, 'the first request is unconditional');
  t.equal(server.requests[0].authorization, 'Bearer bundle-secret', 'the token is sent');

  await until('a conditional poll', () => server.requests.length >= 3);
  t.equal(server.requests[1]['if-none-match'], '"etag-v1"', 'the next poll sends If-None-Match with the ETag');
  t.equal(manager.status().revision, 'v1', '304: unchanged');
  t.same(loaded, ['v1'], 'a 304 loads nothing');

  // A load of evaluations across the swap: each takes the engine in force, as a request does.
  const before = manager.current()!;
  const seen = new Map<string, number>();
  const problems: string[] = [];
  let stop = false;
  const load = (async () => {
    while (!stop) {
      for (let i = 0; i < 20; i++) {
        const d = decide(manager);
        seen.set(d.revision, (seen.get(d.revision) ?? 0) + 1);
        if (d.error !== null || !d.allow || (d.revision !== 'v1' && d.revision !== 'v2') || d.reasons[0] !== d.revision) problems.push(JSON.stringify(d));
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  await until('some evaluations on v1', () => (seen.get('v1') ?? 0) > 200);
  server.serve(v2, '"etag-v2"');
  await until('v2 swapped in', () => manager.status().revision === 'v2');
  await until('some evaluations on v2', () => (seen.get('v2') ?? 0) > 200);
  stop = true;
  await load;
  t.same(problems, [], 'no failed evaluation during the swap');
  t.ok((seen.get('v1') ?? 0) > 0 && (seen.get('v2') ?? 0) > 0, `evaluations on both revisions (${JSON.stringify(Object.fromEntries(seen))})`);
  t.match(before.evaluate(INPUT), { revision: 'v1', error: null }, 'an engine taken before the swap still decides, on its own revision');
  t.same(loaded, ['v1', 'v2']);

  // Failures keep v2: a server error, then garbage; a 304 afterwards clears a fetch error only.
  server.serve(null, null, 500);
  await until('the 500 reported', () => /HTTP 500/.test(manager.status().lastError ?? ''));
  t.equal(manager.status().revision, 'v2');
  server.serve(v2, '"etag-v2"');
  await until('the server back (304)', () => manager.status().lastError === null);
  server.serve(Buffer.from('garbage'), '"etag-garbage"');
  await until('garbage refused', () => /not a readable/.test(manager.status().lastError ?? ''));
  const failures = failed.length;
  const polls = server.requests.length;
  await until('two more polls', () => server.requests.length >= polls + 2);
  t.match(manager.status(), { revision: 'v2', lastError: /not a readable/ }, 'the refused bundle stays refused (304 on its ETag)');
  t.equal(failed.length, failures, 'and is not counted again');
  t.ok(failed.every((s) => s === 'url'));
});

t.test('bundle server unreachable at start: start resolves, no engine, the error reported', opa.options, async (t) => {
  const dir = t.testdir({});
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const { port } = closed.address() as AddressInfo;
  await new Promise<void>((r) => closed.close(() => r()));
  const { manager, failed } = startManager(t, dir, { bundle: { url: `http://127.0.0.1:${port}/b.tar.gz` }, pollIntervalSec: 60 });
  const t0 = Date.now();
  await manager.start();
  t.ok(Date.now() - t0 < 5_000, 'start does not hang');
  t.equal(manager.current(), null);
  t.match(manager.status(), { revision: null, loadedAt: null, lastError: /cannot fetch the bundle.*ECONNREFUSED/ });
  t.same(failed, ['url']);
});

t.test('file mode: a replaced file is picked up; an invalid file at start is refused with the reason', opa.options, async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'bundle.tar.gz');
  writeFileSync(file, buildBundle(dir, { revision: 'f1' }));
  const { manager } = startManager(t, dir, {});
  await manager.start();
  t.equal(manager.status().revision, 'f1');
  replaceFile(file, buildBundle(dir, { revision: 'f2' }));
  await until('f2 picked up from the file event', () => manager.status().revision === 'f2');
  t.match(decide(manager), { revision: 'f2', reasons: ['f2', 'f2'], error: null });

  // The registry reaches the policy as data.registry; setRegistry reloads with it.
  await manager.setRegistry({ templates: { standard: { version: 1, providers: ['openai'], models: ['*'], tools: [], max_tokens: null, guardrails: 'default' } } });
  t.match(decide(manager), { revision: 'f2', reasons: ['f2', 'f2', 'standard'] });

  writeFileSync(join(dir, 'broken.tar.gz'), Buffer.from('nope'));
  const broken = startManager(t, dir, { bundle: { file: 'broken.tar.gz' } });
  await t.rejects(broken.manager.start(), { message: `policy bundle ${join(dir, 'broken.tar.gz')}: bundle is not a readable .tar.gz: archive is not valid gzip: incorrect header check` });
  const missing = startManager(t, dir, { bundle: { file: 'missing.tar.gz' } });
  await t.rejects(missing.manager.start(), { message: /cannot read the bundle file .*missing\.tar\.gz \(ENOENT\)/ });
  const noWasm = startManager(t, dir, { bundle: { file: 'rego-only.tar.gz' } });
  writeFileSync(join(dir, 'rego-only.tar.gz'), await repack(buildBundle(dir, { revision: 'x' }), (f) => f.delete('/policy.wasm')));
  await t.rejects(noWasm.manager.start(), { message: /no \/policy\.wasm: build it with `opa build -t wasm -e aos\/decision`/ });
});

t.test('directory mode: rebuilt with opa on a .rego change; a broken edit keeps the last good; no opa is refused', opa.options, async (t) => {
  const dir = t.testdir({ policies: { 'aos.rego': regoFor('d1'), 'data.json': '{"tag":"dev"}', 'aos_test.rego': 'package aos\n\ntest_nothing if true\n' } });
  const previous = process.env.AOS_OPA;
  process.env.AOS_OPA = opa.path;
  t.teardown(() => {
    if (previous === undefined) delete process.env.AOS_OPA;
    else process.env.AOS_OPA = previous;
  });
  const { manager, loaded } = startManager(t, dir, { bundle: { directory: 'policies' } });
  await manager.start();
  const r1 = manager.status().revision!;
  t.match(r1, /^dev-[0-9a-f]{12}$/);
  t.match(decide(manager), { reasons: ['dev', 'd1'], error: null });

  writeFileSync(join(dir, 'policies', 'aos.rego'), regoFor('d2'));
  await until('rebuilt after the .rego change', () => manager.status().revision !== r1);
  t.match(decide(manager), { reasons: ['dev', 'd2'], error: null });

  writeFileSync(join(dir, 'policies', 'aos.rego'), 'package aos\n\ndecision := {\n');
  await until('the broken edit reported', () => /opa build failed/.test(manager.status().lastError ?? ''));
  t.match(decide(manager), { reasons: ['dev', 'd2'], error: null }, 'the last good keeps serving');
  t.equal(loaded.length, 2);

  process.env.AOS_OPA = join(dir, 'no-such-opa');
  const without = startManager(t, dir, { bundle: { directory: 'policies' } });
  await t.rejects(without.manager.start(), { message: /the opa CLI, and none was found; put opa on PATH or set AOS_OPA/ });
  process.env.AOS_OPA = opa.path;
  const signedDir = startManager(t, dir, { bundle: { directory: 'policies' }, verification: { keyFile: 'k.pem' } });
  await t.rejects(signedDir.manager.start(), { message: /verification cannot be combined with policy\.bundle\.directory/ });
});
