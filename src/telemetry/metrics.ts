import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Latency buckets in seconds, fine at the low end where gateway overhead lives. */
const OVERHEAD_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];
const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface Metrics {
  readonly registry: Registry;
  /** Count one finished request and observe its latency split. Labels are bounded by config. */
  observe(route: string, status: number, overheadSeconds: number, upstreamSeconds: number | null): void;
  upstreamError(provider: string, code: string): void;
  readonly inflight: Gauge;
  readonly configReloads: Counter<'result'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({ name: 'aos_requests_total', help: 'Requests by route and HTTP status', labelNames: ['route', 'status'] as const, registers: [registry] });
  const overhead = new Histogram({ name: 'aos_gateway_overhead_seconds', help: 'Time the gateway itself adds to a request (total minus upstream)', labelNames: ['route'] as const, buckets: OVERHEAD_BUCKETS, registers: [registry] });
  const upstream = new Histogram({ name: 'aos_upstream_duration_seconds', help: 'Upstream time from dispatch to the end of its response', labelNames: ['route'] as const, buckets: UPSTREAM_BUCKETS, registers: [registry] });
  const upstreamErrors = new Counter({ name: 'aos_upstream_errors_total', help: 'Upstream failures by provider and error code', labelNames: ['provider', 'code'] as const, registers: [registry] });
  const inflight = new Gauge({ name: 'aos_requests_inflight', help: 'Requests being served now', registers: [registry] });
  const configReloads = new Counter({ name: 'aos_config_reloads_total', help: 'Configuration reloads by result', labelNames: ['result'] as const, registers: [registry] });

  // Bound children cached per label set: the hot path pays a Map lookup, not label hashing.
  const children = new Map<string, { overhead: Histogram.Internal<'route'>; upstream: Histogram.Internal<'route'>; status: Map<number, Counter.Internal> }>();
  const forRoute = (route: string) => {
    let c = children.get(route);
    if (c === undefined) {
      c = { overhead: overhead.labels(route), upstream: upstream.labels(route), status: new Map() };
      children.set(route, c);
    }
    return c;
  };

  return {
    registry,
    inflight,
    configReloads,
    observe(route, status, overheadSeconds, upstreamSeconds) {
      const c = forRoute(route);
      let s = c.status.get(status);
      if (s === undefined) {
        s = requests.labels(route, String(status));
        c.status.set(status, s);
      }
      s.inc();
      c.overhead.observe(overheadSeconds);
      if (upstreamSeconds !== null) c.upstream.observe(upstreamSeconds);
    },
    upstreamError(provider, code) {
      upstreamErrors.labels(provider, code).inc();
    },
  };
}
