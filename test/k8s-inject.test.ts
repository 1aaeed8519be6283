/**
 * The injector's answer to AdmissionReviews of real pods (test/fixtures/k8s: a Deployment's pod as
 * the API server sends it, after its own admission plugins), the patch applied (RFC 6902), and the
 * resulting pod checked: valid against the Pod schema of every supported Kubernetes version, the
 * sidecar present once, the environment set, the token projected, nothing of the pod lost.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { type Answer, answerReview } from '../src/k8s/admission.js';
import { type InjectConfig, loadInjectConfig } from '../src/k8s/config.js';
import { ANNOTATIONS, SIDECAR_LABEL } from '../src/k8s/inject.js';
import type { Container, Pod } from '../src/k8s/pod.js';
import { packageRoot } from '../src/package-root.js';
import { applyPatch, kubeSpecs, kubeValidator } from './k8s-tools.js';

type Review = { apiVersion: string; kind: string; request: Record<string, unknown> & { uid: string; object: Pod } };
const base = JSON.parse(readFileSync(join(packageRoot, 'test', 'fixtures', 'k8s', 'pod-create-review.json'), 'utf8')) as Review;

const defaults = loadInjectConfig(join(packageRoot, 'config', 'inject.yaml'), {});
const configWith = (over: (c: InjectConfig) => void): InjectConfig => {
  const c = structuredClone(defaults);
  over(c);
  return c;
};

/** The fixture's review with its pod changed by `edit`. */
function review(edit: (pod: Pod) => void = () => {}): Review {
  const r = structuredClone(base);
  edit(r.request.object);
  return r;
}

function patched(answer: Answer, pod: Pod): Pod {
  if (answer.status !== 200) throw new Error(`no review answered: ${answer.message}`);
  const { response } = answer.review;
  if (response.patch === undefined) throw new Error('no patch');
  return applyPatch(pod, JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as { op: string; path: string }[]);
}

const specs = kubeSpecs();
const validators = specs.tool.missing === null ? [...specs.versions].map(([v, file]) => kubeValidator(v, file)) : [];
const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
const sidecars = (pod: Pod) => [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].filter((c) => c.name === 'aos-gateway');

const cases: { name: string; edit?: (pod: Pod) => void; config?: (c: InjectConfig) => void; check: (t: Test, pod: Pod, original: Pod) => void }[] = [
  {
    name: 'a plain pod',
    check: (t, pod) => {
      t.equal(pod.spec.initContainers?.[0]?.name, 'aos-gateway', 'the sidecar is the first init container');
      t.equal(pod.spec.initContainers?.[0]?.restartPolicy, 'Always', 'a native sidecar');
      t.same(envOf(pod.spec.containers[0]!), {
        OPENAI_BASE_URL: 'http://127.0.0.1:8080/v1',
        ANTHROPIC_BASE_URL: 'http://127.0.0.1:8080/anthropic',
        OPENAI_API_KEY: 'aos-sidecar-placeholder',
        ANTHROPIC_API_KEY: 'aos-sidecar-placeholder',
      });
    },
  },
  {
    name: 'a pod with init containers and annotations',
    edit: (pod) => {
      pod.metadata!.annotations = { 'prometheus.io/scrape': 'true' };
      pod.spec.initContainers = [
        { name: 'migrate', image: 'registry.example.com/migrate:2', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent' },
      ];
    },
    check: (t, pod) => {
      t.same(
        pod.spec.initContainers?.map((c) => c.name),
        ['aos-gateway', 'migrate'],
        'the sidecar starts before the pod’s own init containers',
      );
      t.equal(pod.metadata?.annotations?.['prometheus.io/scrape'], 'true', 'existing annotations kept');
      t.equal(pod.spec.initContainers?.[1]?.env, undefined, 'init containers get no env');
    },
  },
  {
    name: 'a pod that sets its own base URL and key',
    edit: (pod) => {
      pod.spec.containers[0]!.env = [
        { name: 'OPENAI_BASE_URL', value: 'https://llm.internal.example.com/v1' },
        { name: 'ANTHROPIC_API_KEY', valueFrom: { secretKeyRef: { name: 'anthropic', key: 'key' } } },
      ];
    },
    check: (t, pod) => {
      const env = pod.spec.containers[0]!.env!;
      t.equal(env.filter((e) => e.name === 'OPENAI_BASE_URL').length, 1, 'one OPENAI_BASE_URL');
      t.equal(envOf(pod.spec.containers[0]!).OPENAI_BASE_URL, 'https://llm.internal.example.com/v1', 'the pod’s own base URL wins');
      t.same(
        env.find((e) => e.name === 'ANTHROPIC_API_KEY'),
        { name: 'ANTHROPIC_API_KEY', valueFrom: { secretKeyRef: { name: 'anthropic', key: 'key' } } },
        'the pod’s own key wins',
      );
      t.equal(envOf(pod.spec.containers[0]!).ANTHROPIC_BASE_URL, 'http://127.0.0.1:8080/anthropic', 'what it does not set is added');
    },
  },
  {
    name: 'two app containers, env left alone by annotation, classic sidecar, overrides by annotation',
    edit: (pod) => {
      pod.metadata!.annotations = {
        [ANNOTATIONS.env]: 'false',
        [ANNOTATIONS.resources]: JSON.stringify({ requests: { cpu: '200m', memory: '128Mi' }, limits: { memory: '512Mi' } }),
        [ANNOTATIONS.probes]: JSON.stringify({ startupProbe: { httpGet: { path: '/readyz', port: 9090 }, failureThreshold: 30, periodSeconds: 1 } }),
      };
      pod.spec.containers.push({ name: 'tools', image: 'registry.example.com/tools:1' });
    },
    config: (c) => {
      c.sidecar.mode = 'classic';
    },
    check: (t, pod) => {
      t.same(
        pod.spec.containers.map((c) => c.name),
        ['agent', 'tools', 'aos-gateway'],
        'a classic sidecar is one more container',
      );
      const sidecar = pod.spec.containers[2]!;
      t.equal(sidecar.restartPolicy, undefined, 'no restartPolicy on a classic sidecar');
      t.same(sidecar.resources, { requests: { cpu: '200m', memory: '128Mi' }, limits: { memory: '512Mi' } }, 'resources from the annotation');
      t.equal((sidecar.startupProbe as { failureThreshold: number }).failureThreshold, 30, 'startup probe from the annotation');
      t.equal(pod.spec.containers[0]!.env, undefined, 'no env with aos.dev/inject-env: "false"');
    },
  },
  {
    name: 'extra env from the config',
    config: (c) => {
      c.app.extraEnv = { AOS_GATEWAY_URL: 'http://127.0.0.1:{port}' };
      c.sidecar.envFromSecrets = ['aos-provider-keys'];
      c.sidecar.controlPlaneAudience = 'aos-control';
      c.sidecar.port = 18080;
    },
    check: (t, pod) => {
      const env = envOf(pod.spec.containers[0]!);
      t.equal(env.AOS_GATEWAY_URL, 'http://127.0.0.1:18080', 'extra env with the port filled in');
      t.equal(env.OPENAI_BASE_URL, 'http://127.0.0.1:18080/v1');
      t.equal(envOf(sidecars(pod)[0]!).AOS_LISTEN_PORT, '18080', 'the sidecar listens there');
      t.same(sidecars(pod)[0]!.envFrom, [{ secretRef: { name: 'aos-provider-keys', optional: true } }], 'provider keys from a Secret');
      const sources = (pod.spec.volumes!.find((v) => v.name === 'aos-token') as unknown as { projected: { sources: { serviceAccountToken?: { audience?: string; path: string } }[] } }).projected
        .sources;
      t.same(sources.at(-1), { serviceAccountToken: { audience: 'aos-control', expirationSeconds: 3600, path: 'control-token' } }, 'a token for the control plane');
    },
  },
];

for (const c of cases) {
  t.test(`injected: ${c.name}`, async (t) => {
    const r = review(c.edit);
    const config = c.config ? configWith(c.config) : defaults;
    const answer = answerReview(r, config);
    t.equal(answer.status, 200);
    if (answer.status !== 200) return;
    t.equal(answer.review.response.uid, r.request.uid, 'the uid is echoed');
    t.equal(answer.review.response.allowed, true);
    t.equal(answer.review.response.patchType, 'JSONPatch');
    const original = r.request.object;
    const pod = patched(answer, original);
    t.equal(sidecars(pod).length, 1, 'the sidecar is there once');
    const sidecar = sidecars(pod)[0]!;
    const token = pod.spec.volumes?.find((v) => v.name === 'aos-token') as { projected?: { sources: { serviceAccountToken?: { audience: string; path: string } }[] } } | undefined;
    t.same(token?.projected?.sources[0], { serviceAccountToken: { audience: 'aos-gateway', expirationSeconds: 3600, path: 'token' } }, 'a projected ServiceAccount token for the gateway’s audience');
    t.same(
      (sidecar.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[]).find((m) => m.name === 'aos-token'),
      { name: 'aos-token', mountPath: '/var/run/secrets/aos', readOnly: true },
      'mounted read-only into the sidecar',
    );
    t.equal(envOf(sidecar).AOS_LISTEN_HOST, '127.0.0.1', 'the proxy listens on the pod’s loopback only');
    const sc = sidecar.securityContext as Record<string, unknown>;
    t.match(sc, { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, 'locked-down securityContext');
    t.equal(pod.metadata?.annotations?.[ANNOTATIONS.status], 'injected', 'marked injected');
    t.equal(pod.metadata?.labels?.[SIDECAR_LABEL], 'injected', 'labelled for selectors');
    t.same(
      Object.entries(original.metadata?.labels ?? {}).filter(([k, v]) => pod.metadata?.labels?.[k] !== v),
      [],
      'the pod’s own labels are kept',
    );
    t.ok(
      original.spec.volumes?.every((v) => pod.spec.volumes?.some((w) => JSON.stringify(w) === JSON.stringify(v))),
      'the pod’s own volumes are kept',
    );
    t.same(pod.spec.containers[0]!.volumeMounts, original.spec.containers[0]!.volumeMounts, 'app containers’ mounts untouched');
    c.check(t, pod, original);
    for (const v of validators) t.same(v.validate(pod as unknown as Record<string, unknown>), [], `the pod is valid for Kubernetes ${v.version}`);
    const again = answerReview({ ...r, request: { ...r.request, object: pod } }, config);
    t.ok(again.status === 200 && again.review.response.allowed && again.review.response.patch === undefined, 're-admitting the injected pod changes nothing');
  });
}

// Shapes a pod can arrive in: every one gets a patch that applies and leaves a valid pod.
const shapes: [string, (pod: Pod) => void][] = [
  ['no labels or annotations', (p) => delete p.metadata!.labels],
  [
    'empty lists',
    (p) => {
      Object.assign(p.spec, { volumes: [], initContainers: [] });
      p.spec.containers[0]!.env = [];
    },
  ],
  ['no volumes at all', (p) => delete p.spec.volumes],
  ['annotation keys that need escaping', (p) => (p.metadata!.annotations = { 'example.com/a~b': 'x' })],
  ['an init container with restartPolicy Always of its own', (p) => (p.spec.initContainers = [{ name: 'log-shipper', image: 'registry.example.com/shipper:3', restartPolicy: 'Always' }])],
];

for (const [name, edit] of shapes) {
  t.test(`pod shape: ${name}`, async (t) => {
    const r = review(edit);
    const answer = answerReview(r, defaults);
    const pod = patched(answer, r.request.object);
    t.equal(sidecars(pod).length, 1, 'the sidecar once');
    t.equal(envOf(pod.spec.containers[0]!).OPENAI_BASE_URL, 'http://127.0.0.1:8080/v1');
    for (const v of validators) t.same(v.validate(pod as unknown as Record<string, unknown>), [], `valid for ${v.version}`);
  });
}

t.test('the schema check itself refuses a broken pod', specs.tool.options, async (t) => {
  t.ok(validators.length >= 2, `validators for ${[...specs.versions.keys()].join(', ')}`);
  const pod = structuredClone(base.request.object) as unknown as { spec: { containers: Record<string, unknown>[] } };
  pod.spec.containers[0]!.enviroment = [];
  pod.spec.containers[0]!.ports = [{ containerPort: 'http' }];
  for (const v of validators) {
    const problems = v.validate(pod as unknown as Record<string, unknown>);
    t.ok(
      problems.some((p) => p.includes('enviroment')),
      `${v.version}: an unknown field`,
    );
    t.ok(
      problems.some((p) => p.includes('/ports/0/containerPort')),
      `${v.version}: a mistyped field`,
    );
  }
});

const noPatch: { name: string; body: unknown; config?: (c: InjectConfig) => void; outcome: string }[] = [
  { name: 'opted out by annotation', body: review((p) => (p.metadata!.annotations = { [ANNOTATIONS.inject]: 'false' })), outcome: 'skipped' },
  { name: 'not opted in when the annotation is required', body: review(), config: (c) => (c.requireAnnotation = true), outcome: 'skipped' },
  { name: 'already injected (status annotation)', body: review((p) => (p.metadata!.annotations = { [ANNOTATIONS.status]: 'injected' })), outcome: 'skipped' },
  { name: 'already has a container named like the sidecar', body: review((p) => p.spec.containers.push({ name: 'aos-gateway', image: 'x' })), outcome: 'skipped' },
  { name: 'the gateway’s own pod', body: review((p) => (p.metadata!.labels!['app.kubernetes.io/part-of'] = 'aos')), outcome: 'skipped' },
  { name: 'a hostNetwork pod', body: review((p) => (p.spec.hostNetwork = true)), outcome: 'skipped' },
  { name: 'kube-system', body: { ...base, request: { ...base.request, namespace: 'kube-system' } }, outcome: 'skipped' },
  { name: 'another kind', body: { ...base, request: { ...base.request, kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: { kind: 'Deployment' } } }, outcome: 'other-kind' },
  { name: 'a subresource', body: { ...base, request: { ...base.request, subResource: 'ephemeralcontainers' } }, outcome: 'other-kind' },
  { name: 'an UPDATE', body: { ...base, request: { ...base.request, operation: 'UPDATE' } }, outcome: 'other-operation' },
  { name: 'a pod without containers', body: review((p) => (p.spec.containers = [])), outcome: 'invalid' },
  { name: 'a pod whose env is not a list', body: review((p) => ((p.spec.containers[0] as Record<string, unknown>).env = { A: '1' })), outcome: 'invalid' },
  { name: 'no object', body: { ...base, request: { ...base.request, object: null } }, outcome: 'invalid' },
  {
    name: 'an app container declaring the sidecar’s port',
    body: review((p) => ((p.spec.containers[0] as Record<string, unknown>).ports = [{ containerPort: 8080, protocol: 'TCP' }])),
    outcome: 'invalid',
  },
  { name: 'a malformed override annotation', body: review((p) => (p.metadata!.annotations = { [ANNOTATIONS.resources]: '{cpu: 1' })), outcome: 'invalid' },
  { name: 'an inject annotation that is neither true nor false', body: review((p) => (p.metadata!.annotations = { [ANNOTATIONS.inject]: 'yes' })), outcome: 'invalid' },
];

for (const c of noPatch) {
  t.test(`allowed unchanged: ${c.name}`, async (t) => {
    const answer = answerReview(c.body, c.config ? configWith(c.config) : defaults);
    t.equal(answer.status, 200);
    if (answer.status !== 200) return;
    t.equal(answer.outcome, c.outcome);
    const { response } = answer.review;
    t.same({ uid: response.uid, allowed: response.allowed, patch: response.patch, patchType: response.patchType }, { uid: base.request.uid, allowed: true, patch: undefined, patchType: undefined });
    if (c.outcome === 'invalid') t.match(response.warnings?.[0], /^aos injector: not injected: /, 'a warning says why');
    if (c.outcome === 'invalid' || c.outcome === 'skipped') t.match(answer.reason, /\w/, `the log says why: ${answer.reason}`);
  });
}

t.test('onInvalid: deny refuses what it cannot read, still allows what it skips', async (t) => {
  const config = configWith((c) => (c.onInvalid = 'deny'));
  const denied = answerReview(
    review((p) => (p.spec.containers = [])),
    config,
  );
  t.ok(denied.status === 200 && !denied.review.response.allowed, 'denied');
  if (denied.status === 200) t.match(denied.review.response.status, { code: 400, message: /no containers/ });
  const skipped = answerReview(
    review((p) => (p.metadata!.annotations = { [ANNOTATIONS.inject]: 'false' })),
    config,
  );
  t.ok(skipped.status === 200 && skipped.review.response.allowed, 'an opted-out pod is allowed');
});

t.test('no review to answer: 400', async (t) => {
  for (const body of [
    null,
    'x',
    {},
    { ...base, apiVersion: 'admission.k8s.io/v1beta1' },
    { ...base, kind: 'Pod' },
    { ...base, request: { ...base.request, uid: '' } },
    { ...base, request: undefined },
  ]) {
    t.equal(answerReview(body, defaults).status, 400, JSON.stringify(body).slice(0, 60));
  }
});
