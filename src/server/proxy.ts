import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { CallContext, type UpgradeRequest } from '../pipeline/context.js';
import { requestId } from '../pipeline/request-id.js';
import { finishCall, type Pipeline, runPipeline } from '../pipeline/run.js';
import { CLAIM_HEADER } from '../providers/index.js';
import type { Metrics } from '../telemetry/metrics.js';

export interface ProxyHandlerOptions {
  /** The pipeline of the configuration in force (swapped whole on reload). */
  pipeline(): Pipeline;
  metrics: Metrics;
  log: Logger;
  /** True once shutdown began: answer, then close the connection. */
  draining(): boolean;
  /** Called when a request starts and ends, for graceful shutdown accounting. */
  track(delta: 1 | -1): void;
}

/** The request handler of the proxy listener: a context per request, the pipeline, its finish. */
export function createProxyHandler(opts: ProxyHandlerOptions) {
  const { metrics, log } = opts;
  const finished = (ctx: CallContext) => {
    opts.track(-1);
    metrics.inflight.dec();
    try {
      finishCall(ctx);
    } catch (err) {
      log.error('request finish failed', { id: ctx.id, err });
    }
  };

  /** `upgrade`: the request asked to upgrade its connection (src/server/upgrade.ts); null for every other. */
  return function handleProxyRequest(req: IncomingMessage, res: ServerResponse, upgrade: UpgradeRequest | null = null): Promise<void> {
    const start = performance.now();
    opts.track(1);
    metrics.inflight.inc();
    const pipeline = opts.pipeline();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const ctx = new CallContext(requestId(), req, res, start, path, q === -1 ? '' : url.slice(q), pipeline.router.dialectFor(path, req.headers[CLAIM_HEADER] !== undefined));
    ctx.upgrade = upgrade;
    req.on('error', noop);
    res.on('error', noop);
    res.once('close', () => finished(ctx));
    if (opts.draining()) res.shouldKeepAlive = false;
    return runPipeline(pipeline, ctx, log);
  };
}

function noop() {}
