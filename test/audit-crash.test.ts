/**
 * The audit guarantee under a crash: load through a real gateway process, kill -9 it mid-run,
 * restart it; every call the upstream received has its audit event, and the chain verifies.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { stringify } from 'yaml';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { openAuditStore } from '../src/audit/store.js';
import { baseConfig } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/aos.js', import.meta.url));

function startGateway(configFile: string): Promise<{ child: ChildProcess; url: string; exited: Promise<void>; output: () => string }> {
  const child = spawn(process.execPath, [BIN, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, url: m[1], exited, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
}

t.test('kill -9 under load loses no record of a call that reached the upstream', async (t) => {
  const upstream = await startSampleUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'aos-crash-'));
  const configFile = join(dir, 'aos.yaml');
  const config = baseConfig(upstream.url, dir);
  config.log = { level: 'warn' };
  // A long group-commit interval: at the kill, many finished calls are not committed yet.
  config.audit = { flushMs: 300, batchSize: 100_000 };
  writeFileSync(configFile, stringify(config));
  let gw = await startGateway(configFile);
  t.teardown(async () => {
    gw.child.kill('SIGKILL');
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let stop = false;
  let answered = 0;
  const worker = async (i: number) => {
    while (!stop) {
      const slow = i === 0;
      const body = JSON.stringify({ model: slow ? 'slow-first-byte' : 'gpt-4o-mini', stream: i % 2 === 1, messages: [{ role: 'user', content: `call from worker ${i}` }] });
      try {
        const r = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sample-delay-ms': '5000' }, body });
        await r.arrayBuffer();
        answered += 1;
      } catch {
        return; // the gateway is gone
      }
    }
  };
  const load = Array.from({ length: 6 }, (_, i) => worker(i));
  while (upstream.received.length < 150) await new Promise((r) => setTimeout(r, 10));
  gw.child.kill('SIGKILL');
  await gw.exited;
  stop = true;
  await Promise.all(load);
  const received = upstream.received.map((r) => String(r.headers['x-aos-request-id']));
  t.ok(received.length >= 150, `${received.length} calls reached the upstream, ${answered} were answered before the kill`);

  // Restart: the gateway replays its intent journal into the chain before it listens.
  gw = await startGateway(configFile);
  gw.child.kill('SIGTERM');
  await gw.exited;

  const store = openAuditStore(join(dir, 'data'), 'audit.db', { readonly: true });
  const events = store.query({});
  store.close();
  const byId = new Map(events.map((e) => [e.id, e]));
  const missing = received.filter((id) => !byId.has(id));
  t.same(missing, [], 'every call the upstream received has its audit event');
  t.equal(byId.size, events.length, 'one event per id');
  const interrupted = events.filter((e) => e.outcome === 'interrupted');
  t.ok(interrupted.length >= 1, `${interrupted.length} calls recorded as decided and interrupted by the crash`);
  t.ok(
    interrupted.some((e) => e.model === 'slow-first-byte'),
    'including the one waiting on its upstream at the kill',
  );
  t.ok(
    events.every((e) => e.decision === 'allow'),
    'all were allowed calls',
  );
  t.ok(events.length <= received.length + 6, 'no phantom events (at most one per worker decided but not yet forwarded)');

  const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'audit', 'verify', '--config', configFile], { timeout: 30_000 });
  t.match(stdout, new RegExp(`^ok: ${events.length} events verified`), 'aos audit verify passes');
});
