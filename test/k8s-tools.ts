/**
 * What the Kubernetes tests need without a cluster: the pinned Helm CLI (scripts/helm.sh), the
 * Kubernetes API's OpenAPI documents of the supported versions (scripts/k8s-schemas.sh) turned into
 * validators, and an RFC 6902 applier for the injector's patches. Missing tools follow test/tools.ts:
 * skipped outside CI, a failure under CI.
 */

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import jsonpatch, { type Operation } from 'fast-json-patch';
import { packageRoot } from '../src/package-root.js';
import { executable, type Tool, tool } from './tools.js';

function script(name: string): { stdout: string; why: string } {
  const run = spawnSync('bash', [join(packageRoot, 'scripts', name)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { stdout: run.status === 0 ? run.stdout.trim() : '', why: `scripts/${name} failed (exit ${run.status ?? run.signal ?? run.error?.message}): ${(run.stderr ?? '').trim() || 'no output'}` };
}

let helm: Tool | undefined;

/** The pinned Helm CLI (scripts/helm.sh installs it into .tools/bin when missing). */
export function helmCli(): Tool {
  if (helm !== undefined) return helm;
  const { stdout, why } = script('helm.sh');
  helm = tool('the Helm CLI', stdout !== '' && executable(stdout) ? stdout : null, stdout === '' ? why : `scripts/helm.sh printed ${stdout}, not an executable file`);
  return helm;
}

let specs: { tool: Tool; versions: Map<string, string> } | undefined;

/** The swagger.json of each supported Kubernetes version, by version. */
export function kubeSpecs(): { tool: Tool; versions: Map<string, string> } {
  if (specs !== undefined) return specs;
  const { stdout, why } = script('k8s-schemas.sh');
  const versions = new Map(
    stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split(' ') as [string, string]),
  );
  specs = { tool: tool('the Kubernetes OpenAPI documents', versions.size > 0 ? 'scripts/k8s-schemas.sh' : null, why), versions };
  return specs;
}

type Json = Record<string, unknown>;

/** kubeconform's "strict" reading of the OpenAPI document: unknown fields are errors; int-or-string and quantities take numbers too. */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([p, s]) => [p, strict(s)])) : strict(v);
  if (out.properties !== undefined && out.additionalProperties === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false;
  if (out.format === 'int-or-string') return { anyOf: [{ type: 'string' }, { type: 'integer' }] };
  return out;
}

export interface KubeValidator {
  readonly version: string;
  /** The problems of one manifest (empty when valid); a kind the API does not serve is a problem. */
  validate(doc: Json): string[];
}

const validators = new Map<string, KubeValidator>();

/** The validator of one version's document (built once: compiling the API's schemas takes a moment). */
export function kubeValidator(version: string, specFile: string): KubeValidator {
  let v = validators.get(specFile);
  if (v === undefined) {
    v = buildValidator(version, specFile);
    validators.set(specFile, v);
  }
  return v;
}

function buildValidator(version: string, specFile: string): KubeValidator {
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as { definitions: Record<string, Json> };
  const definitions = strict(spec.definitions) as Record<string, Json>;
  definitions['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { anyOf: [{ type: 'string' }, { type: 'number' }] };
  const byKind = new Map<string, string>();
  for (const [name, def] of Object.entries(spec.definitions)) {
    for (const gvk of (def['x-kubernetes-group-version-kind'] as { group: string; version: string; kind: string }[] | undefined) ?? []) {
      byKind.set(`${gvk.group === '' ? '' : `${gvk.group}/`}${gvk.version}/${gvk.kind}`, name);
    }
  }
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ $id: 'k8s', definitions });
  const compiled = new Map<string, ValidateFunction>();
  return {
    version,
    validate(doc) {
      const key = `${doc.apiVersion}/${doc.kind}`;
      const name = byKind.get(key);
      if (name === undefined) return [`Kubernetes ${version} serves no ${key}`];
      let check = compiled.get(name);
      if (check === undefined) {
        check = ajv.getSchema(`k8s#/definitions/${name}`)!;
        compiled.set(name, check);
      }
      if (check(doc)) return [];
      return (check.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${e.params.additionalProperty})` : ''}`);
    },
  };
}

/**
 * Applies a JSON Patch (RFC 6902) the way the API server does, with a JSON Patch library: every
 * operation validated, the document copied, not changed.
 */
export function applyPatch<T>(doc: T, ops: { op: string; path: string; value?: unknown }[]): T {
  return jsonpatch.applyPatch(doc, ops as Operation[], true, false).newDocument;
}
