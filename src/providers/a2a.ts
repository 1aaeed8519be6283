import type { CallInfo, Operation, WireDialect } from './dialect.js';

/**
 * A2A 1.0 (agent-to-agent), as a callee behind `/a2a/<agent>` speaks it: the JSON-RPC binding
 * (errors are JSON-RPC errors with an ErrorInfo detail) and the HTTP+JSON binding (errors are a
 * google.rpc.Status body; a stream ends with an `error` event). The A2A stage
 * (src/coordination/a2a.ts) describes the call: it knows the method from the JSON-RPC message or
 * the HTTP+JSON path.
 */
const describe = (operation: Operation): CallInfo => ({ kind: 'a2a', operation: operation.name, model: null, stream: false, maxTokens: null, tool: null });

export const a2aDialect: WireDialect = { name: 'a2a', errors: 'a2a', authHeader: 'authorization', operations: new Map(), maxTokensField: () => null, describe };
export const a2aRestDialect: WireDialect = { name: 'a2a-rest', errors: 'a2a-rest', authHeader: 'authorization', operations: new Map(), maxTokensField: () => null, describe };

/** The A2A methods (JSON-RPC names; the HTTP+JSON paths map to them) whose answer is a server-sent event stream. */
export const A2A_STREAMING = new Set(['SendStreamingMessage', 'SubscribeToTask']);

/** Every A2A 1.0 method: route labels stay bounded (anything else is `other`). */
export const A2A_METHODS = [
  'SendMessage',
  'SendStreamingMessage',
  'GetTask',
  'ListTasks',
  'CancelTask',
  'SubscribeToTask',
  'CreateTaskPushNotificationConfig',
  'GetTaskPushNotificationConfig',
  'ListTaskPushNotificationConfigs',
  'DeleteTaskPushNotificationConfig',
  'GetExtendedAgentCard',
] as const;

const TASK = /^\/tasks\/([^/:]+)(:cancel|:subscribe|\/pushNotificationConfigs(?:\/[^/]+)?)?$/;

/**
 * The A2A method of an HTTP+JSON request (A2A 1.0 §11: `POST /message:send`, `GET /tasks/{id}`, …),
 * from its method and its path below the binding's base; null when it is none. A leading tenant
 * segment (`/{tenant}/message:send`) is allowed.
 */
export function restMethod(method: string, path: string): string | null {
  const m = restMethodOf(method, path);
  if (m !== null) return m;
  // `/{tenant}/…`: the same, one segment down.
  const slash = path.indexOf('/', 1);
  return slash === -1 ? null : restMethodOf(method, path.slice(slash));
}

function restMethodOf(method: string, path: string): string | null {
  if (path === '/message:send') return method === 'POST' ? 'SendMessage' : null;
  if (path === '/message:stream') return method === 'POST' ? 'SendStreamingMessage' : null;
  if (path === '/tasks') return method === 'GET' ? 'ListTasks' : null;
  if (path === '/extendedAgentCard') return method === 'GET' ? 'GetExtendedAgentCard' : null;
  const t = TASK.exec(path);
  if (t === null) return null;
  const rest = t[2];
  if (rest === undefined) return method === 'GET' ? 'GetTask' : null;
  if (rest === ':cancel') return method === 'POST' ? 'CancelTask' : null;
  if (rest === ':subscribe') return method === 'GET' || method === 'POST' ? 'SubscribeToTask' : null;
  if (rest === '/pushNotificationConfigs') return method === 'POST' ? 'CreateTaskPushNotificationConfig' : method === 'GET' ? 'ListTaskPushNotificationConfigs' : null;
  return method === 'GET' ? 'GetTaskPushNotificationConfig' : method === 'DELETE' ? 'DeleteTaskPushNotificationConfig' : null;
}
