/**
 * Token verification: the attack table (each row refused, with its message), key sources served
 * by a real JWKS/OIDC server on loopback (rotation, outage, slowness, rate bound), static key
 * files, Kubernetes ServiceAccount tokens, the verified-token cache and the local signer.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, exportSPKI, generateKeyPair, importPKCS8, type JWK, SignJWT } from 'jose';
import t, { type Test } from 'tap';
import { JWT_ALGORITHMS } from '../src/config/algorithms.js';
import type { IdentityConfig, IssuerConfig } from '../src/config/schema.js';
import { GatewayError } from '../src/errors.js';
import { LOCAL_KEY_FILE, loadLocalSigner } from '../src/identity/local-key.js';
import type { TokenAudience, TokenVerifier } from '../src/identity/types.js';
import { createVerifier, type VerifierOptions } from '../src/identity/verifier.js';
import { createLogger } from '../src/log.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/identity/', import.meta.url));
const ISSUER = 'https://issuer.test';
const ASYMMETRIC = [...JWT_ALGORITHMS];
const nowSec = () => Math.floor(Date.now() / 1000);

// ---- fixtures -------------------------------------------------------------------------------

/** Schema defaults, as the config loader would fill them in. */
function identity(over: Partial<IdentityConfig> = {}): IdentityConfig {
  return {
    mode: 'required',
    audience: 'aos-gateway',
    adminAudience: 'aos-admin',
    adminRole: 'admin',
    algorithms: ASYMMETRIC,
    clockSkewSec: 30,
    maxTokenBytes: 8192,
    cacheSize: 10_000,
    localIssuer: { enabled: false, issuer: 'aos-local' },
    issuers: [],
    registry: 'agents.yaml',
    ...over,
  };
}

function issuer(over: Partial<IssuerConfig> & { issuer: string }): IssuerConfig {
  return { discovery: false, keyFiles: [], kubernetes: false, requiredClaims: ['sub'], jwksCacheSec: 300, jwksRefreshMinSec: 30, jwksTimeoutMs: 2000, ...over };
}

interface TestKey {
  alg: string;
  kid: string | undefined;
  privateKey: CryptoKey;
  /** Public JWK, with kid and alg when the key has a kid. */
  jwk: JWK;
  spki: string;
}

async function makeKey(alg: string, kid?: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  if (kid !== undefined) Object.assign(jwk, { kid, alg, use: 'sig' });
  return { alg, kid, privateKey, jwk, spki: await exportSPKI(publicKey) };
}

/** A token with sensible defaults; a claim set to undefined is left out. */
function sign(key: TestKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, now = nowSec()): Promise<string> {
  const payload = { iss: ISSUER, sub: 'agent-1', aud: 'aos-gateway', iat: now, exp: now + 600, ...claims };
  const protectedHeader = { alg: key.alg, typ: 'JWT', ...(key.kid === undefined ? {} : { kid: key.kid }), ...header };
  return new SignJWT(payload).setProtectedHeader(protectedHeader as { alg: string }).sign(key.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'aos-identity-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function makeVerifier(t: Test, config: IdentityConfig, extra: Partial<VerifierOptions> = {}): Promise<TokenVerifier> {
  const dir = extra.configDir ?? tempDir(t);
  const verifier = await createVerifier(config, { dataDir: join(dir, 'data'), configDir: dir, log: createLogger('silent'), ...extra });
  t.teardown(() => verifier.close());
  return verifier;
}

/** Asserts a refusal: aos_unauthenticated, 401, the exact message, and no part of the token in it. */
async function refused(t: Test, verifier: TokenVerifier, token: string, audience: TokenAudience, message: string | RegExp): Promise<void> {
  let error: unknown = null;
  try {
    await verifier.verify(token, audience);
  } catch (err) {
    error = err;
  }
  if (!(error instanceof GatewayError)) {
    t.fail(`expected a GatewayError, got ${error === null ? 'an accepted token' : String(error)}`);
    return;
  }
  t.equal(error.code, 'aos_unauthenticated');
  t.equal(error.status, 401);
  if (typeof message === 'string') t.equal(error.message, message);
  else t.match(error.message, message);
  for (const part of token.split('.')) if (part.length >= 8) t.notOk(error.message.includes(part), 'the message does not echo the token');
  t.match(error.headers?.['www-authenticate'], /^Bearer .*error="invalid_token"/);
}

// ---- a JWKS / OIDC issuer on loopback ---------------------------------------------------------

interface IssuerServer {
  url: string;
  keys: JWK[];
  /** Answer after this many ms. */
  delayMs: number;
  /** 'ok', an HTTP 503, or a body that is not a JWKS. */
  mode: 'ok' | 'unavailable' | 'garbage';
  /** Requests per path. */
  hits: Record<string, number>;
  close(): Promise<void>;
}

async function startIssuer(t: Test, keys: JWK[] = []): Promise<IssuerServer> {
  const timers = new Set<NodeJS.Timeout>();
  const state: IssuerServer = { url: '', keys, delayMs: 0, mode: 'ok', hits: {}, close };
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    state.hits[path] = (state.hits[path] ?? 0) + 1;
    const answer = () => {
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (state.mode === 'unavailable') json(503, { error: 'down for maintenance' });
      else if (path === '/.well-known/openid-configuration') json(200, { issuer: state.url, jwks_uri: `${state.url}/openid/v1/jwks` });
      else if (path !== '/keys' && path !== '/openid/v1/jwks') json(404, { error: 'not found' });
      else if (state.mode === 'garbage') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>502 Bad Gateway</html>');
      else json(200, { keys: state.keys });
    };
    if (state.delayMs === 0) return answer();
    const timer = setTimeout(() => {
      timers.delete(timer);
      answer();
    }, state.delayMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed: Promise<void> | null = null;
  function close(): Promise<void> {
    closed ??= new Promise<void>((resolve) => {
      for (const timer of timers) clearTimeout(timer);
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closed;
  }
  t.teardown(close);
  return state;
}

// ---- the attack table -------------------------------------------------------------------------

t.test('attack table: every forged, stale, misdirected or malformed token is refused with a clear message', async (t) => {
  const dir = tempDir(t);
  const rsa = await makeKey('RS256', 'rsa-1');
  const attacker = await makeKey('RS256', 'attacker-1');
  const attackerNoKid = await makeKey('RS256');
  const attackerServer = await startIssuer(t, [attacker.jwk]);
  writeFileSync(join(dir, 'issuer-keys.json'), JSON.stringify({ keys: [rsa.jwk] }));
  const certKey = { alg: 'RS256', kid: undefined, privateKey: await importPKCS8(readFileSync(join(FIXTURES, 'issuer-cert.key.pem'), 'utf8'), 'RS256') } as TestKey;
  const certDer = readFileSync(join(FIXTURES, 'issuer-cert.pem'), 'utf8').replace(/-----[A-Z ]+-----|\s/g, '');

  const verifier = await makeVerifier(t, identity({ issuers: [issuer({ issuer: ISSUER, keyFiles: ['issuer-keys.json'], requiredClaims: ['sub', 'team'] })] }), { configDir: dir });
  const good = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) => sign(rsa, { team: 'research', ...claims }, header);

  const valid = await good();
  const verified = await verifier.verify(valid, 'agent');
  t.equal(verified.subject, 'agent-1', 'the control token verifies');

  const [h, p, s] = valid.split('.');
  const now = nowSec();
  const rows: [string, string | Promise<string>, TokenAudience, string | RegExp][] = [
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`, 'agent', 'algorithm none not allowed'],
    [
      'HS256 signed with the RSA public key (PEM) as the HMAC secret',
      new SignJWT({ iss: ISSUER, sub: 'agent-1', aud: 'aos-gateway', team: 'x', exp: now + 600 }).setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' }).sign(new TextEncoder().encode(rsa.spki)),
      'agent',
      'algorithm HS256 not allowed',
    ],
    ['expired', good({ iat: now - 7200, exp: now - 3600 }), 'agent', 'token expired'],
    ['nbf in the future', good({ nbf: now + 3600 }), 'agent', 'token not yet valid (nbf)'],
    ['wrong iss', good({ iss: 'https://evil.test' }), 'agent', 'unknown issuer (https://evil.test)'],
    ['wrong aud', good({ aud: 'some-other-service' }), 'agent', 'wrong audience (expected aos-gateway)'],
    ['admin token used as an agent token', good({ aud: 'aos-admin' }), 'agent', 'wrong audience (expected aos-gateway)'],
    ['agent token used as an admin token', good(), 'admin', 'wrong audience (expected aos-admin)'],
    ['unknown kid', sign({ ...rsa, kid: 'rsa-9' }, { team: 'x' }), 'agent', 'unknown signing key (kid rsa-9)'],
    ['tampered payload, signature kept', `${h}.${b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'root' })}.${s}`, 'agent', 'signature invalid'],
    ['over maxTokenBytes', good({ padding: 'x'.repeat(9000) }), 'agent', /^token too large \(\d+ bytes, limit 8192\)$/],
    ['jku pointing at the attacker JWKS', sign(attacker, { team: 'x' }, { jku: `${attackerServer.url}/keys` }), 'agent', 'unknown signing key (kid attacker-1)'],
    ['jku, attacker key, the trusted kid', sign({ ...attacker, kid: 'rsa-1' }, { team: 'x' }, { jku: `${attackerServer.url}/keys` }), 'agent', 'signature invalid'],
    ['x5u pointing at the attacker', sign(attacker, { team: 'x' }, { x5u: `${attackerServer.url}/cert.pem` }), 'agent', 'unknown signing key (kid attacker-1)'],
    ['x5c carrying the attacker certificate', sign(certKey, { team: 'x' }, { x5c: [certDer] }), 'agent', 'signature invalid'],
    ['embedded jwk of the attacker, trusted kid', sign({ ...attackerNoKid, kid: 'rsa-1' }, { team: 'x' }, { jwk: attackerNoKid.jwk }), 'agent', 'signature invalid'],
    ['embedded jwk of the attacker, no kid', sign(attackerNoKid, { team: 'x' }, { jwk: attackerNoKid.jwk }), 'agent', 'signature invalid'],
    ['garbage: abc', 'abc', 'agent', 'not a JWT (expected header.payload.signature)'],
    ['garbage: a.b.c', 'a.b.c', 'agent', 'not a JWT (header is not base64url JSON)'],
    ['garbage: empty', '', 'agent', 'not a JWT (expected header.payload.signature)'],
    ['garbage: three dots', 'a.b.c.d', 'agent', 'not a JWT (expected header.payload.signature)'],
    ['garbage: only dots', '...', 'agent', 'not a JWT (expected header.payload.signature)'],
    ['missing exp', good({ exp: undefined }), 'agent', 'token has no expiry (exp claim required)'],
    ['missing required claim', sign(rsa, {}), 'agent', 'missing required claim (team)'],
  ];
  for (const [name, token, audience, message] of rows) {
    await t.test(name, async (t) => refused(t, verifier, await token, audience, message));
  }
  t.same(attackerServer.hits, {}, 'the attacker server received no request (jku / x5u never fetched)');
});

t.test('only asymmetric algorithms can be configured', async (t) => {
  await t.rejects(makeVerifier(t, identity({ algorithms: ['RS256', 'HS256'] })), /identity\.algorithms: HS256 is not allowed/);
  await t.rejects(makeVerifier(t, identity({ algorithms: ['none'] })), /identity\.algorithms: none is not allowed/);
});

t.test('an algorithm left out of identity.algorithms is refused', async (t) => {
  const dir = tempDir(t);
  const ec = await makeKey('ES256', 'ec-1');
  writeFileSync(join(dir, 'ec.json'), JSON.stringify(ec.jwk));
  const verifier = await makeVerifier(t, identity({ algorithms: ['RS256'], issuers: [issuer({ issuer: ISSUER, keyFiles: ['ec.json'] })] }), { configDir: dir });
  await refused(t, verifier, await sign(ec), 'agent', 'algorithm ES256 not allowed');
});

// ---- keys fetched from the issuer -------------------------------------------------------------

t.test('key rotation: a token with a new kid verifies through the unknown-kid refresh; a withdrawn key is forgotten', async (t) => {
  const a = await makeKey('RS256', 'key-a');
  const b = await makeKey('ES256', 'key-b');
  const server = await startIssuer(t, [a.jwk]);
  const verifier = await makeVerifier(t, identity({ issuers: [issuer({ issuer: ISSUER, jwksUrl: `${server.url}/keys`, jwksRefreshMinSec: 0 })] }));
  t.equal(server.hits['/keys'], 1, 'fetched at start');
  const tokenA = await sign(a);
  t.equal((await verifier.verify(tokenA, 'agent')).subject, 'agent-1');
  t.notOk(verifier.verify(tokenA, 'agent') instanceof Promise, 'cached');

  server.keys = [a.jwk, b.jwk];
  t.equal((await verifier.verify(await sign(b, { sub: 'agent-2' }), 'agent')).subject, 'agent-2', 'the new key is picked up');
  t.equal(server.hits['/keys'], 2, 'one refresh');
  t.equal(verifier.status()[0].keys, 2);

  // The issuer withdraws key A: once a refresh sees that, tokens signed with it stop verifying.
  server.keys = [b.jwk];
  await refused(t, verifier, await sign({ ...b, kid: 'key-c' }), 'agent', 'unknown signing key (kid key-c)');
  const again = verifier.verify(tokenA, 'agent');
  t.ok(again instanceof Promise, 'the cached verification made with the withdrawn key is gone');
  await Promise.resolve(again).catch(() => {});
  await refused(t, verifier, tokenA, 'agent', 'unknown signing key (kid key-a)');
});

t.test('issuer down: tokens signed with cached keys still verify', async (t) => {
  const a = await makeKey('EdDSA', 'key-a');
  const server = await startIssuer(t, [a.jwk]);
  const verifier = await makeVerifier(t, identity({ issuers: [issuer({ issuer: ISSUER, jwksUrl: `${server.url}/keys`, jwksRefreshMinSec: 0 })] }));
  await verifier.verify(await sign(a), 'agent');
  await server.close();

  t.equal((await verifier.verify(await sign(a, { sub: 'agent-2' }), 'agent')).subject, 'agent-2', 'a new token with a known kid verifies');
  await refused(t, verifier, await sign({ ...a, kid: 'key-x' }), 'agent', 'unknown signing key (kid key-x)');
  const [status] = verifier.status();
  t.equal(status.keys, 1, 'the last good key set is kept');
  t.match(status.lastError, /ECONNREFUSED/);
  t.ok(status.lastRefresh);
});

t.test('a failing or garbage JWKS answer keeps the last good keys', async (t) => {
  const a = await makeKey('RS256', 'key-a');
  const server = await startIssuer(t, [a.jwk]);
  const verifier = await makeVerifier(t, identity({ issuers: [issuer({ issuer: ISSUER, jwksUrl: `${server.url}/keys`, jwksRefreshMinSec: 0 })] }));
  for (const [mode, error] of [
    ['garbage', /did not answer JSON/],
    ['unavailable', /answered HTTP 503/],
  ] as const) {
    server.mode = mode;
    await refused(t, verifier, await sign({ ...a, kid: 'key-x' }), 'agent', 'unknown signing key (kid key-x)');
    t.match(verifier.status()[0].lastError, error, mode);
    t.ok(await verifier.verify(await sign(a, { jti: mode }), 'agent'), `${mode}: cached keys still verify`);
  }
  server.mode = 'ok';
  server.keys = [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }];
  await refused(t, verifier, await sign({ ...a, kid: 'hmac' }), 'agent', 'unknown signing key (kid hmac)');
  t.match(verifier.status()[0].lastError, /no usable public signing key/, 'a symmetric key is never taken from a JWKS');
  t.ok(await verifier.verify(await sign(a, { jti: 'after-oct' }), 'agent'));
});

t.test('issuer unreachable at start: startup goes on, and the keys are fetched once the issuer answers', async (t) => {
  const a = await makeKey('RS256', 'key-a');
  const server = await startIssuer(t, [a.jwk]);
  server.mode = 'unavailable';
  const verifier = await makeVerifier(t, identity({ issuers: [issuer({ issuer: ISSUER, jwksUrl: `${server.url}/keys`, jwksRefreshMinSec: 0 })] }));
  t.same({ ...verifier.status()[0], lastError: verifier.status()[0].lastError?.replace(/^.* answered/, 'answered') }, { issuer: ISSUER, keys: 0, lastRefresh: null, lastError: 'answered HTTP 503' });
  server.mode = 'ok';
  t.equal((await verifier.verify(await sign(a), 'agent')).subject, 'agent-1');
});

t.test('issuer slow: a known kid never waits on it; an unknown kid waits at most jwksTimeoutMs', async (t) => {
  const a = await makeKey('RS256', 'key-a');
  const server = await startIssuer(t, [a.jwk]);
  const verifier = await makeVerifier(t, identity({ issuers: [issuer({ issuer: ISSUER, jwksUrl: `${server.url}/keys`, jwksRefreshMinSec: 0, jwksTimeoutMs: 300 })] }));
  server.delayMs = 5000;

  const known = await sign(a);
  let started = performance.now();
  t.equal((await verifier.verify(known, 'agent')).subject, 'agent-1');
  t.ok(performance.now() - started < 500, `known kid verified in ${Math.round(performance.now() - started)} ms`);

  const unknown = await sign({ ...a, kid: 'key-new' });
  started = performance.now();
  await refused(t, verifier, unknown, 'agent', 'unknown signing key (kid key-new)');
  const waited = performance.now() - started;
  t.ok(waited >= 250 && waited < 2500, `unknown kid gave up after ${Math.round(waited)} ms (jwksTimeoutMs 300, issuer delay 5000)`);

  // While that refresh is still pending, known kids are not held up by it either.
  started = performance.now();
  await verifier.verify(await sign(a, { sub: 'agent-3' }), 'agent');
  t.ok(performance.now() - started < 500, 'known kid during a pending refresh');
});

t.test('unknown-kid refreshes are rate bounded', async (t) => {
  const a = await makeKey('RS256', 'key-a');
  const server = await startIssuer(t, [a.jwk]);
  let clock = Date.now();
  const verifier = await makeVerifier(t, identity({ issuers: [issuer({ issuer: ISSUER, jwksUrl: `${server.url}/keys`, jwksRefreshMinSec: 30 })] }), { now: () => clock });
  const burst = async (label: string) => {
    const tokens = await Promise.all(Array.from({ length: 25 }, (_, i) => sign({ ...a, kid: `${label}-${i}` }, {}, {}, Math.floor(clock / 1000))));
    const results = await Promise.allSettled(tokens.map((tok) => verifier.verify(tok, 'agent')));
    t.ok(
      results.every((r) => r.status === 'rejected'),
      `${label}: all refused`,
    );
  };
  t.equal(server.hits['/keys'], 1);
  await burst('early');
  t.equal(server.hits['/keys'], 1, 'no refresh within jwksRefreshMinSec of the last fetch');
  clock += 31_000;
  await burst('later');
  t.equal(server.hits['/keys'], 2, 'one refresh for a burst of 25 unknown kids');
  await burst('again');
  t.equal(server.hits['/keys'], 2, 'and not another one right after');
});

t.test('OIDC discovery: jwks_uri is read from the issuer', async (t) => {
  const a = await makeKey('ES256', 'key-a');
  const server = await startIssuer(t, [a.jwk]);
  const verifier = await makeVerifier(t, identity({ issuers: [issuer({ issuer: server.url, discovery: true })] }));
  const verified = await verifier.verify(await sign(a, { iss: server.url }), 'agent');
  t.equal(verified.issuer, server.url);
  t.same(server.hits, { '/.well-known/openid-configuration': 1, '/openid/v1/jwks': 1 });
});

// ---- static key files -------------------------------------------------------------------------

t.test('static key files: SPKI PEM, certificate PEM, JWK and JWKS', async (t) => {
  const dir = tempDir(t);
  const ec = await makeKey('ES256'); // a PEM carries no kid
  const ed = await makeKey('EdDSA', 'ed-1');
  const rsa1 = await makeKey('PS256');
  const rsa2 = await makeKey('PS256');
  writeFileSync(join(dir, 'ec.pem'), ec.spki);
  writeFileSync(join(dir, 'ed.jwk.json'), JSON.stringify(ed.jwk));
  writeFileSync(join(dir, 'two.jwks.json'), JSON.stringify({ keys: [rsa1.jwk, rsa2.jwk] }));
  const cert = { alg: 'RS256', kid: undefined, privateKey: await importPKCS8(readFileSync(join(FIXTURES, 'issuer-cert.key.pem'), 'utf8'), 'RS256') } as TestKey;
  const verifier = await makeVerifier(
    t,
    identity({
      issuers: [
        issuer({ issuer: 'https://pem.test', keyFiles: ['ec.pem'] }),
        issuer({ issuer: 'https://cert.test', keyFiles: [join(FIXTURES, 'issuer-cert.pem')] }),
        issuer({ issuer: 'https://jwk.test', keyFiles: ['ed.jwk.json'] }),
        issuer({ issuer: 'https://jwks.test', keyFiles: ['two.jwks.json'] }),
      ],
    }),
    { configDir: dir },
  );
  const cases: [string, TestKey, string, Record<string, unknown>][] = [
    ['SPKI PEM, token without kid', ec, 'https://pem.test', {}],
    ['SPKI PEM, token with a kid the file does not know', ec, 'https://pem.test', { kid: 'k8s-style-kid' }],
    ['certificate PEM', cert, 'https://cert.test', {}],
    ['JWK file', ed, 'https://jwk.test', {}],
    ['JWKS file, first of two kid-less keys', rsa1, 'https://jwks.test', {}],
    ['JWKS file, second of two kid-less keys', rsa2, 'https://jwks.test', {}],
  ];
  for (const [name, key, iss, header] of cases) {
    t.equal((await verifier.verify(await sign(key, { iss }, header), 'agent')).issuer, iss, name);
  }
  await refused(t, verifier, await sign(rsa1, { iss: 'https://pem.test' }), 'agent', 'unknown signing key (token has no kid)');
  await refused(t, verifier, await sign(ec, { iss: 'https://jwks.test' }), 'agent', 'unknown signing key (token has no kid)');
  const stranger = await makeKey('PS256');
  await refused(t, verifier, await sign(stranger, { iss: 'https://jwks.test' }), 'agent', 'signature invalid');
  t.same(
    verifier.status().map((s) => [s.issuer, s.keys]),
    [
      ['https://pem.test', 1],
      ['https://cert.test', 1],
      ['https://jwk.test', 1],
      ['https://jwks.test', 2],
    ],
  );
});

t.test('bad key files stop startup with a message naming the file', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'private.pem'), readFileSync(join(FIXTURES, 'issuer-cert.key.pem')));
  writeFileSync(join(dir, 'private.jwk.json'), JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: 'a', d: 'b' }));
  writeFileSync(join(dir, 'junk.txt'), 'hello');
  const start = (keyFiles: string[]) => makeVerifier(t, identity({ issuers: [issuer({ issuer: ISSUER, keyFiles })] }), { configDir: dir });
  await t.rejects(start(['private.pem']), /private\.pem: holds a private key/);
  await t.rejects(start(['private.jwk.json']), /private\.jwk\.json: a private or symmetric key/);
  await t.rejects(start(['junk.txt']), /junk\.txt: no public key found/);
  await t.rejects(start(['missing.pem']), /missing\.pem: cannot read the key file: ENOENT/);
  await t.rejects(start([]), /has no keys; set jwksUrl, discovery: true or keyFiles/);
});

// ---- Kubernetes -------------------------------------------------------------------------------

t.test('Kubernetes projected ServiceAccount token: kubernetes.io claims mapped onto the identity', async (t) => {
  const key = await makeKey('RS256', 'Yq3XnW_k8s-kid');
  const server = await startIssuer(t, [key.jwk]);
  const verifier = await makeVerifier(t, identity({ issuers: [issuer({ issuer: server.url, discovery: true, kubernetes: true })] }));
  const now = nowSec();
  const claims = {
    iss: server.url,
    aud: ['aos-gateway'],
    sub: 'system:serviceaccount:team-a:research-agent',
    iat: now,
    nbf: now,
    exp: now + 3600,
    'kubernetes.io': {
      namespace: 'team-a',
      node: { name: 'node-1', uid: '4a1c-node' },
      pod: { name: 'research-agent-7d9f8-x2k4q', uid: '9b2e-pod' },
      serviceaccount: { name: 'research-agent', uid: '1f3a-sa' },
      warnafter: now + 3000,
    },
  };
  const verified = await verifier.verify(await sign(key, claims), 'agent');
  t.same(verified.kubernetes, { namespace: 'team-a', serviceaccount: 'research-agent', pod: 'research-agent-7d9f8-x2k4q' });
  t.equal(verified.subject, 'system:serviceaccount:team-a:research-agent');

  await refused(t, verifier, await sign(key, { ...claims, sub: 'system:serviceaccount:team-b:research-agent' }), 'agent', 'subject does not match the kubernetes.io claims');
  await refused(t, verifier, await sign(key, { ...claims, 'kubernetes.io': undefined }), 'agent', /kubernetes\.io claim missing/);
  await refused(t, verifier, await sign(key, { ...claims, aud: ['https://kubernetes.default.svc'] }), 'agent', 'wrong audience (expected aos-gateway)');
});

// ---- the verified-token cache -----------------------------------------------------------------

t.test('cache: a second verify is synchronous and honours exp', async (t) => {
  const dir = tempDir(t);
  const key = await makeKey('EdDSA', 'ed-1');
  writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [key.jwk] }));
  let clock = Date.now();
  const config = identity({ issuers: [issuer({ issuer: ISSUER, keyFiles: ['keys.json'] })] });
  const verifier = await makeVerifier(t, config, { configDir: dir, now: () => clock });
  const token = await sign(key, { iat: Math.floor(clock / 1000), exp: Math.floor(clock / 1000) + 60 });

  const first = verifier.verify(token, 'agent');
  t.ok(first instanceof Promise, 'first sight: a promise');
  const verified = await first;
  const second = verifier.verify(token, 'agent');
  t.notOk(second instanceof Promise, 'second sight: synchronous');
  t.equal(second, verified);
  t.ok(Object.isFrozen(verified) && Object.isFrozen(verified.claims), 'the shared result cannot be altered by a caller');

  const asAdmin = verifier.verify(token, 'admin');
  t.ok(asAdmin instanceof Promise, 'cached per audience');
  await Promise.resolve(asAdmin).catch(() => {});
  await refused(t, verifier, token, 'admin', 'wrong audience (expected aos-admin)');

  clock += 61_000; // past exp, within the clock skew: still valid, but no longer from the cache
  const late = verifier.verify(token, 'agent');
  t.ok(late instanceof Promise, 'not served from the cache at or after exp');
  await late;
  clock += 30_000; // past exp + skew
  await refused(t, verifier, token, 'agent', 'token expired');
});

t.test('cache: bounded, and off at cacheSize 0', async (t) => {
  const dir = tempDir(t);
  const key = await makeKey('ES256', 'ec-1');
  writeFileSync(join(dir, 'keys.json'), JSON.stringify(key.jwk));
  const issuers = [issuer({ issuer: ISSUER, keyFiles: ['keys.json'] })];
  const small = await makeVerifier(t, identity({ cacheSize: 2, issuers }), { configDir: dir });
  const tokens = await Promise.all(['a', 'b', 'c'].map((sub) => sign(key, { sub })));
  for (const tok of tokens) await small.verify(tok, 'agent');
  const evicted = small.verify(tokens[0], 'agent');
  t.ok(evicted instanceof Promise, 'the oldest entry was evicted');
  await evicted;
  t.notOk(small.verify(tokens[2], 'agent') instanceof Promise, 'the newest is cached');

  const off = await makeVerifier(t, identity({ cacheSize: 0, issuers }), { configDir: dir });
  await off.verify(tokens[0], 'agent');
  const uncached = off.verify(tokens[0], 'agent');
  t.ok(uncached instanceof Promise, 'cacheSize 0: every verify checks the signature');
  await uncached;
});

// ---- the local development issuer -------------------------------------------------------------

t.test('local signer: key file 0600 in a 0700 folder, reused across loads, trusted by the verifier', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const signer = await loadLocalSigner(dataDir, 'aos-local');
  t.equal(statSync(join(dataDir, LOCAL_KEY_FILE)).mode & 0o777, 0o600);
  t.equal(statSync(dataDir).mode & 0o777, 0o700);
  const again = await loadLocalSigner(dataDir, 'aos-local');
  t.same(again.publicJwk, signer.publicJwk, 'the same key on the second load');
  t.equal(signer.publicJwk.alg, 'EdDSA');
  t.notOk('d' in signer.publicJwk, 'the public JWK carries no private part');

  const token = await signer.mint({ subject: 'agent-7', audience: 'aos-gateway', roles: ['researcher'], ttlSec: 300, claims: { team: 'r&d', iss: 'spoofed' } });
  const config = identity({ localIssuer: { enabled: true, issuer: 'aos-local' } });
  // Loading the key itself from dataDir, and given the signer: both trust it.
  for (const extra of [{ dataDir }, { dataDir, localSigner: again }]) {
    const verifier = await makeVerifier(t, config, extra);
    const verified = await verifier.verify(token, 'agent');
    t.match(verified, { issuer: 'aos-local', subject: 'agent-7', claims: { roles: ['researcher'], team: 'r&d', iss: 'aos-local' } });
    t.ok(verified.expiresAt > Date.now() && verified.expiresAt <= Date.now() + 300_000);
    t.same(
      verifier.status().map((s) => [s.issuer, s.keys]),
      [['aos-local', 1]],
    );
  }

  const otherKey = await loadLocalSigner(join(dir, 'elsewhere'), 'aos-local');
  const verifier = await makeVerifier(t, config, { dataDir });
  await refused(t, verifier, await otherKey.mint({ subject: 'agent-7', audience: 'aos-gateway', ttlSec: 60 }), 'agent', /^unknown signing key \(kid /);
  const admin = await signer.mint({ subject: 'ops', audience: 'aos-admin', roles: ['admin'], ttlSec: 60 });
  t.same((await verifier.verify(admin, 'admin')).claims.roles, ['admin']);
});
