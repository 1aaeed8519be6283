/**
 * The one loader of YAML configuration files (gateway config, agent registry, price table): read,
 * parse with positions, substitute `${ENV}`, validate with ajv (defaults filled, types coerced).
 * Every problem is a ConfigError naming the file, the line and column, and the key path.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml';
import { ConfigError } from './config-error.js';

// coerceTypes: values substituted from the environment are strings ("8080" → 8080).
export const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, verbose: true, strict: true, strictTypes: false });

export type Path = (string | number)[];

/** Where a value sits in its file: `line:col: key.path`, or of the key itself (`atKey`) for unknown keys. */
export type Locate = (path: Path, atKey?: boolean) => string;

export interface YamlFile<T> {
  /** The validated data, defaults filled in. */
  readonly data: T;
  readonly where: Locate;
}

/**
 * The text of a configuration file. Throws ConfigError `AOS_ERR_CONFIG_NOT_FOUND` (ENOENT) or
 * `AOS_ERR_CONFIG_UNREADABLE`, with the message `<file>: cannot read the <what>: <errno code>`.
 */
export function readConfigText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [` cannot read the ${what}: ${code ?? (err as Error).message}`], code === 'ENOENT' ? 'AOS_ERR_CONFIG_NOT_FOUND' : 'AOS_ERR_CONFIG_UNREADABLE');
  }
}

/** Reads a YAML file (`what` names it in errors: "agent registry"), substitutes `${ENV}` and validates it against `schema`. */
export function loadYamlFile<T = unknown>(file: string, schema: object, what: string, env: NodeJS.ProcessEnv): YamlFile<T> {
  return parseYamlText<T>(readConfigText(file, what), file, schema, env);
}

const compiled = new WeakMap<object, ValidateFunction>();

/** The validator of a schema, compiled once. */
export function validatorOf(schema: object): ValidateFunction {
  let validate = compiled.get(schema);
  if (validate === undefined) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/**
 * Parses YAML text, substitutes `${ENV}` in string values and validates against `schema`
 * (defaults applied). Every problem names the file, the line and column, and the key path.
 */
export function parseYamlText<T = unknown>(text: string, file: string, schema: object, env: NodeJS.ProcessEnv): YamlFile<T> {
  const check = validatorOf(schema);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
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
    throw new ConfigError(file, [`${line}:${col}: invalid YAML: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`], 'AOS_ERR_CONFIG_SYNTAX');
  }
  const raw = doc.toJS() ?? {};
  const problems: string[] = [];
  const data = substitute(raw, [], env, (path, msg) => problems.push(`${where(path)}: ${msg}`));
  if (problems.length > 0) throw new ConfigError(file, problems, 'AOS_ERR_CONFIG_ENV_UNSET');
  // An `if` error only says "must match then": the branch's own errors follow it.
  if (!check(data))
    throw new ConfigError(
      file,
      (check.errors ?? []).filter((e) => e.keyword !== 'if').map((e) => describe(e, where)),
    );
  return { data: data as T, where };
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
  const path: Path =
    e.instancePath === ''
      ? []
      : e.instancePath
          .slice(1)
          .split('/')
          .map((s) => {
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
      // A pattern's schema says in `title` what it stands for ("an http(s) URL"); `description` is documentation.
      return `${where(path)}: expected ${(e.parentSchema as { title?: string }).title ?? `to match ${(e.params as { pattern: string }).pattern}`}, got ${got(e.data)}`;
    default:
      return `${where(path)}: expected ${e.message?.replace(/^must (be |have )?/, '')}, got ${got(e.data)}`;
  }
}
