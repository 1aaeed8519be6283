/** Test fixtures: a real gateway on port 0 in front of the real sample upstream, torn down after. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { type SampleUpstream, startSampleUpstream } from '../examples/sample-upstream.js';
import type { AuditRecord } from '../src/audit/event.js';
import { createLogger } from '../src/log.js';
import { createGateway, type Gateway } from '../src/main.js';

export const PROVIDER_KEY = 'sk-test-provider-secret-0123456789';

export interface Harness {
  gateway: Gateway;
  upstream: SampleUpstream;
  /** Gateway proxy base, e.g. http://127.0.0.1:PORT */
  url: string;
  admin: string;
  configFile: string;
  dir: string;
  /** Every log line the gateway wrote. */
  logs: string[];
  /** Rewrites the config file (same shape as `overrides`). */
  writeConfig(overrides?: Record<string, unknown>): void;
}

/** The config a harness starts with: both dialects routed to the sample upstream. */
export function baseConfig(upstreamUrl: string, dir: string): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    dataDir: join(dir, 'data'),
    log: { level: 'debug' },
    upstream: { retries: 2 },
    // Core proxy tests run without agent identity; identity tests turn it on.
    identity: { mode: 'off' },
    // ...and without policy; policy tests turn it on.
    policy: { mode: 'off' },
    providers: {
      openai: { dialect: 'openai', baseUrl: `${upstreamUrl}/v1`, apiKey: PROVIDER_KEY },
      anthropic: { dialect: 'anthropic', baseUrl: upstreamUrl, apiKey: PROVIDER_KEY },
    },
    routes: [
      { prefix: '/v1', provider: 'openai' },
      { prefix: '/openai/v1', provider: 'openai' },
      { prefix: '/anthropic', provider: 'anthropic' },
      { prefix: '/', provider: 'anthropic' },
    ],
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    out[k] = isRecord(v) && b && typeof b === 'object' ? merge(b as Record<string, unknown>, v) : v;
  }
  return out;
}

/** Starts the sample upstream and a gateway in front of it; both stop in t.teardown. */
export async function startHarness(
  t: Test,
  overrides: Record<string, unknown> = {},
  opts: { watchConfig?: boolean; files?: Record<string, string>; env?: Record<string, string> } = {},
): Promise<Harness> {
  const upstream = await startSampleUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'aos-test-'));
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), text);
  const configFile = join(dir, 'aos.yaml');
  const writeConfig = (o: Record<string, unknown> = overrides) => writeFileSync(configFile, stringify(merge(baseConfig(upstream.url, dir), o)));
  writeConfig();
  const logs: string[] = [];
  const gateway = createGateway({
    configFile,
    log: createLogger('debug', (l) => logs.push(l)),
    watchConfig: opts.watchConfig ?? false,
    // Variables the gateway sees besides the process's own (AWS_ROLE_ARN, …).
    ...(opts.env === undefined ? {} : { env: { ...process.env, ...opts.env } }),
  });
  await gateway.start();
  t.teardown(async () => {
    await gateway.stop(500);
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { gateway, upstream, url: gateway.addresses.proxy, admin: gateway.addresses.admin, configFile, dir, logs, writeConfig };
}

/** A loopback port nothing listens on right now (bound, then released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * A loopback port nothing listens on, for tests of an unreachable peer. A port freed by `freePort()` is
 * not one: under parallel test files another server listening on port 0 can be given it, and then it
 * accepts. Port 1 lies below the kernel's ephemeral range, so no `listen(0)` is ever handed it; it is
 * checked to refuse, and a machine where it does not is an error rather than a hang.
 */
export async function refusedPort(): Promise<number> {
  const port = 1;
  const code = await new Promise<string | undefined>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(2000, () => socket.destroy(new Error('ETIMEDOUT')));
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  if (code !== 'ECONNREFUSED') throw new Error(`127.0.0.1:${port} should refuse connections for this test, but it ${code ? `failed with ${code}` : 'accepted'}`);
  return port;
}

/** Commits what the gateway's audit trail has queued and reads its events, waiting (bounded) until `n` are there. */
export async function auditEvents(h: Harness, n: number): Promise<AuditRecord[]> {
  const trail = h.gateway.audit()!;
  const deadline = Date.now() + 5000;
  for (;;) {
    await trail.flush();
    const all = trail.store.query({});
    if (all.length >= n || Date.now() > deadline) return all;
    await new Promise((r) => setTimeout(r, 20));
  }
}
