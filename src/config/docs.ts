/**
 * docs/configuration.md, generated from the schemas of the configuration files (`npm run
 * docs:config`): the gateway config, the agent registry and the price table, a table per section
 * with each key's path, type, default and description, and the ConfigError codes. A test fails
 * when the committed page differs from what this renders.
 */

import { agentRegistrySchema } from './agents-schema.js';
import { CONFIG_ERRORS } from './config-error.js';
import { priceTableSchema } from './prices-schema.js';
import { configSchema } from './schema.js';
import type { JsonSchema } from './schema-builders.js';

interface Row {
  key: string;
  type: string;
  dflt: string;
  description: string;
}

const HEADER = `# Configuration reference

<!-- Generated from src/config/schema.ts, agents-schema.ts and prices-schema.ts by \`npm run docs:config\`; do not edit by hand. -->

The gateway reads one YAML file: \`config/aos.yaml\` by default, \`--config FILE\` or \`AOS_CONFIG\`
picks another. It names two more, the agent registry and the price table (at the end of this page).
\`\${NAME}\` in a value is replaced from the environment (an unset variable is an error),
\`\${NAME:-default}\` falls back. Keys with a default may be left out; unknown keys are errors. Paths
in the file are relative to the config file unless said otherwise. \`<name>\` stands
for a name you choose.
`;

const REGISTRY = `## The agent registry: \`config/agents.yaml\`

The file \`identity.registry\` names (\`agents.yaml\` beside the config file by default): who the
agents are, the templates they are built on, the budgets of teams and of the organization, and which
token claims carry an agent's identity. It is reloaded with the configuration; \`\${NAME}\`
substitution and unknown keys work as above.
`;

const PRICES = `## The price table: \`config/prices.yaml\`

The file \`metering.prices\` names (the packaged \`config/prices.yaml\` by default): model prices in
USD per 1M tokens, which turn token usage into cost, and the rule for a model it does not list. It is
reloaded with the configuration.
`;

/** The whole page. */
export function renderConfigDocs(): string {
  const out: string[] = [HEADER, ...sections(configSchema, '##')];
  out.push(REGISTRY, ...sections(agentRegistrySchema, '###'));
  out.push(PRICES, ...sections(priceTableSchema, '###'));
  out.push(
    '## Errors\n',
    'A configuration file that cannot be used (the gateway config, the agent registry, the price table, a key file) fails with a `ConfigError`: its message names the file, the line and column, the key path and what was expected; its `code` is one of:\n',
  );
  out.push(`${['| code | meaning |', '|---|---|', ...Object.entries(CONFIG_ERRORS).map(([code, meaning]) => `| \`${code}\` | ${cell(meaning)} |`)].join('\n')}\n`);
  return out.join('\n');
}

/**
 * A file's keys: its plain top-level keys in one table, then a section (at heading level `h`) per
 * structured key, then a section per shared shape (an object with a `title`, such as a budget).
 */
function sections(file: JsonSchema, h: string): string[] {
  const out: string[] = [];
  const shared: Shared = new Map();
  const top: Row[] = [];
  const parts: [string, JsonSchema, Row[]][] = [];
  for (const [key, schema] of Object.entries(file.properties ?? {})) {
    const required = requiredOf(file).includes(key);
    if (!isStructured(schema)) {
      top.push(row(key, schema, required));
      continue;
    }
    const rows: Row[] = [];
    if (!isBranched(schema)) walk(key, schema, rows, required, false, shared);
    parts.push([key, schema, rows]);
  }
  if (top.length > 0) out.push(`${h} Top level\n`, table(top));
  for (const [key, schema, rows] of parts) {
    out.push(`${h} \`${key}\`\n`, `${text(schema.description)}\n`);
    if (isBranched(schema)) {
      out.push(...branches(key, schema, `${h}#`, shared));
    } else {
      out.push(table(rows));
    }
  }
  for (const [title, { schema, paths }] of shared) {
    const rows: Row[] = [];
    const req = requiredOf(schema);
    for (const [key, child] of Object.entries(schema.properties ?? {})) walk(key, child, rows, req.includes(key), true, shared);
    const where = paths.map((p) => `\`${p}\``);
    const list = where.length > 1 ? `${where.slice(0, -1).join(', ')} and ${where[where.length - 1]} are each` : `${where[0]} is`;
    out.push(`${h} ${title[0].toUpperCase()}${title.slice(1)}\n`, `${list} ${title}, with these keys:\n`, table(rows));
  }
  return out;
}

/** Shapes used in several places, by title: documented once, with the paths they appear at. */
type Shared = Map<string, { schema: JsonSchema; paths: string[] }>;

/** A section whose entries are discriminated (`tools`: `kind: http` or `kind: mcp`): a table per kind. */
function branches(key: string, schema: JsonSchema, h: string, shared: Shared): string[] {
  const entry = schema.additionalProperties as JsonSchema;
  const at = `${key}.${placeholder(key, 0)}`;
  const out: string[] = [table([row(key, schema, false)])];
  for (const branch of [entry.then, entry.else] as JsonSchema[]) {
    const kind = String((branch.properties?.kind as JsonSchema | undefined)?.const);
    const rows: Row[] = [];
    walk(at, branch, rows, true, true, shared);
    out.push(`${h} \`kind: ${kind}\`\n`, `${text(branch.description)}\n`, table(rows.filter((r) => r.key !== at)));
  }
  return out;
}

/** Rows for a node and everything under it. */
function walk(path: string, schema: JsonSchema, rows: Row[], required: boolean, includeSelf: boolean, shared: Shared): void {
  if (includeSelf) rows.push(row(path, schema, required));
  if (isShape(schema)) {
    const title = schema.title as string;
    const seen = shared.get(title) ?? { schema, paths: [] };
    seen.paths.push(path);
    shared.set(title, seen);
    return;
  }
  if (schema.type === 'object' && schema.properties !== undefined && !isDict(schema)) {
    const req = requiredOf(schema);
    for (const [key, child] of Object.entries(schema.properties)) {
      if (key === 'kind' && child.const !== undefined) {
        rows.push({ key: `${path}.kind`, type: `\`${String(child.const)}\``, dflt: 'required', description: 'Which kind of entry this is.' });
        continue;
      }
      walk(`${path}.${key}`, child, rows, req.includes(key), true, shared);
    }
  } else if (isDict(schema)) {
    const value = schema.additionalProperties as JsonSchema;
    if (isStructured(value)) walk(`${path}.${placeholder(path, depth(path))}`, value, rows, true, false, shared);
  } else if (schema.type === 'array' && isStructured(schema.items as JsonSchema)) {
    walk(`${path}[]`, schema.items as JsonSchema, rows, true, false, shared);
  }
}

function row(key: string, schema: JsonSchema, required: boolean): Row {
  const dflt = 'default' in schema ? `\`${show(schema.default)}\`` : required ? 'required' : '—';
  return { key, type: typeOf(schema), dflt, description: text(schema.description) };
}

function typeOf(s: JsonSchema): string {
  if (Array.isArray(s.type)) return s.type.map((type) => (type === 'null' ? 'null' : typeOf({ ...s, type }))).join(' or ');
  if (isShape(s)) return `object: ${s.title}`;
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
        return `map of ${isShape(value) ? `objects, each ${value.title}` : isStructured(value) ? 'objects' : typeOf(value)}${typeof s.minProperties === 'number' ? ` (at least ${s.minProperties})` : ''}`;
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
/** A shape used in several places (a budget), named by its `title` and documented once. */
const isShape = (s: JsonSchema) => s.type === 'object' && typeof s.title === 'string' && s.properties !== undefined;
/** A map whose entries are discriminated by `kind` (`if`/`then`/`else`). */
const isBranched = (s: JsonSchema) => isDict(s) && (s.additionalProperties as JsonSchema).if !== undefined;
const requiredOf = (s: JsonSchema) => (Array.isArray(s.required) ? (s.required as string[]) : []);
const depth = (path: string) => (path.match(/</g) ?? []).length;

/** `<name>` for user-chosen keys: `tools.<name>.operations.<op>`, `tools.<name>.tools.<tool>`, `models.<model>`, `budgets.teams.<team>`. */
function placeholder(path: string, level: number): string {
  if (path.endsWith('models')) return '<model>';
  if (path.endsWith('teams')) return '<team>';
  if (path.endsWith('operations')) return '<op>';
  if (path.endsWith('tools') && level > 0) return '<tool>';
  return '<name>';
}

function show(v: unknown): string {
  if (v === '') return '""';
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
