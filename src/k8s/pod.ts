/**
 * The few fields of a Pod the injector reads (core/v1), and the JSON Patch operations it answers
 * with. Everything else in the pod is carried through untouched: a patch only adds.
 */

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Record<string, unknown>;
}

export interface Container {
  name: string;
  env?: EnvVar[];
  [field: string]: unknown;
}

export interface Pod {
  metadata?: { name?: string; generateName?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Container[]; initContainers?: Container[]; volumes?: { name: string }[]; hostNetwork?: boolean; [field: string]: unknown };
}

/** RFC 6902 `add`: the only operation the injector emits. */
export interface AddOp {
  op: 'add';
  path: string;
  value: unknown;
}

/** A JSON Pointer (RFC 6901) from path segments: `~` and `/` in a segment are escaped. */
export const pointer = (...segments: (string | number)[]): string => segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringMap = (v: unknown): boolean => v === undefined || (isRecord(v) && Object.values(v).every((x) => typeof x === 'string'));
const isContainerList = (v: unknown): boolean =>
  Array.isArray(v) && v.every((c) => isRecord(c) && typeof c.name === 'string' && (c.env === undefined || (Array.isArray(c.env) && c.env.every((e) => isRecord(e) && typeof e.name === 'string'))));

/** Why `value` is not a pod the injector can patch safely, or null when it is. */
export function podProblem(value: unknown): string | null {
  if (!isRecord(value)) return 'the object is not a Pod';
  const { metadata, spec } = value;
  if (metadata !== undefined && (!isRecord(metadata) || !isStringMap(metadata.labels) || !isStringMap(metadata.annotations))) return 'the pod’s metadata is malformed';
  if (!isRecord(spec) || !isContainerList(spec.containers) || (spec.containers as unknown[]).length === 0) return 'the pod has no containers';
  if (spec.initContainers !== undefined && !isContainerList(spec.initContainers)) return 'the pod’s initContainers are malformed';
  if (spec.volumes !== undefined && !(Array.isArray(spec.volumes) && spec.volumes.every((v) => isRecord(v) && typeof v.name === 'string'))) return 'the pod’s volumes are malformed';
  return null;
}
