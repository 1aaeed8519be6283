/** A real redis-server on a free loopback port for tests (no persistence), stopped in teardown. */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { Test } from 'tap';
import { freePort } from './helpers.js';
import { redisServer } from './tools.js';

export interface RedisServer {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** The redis-server guard: `REDIS.options` on a test that needs it (skipped only outside CI, failed under CI). */
export const REDIS = redisServer();

async function reachable(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, '127.0.0.1', () => {
      s.end();
      r(true);
    });
    s.on('error', () => r(false));
  });
}

export async function startRedis(t: Test, port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const child = spawn(REDIS.path, ['--save', '', '--appendonly', 'no', '--port', String(p), '--bind', '127.0.0.1'], { stdio: 'ignore' });
  let up = false;
  for (let i = 0; i < 100; i++) {
    up = await reachable(p);
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  t.teardown(stop);
  if (!up) throw new Error(`redis-server did not accept connections on 127.0.0.1:${p} within 5 s (exit ${child.exitCode ?? child.signalCode ?? 'none yet'})`);
  return { url: `redis://127.0.0.1:${p}`, port: p, child, stop };
}
