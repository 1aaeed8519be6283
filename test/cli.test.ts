/** The `aos` command as a user runs it: a real child process, signals included. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { baseConfig, freePort, PROVIDER_KEY } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/aos.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, exited };
}

async function until(what: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startCli(t: Test) {
  const upstream = await startSampleUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'aos-cli-'));
  const configFile = join(dir, 'aos.yaml');
  const config = baseConfig(upstream.url, dir);
  config.log = { level: 'info' };
  writeFileSync(configFile, stringify(config));
  const p = run(['start', '--config', configFile]);
  t.teardown(async () => {
    p.child.kill('SIGKILL');
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await until(() => /listening on (http:\/\/\S+)/.test(p.out()));
  const url = /listening on (http:\/\/\S+)/.exec(p.out())![1];
  return { ...p, url, upstream, configFile, config };
}

t.test('aos --help and unknown commands', async (t) => {
  const help = run(['--help']);
  t.equal(await help.exited, 0);
  t.match(help.out(), /aos start \[--config FILE\]/);
  const bad = run(['frobnicate']);
  t.equal(await bad.exited, 2);
  t.match(bad.out(), /unknown command "frobnicate"/);
});

t.test('aos start refuses an invalid config and says where', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'aos.yaml'), 'listen:\n  port: -1\nproviders: {}\nroutes: []\n');
  const p = run(['start', '--config', join(dir, 'aos.yaml')]);
  t.equal(await p.exited, 1);
  t.match(p.out(), /invalid configuration/);
  t.match(p.out(), /aos\.yaml:2:9: listen\.port: expected >= 0, got -1/);
});

t.test('aos config check prints the routes of a valid file', async (t) => {
  const p = run(['config', 'check', fileURLToPath(new URL('../config/aos.yaml', import.meta.url))]);
  t.equal(await p.exited, 0);
  t.match(p.out(), /\/anthropic\s+→ anthropic \(anthropic, https:\/\/api\.anthropic\.com\)/);
});

t.test('start prints a banner with base URLs; SIGHUP reloads; SIGTERM drains an in-flight stream', async (t) => {
  const gw = await startCli(t);
  t.match(gw.out(), /OPENAI_BASE_URL=http:\/\/127\.0\.0\.1:\d+\/v1/);
  t.match(gw.out(), /ANTHROPIC_BASE_URL=http:\/\/127\.0\.0\.1:\d+\/anthropic/);

  gw.config.routes = [{ prefix: '/reloaded/v1', provider: 'openai' }];
  writeFileSync(gw.configFile, stringify(gw.config));
  gw.child.kill('SIGHUP');
  await until(() => /config reloaded/.test(gw.out()));
  t.equal((await fetch(`${gw.url}/reloaded/v1/models`)).status, 200, 'new route after SIGHUP');

  // A slow stream (~2 s) is in flight when SIGTERM arrives: it must complete, then the process exits 0.
  const res = await fetch(`${gw.url}/reloaded/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'slow-stream', stream: true, messages: [{ role: 'user', content: 'one two three four five six seven' }] }),
  });
  t.equal(res.status, 200);
  gw.child.kill('SIGTERM');
  const text = await res.text();
  t.match(text, /data: \[DONE\]/, 'the in-flight stream finished');
  t.equal(await gw.exited, 0, 'clean exit after draining');
  await t.rejects(fetch(`${gw.url}/reloaded/v1/models`), 'no longer accepting');
  t.notMatch(gw.out(), new RegExp(PROVIDER_KEY), 'the provider key is never logged');
});

t.test('token mint, agents suspend/list/resume and policy status, as a user runs them', async (t) => {
  const upstream = await startSampleUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'aos-cli-'));
  t.teardown(async () => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const configFile = join(dir, 'aos.yaml');
  const config = baseConfig(upstream.url, dir);
  config.identity = { mode: 'required', registry: 'agents.yaml' };
  config.policy = { mode: 'enforce', bundle: { file: fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url)) } };
  // `aos policy status` finds the admin listener from the config: give it a real port.
  const adminPort = await freePort();
  config.admin = { host: '127.0.0.1', port: adminPort };
  writeFileSync(configFile, stringify(config));
  writeFileSync(join(dir, 'agents.yaml'), 'templates:\n  standard: { version: 1, models: ["gpt-*"] }\nagents:\n  - { id: cli-agent, team: ops, template: standard }\n');

  const gw = run(['start', '--config', configFile]);
  t.teardown(() => gw.child.kill('SIGKILL'));
  await until(() => /listening on (http:\/\/\S+) \(admin (http:\/\/\S+),/.test(gw.out()));
  const [, url, admin] = /listening on (http:\/\/\S+) \(admin (http:\/\/\S+),/.exec(gw.out())!;
  t.match(gw.out(), /aos token mint --agent demo-agent/, 'the banner says how to get a first token');

  const mint = run(['token', 'mint', '--agent', 'cli-agent', '--ttl', '10m', '--config', configFile]);
  t.equal(await mint.exited, 0);
  const token = mint.out().trim().split('\n').at(-1)!;
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'prints a compact JWT');
  const call = () =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ model: 'gpt-sample', messages: [] }),
    });
  t.equal((await call()).status, 200, 'the minted token works');

  const suspend = run(['agents', 'suspend', 'cli-agent', '--reason', 'incident 42', '--config', configFile]);
  t.equal(await suspend.exited, 0);
  let status = 0;
  for (let i = 0; i < 50 && status !== 403; i++) {
    status = (await call()).status;
    if (status !== 403) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(status, 403, 'the running gateway refuses the suspended agent');
  const list = run(['agents', 'list', '--config', configFile]);
  t.equal(await list.exited, 0);
  t.match(list.out(), /cli-agent\s+ops\s+standard@v1\s+SUSPENDED since \S+ by cli:\S+: incident 42/);
  const resume = run(['agents', 'resume', 'cli-agent', '--config', configFile]);
  t.equal(await resume.exited, 0);
  t.match(resume.out(), /agent cli-agent resumed/);

  t.equal(new URL(admin).port, String(adminPort));
  const policy = run(['policy', 'status', '--config', configFile]);
  t.equal(await policy.exited, 0, policy.out());
  t.match(policy.out(), /mode\s+enforce\nrevision\s+sha256:[0-9a-f]{16}/);
});
