/**
 * The injector served over TLS on loopback and called as the API server calls a webhook: POST
 * /mutate?timeout=10s with an AdmissionReview, the connection verified against the caBundle for the
 * Service's DNS name. TLS from a CA generated at start, and from certificate files (cert-manager).
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { type InjectConfig, loadInjectConfig } from '../src/k8s/config.js';
import { createInjector } from '../src/k8s/server.js';
import { selfSignedServing } from '../src/k8s/x509.js';
import { createLogger } from '../src/log.js';
import { packageRoot } from '../src/package-root.js';

const SERVICE = 'aos-injector.aos-system.svc';
const fixture = readFileSync(join(packageRoot, 'test', 'fixtures', 'k8s', 'pod-create-review.json'), 'utf8');

function config(tls: Partial<InjectConfig['tls']>): InjectConfig {
  const c = loadInjectConfig(join(packageRoot, 'config', 'inject.yaml'), {});
  c.listen = { host: '127.0.0.1', port: 0 };
  c.tls = { ...c.tls, ...tls };
  return c;
}

/** One call as the API server makes it. */
function call(url: string, ca: string, body: string, path = '/mutate?timeout=10s', contentType = 'application/json'): Promise<{ status: number; json: Record<string, unknown> }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        ca,
        servername: SERVICE,
        agent: false,
        headers: { 'content-type': contentType, accept: 'application/json, */*', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function start(t: Test, c: InjectConfig) {
  const logs: string[] = [];
  const injector = createInjector(
    c,
    createLogger('info', (l) => logs.push(l)),
  );
  await injector.start();
  t.teardown(() => injector.stop());
  return { injector, logs };
}

t.test('a CA generated at start: the API server’s call verifies and gets the patch', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-injector-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const caBundleFile = join(dir, 'ca.pem');
  const { injector, logs } = await start(t, config({ selfSignedHosts: [SERVICE, 'aos-injector'], caBundleFile }));
  t.equal(readFileSync(caBundleFile, 'utf8'), injector.caPem, 'the CA bundle is written for the webhook configuration');
  const res = await call(injector.url, injector.caPem!, fixture);
  t.equal(res.status, 200);
  const response = res.json.response as { uid: string; allowed: boolean; patchType: string; patch: string };
  t.match(res.json, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
  t.equal(response.uid, '0df28fbd-5f5f-4f4a-9f2c-3d6f1e9a7b21', 'uid echoed');
  t.equal(response.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as { path: string }[];
  t.ok(
    ops.some((o) => o.path === '/spec/initContainers'),
    'the patch adds the sidecar',
  );
  t.ok(
    logs.some((l) => l.includes('"outcome":"injected"')),
    'logged',
  );
  await t.rejects(call(injector.url, selfSignedServing(['x'], 1).caPem, fixture), 'another CA is refused by the client: the certificate is the one the bundle vouches for');
});

t.test('bad calls get HTTP errors, not a patch', async (t) => {
  const { injector } = await start(t, config({ selfSignedHosts: [SERVICE] }));
  const ca = injector.caPem!;
  t.equal((await call(injector.url, ca, '{not json')).status, 400, 'not JSON');
  t.equal((await call(injector.url, ca, JSON.stringify({ kind: 'AdmissionReview' }))).status, 400, 'no request uid');
  t.equal((await call(injector.url, ca, fixture, '/mutate', 'text/plain')).status, 415, 'not application/json');
  t.equal((await call(injector.url, ca, fixture, '/other')).status, 404, 'another path');
  t.equal((await call(injector.url, ca, 'x'.repeat(4 * 1024 * 1024 + 1))).status, 413, 'over 4 MiB');
});

t.test('certificate files (cert-manager): served as given', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-injector-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const issued = selfSignedServing([SERVICE], 30);
  writeFileSync(join(dir, 'tls.crt'), issued.certPem);
  writeFileSync(join(dir, 'tls.key'), issued.keyPem);
  const { injector } = await start(t, config({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') }));
  t.equal(injector.caPem, null, 'no CA generated');
  const res = await call(injector.url, issued.caPem, fixture);
  t.equal(res.status, 200, 'verified against the issuing CA');
  t.ok(new X509Certificate(issued.certPem).checkHost(SERVICE), 'for the Service name');
});

t.test('a renewed certificate file is served without a restart; a broken one keeps the previous', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-injector-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const first = selfSignedServing([SERVICE], 30);
  const [crt, key] = [join(dir, 'tls.crt'), join(dir, 'tls.key')];
  writeFileSync(crt, first.certPem);
  writeFileSync(key, first.keyPem);
  const { injector, logs } = await start(t, config({ certFile: crt, keyFile: key, reloadCheckMs: 100 }));
  t.equal((await call(injector.url, first.caPem, fixture)).status, 200, 'the first certificate');
  const renewed = selfSignedServing([SERVICE], 30);
  writeFileSync(key, renewed.keyPem);
  writeFileSync(crt, renewed.certPem);
  const deadline = Date.now() + 5000;
  while (!logs.some((l) => l.includes('serving certificate reloaded')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.equal((await call(injector.url, renewed.caPem, fixture)).status, 200, 'the renewed one, same process');
  await t.rejects(call(injector.url, first.caPem, fixture), 'the old one is no longer served');
  writeFileSync(crt, 'not a certificate');
  const failed = Date.now() + 5000;
  while (!logs.some((l) => l.includes('reload failed')) && Date.now() < failed) await new Promise((r) => setTimeout(r, 50));
  t.ok(
    logs.some((l) => l.includes('reload failed')),
    'a broken file is logged',
  );
  t.equal((await call(injector.url, renewed.caPem, fixture)).status, 200, 'and the previous certificate kept');
});

t.test('a generated serving certificate chains to its CA and names its hosts', async (t) => {
  const s = selfSignedServing([SERVICE, '127.0.0.1'], 365);
  const ca = new X509Certificate(s.caPem);
  const leaf = new X509Certificate(s.certPem);
  t.ok(ca.ca, 'the CA is a CA');
  t.notOk(leaf.ca, 'the leaf is not');
  t.ok(leaf.verify(ca.publicKey), 'signed by the CA');
  t.ok(leaf.checkIssued(ca), 'issued by the CA');
  t.equal(leaf.checkHost(SERVICE), SERVICE);
  t.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
  t.equal(leaf.checkHost('other.svc'), undefined, 'no other name');
  t.throws(() => selfSignedServing([], 1), 'no names: refused');
});
