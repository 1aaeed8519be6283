/**
 * Fleet test fixtures: real `aos start` processes under a control plane, agent tokens from a test
 * issuer every gateway trusts, and small readers of a gateway's admin endpoints.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, SignJWT } from 'jose';
import { stringify } from 'yaml';
import type { AgentRegistryFile } from '../src/config/agents-schema.js';
import { type ControlPlane, createControlPlane } from '../src/control/server.js';
import { createLogger } from '../src/log.js';
import { ADMIN_TOKEN, type Issuer, makeIssuer, REGISTRY } from './control-fixtures.js';
import { baseConfig, freePort } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/aos.js', import.meta.url));
const ISSUER = 'fleet-test-issuer';

/** The registry the control plane serves: agents the gateways' own agents.yaml does not have. */
export const FLEET_REGISTRY = {
  templates: { standard: { version: 1, models: ['*'], maxTokens: 256 }, batch: { version: 1, models: ['*'], maxTokens: 256 } },
  agents: [
    { id: 'writer', team: 'content', template: 'standard' },
    { id: 'editor', team: 'content', template: 'standard' },
    { id: 'analyst', team: 'data', template: 'batch' },
  ],
} as unknown as AgentRegistryFile;

const LOCAL_REGISTRY = `templates:\n  local: { version: 1, models: ["*"], maxTokens: 256 }\nagents:\n  - { id: local-only, team: ops, template: local }\n`;

/** A signing key for agent tokens; its public JWK is written to `dir` for the gateways to trust. */
export async function testIssuer(dir: string) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'fleet-test', alg: 'ES256', use: 'sig' };
  const keyFile = join(dir, 'issuer.jwks.json');
  writeFileSync(keyFile, JSON.stringify({ keys: [jwk] }));
  return {
    keyFile,
    /** An admin token for the gateways' admin API. */
    admin: () =>
      new SignJWT({ roles: ['admin'] })
        .setProtectedHeader({ alg: 'ES256', kid: 'fleet-test' })
        .setIssuer(ISSUER)
        .setAudience('aos-admin')
        .setSubject('operator')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey),
    token: (agent: string) =>
      new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'fleet-test' }).setIssuer(ISSUER).setAudience('aos-gateway').setSubject(agent).setIssuedAt().setExpirationTime('1h').sign(privateKey),
  };
}

/** Writes a gateway config (and its local agents.yaml) under `dir` for a fleet test; returns the config file. */
export function writeFleetConfig(dir: string, upstreamUrl: string, controlUrls: string[], keyFile: string, extra: Record<string, unknown> = {}): string {
  const config: Record<string, unknown> = {
    ...baseConfig(upstreamUrl, dir),
    log: { level: 'info' },
    identity: { mode: 'required', localIssuer: { enabled: false }, issuers: [{ issuer: ISSUER, keyFiles: [keyFile] }] },
    metering: { mode: 'off' },
    audit: { flushMs: 20 },
    controlPlane: { urls: controlUrls, tokenFile: 'control.token', connectTimeoutMs: 1000, backoffMaxMs: 500, audit: { intervalMs: 100, drainTimeoutMs: 3000 } },
    ...extra,
  };
  writeFileSync(join(dir, 'agents.yaml'), LOCAL_REGISTRY);
  writeFileSync(join(dir, 'control.token'), 'gateway-credential-1\n');
  const file = join(dir, 'aos.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  admin: string;
  exited: Promise<number | null>;
  output(): string;
}

/** Spawns `aos start` and waits for its listening line. */
export function startGatewayProcess(configFile: string, env: NodeJS.ProcessEnv = {}): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [BIN, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+) \(admin (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, url: m[1], admin: m[2], exited, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`gateway exited before listening:\n${out}`)));
  });
}

/** The fleet part of a gateway's /readyz answer. */
export async function fleetStatus(gw: GatewayProcess): Promise<{ gateway: string; connected: boolean; snapshotVersion: number; lastError: string | null; auditBacklog: number }> {
  const r = await fetch(`${gw.admin}/readyz`);
  return ((await r.json()) as { fleet: never }).fleet;
}

/** A metric's value on a gateway (first sample of that name). */
export async function metric(gw: GatewayProcess, name: string): Promise<number> {
  const text = await (await fetch(`${gw.admin}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m === null ? Number.NaN : Number(m[1]);
}

/** Polls until `check` is true (or fails after `ms`). */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** One chat call as an agent: the status and the error code, if any. */
export async function chat(gw: GatewayProcess, token: string, content = 'hello there'): Promise<{ status: number; code: string | null; id: string | null }> {
  const r = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }),
  });
  const body = (await r.json()) as { error?: { code?: string } };
  return { status: r.status, code: body.error?.code ?? null, id: r.headers.get('x-aos-request-id') };
}

/** `aos control` (SQLite store in `dir`, seeded with the control tests' REGISTRY) on fixed loopback ports, so it can be stopped and started again. */
export interface AosControl {
  /** The gateway API of the first replica. */
  url: string;
  /** Every replica's gateway API, as gateways are configured with them. */
  urls: string[];
  /** The people's API of the first replica (what `--control-plane` names). */
  people: string;
  gatewayIssuer: Issuer;
  /** A people's API call (on the first replica) with the static admin token; JSON answers parsed, others as text; throws on an error status. */
  api(method: string, path: string, body?: unknown): Promise<Json>;
  /** A credential for a gateway (what its `controlPlane.tokenFile` holds). */
  gatewayToken(sub: string): Promise<string>;
  /** Stops (starts) every replica. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON answers of the people's API, read by assertions that fail on a wrong shape
export type Json = any;

/**
 * The real control plane (src/control/server.ts) in this process: one replica on SQLite, or, with
 * `postgresUrl`, `replicas` of them sharing that database (as behind one URL list in production;
 * their version poll is slow, so only LISTEN/NOTIFY carries a change between them in time).
 */
export async function startAosControl(dir: string, extra: Record<string, unknown> = {}, opts: { postgresUrl?: string; replicas?: number } = {}): Promise<AosControl> {
  const gatewayIssuer = await makeIssuer(dir, 'gw-issuer');
  writeFileSync(join(dir, 'seed.yaml'), stringify(REGISTRY));
  const store = opts.postgresUrl === undefined ? {} : { store: { kind: 'postgres', pollMs: 60_000 } };
  const env = { AOS_CONTROL_TOKEN: ADMIN_TOKEN, ...(opts.postgresUrl === undefined ? {} : { AOS_CONTROL_DATABASE_URL: opts.postgresUrl }) };
  const replicas = await Promise.all(
    Array.from({ length: opts.replicas ?? 1 }, async (_, i) => {
      const [gwPort, peoplePort] = [await freePort(), await freePort()];
      const configFile = join(dir, `control-${i}.yaml`);
      writeFileSync(
        configFile,
        stringify({
          listen: { gateways: { host: '127.0.0.1', port: gwPort }, people: { host: '127.0.0.1', port: peoplePort } },
          dataDir: join(dir, `control-data-${i}`),
          localKey: { enabled: false },
          gateways: { issuers: [{ issuer: gatewayIssuer.issuer, keyFiles: [gatewayIssuer.keyFile] }] },
          seed: { registry: 'seed.yaml' },
          ...store,
          ...extra,
        }),
      );
      return { configFile, url: `http://127.0.0.1:${gwPort}`, people: `http://127.0.0.1:${peoplePort}`, cp: null as ControlPlane | null };
    }),
  );
  const control: AosControl = {
    url: replicas[0].url,
    urls: replicas.map((r) => r.url),
    people: replicas[0].people,
    gatewayIssuer,
    async api(method, path, body) {
      const r = await fetch(`${replicas[0].people}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text}`);
      return r.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text;
    },
    gatewayToken: (sub) => gatewayIssuer.mint({ sub, aud: 'aos-control' }),
    async start() {
      // One after the other: the first seeds an empty store, the others find it seeded.
      for (const r of replicas) {
        r.cp = createControlPlane({ configFile: r.configFile, env, log: createLogger('silent') });
        await r.cp.start();
      }
    },
    async stop() {
      await Promise.all(replicas.map((r) => r.cp?.stop()));
      for (const r of replicas) r.cp = null;
    },
  };
  await control.start();
  return control;
}

/** A gateway's config dir under a control plane: its config, local registry and its own gateway credential. */
export async function fleetGatewayDir(root: string, name: string, upstreamUrl: string, control: AosControl, agentKeys: string, extra: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(root, `${name}-`));
  // Gateways spread over the replicas: gw1 tries the second one first, and so on.
  const first = Number(/(\d+)$/.exec(name)?.[1] ?? 0) % control.urls.length;
  const file = writeFleetConfig(dir, upstreamUrl, [...control.urls.slice(first), ...control.urls.slice(0, first)], agentKeys, extra);
  writeFileSync(join(dir, 'control.token'), await control.gatewayToken(`sa-${name}`));
  return { dir, file };
}
