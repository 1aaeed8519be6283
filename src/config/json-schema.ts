import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ToolDefinitionError } from '../errors.js';

/**
 * JSON Schemas of tool inputs (HTTP operation bodies, MCP `inputSchema`), compiled once and
 * shared: a schema seen again (same text) reuses its compiled validator. MCP says a schema without
 * `$schema` is JSON Schema 2020-12; draft-07 (what many servers emit) is recognised by its
 * `$schema`. `format` is an annotation, as 2020-12 defines it by default; unknown keywords are
 * ignored (servers add their own). In config/ because operation schemas are checked at load;
 * tools/ validates calls with it.
 */
export interface CompiledSchema {
  readonly validate: ValidateFunction;
}

// addUsedSchema off: two servers' schemas with the same `$id` must not clash in one instance.
const options = { allErrors: true, strict: false, validateFormats: false, addUsedSchema: false } as const;
const draft07 = new Ajv(options);
const draft2020 = new Ajv2020(options);
// Query strings carry only strings: `?limit=5` must satisfy `{type: integer}`, `?tag=a` an array of strings.
const queries = new Ajv2020({ ...options, coerceTypes: 'array' });
const compiled = new Map<string, CompiledSchema>();
/** Distinct schemas kept compiled; past this the cache starts over. */
const MAX_SCHEMAS = 5_000;

/**
 * Compiles (or reuses) a schema; throws a ToolDefinitionError with ajv's message when it is not a valid schema.
 * `query`: for query parameters, whose string values are coerced to the types the schema asks for.
 */
export function compileSchema(schema: unknown, kind: 'json' | 'query' = 'json'): CompiledSchema {
  const key = kind === 'query' ? `?${JSON.stringify(schema)}` : JSON.stringify(schema);
  const hit = compiled.get(key);
  if (hit !== undefined) return hit;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) throw new ToolDefinitionError('AOS_ERR_TOOL_SCHEMA', 'a JSON Schema must be an object');
  const dialect = (schema as { $schema?: unknown }).$schema;
  const ajv = kind === 'query' ? queries : typeof dialect === 'string' && /draft-0[67]/.test(dialect) ? draft07 : draft2020;
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema as object);
  } catch (err) {
    throw new ToolDefinitionError('AOS_ERR_TOOL_SCHEMA', (err as Error).message, { cause: err });
  }
  if (compiled.size >= MAX_SCHEMAS) compiled.clear();
  const out = { validate };
  compiled.set(key, out);
  return out;
}

/** ajv's errors as one short sentence for an error message: `/city must be string; must have required property 'days'`. */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined, max = 5): string {
  if (!errors || errors.length === 0) return 'does not match the schema';
  const parts = errors.slice(0, max).map((e) => `${e.instancePath === '' ? '' : `${e.instancePath} `}${e.message ?? 'is invalid'}`);
  if (errors.length > max) parts.push(`and ${errors.length - max} more`);
  return parts.join('; ');
}
