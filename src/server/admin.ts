import { createServer, type Server } from 'node:http';
import type { Metrics } from '../telemetry/metrics.js';

export interface AdminOptions {
  metrics: Metrics;
  /** Null when ready, else why not (config not loaded, draining, …). */
  notReady(): string | null;
  status(): Record<string, unknown>;
}

/** The admin listener: health, readiness, Prometheus metrics. Kept off the proxy port. */
export function createAdminServer(opts: AdminOptions): Server {
  return createServer({ requireHostHeader: true }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'method not allowed' });
    switch (path) {
      case '/healthz':
        return json(200, { status: 'ok' });
      case '/readyz': {
        const why = opts.notReady();
        return why === null ? json(200, { status: 'ready', ...opts.status() }) : json(503, { status: 'not ready', reason: why });
      }
      case '/metrics':
        opts.metrics.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
            res.end(text);
          },
          (err: Error) => json(500, { error: err.message }),
        );
        return;
      default:
        return json(404, { error: `no admin endpoint ${path}` });
    }
  });
}
