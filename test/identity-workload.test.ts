/**
 * Sidecar identity: a gateway with `identity.workloadToken` reads a projected ServiceAccount token
 * from a file (signed here by a local issuer whose JWKS is served over HTTP on loopback, rotated
 * during the test the way the kubelet does: a new file renamed into place). The official SDKs,
 * given only the injector's placeholder key, are served as the workload; an expired token not yet
 * rotated is refused; an agent JWT still wins. And the config: only on a loopback listener.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { loadInjectConfig } from '../src/k8s/config.js';
import { packageRoot } from '../src/package-root.js';
import { auditEvents, type Harness, PROVIDER_KEY, startHarness } from './helpers.js';

/** The placeholder the injector sets as OPENAI_API_KEY / ANTHROPIC_API_KEY (its default config). */
const PLACEHOLDER = loadInjectConfig(join(packageRoot, 'config', 'inject.yaml'), {}).app.placeholderValue;
const CLUSTER = 'https://kubernetes.default.svc.cluster.local';

const REGISTRY = `
unknownAgents: { action: admit, template: restricted, team: unassigned }
templates:
  restricted: { version: 1, providers: [openai, anthropic], models: ["*"] }
  standard: { version: 2, providers: [openai, anthropic], models: ["*"] }
agents:
  - { id: billing-agent, team: finance, template: standard }
`;

/** A cluster issuer: a signing key and its JWKS on loopback. */
async function startIssuer(t: Test) {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'cluster-1', alg: 'RS256', use: 'sig' };
  let fetches = 0;
  const server = createServer((req, res) => {
    fetches++;
    res.writeHead(req.url === '/openid/v1/jwks' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return {
    jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/openid/v1/jwks`,
    fetches: () => fetches,
    /** A projected ServiceAccount token for `namespace/name`, audience the gateway's, expiring in `ttlSec`. */
    token(namespace: string, name: string, ttlSec: number): Promise<string> {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ 'kubernetes.io': { namespace, serviceaccount: { name, uid: 'b0c5' }, pod: { name: `${name}-7d9c6b8f5-x2x9q`, uid: 'a1f3' } } })
        .setProtectedHeader({ alg: 'RS256', kid: 'cluster-1' })
        .setIssuer(CLUSTER)
        .setSubject(`system:serviceaccount:${namespace}:${name}`)
        .setAudience('aos-gateway')
        .setIssuedAt(now)
        .setNotBefore(now - 1)
        .setExpirationTime(now + ttlSec)
        .sign(privateKey);
    },
  };
}

/** What the kubelet does: write the new token beside the old one, then swap it in atomically. */
function rotate(file: string, token: string): void {
  writeFileSync(`${file}.new`, `${token}\n`);
  renameSync(`${file}.new`, file);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ask = (client: OpenAI, text: string) => client.chat.completions.create({ model: 'gpt-sample', messages: [{ role: 'user', content: text }] });

/** The agent and team the audit trail recorded for the last call. */
async function lastCaller(h: Harness, n: number): Promise<{ agent_id: string | null; team: string | null; status: number | null; error_code: string | null }> {
  const events = await auditEvents(h, n);
  return events.at(-1)!;
}

t.test('sidecar mode: the placeholder key is the workload, rotation followed, expiry refused, an agent JWT wins', async (t) => {
  const issuer = await startIssuer(t);
  const first = await issuer.token('agents', 'research', 600);
  const h = await startHarness(
    t,
    {
      identity: {
        mode: 'required',
        registry: 'agents.yaml',
        issuers: [{ issuer: CLUSTER, jwksUrl: issuer.jwksUrl, kubernetes: true }],
        workloadToken: { file: 'sa/token', reloadCheckMs: 50 },
      },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  // The token file appears only after the gateway started (a volume mounted late).
  const file = join(h.dir, 'sa', 'token');
  mkdirSync(join(h.dir, 'sa'));
  rotate(file, first);
  let calls = 0;
  const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: PLACEHOLDER, maxRetries: 0, timeout: 10_000 });

  // The file did not exist at start: calls wait for it (refused), then it is picked up.
  const deadline = Date.now() + 5000;
  let served: OpenAI.Chat.Completions.ChatCompletion | null = null;
  while (served === null && Date.now() < deadline) {
    calls++;
    served = await ask(openai, 'who am i').catch(() => null);
    if (served === null) await sleep(50);
  }
  t.equal(served?.choices[0].message.content, 'Echo: who am i', 'the SDK with only the placeholder key is served');
  t.match(await lastCaller(h, calls), { agent_id: 'system:serviceaccount:agents:research', team: 'agents', status: 200 }, 'as the workload, its namespace as team (kubernetes: true)');
  const adminToken = await h.gateway.signer()!.mint({ subject: 'ops', audience: 'aos-admin', roles: ['admin'], ttlSec: 600 });
  const workloadStatus = async () => ((await (await fetch(`${h.admin}/admin/identity`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { workload: unknown }).workload;
  t.match(await workloadStatus(), { file, subject: 'system:serviceaccount:agents:research', expiresAt: String, error: null }, 'GET /admin/identity shows whose token the sidecar holds');
  for (const r of h.upstream.received) {
    t.equal(r.headers.authorization, `Bearer ${PROVIDER_KEY}`, 'the upstream gets the provider key');
    t.notMatch(JSON.stringify(r.headers), PLACEHOLDER, 'the placeholder is stripped');
  }

  await t.test('the Anthropic SDK (x-api-key) with the placeholder: the same workload', async (t) => {
    const anthropic = new Anthropic({ baseURL: `${h.url}/anthropic`, apiKey: PLACEHOLDER, maxRetries: 0 });
    const m = await anthropic.messages.create({ model: 'claude-sample', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] });
    t.equal(m.content[0].type === 'text' && m.content[0].text, 'Echo: hello');
    calls++;
    t.match(await lastCaller(h, calls), { agent_id: 'system:serviceaccount:agents:research', status: 200 });
    // No key at all (the SDK's check bypassed with a raw call): the workload too.
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-sample', messages: [{ role: 'user', content: 'x' }] }),
    });
    t.equal(res.status, 200, 'no credential: the workload');
    calls++;
    t.match(await lastCaller(h, calls), { agent_id: 'system:serviceaccount:agents:research' });
  });

  await t.test('an agent JWT wins over the workload; a broken one is refused, not taken for the workload', async (t) => {
    const jwt = await h.gateway.signer()!.mint({ subject: 'billing-agent', audience: 'aos-gateway', ttlSec: 600 });
    const agent = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: jwt, maxRetries: 0 });
    t.equal((await ask(agent, 'me')).choices[0].message.content, 'Echo: me');
    calls++;
    t.match(await lastCaller(h, calls), { agent_id: 'billing-agent', team: 'finance', status: 200 }, 'the agent named by its JWT');
    const broken = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: `${jwt.slice(0, -4)}AAAA`, maxRetries: 0 });
    const err = await ask(broken, 'me').catch((e: unknown) => e);
    t.ok(err instanceof OpenAI.AuthenticationError, 'a JWT that does not verify: AuthenticationError');
    t.match((err as InstanceType<typeof OpenAI.AuthenticationError>).message, /signature invalid/);
    calls++;
  });

  await t.test('a rotated token (another workload) is used once the file changes', async (t) => {
    rotate(file, await issuer.token('agents', 'writer', 600));
    let who: string | null = null;
    const until = Date.now() + 5000;
    while (who !== 'system:serviceaccount:agents:writer' && Date.now() < until) {
      await ask(openai, 'after rotation');
      calls++;
      who = (await lastCaller(h, calls)).agent_id;
      if (who !== 'system:serviceaccount:agents:writer') await sleep(20);
    }
    t.equal(who, 'system:serviceaccount:agents:writer', 'the new token is the workload');
    await ask(openai, 'and stays');
    calls++;
    t.match(await lastCaller(h, calls), { agent_id: 'system:serviceaccount:agents:writer' });
  });

  await t.test('an expired token not yet rotated: refused (the SDK raises), until the next rotation', async (t) => {
    rotate(file, await issuer.token('agents', 'short-lived', 2));
    let who: string | null = null;
    const until = Date.now() + 5000;
    while (who !== 'system:serviceaccount:agents:short-lived' && Date.now() < until) {
      await ask(openai, 'short');
      calls++;
      who = (await lastCaller(h, calls)).agent_id;
    }
    t.equal(who, 'system:serviceaccount:agents:short-lived', 'served while valid');
    await sleep(2200);
    const err = await ask(openai, 'too late').catch((e: unknown) => e);
    calls++;
    t.ok(err instanceof OpenAI.AuthenticationError, 'the SDK raises AuthenticationError');
    const e = err as InstanceType<typeof OpenAI.AuthenticationError>;
    t.equal(e.status, 401);
    t.equal(e.code, 'aos_unauthenticated');
    t.match(e.message, `workload token (${file}): expired at`, 'the message names the file');
    t.match(e.message, /not rotated yet/);
    t.match(await lastCaller(h, calls), { agent_id: null, status: 401, error_code: 'aos_unauthenticated' }, 'audited as refused');
    t.match(await workloadStatus(), { subject: 'system:serviceaccount:agents:short-lived', error: /expired at .* not rotated yet/ }, 'the admin API says why');
    const received = h.upstream.received.length;
    t.equal((await ask(openai, 'still too late').catch((x: unknown) => x)) instanceof OpenAI.AuthenticationError, true, 'refused again, without a rotation');
    calls++;
    t.equal(h.upstream.received.length, received, 'nothing reached the upstream');
    // An agent JWT still works meanwhile.
    const jwt = await h.gateway.signer()!.mint({ subject: 'billing-agent', audience: 'aos-gateway', ttlSec: 600 });
    t.equal((await ask(new OpenAI({ baseURL: `${h.url}/v1`, apiKey: jwt, maxRetries: 0 }), 'jwt')).choices[0].message.content, 'Echo: jwt');
    calls++;

    rotate(file, await issuer.token('agents', 'short-lived', 600));
    let back: OpenAI.Chat.Completions.ChatCompletion | null = null;
    const again = Date.now() + 5000;
    while (back === null && Date.now() < again) {
      back = await ask(openai, 'rotated').catch(() => null);
      calls++;
      if (back === null) await sleep(20);
    }
    t.equal(back?.choices[0].message.content, 'Echo: rotated', 'served again once the kubelet rotated it');
  });
  t.ok(issuer.fetches() >= 1, 'the keys came from the issuer’s JWKS');
});

t.test('the config: workloadToken only on a loopback listener, and with identity required', async (t) => {
  const config = (host: string, mode = 'required') =>
    parseConfig(
      `listen: { host: "${host}", port: 0 }\nproviders: { openai: { dialect: openai, baseUrl: "http://127.0.0.1:1/v1" } }\nroutes: [{ prefix: /v1, provider: openai }]\n` +
        `identity: { mode: ${mode}, workloadToken: { file: /var/run/secrets/aos/token } }\n`,
      '/etc/aos/aos.yaml',
      {},
    );
  for (const host of ['127.0.0.1', '127.0.0.53', 'localhost', '::1', '[::1]']) {
    t.match(config(host).config.identity.workloadToken, { file: '/var/run/secrets/aos/token', reloadCheckMs: 1000 }, `${host}: accepted`);
  }
  for (const host of ['0.0.0.0', '::', '10.1.2.3', 'gateway.example.com', '128.0.0.1']) {
    const err = (() => {
      try {
        config(host);
        return null;
      } catch (e) {
        return e;
      }
    })();
    t.ok(err instanceof ConfigError, `${host}: refused`);
    t.match((err as ConfigError).message, /identity\.workloadToken: needs listen\.host on loopback/, `${host}: says why`);
    t.equal((err as ConfigError).code, 'AOS_ERR_CONFIG_INVALID');
  }
  t.throws(() => config('127.0.0.1', 'off'), /workloadToken: needs identity\.mode: required/);
  t.throws(
    () => parseConfig('providers: { o: { dialect: openai, baseUrl: "http://x/v1" } }\nroutes: [{ prefix: /v1, provider: o }]\nidentity: { workloadToken: {} }\n', '/etc/aos/aos.yaml', {}),
    /workloadToken/,
    'the file is required',
  );
});
