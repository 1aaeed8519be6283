/** A real redis-server on a free loopback port for tests (no persistence), stopped in teardown. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import type { Test } from 'tap';
import { freePort } from './helpers.js';

export interface RedisServer {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;

async function reachable(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, '127.0.0.1', () => (s.end(), r(true)));
    s.on('error', () => r(false));
  });
}

export async function startRedis(t: Test, port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const child = spawn('redis-server', ['--save', '', '--appendonly', 'no', '--port', String(p), '--bind', '127.0.0.1'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !(await reachable(p)); i++) await new Promise((r) => setTimeout(r, 50));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  t.teardown(stop);
  return { url: `redis://127.0.0.1:${p}`, port: p, child, stop };
}
