/**
 * The building blocks of the configuration files' schemas (TypeBox): the gateway config
 * (schema.ts), the agent registry (agents-schema.ts) and the price table (prices-schema.ts).
 *
 * A schema describes a file after validation: a key with a `default` is always present in its
 * type. In the file it is optional: `fileSchema` drops such keys from `required` (the validator
 * fills them in). A pattern's `title` says what it stands for ("an http(s) URL"): errors read
 * "expected <title>". An object's `title` names a shape used in several places ("a budget"): the
 * docs describe it once.
 */
import { type SchemaOptions, type Static, type TProperties, type TSchema, Type } from '@sinclair/typebox';

/** An object that refuses unknown keys (a typo is an error, not a silently ignored key). */
export const Obj = <T extends TProperties>(properties: T, options: SchemaOptions = {}) => Type.Object(properties, { additionalProperties: false, ...options });

/** One of a few strings (a plain `enum`, so errors read "expected one of a, b"). */
export const Enum = <const T extends readonly string[]>(values: T, options: SchemaOptions) => Type.Unsafe<T[number]>({ ...options, enum: values });

/** Exactly this string (a discriminator). */
export const Const = <const T extends string>(value: T) => Type.Unsafe<T>({ const: value });

/** An object whose keys are names chosen by the user, every value of one schema. */
export const Dict = <T extends TSchema>(value: T, options: SchemaOptions) => Type.Unsafe<Record<string, Static<T>>>({ ...options, type: 'object', additionalProperties: value });

/** An integer with a lower bound, a default and an optional upper bound. */
export const Int = (minimum: number, dflt: number, description: string, maximum?: number) => Type.Integer({ description, minimum, ...(maximum === undefined ? {} : { maximum }), default: dflt });

export const Str = (description: string, options: SchemaOptions = {}) => Type.String({ description, ...options });
export const Bool = (dflt: boolean, description: string) => Type.Boolean({ description, default: dflt });

/** A plain JSON copy of a schema (TypeBox's symbol keys left out); keys with a default are not required. */
export function fileSchema(schema: TSchema): JsonSchema {
  return plain(schema) as JsonSchema;
}

/** A JSON Schema as plain data (what ajv compiles and the docs are generated from). */
export interface JsonSchema {
  [keyword: string]: unknown;
  properties?: Record<string, JsonSchema>;
}

function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = plain(v);
  const properties = out.properties as Record<string, { default?: unknown }> | undefined;
  if (Array.isArray(out.required) && properties !== undefined) {
    const required = out.required.filter((name: string) => properties[name] === undefined || !('default' in properties[name]));
    if (required.length > 0) out.required = required;
    else delete out.required;
  }
  return out;
}
