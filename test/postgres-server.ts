/**
 * A real PostgreSQL for tests: a fresh cluster in a temporary folder, on a free loopback port,
 * stopped and deleted in teardown. initdb refuses to run as root: as root the cluster belongs to
 * the `postgres` user (runuser), otherwise to the current user.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Test } from 'tap';
import { freePort } from './helpers.js';
import { postgresServer } from './tools.js';

/** The PostgreSQL guard: `POSTGRES.options` on a test that needs it (skipped only outside CI, failed under CI). */
export const POSTGRES = postgresServer();

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  url: string;
  port: number;
  /** A new empty database on this server, and its URL. */
  database(name: string): Promise<string>;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[], asPostgres: boolean): void {
  const argv = asPostgres ? ['-u', 'postgres', '--', cmd, ...args] : args;
  const r = spawnSync(asPostgres ? 'runuser' : cmd, argv, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal ?? r.error?.message}): ${(r.stderr || r.stdout || '').trim()}`);
}

export async function startPostgres(t: Test): Promise<PostgresServer> {
  const initdb = POSTGRES.path;
  const bin = initdb.includes('/') ? dirname(initdb) : '';
  const tool = (name: string) => (bin === '' ? name : join(bin, name));
  const asPostgres = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'aos-pg-'));
  const data = join(dir, 'data');
  if (asPostgres) {
    const pw = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(dir, Number(pw.stdout.trim()), Number(gid.stdout.trim()));
  }
  chmodSync(dir, 0o700);
  const port = await freePort();
  run(tool('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], asPostgres);
  const stop = async () => {
    spawnSync(asPostgres ? 'runuser' : tool('pg_ctl'), [...(asPostgres ? ['-u', 'postgres', '--', tool('pg_ctl')] : []), '-D', data, '-m', 'immediate', '-w', 'stop'], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  t.teardown(stop);
  run(tool('pg_ctl'), ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`, '-l', join(dir, 'log'), '-w', 'start'], asPostgres);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    async database(name) {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop,
  };
}
