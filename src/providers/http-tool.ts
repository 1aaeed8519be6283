import type { CallInfo, Operation, WireDialect } from './dialect.js';

/**
 * Plain HTTP APIs of the tool registry. Errors are `{"error": {message, type, code}}`, the shape
 * most HTTP clients (and the OpenAI-style SDKs) already read. The tool stage describes the call:
 * it knows the operation's path parameters, which the dialect alone does not.
 */
export const httpToolDialect: WireDialect = {
  name: 'http-tool',
  errors: 'openai',
  authHeader: 'authorization',
  operations: new Map(),
  maxTokensField: () => null,
  describe(operation: Operation, body: unknown): CallInfo {
    return { kind: 'tool', operation: operation.name, model: null, stream: false, maxTokens: null, tool: { name: operation.name, server: null, args: { params: {}, query: {}, body: body ?? null } } };
  },
};

/** The query string (with its `?`, or '') as a plain object; a repeated key keeps every value in a list. */
export function queryObject(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (query.length <= 1) return out;
  for (const [k, v] of new URLSearchParams(query.slice(1))) {
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}
