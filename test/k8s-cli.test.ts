/**
 * `aos inject` as a process: started from a config file with a CA generated at start, answering a
 * review over TLS verified with the CA bundle it wrote, stopping on SIGTERM; a bad config refused
 * with the line and key.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { packageRoot } from '../src/package-root.js';

const cli = join(packageRoot, 'src', 'cli.ts');
const fixture = readFileSync(join(packageRoot, 'test', 'fixtures', 'k8s', 'pod-create-review.json'));

function dir(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'aos-inject-cli-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('aos inject serves the webhook until SIGTERM', async (t) => {
  const d = dir(t);
  const config = join(d, 'inject.yaml');
  writeFileSync(config, `listen: { host: 127.0.0.1, port: 0 }\ntls: { selfSignedHosts: [localhost], caBundleFile: ${join(d, 'ca.pem')} }\nlog: { level: warn }\n`);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', cli, 'inject', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /AOS injector: (https:\/\/\S+)\/mutate/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  const port = new URL(url).port;
  const { request } = await import('node:https');
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate?timeout=10s',
        method: 'POST',
        ca: readFileSync(join(d, 'ca.pem')),
        servername: 'localhost',
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(fixture);
  });
  t.equal(status, 200, 'answers over TLS verified with the CA bundle it wrote');
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  t.equal(await exit, 0, 'SIGTERM: a clean exit');
});

t.test('aos inject refuses a bad config with its line and key', async (t) => {
  const d = dir(t);
  const config = join(d, 'inject.yaml');
  writeFileSync(config, 'listen: { host: 127.0.0.1, port: 0 }\nsidecar:\n  mode: sometimes\n');
  const run = spawnSync(process.execPath, ['--import', 'tsx', cli, 'inject', '--config', config], { encoding: 'utf8', timeout: 30_000 });
  t.equal(run.status, 1);
  t.match(run.stderr, /invalid configuration[\s\S]*:3:\d+: sidecar\.mode/, run.stderr);
});
