/**
 * In-cluster Kubernetes issuers: the API server speaks HTTPS with the cluster's own CA and wants a
 * bearer token for discovery/JWKS. A real HTTPS server on loopback with a certificate made here.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { exportJWK, SignJWT } from 'jose';
import t from 'tap';
import { parseConfig } from '../src/config/load.js';
import { createVerifier } from '../src/identity/verifier.js';
import { createLogger } from '../src/log.js';

t.test('discovery and JWKS over HTTPS with a cluster CA and a bearer token file', async (t) => {
  const dir = t.testdir({});
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'tls.key'),
      '-out',
      join(dir, 'ca.crt'),
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  writeFileSync(join(dir, 'token'), 'pod-sa-token\n');
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...(await exportJWK(signing.publicKey)), kid: 'cluster-1', alg: 'RS256', use: 'sig' };
  const seen: (string | undefined)[] = [];
  let issuer = '';
  const server = createServer({ key: readFileSync(join(dir, 'tls.key')), cert: readFileSync(join(dir, 'ca.crt')) }, (req, res) => {
    seen.push(req.headers.authorization);
    if (req.headers.authorization !== 'Bearer pod-sa-token') {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(req.url === '/openid/v1/jwks' ? { keys: [jwk] } : { issuer, jwks_uri: `${issuer}/openid/v1/jwks` }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  issuer = `https://127.0.0.1:${(server.address() as { port: number }).port}`;

  const config = (extra: string) =>
    parseConfig(
      `providers: { openai: { dialect: openai, baseUrl: "http://127.0.0.1:1/v1" } }\nroutes: [{ prefix: /v1, provider: openai }]\n` +
        `identity: { localIssuer: { enabled: false }, issuers: [{ issuer: "${issuer}", discovery: true, kubernetes: true, jwksTimeoutMs: 1000${extra} }] }\n`,
      join(dir, 'aos.yaml'),
      {},
    ).config.identity;
  const token = await new SignJWT({ 'kubernetes.io': { namespace: 'agents', serviceaccount: { name: 'billing' }, pod: { name: 'billing-7d9' } } })
    .setProtectedHeader({ alg: 'RS256', kid: 'cluster-1' })
    .setIssuer(issuer)
    .setSubject('system:serviceaccount:agents:billing')
    .setAudience('aos-gateway')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(signing.privateKey);

  const verifier = await createVerifier(config(', caFile: ca.crt, tokenFile: token'), { dataDir: dir, configDir: dir, log: createLogger('silent') });
  t.teardown(() => verifier.close());
  const v = await verifier.verify(token, 'agent');
  t.same(v.kubernetes, { namespace: 'agents', serviceaccount: 'billing', pod: 'billing-7d9' });
  t.ok(seen.length >= 2 && seen.every((a) => a === 'Bearer pod-sa-token'), 'every fetch carried the token from the file');

  const without = await createVerifier(config(', caFile: ca.crt'), { dataDir: dir, configDir: dir, log: createLogger('silent') });
  t.teardown(() => without.close());
  await t.rejects(Promise.resolve(without.verify(token, 'agent')), /unknown signing key|no keys|not available|could not/i, 'no token: the API server refuses discovery, nothing verifies');
});
