import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors.js';
import type { CallInfo, Operation, ToolCall, WireDialect } from './dialect.js';

/**
 * The MCP wire dialect (Streamable HTTP, protocol 2025-11-25): one JSON-RPC message per POST,
 * errors in JSON-RPC. Only the fields the gateway reads are typed; the message is forwarded as the
 * agent sent it.
 */
export const mcpDialect: WireDialect = {
  name: 'mcp',
  errors: 'jsonrpc',
  authHeader: 'authorization',
  operations: new Map(),
  maxTokensField: () => null,
  describe(operation: Operation, _body: unknown): CallInfo {
    return { kind: 'mcp', operation: operation.name, model: null, stream: false, maxTokens: null, tool: null };
  },
};

export type RpcId = string | number;

/** The stateless revision of MCP (no sessions; `input_required` round trips): tools/mcp-revisions.ts. */
export const MCP_STATELESS_REVISION = '2026-07-28';

/** One JSON-RPC message as the gateway sees it. */
export type McpMessage =
  | { type: 'request'; id: RpcId; method: string; params: Record<string, unknown> | null }
  | { type: 'notification'; method: string; params: Record<string, unknown> | null }
  | { type: 'response'; id: RpcId | null };

/** Methods a policy decides on their tool, prompt or resource, and the param that names it. */
const NAMED: Readonly<Record<string, 'name' | 'uri'>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'resources/subscribe': 'uri',
  'resources/unsubscribe': 'uri',
};

/** Methods of the protocol, for bounded metric labels; anything else is `other`. */
const KNOWN_METHODS = new Set([
  'initialize',
  'server/discover',
  'subscriptions/listen',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'tasks/list',
  'tasks/result',
  'tasks/cancel',
]);

/** The bounded label of a message for route names and metrics. */
export function methodLabel(msg: McpMessage): string {
  if (msg.type === 'response') return 'response';
  if (msg.type === 'notification') return 'notification';
  return KNOWN_METHODS.has(msg.method) ? msg.method : 'other';
}

export const MCP_LABELS = [...KNOWN_METHODS, 'other', 'notification', 'response', 'stream', 'session.delete'];

function bad(message: string): GatewayError {
  return new GatewayError('aos_bad_request', message);
}

/**
 * Classifies a parsed body as one JSON-RPC 2.0 message. Batches (removed from the protocol in
 * 2025-06-18) are refused: every message must be inspected on its own.
 */
export function parseMcpMessage(json: unknown): McpMessage {
  if (Array.isArray(json)) throw bad('JSON-RPC batches are not supported: send one message per request (MCP 2025-06-18 and later)');
  if (json === null || typeof json !== 'object') throw bad('the body must be one JSON-RPC message (an object)');
  const m = json as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') throw bad('not a JSON-RPC 2.0 message: "jsonrpc" must be "2.0"');
  const id = m.id;
  const hasId = id !== undefined;
  if (hasId && typeof id !== 'string' && !(typeof id === 'number' && Number.isInteger(id)) && !(id === null && !('method' in m))) {
    throw bad('a JSON-RPC id must be a string or an integer');
  }
  if (typeof m.method === 'string') {
    const params = m.params;
    if (params !== undefined && (params === null || typeof params !== 'object' || Array.isArray(params))) throw bad(`params of ${m.method} must be an object`);
    const p = (params as Record<string, unknown> | undefined) ?? null;
    return hasId ? { type: 'request', id: id as RpcId, method: m.method, params: p } : { type: 'notification', method: m.method, params: p };
  }
  if (m.method !== undefined) throw bad('a JSON-RPC method must be a string');
  if (!('result' in m) && !('error' in m)) throw bad('a JSON-RPC message needs a method (request, notification) or a result or error (response)');
  return { type: 'response', id: (id as RpcId | null | undefined) ?? null };
}

/** What the policy sees of a request to MCP server `server`. */
export function describeMcp(server: string, msg: McpMessage & { type: 'request' }): CallInfo {
  return { kind: 'mcp', operation: msg.method, model: null, stream: false, maxTokens: null, tool: namedTarget(server, msg) };
}

function namedTarget(server: string, msg: McpMessage & { type: 'request' }): ToolCall | null {
  const key = NAMED[msg.method];
  if (key === undefined) return null;
  const name = msg.params?.[key];
  if (typeof name !== 'string' || name === '') throw bad(`${msg.method} needs params.${key} (a non-empty string)`);
  const args = key === 'name' ? (msg.params!.arguments ?? null) : null;
  if (msg.method === 'tools/call' && args !== null && (typeof args !== 'object' || Array.isArray(args))) throw new GatewayError('aos_invalid_arguments', `arguments of tool ${name} must be an object`);
  return { name, server, args };
}

/** An `Mcp-Name` value as sent: plain, or the Base64 sentinel (`=?base64?…?=`) for names that are not plain ASCII. */
export function decodeMcpName(value: string): string {
  const m = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/.exec(value);
  return m === null ? value : Buffer.from(m[1], 'base64').toString('utf8');
}

/** An `Mcp-Name` value for a name: as it is when plain printable ASCII, else the Base64 sentinel. */
export function encodeMcpName(name: string): string {
  return /^[\x21-\x7e]+$/.test(name) && !name.startsWith('=?base64?') ? name : `=?base64?${Buffer.from(name).toString('base64')}?=`;
}

function mismatch(message: string): GatewayError {
  return new GatewayError('aos_mcp_header_mismatch', message);
}

/**
 * The session-less revision of Streamable HTTP repeats the method, the name and the revision in
 * headers (`Mcp-Method`, `Mcp-Name`, `MCP-Protocol-Version`) so proxies can route without the
 * body. When present they must say what the body says: a proxy deciding on one and a server acting
 * on the other is how smuggling works. A disagreement is the revision's HeaderMismatch (-32020,
 * HTTP 400).
 */
export function checkMcpHeaders(headers: IncomingHttpHeaders, msg: McpMessage): void {
  const method = headers['mcp-method'];
  const name = headers['mcp-name'];
  if (msg.type !== 'response') {
    const version = headers['mcp-protocol-version'];
    const meta = msg.params?._meta;
    const said = meta !== null && typeof meta === 'object' ? (meta as Record<string, unknown>)['io.modelcontextprotocol/protocolVersion'] : undefined;
    if (typeof version === 'string' && said !== undefined && said !== version)
      throw mismatch(`the MCP-Protocol-Version header (${JSON.stringify(version.slice(0, 40))}) does not match _meta's protocolVersion (${JSON.stringify(said)})`);
  }
  if (method === undefined && name === undefined) return;
  if (msg.type === 'response') throw mismatch('Mcp-Method/Mcp-Name headers on a JSON-RPC response');
  if (method !== undefined && method !== msg.method)
    throw mismatch(`the Mcp-Method header (${JSON.stringify(String(method).slice(0, 100))}) does not match the body's method (${JSON.stringify(msg.method)})`);
  if (name !== undefined) {
    const key = NAMED[msg.method];
    const body = key === undefined ? undefined : msg.params?.[key];
    if (body !== decodeMcpName(String(name)))
      throw mismatch(
        `the Mcp-Name header (${JSON.stringify(String(name).slice(0, 200))}) does not match the body (${key === undefined ? `${msg.method} names nothing` : `params.${key} ${JSON.stringify(body)}`})`,
      );
  }
}

/** The protocol's own `_meta` keys of a request (`io.modelcontextprotocol/…`), carried over to the gateway's own requests. */
export function protocolMeta(msg: McpMessage): Record<string, unknown> | null {
  if (msg.type !== 'request') return null;
  const meta = msg.params?._meta;
  if (meta === null || typeof meta !== 'object') return null;
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(meta)) {
    if (!k.startsWith('io.modelcontextprotocol/')) continue;
    if (out === null) out = {};
    out[k] = v;
  }
  return out;
}
