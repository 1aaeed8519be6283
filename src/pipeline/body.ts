import { GatewayError } from '../errors.js';
import type { Upstream } from '../upstream/upstreams.js';
import type { CallContext, Stage } from './context.js';

/** Reads the whole request body up to `limit` bytes; the request is refused past it. */
export function readBody(limit: number): Stage {
  return function readBodyStage(ctx) {
    const { req } = ctx;
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      throw tooLarge(ctx, limit);
    }
    if (declared === undefined && req.headers['transfer-encoding'] === undefined) {
      ctx.body = null;
      return;
    }
    return new Promise<void>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          cleanup();
          reject(tooLarge(ctx, limit));
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = () => {
        cleanup();
        ctx.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
        resolve();
      };
      const onError = (err: Error) => {
        cleanup();
        reject(new GatewayError('aos_bad_request', 'the request body could not be read', { cause: err }));
      };
      const cleanup = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
      };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
    });
  };
}

function tooLarge(ctx: CallContext, limit: number): GatewayError {
  // The rest of the body is not read: the connection closes after the answer.
  ctx.res.shouldKeepAlive = false;
  return new GatewayError('aos_payload_too_large', `request body is over the limit of ${limit} bytes`, { headers: { connection: 'close' } });
}

/** Parses a JSON body on inspected routes and lets the dialect describe the call. */
export const parseJson: Stage = function parseJsonStage(ctx) {
  const route = ctx.route!;
  const body = ctx.body;
  if (body === null || body.length === 0) {
    throw new GatewayError('aos_bad_request', `${route.operation.name} needs a JSON request body`);
  }
  const type = ctx.req.headers['content-type'];
  if (type !== undefined && !/^application\/(?:[\w.+-]*\+)?json\b/i.test(type)) {
    throw new GatewayError('aos_unsupported_media_type', `expected content-type application/json, got ${JSON.stringify(type.slice(0, 100))}`);
  }
  try {
    ctx.json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new GatewayError('aos_bad_request', `the request body is not valid JSON: ${(err as Error).message}`);
  }
  if (ctx.json === null || typeof ctx.json !== 'object' || Array.isArray(ctx.json)) {
    throw new GatewayError('aos_bad_request', 'the request body must be a JSON object');
  }
  const call = route.upstream.dialect.describe(route.operation, ctx.json, route.model ?? null);
  if (call.model !== null) call.model = deploymentModel(route.upstream, call.model);
  ctx.call = call;
};

/**
 * The model behind a name the upstream gives models (Azure deployments, Bedrock ARNs): the policy
 * and prices see the model. A name the provider's `deployments` does not list is refused (404).
 */
export function deploymentModel(upstream: Upstream, name: string): string {
  const deployments = upstream.deployments;
  if (deployments === null) return name;
  const model = deployments.get(name);
  if (model === undefined) {
    throw new GatewayError('aos_model_not_found', `${JSON.stringify(name.slice(0, 200))} is not a deployment of provider ${upstream.name} (configured: ${[...deployments.keys()].join(', ')})`, {
      param: 'model',
    });
  }
  return model;
}
