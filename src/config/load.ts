import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, parseDocument, isMap, isNode, isScalar } from 'yaml';
import { readCredential } from './credential.js';
import { configSchema, type GatewayConfig } from './schema.js';
import { resolveTools } from '../tools/config.js';

/** A configuration file that cannot be used; `message` names the file, the key path and the fix. */
export class ConfigError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(problems.map((p) => `${file}:${p}`).join('\n'));
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  readonly file: string;
  readonly config: GatewayConfig;
  /** Provider credentials, resolved from apiKey or apiKeyFile. */
  readonly credentials: ReadonlyMap<string, string>;
  /** Tool credentials (the `tools:` section), by tool name. */
  readonly toolCredentials: ReadonlyMap<string, string>;
}

// coerceTypes: values substituted from the environment are strings ("8080" → 8080).
export const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, verbose: true, strict: true, strictTypes: false });
const validate = ajv.compile(configSchema);

export type Path = (string | number)[];

/** Reads, substitutes `${ENV}`, validates and resolves a gateway config file. Throws ConfigError. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [` cannot read the file: ${(err as Error).message}`]);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const { data, where } = parseYaml(text, file, validate, env);
  const problems: string[] = [];
  const config = data as unknown as GatewayConfig;
  const credentials = new Map<string, string>();
  for (const [name, provider] of Object.entries(config.providers)) {
    const key = readCredential(provider, file, where(['providers', name, 'apiKeyFile']), problems);
    if (key !== null) credentials.set(name, key);
  }
  const prefixes = new Set<string>();
  config.routes.forEach((route, i) => {
    if (!(route.provider in config.providers)) {
      problems.push(`${where(['routes', i, 'provider'])}: expected one of the providers (${Object.keys(config.providers).join(', ')}), got "${route.provider}"`);
    }
    if (prefixes.has(route.prefix)) problems.push(`${where(['routes', i, 'prefix'])}: prefix "${route.prefix}" is routed twice`);
    prefixes.add(route.prefix);
  });
  const tools = resolveTools(config, file, where);
  problems.push(...tools.problems);
  if (problems.length > 0) throw new ConfigError(file, problems);
  return { file, config, credentials, toolCredentials: tools.credentials };
}

/** Where a value sits in its file: `line:col: key.path`. */
export type Locate = (path: Path, atKey?: boolean) => string;

/**
 * Parses YAML, substitutes `${ENV}` in string values and validates against a compiled schema
 * (defaults applied). Every problem names the file, the line and column, and the key path.
 */
export function parseYaml(text: string, file: string, check: ValidateFunction, env: NodeJS.ProcessEnv): { data: unknown; where: Locate } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  /** `line:col: key.path` of a value, or of the key itself (`atKey`) for unknown keys. */
  const where: Locate = (path, atKey = false) => {
    if (atKey && path.length > 0) {
      const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
      const pair = isMap(parent) ? parent.items.find((i) => isScalar(i.key) && i.key.value === path[path.length - 1]) : undefined;
      if (pair && isNode(pair.key) && pair.key.range) {
        const { line, col } = lines.linePos(pair.key.range[0]);
        return `${line}:${col}: ${formatPath(path)}`;
      }
    }
    for (let p = path; ; p = p.slice(0, -1)) {
      const node = p.length === 0 ? doc.contents : doc.getIn(p, true);
      if (isNode(node) && node.range) {
        const { line, col } = lines.linePos(node.range[0]);
        return `${line}:${col}: ${formatPath(path) || '(top level)'}`;
      }
      if (p.length === 0) return ` ${formatPath(path) || '(top level)'}`;
    }
  };
  if (doc.errors.length > 0) {
    // The first error is the cause; the parser's follow-on errors only repeat it.
    const e = doc.errors[0];
    const { line, col } = lines.linePos(e.pos[0]);
    throw new ConfigError(file, [`${line}:${col}: invalid YAML: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`]);
  }
  const raw = doc.toJS() ?? {};
  const problems: string[] = [];
  const data = substitute(raw, [], env, (path, msg) => problems.push(`${where(path)}: ${msg}`));
  if (problems.length > 0) throw new ConfigError(file, problems);
  // An `if` error only says "must match then": the branch's own errors follow it.
  if (!check(data)) throw new ConfigError(file, (check.errors ?? []).filter((e) => e.keyword !== 'if').map((e) => describe(e, where)));
  return { data, where };
}

export function formatPath(path: Path): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? key : `.${key}`;
  return out;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${NAME}` and `${NAME:-default}` in string values (never in keys). */
function substitute(value: unknown, path: Path, env: NodeJS.ProcessEnv, fail: (path: Path, msg: string) => void): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string, dflt: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (dflt !== undefined) return dflt;
      fail(path, `environment variable ${name} is not set (write \${${name}:-} to allow it empty)`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, [...path, i], env, fail));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substitute(v, [...path, k], env, fail);
    return out;
  }
  return value;
}

function describe(e: ErrorObject, where: Locate): string {
  const path: Path = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map((s) => {
    const k = s.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^\d+$/.test(k) ? Number(k) : k;
  });
  const got = (v: unknown) => (typeof v === 'string' ? `"${v}"` : JSON.stringify(v));
  switch (e.keyword) {
    case 'required':
      return `${where(path)}: missing required key "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
      return `${where([...path, key], true)}: unknown key${known.length ? ` (expected one of: ${known.join(', ')})` : ''}`;
    }
    case 'type':
      return `${where(path)}: expected ${(e.params as { type: string }).type}, got ${got(e.data)}`;
    case 'enum':
      return `${where(path)}: expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}, got ${got(e.data)}`;
    case 'minItems':
    case 'minProperties':
      return `${where(path)}: expected at least ${(e.params as { limit: number }).limit} ${e.keyword === 'minItems' ? 'entry' : 'key'}, got ${got(e.data)}`;
    case 'pattern':
      return `${where(path)}: expected ${(e.parentSchema as { description?: string }).description ?? `to match ${(e.params as { pattern: string }).pattern}`}, got ${got(e.data)}`;
    default:
      return `${where(path)}: expected ${e.message?.replace(/^must (be |have )?/, '')}, got ${got(e.data)}`;
  }
}

