import { GatewayError } from '../errors.js';
import { deploymentModel } from './body.js';
import type { CallContext, Stage } from './context.js';

/** RFC 6455 §4.1: a nonce of 16 bytes, base64. */
const KEY = /^[+/0-9A-Za-z]{21}[AQgw]==$/;

/**
 * Whether a request may become a WebSocket session on its route: an upgrade to `websocket` on an
 * operation that is one (the Realtime API), with a well-formed handshake; any other upgrade, and a
 * plain request to a session operation, is refused before anything else runs.
 */
export function checkUpgrade(ctx: CallContext, upgradeOperation: boolean): void {
  const upgrade = ctx.upgrade;
  if (upgrade === null) {
    if (upgradeOperation) throw new GatewayError('aos_bad_request', `${ctx.path} is a WebSocket endpoint: open it with an upgrade (GET, Upgrade: websocket)`);
    return;
  }
  if (!upgrade.websocket) throw new GatewayError('aos_bad_request', `protocol upgrade to ${JSON.stringify(String(ctx.req.headers.upgrade).slice(0, 40))} is not supported`);
  if (!upgradeOperation) throw new GatewayError('aos_bad_request', `${ctx.path} does not accept a WebSocket upgrade`);
  const { headers } = ctx.req;
  if (headers['sec-websocket-version'] !== '13') throw new GatewayError('aos_bad_request', 'WebSocket handshake: Sec-WebSocket-Version must be 13', { headers: { 'sec-websocket-version': '13' } });
  const key = headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key.trim())) throw new GatewayError('aos_bad_request', 'WebSocket handshake: missing or invalid Sec-WebSocket-Key');
}

/**
 * Describes a WebSocket session (no body): a model call, streaming, its model from the query string
 * as the dialect reads it (OpenAI `?model=`, Azure `?deployment=`), mapped through the provider's
 * `deployments`. Its operation is the session's (`realtime`); each response is metered as it is done.
 */
export const describeSession: Stage = function describeSessionStage(ctx) {
  const route = ctx.route!;
  const dialect = route.upstream.dialect;
  const query = new URLSearchParams(ctx.query.length > 1 ? ctx.query.slice(1) : '');
  const named = dialect.sessionModel?.(route.operation, query) ?? null;
  // Without a model the policy could not check it, nor metering price it.
  if (named === null || named === '')
    throw new GatewayError('aos_bad_request', `a ${route.operation.name} session names its model in the query string (${dialect.name === 'azure-openai' ? '?deployment=…' : '?model=…'})`, {
      param: 'model',
    });
  ctx.call = { kind: 'model', operation: route.operation.name, model: deploymentModel(route.upstream, named), stream: true, maxTokens: null };
};
