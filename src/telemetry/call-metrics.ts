import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { type CallContext, callDecision, type Outcome, type Stage } from '../pipeline/context.js';
import { Tallies, type Tally } from './fast-metrics.js';
import type { Metrics } from './metrics.js';
import type { DropReason, OtelSignal } from './otel.js';

/**
 * Metrics of the audit trail and of call outcomes, on the gateway's registry (served by the admin
 * listener's /metrics). Labels are bounded: routes come from config, decisions and signals are
 * enums, a denial's reason is its stable `aos_*` error code (never free text).
 */
export interface CallMetrics {
  /** One finished call: route, decision (allow | deny | none), HTTP status; a denial by its code. */
  call(route: string, decision: string, status: number, errorCode: string | null): void;
  /** A group commit of `n` events; `lagSeconds`: how long its oldest event waited. */
  committed(n: number, lagSeconds: number): void;
  writeFailed(): void;
  recovered(n: number): void;
  otelDropped(signal: OtelSignal, reason: DropReason, n: number): void;
  /** Where the queue depth is read at scrape time. */
  setQueueDepth(read: () => number): void;
  /** Where the number of suspended agents is read at scrape time. */
  setSuspended(read: () => number): void;
}

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createCallMetrics(registry: Registry): CallMetrics {
  const callTallies = new Tallies();
  const calls = new Counter({
    name: 'aos_calls_total',
    help: 'Finished calls by route, gateway decision (allow, deny, none) and HTTP status',
    labelNames: ['route', 'decision', 'status'] as const,
    registers: [registry],
    collect: () => callTallies.fold(),
  });
  const denials = new Counter({ name: 'aos_denials_total', help: 'Calls the gateway refused, by reason (the aos_* error code)', labelNames: ['reason'] as const, registers: [registry] });
  const events = new Counter({ name: 'aos_audit_events_total', help: 'Audit events committed to the audit store', registers: [registry] });
  const commits = new Counter({ name: 'aos_audit_commits_total', help: 'Group commits to the audit store', registers: [registry] });
  const lag = new Histogram({
    name: 'aos_audit_commit_lag_seconds',
    help: 'Time from the end of a call to the commit of its audit event (oldest of each group commit)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const writeErrors = new Counter({ name: 'aos_audit_write_errors_total', help: 'Failed audit group commits (retried; the intent journal keeps the calls)', registers: [registry] });
  const recovered = new Counter({ name: 'aos_audit_recovered_events_total', help: 'Events recovered from the intent journal at start (calls interrupted by a crash)', registers: [registry] });
  const dropped = new Counter({
    name: 'aos_otel_dropped_total',
    help: 'Spans and log records not exported: queue full or export failed',
    labelNames: ['signal', 'reason'] as const,
    registers: [registry],
  });
  for (const s of ['spans', 'logs']) for (const r of ['queue_full', 'export_failed']) dropped.labels(s, r).inc(0);
  let depth = () => 0;
  new Gauge({
    name: 'aos_audit_queue_depth',
    help: 'Audit events waiting for their group commit',
    registers: [registry],
    collect() {
      this.set(depth());
    },
  });
  let suspended = () => 0;
  new Gauge({
    name: 'aos_agents_suspended',
    help: 'Agents suspended now',
    registers: [registry],
    collect() {
      this.set(suspended());
    },
  });

  // Tallies per label set: the hot path pays a Map lookup and an addition, not label hashing.
  const children = new Map<string, Tally>();
  const denialChildren = new Map<string, Counter.Internal>();
  return {
    call(route, decision, status, errorCode) {
      const key = `${route}\u0000${decision}\u0000${status}`;
      let c = children.get(key);
      if (c === undefined) {
        c = callTallies.of(calls.labels(route, decision, String(status)));
        children.set(key, c);
      }
      c.n += 1;
      if (decision === 'deny') {
        const reason = errorCode?.startsWith('aos_') ? errorCode : 'other';
        let d = denialChildren.get(reason);
        if (d === undefined) {
          d = denials.labels(reason);
          denialChildren.set(reason, d);
        }
        d.inc();
      }
    },
    committed(n, lagSeconds) {
      events.inc(n);
      commits.inc();
      lag.observe(lagSeconds);
    },
    writeFailed: () => writeErrors.inc(),
    recovered: (n) => recovered.inc(n),
    otelDropped: (signal, reason, n) => dropped.labels(signal, reason).inc(n),
    setQueueDepth(read) {
      depth = read;
    },
    setSuspended(read) {
      suspended = read;
    },
  };
}

/**
 * The call-metrics stage, first on every request: its finisher, the last to run, counts the call
 * (`aos_calls_total`, `aos_denials_total`) and observes its latency split.
 */
export function createCallMetricsStage(metrics: Metrics, calls: CallMetrics): Stage {
  const finished = (outcome: Outcome, ctx: CallContext) => {
    const route = ctx.route?.name ?? 'unmatched';
    const upstream = outcome.upstreamMs;
    metrics.observe(route, (outcome.totalMs - (upstream ?? 0)) / 1000, upstream === null ? null : upstream / 1000);
    calls.call(route, callDecision(ctx), outcome.status, ctx.errorCode);
  };
  return function callMetricsStage(ctx) {
    ctx.onFinish(finished);
  };
}
