import type { MemoryConfig } from '../config/memory-schema.js';
import { GatewayError } from '../errors.js';
import type { McpMessage } from '../providers/mcp.js';
import { discoverResult, REV_STATELESS } from '../tools/mcp-revisions.js';
import { etagOf, type MemoryOp, memoryOp } from './memory-ops.js';
import type { Precondition } from './memory-store.js';

/**
 * Shared memory as an MCP server the gateway answers itself at `/mcp/memory` (Streamable HTTP,
 * JSON answers, no sessions): `initialize`, `ping`, `tools/list` and `tools/call` of five tools; for
 * 2026-07-28 agents `server/discover` too, and results with `resultType` (the tool list with caching
 * hints: it is the same for every agent). A tool call is the same operation as its REST request,
 * decided by the same policy input.
 */

/** Revisions this server answers in (the agent's own when it is one of them, else the newest). */
const REVISIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];

const INIT = {
  capabilities: { tools: { listChanged: false } },
  serverInfo: { name: 'aos-memory', title: 'AOS shared memory', version: '1.0.0' },
  instructions:
    'Shared JSON memory governed by the gateway. Namespaces: team:<team>, org, workflow:<id>, agent:<id>. Update a document with the etag you read (if_match); retry from a fresh get when it fails.',
};
/** How long a 2026-07-28 agent may keep the tool list (the same for every agent; it changes only with the gateway's version). */
const LIST_TTL_MS = 3_600_000;

const NS = { type: 'string', description: 'The namespace: team:<team>, org, workflow:<id>, agent:<id>.' };
const KEY = { type: 'string', description: 'The key: segments of letters, digits and . _ ~ : @ + = , - separated by /.' };

export const MEMORY_TOOLS = [
  {
    name: 'get',
    title: 'Read a document',
    description: 'Reads the JSON document at a key of a shared memory namespace, with its etag (pass it as if_match to update it).',
    inputSchema: { type: 'object', properties: { namespace: NS, key: KEY }, required: ['namespace', 'key'], additionalProperties: false },
    annotations: { readOnlyHint: true },
  },
  {
    name: 'put',
    title: 'Write a document',
    description:
      'Writes a JSON document at a key. A new key needs no etag; an existing one needs if_match (its current etag, from get or the last put): a stale etag fails, so read again and retry. if_match "*" overwrites any version; create_only fails if the key exists.',
    inputSchema: {
      type: 'object',
      properties: {
        namespace: NS,
        key: KEY,
        value: { description: 'The document: any JSON value.' },
        if_match: { type: 'string', description: 'The etag the update is based on, or "*".' },
        create_only: { type: 'boolean', description: 'Fail if the key exists.' },
        ttl_seconds: { type: 'integer', minimum: 1, description: 'Delete the document after this many seconds.' },
      },
      required: ['namespace', 'key', 'value'],
      additionalProperties: false,
    },
  },
  {
    name: 'delete',
    title: 'Delete a document',
    description: 'Deletes the document at a key; with if_match, only if it is still that version.',
    inputSchema: { type: 'object', properties: { namespace: NS, key: KEY, if_match: { type: 'string' } }, required: ['namespace', 'key'], additionalProperties: false },
    annotations: { destructiveHint: true },
  },
  {
    name: 'list',
    title: 'List keys',
    description: 'Lists the keys of a namespace (with etag, size and times), in key order, optionally under a prefix; pass next_cursor back as cursor for the next page.',
    inputSchema: {
      type: 'object',
      properties: { namespace: NS, prefix: { type: 'string' }, limit: { type: 'integer', minimum: 1 }, cursor: { type: 'string' } },
      required: ['namespace'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true },
  },
  {
    name: 'search',
    title: 'Search documents',
    description: 'Finds the documents of a namespace whose key or text values contain every word of the query (case-insensitive), with their values.',
    inputSchema: {
      type: 'object',
      properties: { namespace: NS, query: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 100 } },
      required: ['namespace', 'query'],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true },
  },
] as const;

const TOOL_NAMES = new Set<string>(MEMORY_TOOLS.map((t) => t.name));
const ALLOWED = new Map<string, Set<string>>(MEMORY_TOOLS.map((t) => [t.name, new Set(Object.keys(t.inputSchema.properties))]));

/** What a POSTed message asks of the memory server: an operation, or a protocol answer. */
export type McpAsk = { kind: 'op'; op: MemoryOp; value: unknown } | { kind: 'result'; result: unknown } | { kind: 'accepted' };

/** The answer to a protocol message, or the operation a `tools/call` asks for (argument errors throw `aos_invalid_arguments`). */
export function mcpAsk(config: MemoryConfig, msg: McpMessage, revision: string): McpAsk {
  if (msg.type !== 'request') return { kind: 'accepted' };
  const params = msg.params ?? {};
  const stateless = revision === REV_STATELESS;
  switch (msg.method) {
    case 'initialize': {
      const asked = params.protocolVersion;
      const protocolVersion = typeof asked === 'string' && REVISIONS.includes(asked) ? asked : REVISIONS[0];
      return { kind: 'result', result: { protocolVersion, ...INIT } };
    }
    case 'server/discover':
      return { kind: 'result', result: discoverResult(INIT) };
    case 'ping':
      return { kind: 'result', result: stateless ? { resultType: 'complete' } : {} };
    case 'tools/list':
      return { kind: 'result', result: stateless ? { tools: MEMORY_TOOLS, resultType: 'complete', ttlMs: LIST_TTL_MS, cacheScope: 'public' } : { tools: MEMORY_TOOLS } };
    case 'tools/call':
      return { kind: 'op', ...toolOp(config, params) };
    default:
      throw new GatewayError('aos_route_not_found', `the memory MCP server does not serve ${msg.method} (it serves initialize, server/discover, ping, tools/list and tools/call)`);
  }
}

function toolOp(config: MemoryConfig, params: Record<string, unknown>): { op: MemoryOp; value: unknown } {
  const name = params.name;
  if (typeof name !== 'string' || !TOOL_NAMES.has(name))
    throw new GatewayError('aos_tool_not_found', `the memory MCP server has no tool ${JSON.stringify(String(name).slice(0, 100))} (tools: get, put, delete, list, search)`);
  const args = (params.arguments ?? {}) as Record<string, unknown>;
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new GatewayError('aos_invalid_arguments', `arguments of ${name} must be an object`);
  const allowed = ALLOWED.get(name)!;
  for (const k of Object.keys(args)) if (!allowed.has(k)) throw new GatewayError('aos_invalid_arguments', `${name} takes no argument ${JSON.stringify(k)}`);
  const str = (k: string, required: boolean): string | null => {
    const v = args[k];
    if (v === undefined && !required) return null;
    if (typeof v !== 'string') throw new GatewayError('aos_invalid_arguments', `${name}: ${k} must be a string`);
    return v;
  };
  if (name === 'put' && !('value' in args)) throw new GatewayError('aos_invalid_arguments', 'put: value is required');
  if (args.create_only !== undefined && typeof args.create_only !== 'boolean') throw new GatewayError('aos_invalid_arguments', 'put: create_only must be a boolean');
  const ifMatch = name === 'put' || name === 'delete' ? str('if_match', false) : null;
  if (ifMatch !== null && args.create_only === true) throw new GatewayError('aos_invalid_arguments', 'put: if_match and create_only exclude each other');
  let condition: Precondition | undefined;
  if (ifMatch !== null) condition = ifMatch.trim() === '*' ? { kind: 'any' } : { kind: 'match', etag: etagOf(ifMatch, 'if_match') };
  else if (args.create_only === true) condition = { kind: 'absent' };
  const op = memoryOp(config, {
    op: name as MemoryOp['op'],
    namespace: str('namespace', true),
    key: name === 'get' || name === 'put' || name === 'delete' ? str('key', true) : null,
    condition,
    ttlSeconds: args.ttl_seconds,
    prefix: args.prefix,
    cursor: args.cursor,
    limit: args.limit,
    query: args.query,
  });
  return { op, value: args.value };
}

/** A tool's result: the payload as text (what most clients show the model) and as structured content. */
export function toolResult(payload: Record<string, unknown>, isError: boolean, revision: string): Record<string, unknown> {
  const result: Record<string, unknown> = { content: [{ type: 'text', text: JSON.stringify(payload) }], structuredContent: payload, isError };
  if (revision === REV_STATELESS) result.resultType = 'complete';
  return result;
}
