/**
 * docs/configuration.md, generated from the config schema (`npm run docs:config`): a table per
 * section with each key's path, type, default and description, and the ConfigError codes. A test
 * fails when the committed page differs from what this renders.
 */
import { CONFIG_ERRORS } from './config-error.js';
import { configSchema, type JsonSchema } from './schema.js';

interface Row {
  key: string;
  type: string;
  dflt: string;
  description: string;
}

const HEADER = `# Configuration reference

<!-- Generated from src/config/schema.ts by \`npm run docs:config\`; do not edit by hand. -->

The gateway reads one YAML file: \`config/aos.yaml\` by default, \`--config FILE\` or \`AOS_CONFIG\`
picks another. \`\${NAME}\` in a value is replaced from the environment (an unset variable is an
error), \`\${NAME:-default}\` falls back. Keys with a default may be left out; unknown keys are
errors. Paths in the file are relative to the config file unless said otherwise. \`<name>\` stands
for a name you choose.
`;

/** The whole page. */
export function renderConfigDocs(): string {
  const out: string[] = [HEADER];
  const props = configSchema.properties ?? {};
  const top: Row[] = [];
  const sections: [string, JsonSchema, Row[]][] = [];
  for (const [key, schema] of Object.entries(props)) {
    const required = requiredOf(configSchema).includes(key);
    if (!isStructured(schema)) {
      top.push(row(key, schema, required));
      continue;
    }
    const rows: Row[] = [];
    if (!isBranched(schema)) walk(key, schema, rows, required, false);
    sections.push([key, schema, rows]);
  }
  out.push('## Top level\n', table(top));
  for (const [key, schema, rows] of sections) {
    out.push(`## \`${key}\`\n`, `${text(schema.description)}\n`);
    if (isBranched(schema)) {
      out.push(...branches(key, schema));
    } else {
      out.push(table(rows));
    }
  }
  out.push(
    '## Errors\n',
    'A configuration file that cannot be used (the gateway config, the agent registry, the price table, a key file) fails with a `ConfigError`: its message names the file, the line and column, the key path and what was expected; its `code` is one of:\n',
  );
  out.push(`${['| code | meaning |', '|---|---|', ...Object.entries(CONFIG_ERRORS).map(([code, meaning]) => `| \`${code}\` | ${cell(meaning)} |`)].join('\n')}\n`);
  return out.join('\n');
}

/** A section whose entries are discriminated (`tools`: `kind: http` or `kind: mcp`): a table per kind. */
function branches(key: string, schema: JsonSchema): string[] {
  const entry = schema.additionalProperties as JsonSchema;
  const at = `${key}.${placeholder(key, 0)}`;
  const out: string[] = [table([row(key, schema, false)])];
  for (const branch of [entry.then, entry.else] as JsonSchema[]) {
    const kind = String((branch.properties?.kind as JsonSchema | undefined)?.const);
    const rows: Row[] = [];
    walk(at, branch, rows, true, true);
    out.push(`### \`kind: ${kind}\`\n`, `${text(branch.description)}\n`, table(rows.filter((r) => r.key !== at)));
  }
  return out;
}

/** Rows for a node and everything under it. */
function walk(path: string, schema: JsonSchema, rows: Row[], required: boolean, includeSelf: boolean): void {
  if (includeSelf) rows.push(row(path, schema, required));
  if (schema.type === 'object' && schema.properties !== undefined && !isDict(schema)) {
    const req = requiredOf(schema);
    for (const [key, child] of Object.entries(schema.properties)) {
      if (key === 'kind' && child.const !== undefined) {
        rows.push({ key: `${path}.kind`, type: `\`${String(child.const)}\``, dflt: 'required', description: 'Which kind of entry this is.' });
        continue;
      }
      walk(`${path}.${key}`, child, rows, req.includes(key), true);
    }
  } else if (isDict(schema)) {
    const value = schema.additionalProperties as JsonSchema;
    if (isStructured(value)) walk(`${path}.${placeholder(path, depth(path))}`, value, rows, true, false);
  } else if (schema.type === 'array' && isStructured(schema.items as JsonSchema)) {
    walk(`${path}[]`, schema.items as JsonSchema, rows, true, false);
  }
}

function row(key: string, schema: JsonSchema, required: boolean): Row {
  const dflt = 'default' in schema ? `\`${show(schema.default)}\`` : required ? 'required' : '—';
  return { key, type: typeOf(schema), dflt, description: text(schema.description) };
}

function typeOf(s: JsonSchema): string {
  if (Array.isArray(s.enum)) return s.enum.map((v) => `\`${String(v)}\``).join(' | ');
  if (s.const !== undefined) return `\`${String(s.const)}\``;
  const bounds: string[] = [];
  if (typeof s.minimum === 'number') bounds.push(`≥ ${s.minimum}`);
  if (typeof s.exclusiveMinimum === 'number') bounds.push(`> ${s.exclusiveMinimum}`);
  if (typeof s.maximum === 'number') bounds.push(`≤ ${s.maximum}`);
  switch (s.type) {
    case 'integer':
    case 'number':
      return [s.type, ...bounds].join(' ');
    case 'string':
      return typeof s.title === 'string' ? `string: ${s.title}` : 'string';
    case 'boolean':
      return 'boolean';
    case 'array': {
      const items = s.items as JsonSchema;
      return `list of ${isStructured(items) ? 'objects' : typeOf(items)}${typeof s.minItems === 'number' && s.minItems > 0 ? ` (at least ${s.minItems})` : ''}`;
    }
    case 'object': {
      if (isDict(s)) {
        const value = s.additionalProperties as JsonSchema;
        return `map of ${isStructured(value) ? 'objects' : typeOf(value)}${typeof s.minProperties === 'number' ? ` (at least ${s.minProperties})` : ''}`;
      }
      if (s.properties === undefined) return 'object (a JSON Schema)';
      if (s.minProperties === 1 && s.maxProperties === 1) return 'object, exactly one key';
      return 'object';
    }
    default:
      return 'any';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isDict = (s: JsonSchema) => s.type === 'object' && isObject(s.additionalProperties);
const isStructured = (s: JsonSchema | undefined): boolean =>
  s !== undefined &&
  (s.properties !== undefined || s.if !== undefined || (isDict(s) && isStructured(s.additionalProperties as JsonSchema)) || (s.type === 'array' && isStructured(s.items as JsonSchema)));
/** A map whose entries are discriminated by `kind` (`if`/`then`/`else`). */
const isBranched = (s: JsonSchema) => isDict(s) && (s.additionalProperties as JsonSchema).if !== undefined;
const requiredOf = (s: JsonSchema) => (Array.isArray(s.required) ? (s.required as string[]) : []);
const depth = (path: string) => (path.match(/</g) ?? []).length;

/** `<name>` for user-chosen keys: `tools.<name>.operations.<op>`, `tools.<name>.tools.<tool>`. */
function placeholder(path: string, level: number): string {
  if (path.endsWith('operations')) return '<op>';
  if (path.endsWith('tools') && level > 0) return '<tool>';
  return '<name>';
}

function show(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (isObject(v))
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}: ${show(x)}`)
      .join(', ')}}`;
  return String(v);
}

const text = (v: unknown) => (typeof v === 'string' ? v : '');
const cell = (v: string) => v.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(rows: Row[]): string {
  const lines = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| \`${r.key}\` | ${cell(r.type)} | ${cell(r.dflt)} | ${cell(r.description)} |`);
  return `${lines.join('\n')}\n`;
}
