/** Fixtures of the control plane tests (not a test file): a registry, audit chains, token issuers. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { chainHash, encodeEvent, GENESIS_HASH } from '../src/audit/canonical.js';
import type { AuditEvent, AuditRecord } from '../src/audit/event.js';
import type { AgentRegistryFile } from '../src/config/agents-schema.js';
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
} as AgentRegistryFile;

/** A temporary folder removed in teardown. */
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
