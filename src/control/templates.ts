/**
 * Template bodies: checked with the agent registry's own template schema (what a gateway will
 * validate the snapshot with), written as YAML (what people review and diffs compare).
 */
import { stringify } from 'yaml';
import { agentRegistrySchema, type TemplateFile } from '../config/agents-schema.js';
import { validatorOf } from '../config/yaml-file.js';
import { ControlHttpError } from './errors.js';

/** One template of agents.yaml (the value schema of its `templates` map). */
const templateSchema = (agentRegistrySchema.properties as Record<string, { additionalProperties: { properties: Record<string, unknown> } }>).templates.additionalProperties;
/** The schema's key order (version first): every version is written alike, so diffs show changes only. */
const KEY_ORDER = Object.keys(templateSchema.properties);

export const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * A proposed body as the version it will become: `version` is set by the control plane (a body may
 * leave it out), defaults are filled in. Throws 422 `control_invalid` naming every problem.
 */
export function checkTemplate(body: unknown, version: number): TemplateFile {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ControlHttpError('control_invalid', 'template: expected an object (the template as in agents.yaml)');
  const candidate = structuredClone({ ...(body as Record<string, unknown>), version });
  const check = validatorOf(templateSchema);
  if (!check(candidate)) {
    const problems = (check.errors ?? []).map(
      (e) => `${e.instancePath || '(template)'} ${e.message ?? 'is invalid'}${e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : ''}`,
    );
    throw new ControlHttpError('control_invalid', `template: ${problems.join('; ')}`);
  }
  return candidate as TemplateFile;
}

/** The YAML people review: keys in the schema's order, as agents.yaml writes them. */
export function templateYaml(template: TemplateFile): string {
  const ordered: Record<string, unknown> = {};
  for (const k of KEY_ORDER) if (k in template) ordered[k] = template[k as keyof TemplateFile];
  return stringify(ordered);
}
