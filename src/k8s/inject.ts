/**
 * Whether a pod gets the gateway, and the JSON Patch that adds it: the sidecar (native or classic),
 * its volumes (the projected ServiceAccount token, the config, a writable data folder) and the app
 * containers' environment. Pure: the same pod and config give the same patch.
 */
import type { InjectConfig } from './config.js';
import { type AddOp, type Container, type EnvVar, type Pod, podProblem, pointer } from './pod.js';

export const ANNOTATIONS = {
  /** `"true"` opts a pod in (needed with `requireAnnotation`), `"false"` opts it out. */
  inject: 'aos.dev/inject',
  /** Set on injection: a pod that has it is never injected again. */
  status: 'aos.dev/status',
  /** `"false"`: leave the app containers' environment alone. */
  env: 'aos.dev/inject-env',
  resources: 'aos.dev/sidecar-resources',
  probes: 'aos.dev/sidecar-probes',
  securityContext: 'aos.dev/sidecar-security-context',
} as const;

/** Set on injection, for selectors (the chart's PodMonitor scrapes every sidecar by it). */
export const SIDECAR_LABEL = 'aos.dev/sidecar';

export const VOLUMES = { token: 'aos-token', config: 'aos-config', data: 'aos-data', tmp: 'aos-tmp' } as const;
export const MOUNTS = { token: '/var/run/secrets/aos', config: '/etc/aos', data: '/var/lib/aos', tmp: '/tmp' } as const;

export type Plan = { kind: 'skip'; reason: string } | { kind: 'invalid'; reason: string } | { kind: 'inject'; patch: AddOp[] };

/** The plan for `pod` created in `namespace`. */
export function planInjection(value: unknown, namespace: string, config: InjectConfig): Plan {
  const problem = podProblem(value);
  if (problem !== null) return { kind: 'invalid', reason: problem };
  const pod = value as Pod;
  const labels = pod.metadata?.labels ?? {};
  const annotations = pod.metadata?.annotations ?? {};
  if (config.skipNamespaces.includes(namespace)) return { kind: 'skip', reason: `namespace ${namespace} is never injected` };
  const own = Object.entries(config.skipLabels).find(([k, v]) => labels[k] === v);
  if (own !== undefined) return { kind: 'skip', reason: `labelled ${own[0]}=${own[1]}` };
  const optIn = annotations[ANNOTATIONS.inject];
  if (optIn !== undefined && optIn !== 'true' && optIn !== 'false') return { kind: 'invalid', reason: `${ANNOTATIONS.inject} must be "true" or "false", not "${optIn}"` };
  if (optIn === 'false') return { kind: 'skip', reason: `opted out (${ANNOTATIONS.inject}: "false")` };
  if (config.requireAnnotation && optIn !== 'true') return { kind: 'skip', reason: `not opted in (${ANNOTATIONS.inject}: "true")` };
  const injected = alreadyInjected(pod, config);
  if (injected !== null) return { kind: 'skip', reason: injected };
  if (pod.spec.hostNetwork === true) return { kind: 'skip', reason: 'hostNetwork pod: its loopback is the node’s' };
  const clash = portClash(pod, config);
  if (clash !== null) return { kind: 'invalid', reason: clash };
  const overrides = sidecarOverrides(annotations);
  if (typeof overrides === 'string') return { kind: 'invalid', reason: overrides };
  return { kind: 'inject', patch: patchFor(pod, config, overrides, annotations[ANNOTATIONS.env] !== 'false') };
}

/** Why the pod already has the sidecar (or something in its place), or null. */
function alreadyInjected(pod: Pod, config: InjectConfig): string | null {
  if (pod.metadata?.annotations?.[ANNOTATIONS.status] !== undefined) return `already injected (${ANNOTATIONS.status})`;
  if ([...pod.spec.containers, ...(pod.spec.initContainers ?? [])].some((c) => c.name === config.sidecar.name)) return `a container is already named ${config.sidecar.name}`;
  const ours: string[] = Object.values(VOLUMES);
  const volume = (pod.spec.volumes ?? []).find((v) => ours.includes(v.name));
  return volume === undefined ? null : `a volume is already named ${volume.name}`;
}

/** The sidecar shares the pod's network: a port a container declares is a port it cannot bind. */
function portClash(pod: Pod, config: InjectConfig): string | null {
  const ours = [config.sidecar.port, config.sidecar.adminPort];
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    const ports = Array.isArray(c.ports) ? (c.ports as { containerPort?: unknown }[]) : [];
    const taken = ports.find((p) => ours.includes(p.containerPort as number));
    if (taken !== undefined) return `container ${c.name} uses port ${taken.containerPort}, which the sidecar needs (the injector's sidecar.port / sidecar.adminPort)`;
  }
  return null;
}

type Overrides = Partial<Record<'resources' | 'readinessProbe' | 'livenessProbe' | 'startupProbe' | 'securityContext', Record<string, unknown>>>;

/** The per-pod overrides of the sidecar, or why an annotation is refused. */
function sidecarOverrides(annotations: Record<string, string>): Overrides | string {
  const object = (key: string): Record<string, unknown> | string | undefined => {
    const text = annotations[key];
    if (text === undefined) return undefined;
    try {
      const v = JSON.parse(text) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {}
    return `${key} must be a JSON object`;
  };
  const out: Overrides = {};
  const resources = object(ANNOTATIONS.resources);
  const securityContext = object(ANNOTATIONS.securityContext);
  const probes = object(ANNOTATIONS.probes);
  for (const v of [resources, securityContext, probes]) if (typeof v === 'string') return v;
  if (resources !== undefined) out.resources = resources as Record<string, unknown>;
  if (securityContext !== undefined) out.securityContext = securityContext as Record<string, unknown>;
  for (const [k, v] of Object.entries((probes as Record<string, unknown> | undefined) ?? {})) {
    if (k !== 'readinessProbe' && k !== 'livenessProbe' && k !== 'startupProbe') return `${ANNOTATIONS.probes} may hold readinessProbe, livenessProbe, startupProbe, not ${k}`;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${ANNOTATIONS.probes}: ${k} must be an object`;
    out[k] = v as Record<string, unknown>;
  }
  return out;
}

function sidecarContainer(config: InjectConfig, overrides: Overrides): Container {
  const s = config.sidecar;
  const env: EnvVar[] = [
    { name: 'AOS_LISTEN_HOST', value: '127.0.0.1' },
    { name: 'AOS_LISTEN_PORT', value: String(s.port) },
    { name: 'AOS_ADMIN_HOST', value: '0.0.0.0' },
    { name: 'AOS_ADMIN_PORT', value: String(s.adminPort) },
    { name: 'AOS_DATA_DIR', value: MOUNTS.data },
    // Under a control plane, the gateway labels itself with them (docs/fleet.md).
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    ...Object.entries(s.env).map(([name, value]) => ({ name, value })),
  ];
  return {
    name: s.name,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    args: ['start', '--config', `${MOUNTS.config}/${s.configFile}`],
    ports: [{ name: 'aos-admin', containerPort: s.adminPort, protocol: 'TCP' }],
    env,
    ...(s.envFromSecrets.length === 0 ? {} : { envFrom: s.envFromSecrets.map((name) => ({ secretRef: { name, optional: true } })) }),
    resources: overrides.resources ?? s.resources,
    readinessProbe: overrides.readinessProbe ?? s.readinessProbe,
    livenessProbe: overrides.livenessProbe ?? s.livenessProbe,
    ...(overrides.startupProbe === undefined ? {} : { startupProbe: overrides.startupProbe }),
    securityContext: overrides.securityContext ?? s.securityContext,
    volumeMounts: [
      { name: VOLUMES.token, mountPath: MOUNTS.token, readOnly: true },
      { name: VOLUMES.config, mountPath: MOUNTS.config, readOnly: true },
      { name: VOLUMES.data, mountPath: MOUNTS.data },
      // The root filesystem is read-only: SQLite's temporary files go here.
      { name: VOLUMES.tmp, mountPath: MOUNTS.tmp },
    ],
    ...(s.mode === 'native' ? { restartPolicy: 'Always' } : {}),
  };
}

function volumes(config: InjectConfig) {
  const s = config.sidecar;
  return [
    {
      name: VOLUMES.token,
      projected: {
        sources: [
          // The pod's identity for the gateway (audience: the gateway), rotated by the kubelet.
          { serviceAccountToken: { audience: s.audience, expirationSeconds: s.tokenExpirationSeconds, path: 'token' } },
          // The cluster CA and a token for the API server, to read the cluster issuer's keys (OIDC discovery).
          { serviceAccountToken: { expirationSeconds: s.tokenExpirationSeconds, path: 'api-token' } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          // The gateway's credential for the control plane, when there is one.
          ...(s.controlPlaneAudience === undefined ? [] : [{ serviceAccountToken: { audience: s.controlPlaneAudience, expirationSeconds: s.tokenExpirationSeconds, path: 'control-token' } }]),
        ],
      },
    },
    { name: VOLUMES.config, configMap: { name: s.configMap } },
    { name: VOLUMES.data, emptyDir: {} },
    { name: VOLUMES.tmp, emptyDir: {} },
  ];
}

/** The variables an app container gets, in order: base URLs, extra env, placeholder keys. */
function appEnv(config: InjectConfig): EnvVar[] {
  const port = String(config.sidecar.port);
  const vars = { ...config.app.env, ...config.app.extraEnv };
  return [
    ...Object.entries(vars).map(([name, value]) => ({ name, value: value.replaceAll('{port}', port) })),
    ...config.app.placeholderKeys.filter((name) => !(name in vars)).map((name) => ({ name, value: config.app.placeholderValue })),
  ];
}

/** Appends `items` to the array at `path`, creating it when the pod has none. */
function append(patch: AddOp[], path: string, existing: unknown[] | undefined, items: unknown[]): void {
  if (items.length === 0) return;
  if (existing === undefined) patch.push({ op: 'add', path, value: items });
  else for (const value of items) patch.push({ op: 'add', path: `${path}/-`, value });
}

function patchFor(pod: Pod, config: InjectConfig, overrides: Overrides, setEnv: boolean): AddOp[] {
  const patch: AddOp[] = [];
  const marks = { annotations: { [ANNOTATIONS.status]: 'injected' }, labels: { [SIDECAR_LABEL]: 'injected' } };
  if (pod.metadata === undefined) patch.push({ op: 'add', path: '/metadata', value: marks });
  else
    for (const field of ['annotations', 'labels'] as const) {
      const [key, value] = Object.entries(marks[field])[0]!;
      if (pod.metadata[field] === undefined) patch.push({ op: 'add', path: pointer('metadata', field), value: marks[field] });
      else patch.push({ op: 'add', path: pointer('metadata', field, key), value });
    }
  append(patch, '/spec/volumes', pod.spec.volumes, volumes(config));
  const sidecar = sidecarContainer(config, overrides);
  if (config.sidecar.mode === 'classic') append(patch, '/spec/containers', pod.spec.containers, [sidecar]);
  // First of the init containers: the pod's own init containers can already reach it.
  else if (pod.spec.initContainers === undefined) patch.push({ op: 'add', path: '/spec/initContainers', value: [sidecar] });
  else patch.push({ op: 'add', path: '/spec/initContainers/0', value: sidecar });
  if (!setEnv) return patch;
  const wanted = appEnv(config);
  pod.spec.containers.forEach((c, i) => {
    const present = new Set((c.env ?? []).map((e) => e.name));
    append(
      patch,
      pointer('spec', 'containers', i, 'env'),
      c.env,
      wanted.filter((e) => !present.has(e.name)),
    );
  });
  return patch;
}
