/** Fixtures of the control plane tests (not a test file): a registry, audit chains, token issuers. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { chainHash, encodeEvent, GENESIS_HASH } from '../src/audit/canonical.js';
import type { AuditEvent, AuditRecord } from '../src/audit/event.js';
import type { AgentRegistryFile } from '../src/config/agents-schema.js';
import type { FleetSnapshot } from '../src/control/protocol.js';
import { type ControlPlane, createControlPlane } from '../src/control/server.js';
import { createLogger } from '../src/log.js';
import { packageRoot } from '../src/package-root.js';
import { sampleEvent } from './audit-events.js';

export const REGISTRY = {
  claims: { agent: 'sub', team: 'team', roles: 'roles' },
  unknownAgents: { action: 'deny', team: 'unassigned' },
  templates: {
    standard: {
      version: 3,
      description: 'General',
      providers: ['openai'],
      models: ['gpt-4o*'],
      tools: [],
      budget: { daily_usd: 20 },
      guardrails: 'standard',
      maxTokens: 4096,
      audit: { capture: { request: false, response: false, maxBytes: 65536 } },
    },
    restricted: {
      version: 1,
      description: 'Trial',
      providers: ['openai'],
      models: ['gpt-4o-mini'],
      tools: [],
      budget: { daily_usd: 1 },
      guardrails: 'strict',
      maxTokens: 1024,
      audit: { capture: { request: false, response: false, maxBytes: 65536 } },
    },
  },
  budgets: { org: { monthly_usd: 5000 }, teams: { platform: { daily_usd: 100 } } },
  agents: [
    { id: 'agent-0', team: 'platform', owner: 'ops@example.com', roles: ['agent'], labels: { env: 'dev' }, template: 'standard' },
    { id: 'agent-1', team: 'research', roles: [], labels: {}, template: 'restricted' },
  ],
} as unknown as AgentRegistryFile;

/** A temporary folder removed in teardown. */
/** The real command line (`src/cli.ts` through tsx), its environment's AOS_CONTROL_TOKEN cleared unless given. */
export function aosCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(packageRoot, 'src', 'cli.ts'), ...args], { env: { ...process.env, AOS_CONTROL_TOKEN: '', ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
  });
}

export function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'aos-control-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeRegistry(dir: string): string {
  const file = join(dir, 'agents.yaml');
  writeFileSync(file, stringify(REGISTRY));
  return file;
}

/** Records `from..from+n-1` of a gateway's chain, hashed exactly as a gateway's audit store does. */
export function chain(n: number, opts: { from?: number; prevHash?: string; event?: (i: number) => AuditEvent } = {}): AuditRecord[] {
  const out: AuditRecord[] = [];
  let prev = opts.prevHash ?? GENESIS_HASH;
  const from = opts.from ?? 1;
  for (let seq = from; seq < from + n; seq++) {
    const event = (opts.event ?? sampleEvent)(seq);
    const hash = chainHash(prev, seq, encodeEvent(event));
    out.push({ seq, ...event, prev_hash: prev, hash });
    prev = hash;
  }
  return out;
}

/** A token issuer of our own: its public key as a file the control plane trusts, and a minter. */
export interface Issuer {
  issuer: string;
  keyFile: string;
  mint(claims: { sub: string; aud: string; roles?: string[] }, ttlSec?: number): Promise<string>;
}

export async function makeIssuer(dir: string, issuer: string): Promise<Issuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: `${issuer}-1`, alg: 'ES256' };
  const keyFile = join(dir, `${issuer}.jwk.json`);
  writeFileSync(keyFile, JSON.stringify(jwk));
  return {
    issuer,
    keyFile,
    mint: ({ sub, aud, roles }, ttlSec = 600) =>
      new SignJWT({ roles }).setProtectedHeader({ alg: 'ES256', kid: jwk.kid }).setIssuer(issuer).setSubject(sub).setAudience(aud).setIssuedAt().setExpirationTime(`${ttlSec}s`).sign(privateKey),
  };
}

// biome-ignore lint/suspicious/noExplicitAny: a JSON answer, read by the assertions (which fail on a wrong shape)
type Answer = any;

export interface ControlHarness {
  cp: ControlPlane;
  dir: string;
  gatewayIssuer: Issuer;
  peopleIssuer: Issuer;
  /** A people's API call with a token of the people issuer carrying `roles` (or a raw token). */
  api(method: string, path: string, who: { sub: string; roles: string[] } | string | null, body?: unknown): Promise<{ status: number; body: Answer }>;
  /** A gateway API call as gateway `id` (its credential subject: `sa-<id>` unless given). */
  gw(method: string, path: string, id: string, body?: unknown, opts?: { token?: string; sub?: string }): Promise<{ status: number; body: Answer }>;
  gatewayToken(sub: string): Promise<string>;
}

export const ADMIN_TOKEN = 'static-admin-token-0123456789';

export interface ControlOptions {
  dir?: string;
  issuers?: { gateway: Issuer; people: Issuer };
  config?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}

/** A control plane on loopback port 0 (both listeners), seeded with REGISTRY, stopped in teardown. */
export async function startControl(t: Test, opts: ControlOptions = {}): Promise<ControlHarness> {
  const dir = opts.dir ?? tempDir(t);
  const gatewayIssuer = opts.issuers?.gateway ?? (await makeIssuer(dir, 'gw-issuer'));
  const peopleIssuer = opts.issuers?.people ?? (await makeIssuer(dir, 'idp'));
  const configFile = join(dir, `control-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    configFile,
    stringify({
      listen: { gateways: { host: '127.0.0.1', port: 0 }, people: { host: '127.0.0.1', port: 0 } },
      dataDir: join(dir, 'data'),
      localKey: { enabled: false },
      gateways: { issuers: [{ issuer: gatewayIssuer.issuer, keyFiles: [gatewayIssuer.keyFile] }] },
      people: { issuers: [{ issuer: peopleIssuer.issuer, keyFiles: [peopleIssuer.keyFile] }] },
      seed: { registry: writeRegistry(dir) },
      policy: { bundleUrl: 'https://bundles.example.com/aos.tar.gz', revision: 'r7' },
      ...opts.config,
    }),
  );
  const cp = createControlPlane({ configFile, env: { AOS_CONTROL_TOKEN: ADMIN_TOKEN, ...opts.env }, log: createLogger('silent'), pingMs: 200 });
  await cp.start();
  t.teardown(() => cp.stop());
  const call = async (base: string, method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  };
  const gatewayToken = (sub: string) => gatewayIssuer.mint({ sub, aud: 'aos-control' });
  return {
    cp,
    dir,
    gatewayIssuer,
    peopleIssuer,
    async api(method, path, who, body) {
      const token = who === null ? null : typeof who === 'string' ? who : await peopleIssuer.mint({ sub: who.sub, aud: 'aos-admin', roles: who.roles });
      return call(cp.addresses.people, method, path, token === null ? {} : { authorization: `Bearer ${token}` }, body);
    },
    async gw(method, path, id, body, o = {}) {
      const token = o.token ?? (await gatewayToken(o.sub ?? `sa-${id}`));
      return call(cp.addresses.gateways, method, path, { authorization: `Bearer ${token}`, 'aos-gateway-id': id }, body);
    },
    gatewayToken,
  };
}

/** A gateway's snapshot stream, read as it arrives. */
export interface SnapshotStream {
  /** The next snapshot matching `pred` (any already received and not yet taken included), or a rejection after `timeoutMs`. */
  next(pred?: (s: FleetSnapshot) => boolean, timeoutMs?: number): Promise<FleetSnapshot>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export async function openStream(h: ControlHarness, id: string, after = 0): Promise<SnapshotStream> {
  const abort = new AbortController();
  const res = await fetch(`${h.cp.addresses.gateways}/v1/snapshots?after=${after}`, {
    headers: { authorization: `Bearer ${await h.gatewayToken(`sa-${id}`)}`, 'aos-gateway-id': id },
    signal: abort.signal,
  });
  if (res.status !== 200) throw new Error(`stream: ${res.status} ${await res.text()}`);
  const queue: FleetSnapshot[] = [];
  const waiters: (() => void)[] = [];
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (frame.includes('event: snapshot') && data) queue.push(JSON.parse(data.slice(6)) as FleetSnapshot);
          for (const w of waiters.splice(0)) w();
        }
      }
    } catch {
      // aborted by close()
    }
    for (const w of waiters.splice(0)) w();
  })();
  return {
    ended,
    async next(pred = () => true, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const k = queue.findIndex(pred);
        if (k >= 0) return queue.splice(0, k + 1)[k];
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no matching snapshot in time');
        await new Promise<void>((r) => {
          const timer = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(timer);
            r();
          });
        });
      }
    },
    close: () => abort.abort(),
  };
}

/** A raw request's answer: status, headers, the text, and its JSON when it parses. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON answer, read by the assertions
  json: any;
}

/** A raw HTTP request (fetch would not let a test name another Host). */

export function raw(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<RawAnswer> {
  const u = new URL(path, base);
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers: { ...(data ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => {
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}
