/**
 * OpenTelemetry export of request-thread spans: a span per call (GenAI semantic conventions plus
 * `aos.*` attributes) over OTLP/HTTP (JSON), when the audit trail is off. With it on, spans and
 * audit log records are made from committed events by the audit writer thread (otlp-events.ts).
 * Built only when `otel.endpoint` is set: without it there is no tracing stage at all. A collector
 * that is down or slow never slows or fails a request: spans wait in a bounded queue, exports run in
 * the background with a timeout, and what cannot be queued or exported is dropped and counted
 * (`aos_otel_dropped_total{signal,reason}`).
 */
import { type Context, defaultTextMapGetter, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, TraceFlags, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { core, resources, tracing } from '@opentelemetry/sdk-node';
import type { AuditEvent } from '../audit/event.js';
import type { OtelConfig } from '../config/schema.js';
import type { CallContext } from '../pipeline/context.js';
import { type DropReason, genaiOperation, type OtelSignal } from './otlp-events.js';
import { idGenerator } from './trace-ids.js';

export type { DropReason, OtelSignal };

export interface CallTracer {
  /** Starts the call's span before it is forwarded; sets ctx.traceId and the traceparent sent upstream. */
  start(ctx: CallContext): Span;
  /** Ends the span `start` returned with the call's outcome (null: refused before `start`; its whole span is made here). */
  end(span: Span | null, ctx: CallContext, event: AuditEvent, endMs: number): void;
}

export interface Otel {
  readonly tracer: CallTracer;
  /** Exports what is queued (bounded by the export timeout) and stops. */
  shutdown(): Promise<void>;
}

const propagator = new core.W3CTraceContextPropagator();

/**
 * Bounded queue accounting around a batch processor's exporter: the processor is handed at most
 * `max` items not yet taken by an export; more are dropped (queue_full), and an export that fails
 * drops its batch (export_failed). The processor itself never drops (its own queue is larger).
 */
class Bounded<T> {
  queued = 0;
  constructor(
    readonly max: number,
    readonly drop: (reason: DropReason, n: number) => void,
  ) {}
  admit(): boolean {
    if (this.queued >= this.max) {
      this.drop('queue_full', 1);
      return false;
    }
    this.queued += 1;
    return true;
  }
  wrap<E extends { export(items: T[], cb: (r: core.ExportResult) => void): void }>(exporter: E): E {
    const inner = exporter.export.bind(exporter);
    exporter.export = (items: T[], cb: (r: core.ExportResult) => void) => {
      this.queued = Math.max(0, this.queued - items.length);
      inner(items, (r) => {
        if (r.code !== core.ExportResultCode.SUCCESS) this.drop('export_failed', items.length);
        cb(r);
      });
    };
    return exporter;
  }
}

export function createOtel(config: OtelConfig, opts: { onDrop(signal: OtelSignal, reason: DropReason, n: number): void; version?: string }): Otel | null {
  if (config.endpoint === undefined || !config.traces) return null;
  const base = config.endpoint.replace(/\/+$/, '');
  const resource = resources.resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': opts.version ?? '0.0.0' });
  const batch = { maxExportBatchSize: config.batchSize, scheduledDelayMillis: config.scheduledDelayMs, exportTimeoutMillis: config.exportTimeoutMs, maxQueueSize: config.maxQueue + config.batchSize };
  const bounded = new Bounded<tracing.ReadableSpan>(config.maxQueue, (r, n) => opts.onDrop('spans', r, n));
  const exporter = bounded.wrap(new OTLPTraceExporter({ url: `${base}/v1/traces`, headers: config.headers, timeoutMillis: config.exportTimeoutMs }));
  const processor = new tracing.BatchSpanProcessor(exporter, batch);
  const admitting: tracing.SpanProcessor = {
    onStart: () => {},
    onEnd: (span) => {
      if (bounded.admit()) processor.onEnd(span);
    },
    forceFlush: () => processor.forceFlush(),
    shutdown: () => processor.shutdown(),
  };
  const provider = new tracing.BasicTracerProvider({ resource, spanProcessors: [admitting], idGenerator });
  return {
    tracer: createCallTracer(provider.getTracer('aos-gateway', opts.version)),
    async shutdown() {
      await Promise.allSettled([provider.shutdown()]);
    },
  };
}

function createCallTracer(tracer: Tracer): CallTracer {
  const startSpan = (ctx: CallContext, startMs: number): Span => {
    const header = ctx.req.headers.traceparent;
    const parent: Context = header === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, ctx.req.headers, defaultTextMapGetter);
    const route = ctx.route;
    const op = route?.operation.name ?? 'request';
    const model = ctx.call?.model ?? null;
    const genai = genaiOperation(op, ctx.call?.tool?.name ?? null);
    return tracer.startSpan(
      model === null ? genai : `${genai} ${model}`,
      {
        kind: SpanKind.CLIENT,
        startTime: startMs,
        attributes: {
          'gen_ai.operation.name': genai,
          'gen_ai.provider.name': route?.upstream.name ?? 'none',
          'aos.request_id': ctx.id,
          'aos.route': route?.name ?? 'unmatched',
        },
      },
      parent,
    );
  };
  return {
    start(ctx) {
      const span = startSpan(ctx, performance.timeOrigin + ctx.start);
      const sc = span.spanContext();
      ctx.traceId = sc.traceId;
      ctx.traceparent = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & TraceFlags.SAMPLED) === 0 ? '00' : '01'}`;
      return span;
    },
    end(started, ctx, e, endMs) {
      let span = started;
      if (span === null) {
        span = startSpan(ctx, performance.timeOrigin + ctx.start);
        ctx.traceId ??= span.spanContext().traceId;
      }
      if (!span.isRecording()) return span.end(endMs);
      setOutcome(span, e);
      if (ctx.call?.maxTokens != null) span.setAttribute('gen_ai.request.max_tokens', ctx.call.maxTokens);
      span.end(endMs);
    },
  };
}

/**
 * The call's outcome as span attributes and status (GenAI conventions plus aos.*). The spans made
 * from audit events (otlp-events.ts spanOf) carry the same; test/otlp-events.test.ts holds them equal.
 */
export function setOutcome(span: Span, e: AuditEvent): void {
  const a: Record<string, string | number | boolean | string[]> = {
    'aos.decision': e.decision,
    'aos.outcome': e.outcome,
    'aos.stream': e.stream,
  };
  if (e.model !== null) a['gen_ai.request.model'] = e.model;
  if (e.max_tokens !== null) a['gen_ai.request.max_tokens'] = e.max_tokens;
  if (e.agent_id !== null) a['aos.agent.id'] = e.agent_id;
  if (e.team !== null) a['aos.team'] = e.team;
  if (e.template !== null) a['aos.template'] = e.template;
  if (e.template_version !== null) a['aos.template_version'] = e.template_version;
  if (e.policy_revision !== null) a['aos.policy.revision'] = e.policy_revision;
  if (e.reasons.length > 0) a['aos.reasons'] = e.reasons;
  if (e.workflow_id !== null) a['aos.workflow_id'] = e.workflow_id;
  if (e.tool !== null) a['gen_ai.tool.name'] = e.tool;
  if (e.input_tokens !== null) a['gen_ai.usage.input_tokens'] = e.input_tokens;
  if (e.output_tokens !== null) a['gen_ai.usage.output_tokens'] = e.output_tokens;
  if (e.cost_usd !== null) a['aos.cost_usd'] = e.cost_usd;
  if (e.flags !== null) a['aos.flags'] = e.flags;
  if (e.tool_calls !== null) a['aos.tool_calls'] = e.tool_calls;
  if (e.status !== null) a['http.response.status_code'] = e.status;
  if (e.upstream_ms !== null) a['aos.upstream_ms'] = e.upstream_ms;
  if (e.error_code !== null) {
    a['error.type'] = e.error_code;
    span.setStatus({ code: SpanStatusCode.ERROR, message: e.error_code });
  } else if (e.status !== null && e.status >= 500) {
    a['error.type'] = String(e.status);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.setAttributes(a);
}
