/**
 * The Helm chart (helm/aos) without a cluster: `helm lint` and `helm template` with the default and
 * with every optional part on (test/fixtures/k8s/values-full.yaml), for the oldest and newest
 * supported Kubernetes; every rendered manifest validated against that version's API schema; the
 * configs it renders loaded by the real loaders; and the rendered webhook's caBundle verifying the
 * rendered certificate of an injector started from the rendered config and called like the API server.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { loadControlConfig } from '../src/control/config.js';
import { loadRegistry } from '../src/identity/registry.js';
import { answerReview } from '../src/k8s/admission.js';
import { loadInjectConfig } from '../src/k8s/config.js';
import { MOUNTS } from '../src/k8s/inject.js';
import { createInjector } from '../src/k8s/server.js';
import { createLogger } from '../src/log.js';
import { packageRoot } from '../src/package-root.js';
import { applyPatch, helmCli, kubeSpecs, kubeValidator } from './k8s-tools.js';

type Doc = Record<string, unknown> & { kind: string; apiVersion: string; metadata: { name: string; namespace?: string }; data?: Record<string, string> };

const helm = helmCli();
const specs = kubeSpecs();
const chart = join(packageRoot, 'helm', 'aos');
const fullValues = join(packageRoot, 'test', 'fixtures', 'k8s', 'values-full.yaml');
const needs = { skip: helm.options.skip || specs.tool.options.skip };
/** Custom resources: not in the Kubernetes API schema (cert-manager, Prometheus Operator). */
const CRDS = new Set([
  'cert-manager.io/v1/Issuer',
  'cert-manager.io/v1/Certificate',
  'monitoring.coreos.com/v1/ServiceMonitor',
  'monitoring.coreos.com/v1/PodMonitor',
  'monitoring.coreos.com/v1/PrometheusRule',
]);

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(helm.path, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function render(t: Test, version: string, extra: string[]): Doc[] {
  const r = run(['template', 'aos', chart, '--namespace', 'aos-system', '--kube-version', version, ...extra]);
  t.equal(r.status, 0, `helm template ${extra.join(' ')} (${r.stderr.trim().split('\n').at(-1)})`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

const find = <T = Doc>(docs: Doc[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name) as T | undefined;

let bundleFile = '';
t.before(() => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-chart-'));
  bundleFile = join(dir, 'bundle.b64');
  writeFileSync(bundleFile, readFileSync(join(packageRoot, 'policies', 'bundle.tar.gz')).toString('base64'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
});
const variants = () => [
  { name: 'default values', args: [] as string[] },
  { name: 'every part on', args: ['--values', fullValues, '--set-file', `policyBundleBase64=${bundleFile}`] },
  { name: 'a shared gateway only', args: ['--set', 'controlPlane.enabled=false,injector.enabled=false,gateway.enabled=true,monitoring.serviceMonitor.enabled=true'] },
];

t.test('helm lint --strict', needs, async (t) => {
  for (const v of variants()) {
    const r = run(['lint', chart, '--strict', ...v.args]);
    t.equal(r.status, 0, `${v.name}: ${r.stdout.trim().split('\n').at(-1)}${r.stderr}`);
  }
});

t.test('every rendered manifest is valid for each supported Kubernetes version', needs, async (t) => {
  t.ok(specs.versions.size >= 2, 'two versions');
  for (const [version, file] of specs.versions) {
    const validator = kubeValidator(version, file);
    for (const v of variants()) {
      const docs = render(t, version, v.args);
      t.ok(docs.length >= 8, `${v.name} on ${version}: ${docs.length} manifests`);
      for (const doc of docs) {
        const key = `${doc.apiVersion}/${doc.kind}`;
        if (CRDS.has(key)) continue;
        t.same(validator.validate(doc), [], `${version} ${v.name}: ${doc.kind} ${doc.metadata.name}`);
      }
      const crds = docs.filter((d) => CRDS.has(`${d.apiVersion}/${d.kind}`)).map((d) => d.kind);
      const expected = { 'default values': [], 'every part on': ['Certificate', 'Issuer', 'PodMonitor', 'PrometheusRule', 'ServiceMonitor'], 'a shared gateway only': ['ServiceMonitor'] }[v.name];
      t.same(crds.sort(), expected, `${v.name}: the custom resources, only when turned on`);
    }
  }
});

t.test('what each variant renders', needs, async (t) => {
  const [version] = [...specs.versions.keys()];
  const dflt = render(t, version!, []);
  const kinds = (docs: Doc[]) => [...new Set(docs.map((d) => d.kind))].sort();
  t.same(
    kinds(dflt),
    ['ClusterRoleBinding', 'ConfigMap', 'Deployment', 'MutatingWebhookConfiguration', 'NetworkPolicy', 'PersistentVolumeClaim', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount'],
    'default: control plane on SQLite, injector with Helm’s CA',
  );
  t.ok(find(dflt, 'PodDisruptionBudget', 'aos-injector'), 'the injector keeps a replica through disruptions');
  t.equal(find(dflt, 'ConfigMap', 'aos-dashboard')!.data!['aos-gateway.json'], readFileSync(join(chart, 'dashboards', 'aos-gateway.json'), 'utf8'), 'the Grafana dashboard as a ConfigMap');
  const full = render(t, version!, variants()[1]!.args);
  t.ok(find(full, 'HorizontalPodAutoscaler', 'aos-control') && find(full, 'HorizontalPodAutoscaler', 'aos-gateway'), 'HPAs');
  t.ok(find(full, 'PodDisruptionBudget', 'aos-control'), 'PDB with PostgreSQL replicas');
  t.notOk(find(full, 'PersistentVolumeClaim', 'aos-control'), 'no SQLite volume with PostgreSQL');
  t.same(
    full.filter((d) => d.kind === 'ConfigMap' && d.metadata.name === 'aos-sidecar').map((d) => d.metadata.namespace),
    ['agents', 'research'],
    'the sidecar config in each injected namespace',
  );
  const webhook = find<{ metadata: { annotations?: Record<string, string> }; webhooks: Record<string, unknown>[] }>(full, 'MutatingWebhookConfiguration', 'aos-injector')!;
  t.equal(webhook.metadata.annotations?.['cert-manager.io/inject-ca-from'], 'aos-system/aos-injector', 'cert-manager injects the CA');
  t.equal(webhook.webhooks[0]!.failurePolicy, 'Ignore');
  // Every metric an alert reads is one the gateway exports (src/): an alert on a renamed metric never fires.
  const rules = find<{ spec: { groups: { rules: { alert: string; expr: string }[] }[] } }>(full, 'PrometheusRule', 'aos')!.spec.groups.flatMap((g) => g.rules);
  const exported = new Set(
    [...readdirSync(join(packageRoot, 'src'), { recursive: true, encoding: 'utf8' })]
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => [...readFileSync(join(packageRoot, 'src', f), 'utf8').matchAll(/name: '(aos_[a-z_]+)'/g)].map((m) => m[1]!)),
  );
  for (const rule of rules) {
    const used = [...rule.expr.matchAll(/\b(aos_[a-z_]+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1]!);
    t.ok(used.length > 0 && used.every((m) => exported.has(m)), `${rule.alert}: ${used.join(', ')} exported`);
  }
  const inject = loadInjectConfig(writeTemp(t, 'inject.yaml', find(full, 'ConfigMap', 'aos-injector')!.data!['inject.yaml']!), {});
  t.match(inject, {
    requireAnnotation: true,
    onInvalid: 'deny',
    sidecar: { mode: 'classic', port: 18080, image: 'registry.example.com/aos-gateway:0.1.0', envFromSecrets: ['aos-provider-keys'], env: { AOS_REDIS_URL: 'redis://redis.aos-system.svc:6379' } },
  });
  const bundle = readFileSync(join(packageRoot, 'policies', 'bundle.tar.gz'));
  for (const cm of full.filter((d) => d.kind === 'ConfigMap' && (d.metadata.name === 'aos-gateway' || d.metadata.name === 'aos-sidecar')) as (Doc & { binaryData: Record<string, string> })[]) {
    t.same(Buffer.from(cm.binaryData['bundle.tar.gz']!, 'base64'), bundle, `${cm.metadata.namespace ?? 'aos-system'}/${cm.metadata.name}: the policy bundle beside the config, byte for byte`);
  }
  const anonymous = render(t, version!, ['--set', 'injector.namespaces={agents},gatewayConfig.identity.mode=off']);
  const anonymousSidecar = parse(find(anonymous, 'ConfigMap', 'aos-sidecar')!.data!['aos.yaml']!) as { identity: Record<string, unknown> };
  t.notOk('workloadToken' in anonymousSidecar.identity, 'identity off: the sidecar takes no workload identity either (the gateway would refuse it)');
  const refused = run(['template', 'aos', chart, '--set', 'controlPlane.replicas=2']);
  t.match(refused.stderr, /needs PostgreSQL/, 'replicas without PostgreSQL: refused');
  t.match(run(['template', 'aos', chart, '--set', 'injector.sidecar.mode=sometimes']).stderr, /injector\/sidecar\/mode/, 'values.schema.json refuses a bad value');
});

function writeTemp(t: Test, name: string, text: string, dir?: string): string {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'aos-chart-'));
  if (dir === undefined) t.teardown(() => rmSync(d, { recursive: true, force: true }));
  writeFileSync(join(d, name), text);
  return join(d, name);
}

t.test('the configs the chart renders load with the real loaders', needs, async (t) => {
  const [version] = [...specs.versions.keys()];
  for (const v of variants().slice(0, 2)) {
    const docs = render(t, version!, v.args);
    const dir = mkdtempSync(join(tmpdir(), 'aos-chart-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const gw = find(docs, 'ConfigMap', 'aos-gateway')!.data!;
    writeTemp(t, 'agents.yaml', gw['agents.yaml']!, dir);
    // What the pod gives the gateway: its name (downward API) and the provider keys (a Secret).
    const env = { POD_NAME: 'support-agent-7d9c6b8f5-x2x9q', AOS_LISTEN_HOST: '127.0.0.1', AOS_LISTEN_PORT: '8080', OPENAI_API_KEY: 'k', ANTHROPIC_API_KEY: 'k' };
    const loaded = loadConfig(writeTemp(t, 'aos.yaml', gw['aos.yaml']!, dir), env);
    t.equal(loaded.config.listen.host, '127.0.0.1', `${v.name}: gateway config loads; the proxy on loopback by default`);
    t.match(loaded.config.identity.issuers[0], { issuer: 'https://kubernetes.default.svc.cluster.local', kubernetes: true, discovery: true }, 'the cluster issuer is trusted');
    t.match(
      loaded.config.controlPlane,
      { urls: ['http://aos-control.aos-system.svc:7070'], tokenFile: '/var/run/secrets/aos/control-token', gatewayId: 'support-agent-7d9c6b8f5-x2x9q' },
      'gateways follow the chart’s control plane, with their pod’s token',
    );
    t.equal(loaded.config.identity.workloadToken, undefined, `${v.name}: the shared gateway has no workload identity`);
    // The sidecar's config: the pod's loopback whatever the environment says, and a call without an
    // agent JWT is the pod's workload, from the token the injector projects.
    const sidecarConfig = find(docs, 'ConfigMap', 'aos-sidecar')?.data?.['aos.yaml'];
    const injectText = find(docs, 'ConfigMap', 'aos-injector')!.data!['inject.yaml']!;
    if (sidecarConfig !== undefined) {
      const sidecar = loadConfig(writeTemp(t, 'sidecar.yaml', sidecarConfig, dir), { ...env, AOS_LISTEN_HOST: '0.0.0.0' });
      t.equal(sidecar.config.listen.host, '127.0.0.1', `${v.name}: the sidecar listens on loopback only`);
      t.same(sidecar.config.identity.workloadToken, { file: `${MOUNTS.token}/token`, reloadCheckMs: 1000 }, `${v.name}: the sidecar takes the pod's projected token as the workload`);
      t.equal(loadInjectConfig(writeTemp(t, 'inject.yaml', injectText, dir), {}).sidecar.audience, sidecar.config.identity.audience, `${v.name}: the projected token's audience is the sidecar's`);
    } else t.equal(v.args.length, 0, 'only the default values render no sidecar ConfigMap (no injected namespace)');
    t.ok(loadRegistry(join(dir, 'agents.yaml'), env), 'the registry loads');
    const cp = find(docs, 'ConfigMap', 'aos-control')!.data!;
    // The Deployment sets the URL from the chart's Secret.
    const control = loadControlConfig(writeTemp(t, 'control.yaml', cp['control.yaml']!, dir), { AOS_CONTROL_DATABASE_URL: 'postgres://aos:secret@postgres.aos-system.svc:5432/aos' });
    t.equal(control.config.store.kind, v.args.length === 0 ? 'sqlite' : 'postgres', 'control plane config loads with its store');
    const inject = loadInjectConfig(writeTemp(t, 'inject.yaml', find(docs, 'ConfigMap', 'aos-injector')!.data!['inject.yaml']!, dir), {});
    // The pod this injector makes, with the sidecar settings of these values, is one the API server accepts.
    const review = JSON.parse(readFileSync(join(packageRoot, 'test', 'fixtures', 'k8s', 'pod-create-review.json'), 'utf8')) as {
      request: { object: { metadata: { annotations?: Record<string, string> } } };
    };
    review.request.object.metadata.annotations = { 'aos.dev/inject': 'true' };
    const answer = answerReview(review, inject);
    if (answer.status !== 200 || answer.review.response.patch === undefined) {
      t.fail(`${v.name}: no patch`);
      continue;
    }
    const pod = applyPatch(review.request.object, JSON.parse(Buffer.from(answer.review.response.patch, 'base64').toString()) as { op: string; path: string }[]);
    for (const [version, file] of specs.versions) t.same(kubeValidator(version, file).validate(pod as Record<string, unknown>), [], `${v.name}: the injected pod is valid for ${version}`);
  }
});

t.test('the rendered webhook trusts the rendered injector: served from the rendered config, called as the API server does', needs, async (t) => {
  const [version] = [...specs.versions.keys()];
  const docs = render(t, version!, []);
  const secret = find(docs, 'Secret', 'aos-injector-tls')!.data!;
  const webhook = find<{ webhooks: { clientConfig: { caBundle: string; service: { name: string; namespace: string; path: string } } }[] }>(docs, 'MutatingWebhookConfiguration', 'aos-injector')!;
  const { caBundle, service } = webhook.webhooks[0]!.clientConfig;
  const dir = mkdtempSync(join(tmpdir(), 'aos-chart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = loadInjectConfig(writeTemp(t, 'inject.yaml', find(docs, 'ConfigMap', 'aos-injector')!.data!['inject.yaml']!, dir), {});
  config.listen = { host: '127.0.0.1', port: 0 };
  config.tls.certFile = writeTemp(t, 'tls.crt', Buffer.from(secret['tls.crt']!, 'base64').toString(), dir);
  config.tls.keyFile = writeTemp(t, 'tls.key', Buffer.from(secret['tls.key']!, 'base64').toString(), dir);
  const injector = createInjector(config, createLogger('silent'));
  await injector.start();
  t.teardown(() => injector.stop());
  const body = readFileSync(join(packageRoot, 'test', 'fixtures', 'k8s', 'pod-create-review.json'));
  const res = await new Promise<{ status: number; json: { response: { uid: string; patch?: string } } }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: new URL(injector.url).port,
        path: `${service.path}?timeout=10s`,
        method: 'POST',
        ca: Buffer.from(caBundle, 'base64'),
        servername: `${service.name}.${service.namespace}.svc`,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  t.equal(res.status, 200, 'TLS verified with the caBundle for the Service name');
  t.ok(res.json.response.patch, 'the pod gets its sidecar');
});
