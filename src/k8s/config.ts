/**
 * The injector's configuration (config/inject.yaml; in the chart, a ConfigMap rendered from
 * values): one TypeBox schema, loaded with the gateway's YAML loader (`${ENV}`, defaults filled in,
 * problems named with line and column).
 */
import { type Static, Type } from '@sinclair/typebox';
import { Bool, Dict, Enum, fileSchema, Int, Obj, Str } from '../config/schema-builders.js';
import { loadYamlFile } from '../config/yaml-file.js';

/** A Kubernetes object given as is (resources, a probe, a securityContext): the API server checks its shape. */
const K8sObject = (description: string, dflt: Record<string, unknown>) => Type.Unsafe<Record<string, unknown>>({ type: 'object', description, default: dflt });
const StrList = (description: string, dflt: string[]) => Type.Array(Type.String({ minLength: 1 }), { description, default: dflt });

const SidecarSchema = Obj(
  {
    mode: Enum(['native', 'classic'], {
      description: '`native`: an init container with `restartPolicy: Always` (Kubernetes ≥ 1.29), started before and stopped after the app. `classic`: one more container.',
      default: 'native',
    }),
    name: Str('The sidecar container’s name (also how an injected pod is recognized).', { minLength: 1, default: 'aos-gateway' }),
    image: Str('The gateway image.', { minLength: 1, default: 'aos-gateway:latest' }),
    imagePullPolicy: Enum(['Always', 'IfNotPresent', 'Never'], { description: 'The image pull policy.', default: 'IfNotPresent' }),
    port: Int(1, 8080, 'The proxy port, on the pod’s loopback only.', 65535),
    adminPort: Int(1, 9090, 'The admin port (probes, metrics), on the pod IP.', 65535),
    configMap: Str('The ConfigMap holding the gateway config (mounted at /etc/aos).', { minLength: 1, default: 'aos-sidecar' }),
    configFile: Str('The config file’s key in that ConfigMap.', { minLength: 1, default: 'aos.yaml' }),
    audience: Str('The audience of the projected ServiceAccount token (the gateway’s `identity.audience`).', { minLength: 1, default: 'aos-gateway' }),
    tokenExpirationSeconds: Int(600, 3600, 'Lifetime of the projected token; the kubelet rotates it at 80%.'),
    controlPlaneAudience: Type.Optional(
      Str('When set, a second projected token with this audience (`gateways.audience` of `aos control`) at /var/run/secrets/aos/control-token: the gateway’s `controlPlane.tokenFile`.', {
        minLength: 1,
      }),
    ),
    env: Dict(Type.String(), { description: 'Extra environment of the sidecar (e.g. the control plane URL).', default: {} }),
    envFromSecrets: StrList('Secrets (in the pod’s namespace) whose keys become the sidecar’s environment, e.g. provider keys; optional: a missing one is skipped.', []),
    resources: K8sObject('The sidecar’s resources (annotation `aos.dev/sidecar-resources` overrides per pod).', { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } }),
    readinessProbe: K8sObject('Readiness probe (annotation `aos.dev/sidecar-probes`: `{readinessProbe, livenessProbe}`).', { httpGet: { path: '/readyz', port: 'aos-admin' }, periodSeconds: 5 }),
    livenessProbe: K8sObject('Liveness probe.', { httpGet: { path: '/healthz', port: 'aos-admin' }, periodSeconds: 10, failureThreshold: 3 }),
    securityContext: K8sObject('The sidecar’s securityContext (annotation `aos.dev/sidecar-security-context` overrides per pod).', {
      runAsNonRoot: true,
      runAsUser: 1000,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    }),
  },
  { description: 'The injected gateway.', default: {} },
);

export const InjectConfigSchema = Obj(
  {
    listen: Obj(
      {
        host: Str('Address to listen on.', { minLength: 1, default: '0.0.0.0' }),
        port: Int(0, 8443, 'HTTPS port (0: any free port).', 65535),
      },
      { description: 'The webhook listener (HTTPS).', default: {} },
    ),
    tls: Obj(
      {
        certFile: Type.Optional(Str('Serving certificate (PEM), e.g. from cert-manager; re-read when it changes.', { minLength: 1 })),
        keyFile: Type.Optional(Str('Its private key (PEM).', { minLength: 1 })),
        selfSignedHosts: StrList('Without certFile: a CA is generated at start and signs a certificate for these names.', ['localhost', '127.0.0.1']),
        caBundleFile: Type.Optional(Str('Without certFile: where to write the generated CA (PEM), for the webhook’s caBundle.', { minLength: 1 })),
        reloadCheckMs: Int(100, 10_000, 'How often certFile is checked for a renewed certificate (cert-manager renews the Secret in place).'),
      },
      { description: 'TLS of the webhook.', default: {} },
    ),
    log: Obj({ level: Enum(['debug', 'info', 'warn', 'error', 'silent'], { description: 'JSON lines on stderr from this level up.', default: 'info' }) }, { description: 'The log.', default: {} }),
    onInvalid: Enum(['allow', 'deny'], { description: 'A review or pod the injector cannot handle: `allow` it unchanged (with a warning) or `deny` it with the reason.', default: 'allow' }),
    requireAnnotation: Bool(false, 'Inject only pods annotated `aos.dev/inject: "true"` (else every pod of a labelled namespace but those annotated `"false"`).'),
    skipNamespaces: StrList('Namespaces never injected.', ['kube-system', 'kube-public', 'kube-node-lease']),
    skipLabels: Dict(Type.String(), { description: 'Pods carrying any of these labels are never injected (the gateway’s own pods).', default: { 'app.kubernetes.io/part-of': 'aos' } }),
    sidecar: SidecarSchema,
    app: Obj(
      {
        env: Dict(Type.String(), {
          description: 'Set in app containers unless already set; `{port}` is the sidecar’s port.',
          default: { OPENAI_BASE_URL: 'http://127.0.0.1:{port}/v1', ANTHROPIC_BASE_URL: 'http://127.0.0.1:{port}/anthropic' },
        }),
        extraEnv: Dict(Type.String(), { description: 'More variables for app containers, added to `env`.', default: {} }),
        placeholderKeys: StrList('API key variables set to `placeholderValue` unless already set (SDKs refuse to start without one).', ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY']),
        placeholderValue: Str('The placeholder; the sidecar ignores it.', { minLength: 1, default: 'aos-sidecar-placeholder' }),
      },
      { description: 'What app containers get.', default: {} },
    ),
  },
  { description: 'The sidecar injector (`aos inject`).' },
);

export type InjectConfig = Static<typeof InjectConfigSchema>;
export type SidecarConfig = InjectConfig['sidecar'];

export const injectConfigSchema = fileSchema(InjectConfigSchema);

export function loadInjectConfig(file: string, env: NodeJS.ProcessEnv = process.env): InjectConfig {
  return loadYamlFile<InjectConfig>(file, injectConfigSchema, 'injector config', env).data;
}
