/**
 * OpenTelemetry export: a span per call (GenAI semantic conventions plus `aos.*` attributes) and
 * every audit event as a log record, over OTLP/HTTP (JSON). Built only when `otel.endpoint` is set:
 * without it there is no tracing stage at all. A collector that is down or slow never slows or
 * fails a request: spans and log records wait in bounded queues, exports run in the background with
 * a timeout, and what cannot be queued or exported is dropped and counted
 * (`aos_otel_dropped_total{signal,reason}`).
 */
import { type Context, defaultTextMapGetter, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, TraceFlags, type Tracer, trace } from '@opentelemetry/api';
import { type Logger as OtelLogger, SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { core, logs, resources, tracing } from '@opentelemetry/sdk-node';
import type { AuditEvent, AuditRecord } from '../audit/event.js';
import type { OtelConfig } from '../config/schema.js';
import type { CallContext } from '../pipeline/context.js';

export type OtelSignal = 'spans' | 'logs';
export type DropReason = 'queue_full' | 'export_failed';

export interface CallTracer {
  /** Starts the call's span before it is forwarded; sets ctx.traceId and the traceparent sent upstream. */
  start(ctx: CallContext): Span;
  /** Ends the span `start` returned with the call's outcome (null: refused before `start`; its whole span is made here). */
  end(span: Span | null, ctx: CallContext, event: AuditEvent, endMs: number): void;
}

/** Spans built from committed audit events (on the audit writer thread), with the ids the request thread assigned. */
export interface EventSpans {
  emit(records: readonly AuditRecord[]): void;
}

export interface AuditLogSink {
  /** Committed audit events, exported as log records (body: the event's canonical JSON, `bodies[i]`). */
  emit(records: readonly AuditRecord[], bodies: readonly string[]): void;
}

export interface Otel {
  /** Request-thread spans (`spansFromEvents` off). */
  readonly tracer: CallTracer | null;
  /** Spans from audit events (`spansFromEvents` on). */
  readonly spans: EventSpans | null;
  readonly logs: AuditLogSink | null;
  /** Exports what is queued (bounded by the export timeout) and stops. */
  shutdown(): Promise<void>;
}

const propagator = new core.W3CTraceContextPropagator();

/** gen_ai.operation.name for the gateway's operations (GenAI semantic conventions). */
const GENAI_OPERATION: Record<string, string> = {
  'chat.completions': 'chat',
  responses: 'chat',
  messages: 'chat',
  'messages.count_tokens': 'count_tokens',
  completions: 'text_completion',
  embeddings: 'embeddings',
};

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
  /** Whether another item would be admitted; when not, it is counted as dropped (so callers skip building it). */
  room(): boolean {
    if (this.queued < this.max) return true;
    this.drop('queue_full', 1);
    return false;
  }
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

export function createOtel(
  config: OtelConfig,
  opts: { onDrop(signal: OtelSignal, reason: DropReason, n: number): void; version?: string /** Build spans from audit events instead of on the request thread. */; spansFromEvents?: boolean },
): Otel | null {
  if (config.endpoint === undefined || (!config.traces && !config.logs)) return null;
  const base = config.endpoint.replace(/\/+$/, '');
  const resource = resources.resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': opts.version ?? '0.0.0' });
  const batch = { maxExportBatchSize: config.batchSize, scheduledDelayMillis: config.scheduledDelayMs, exportTimeoutMillis: config.exportTimeoutMs, maxQueueSize: config.maxQueue + config.batchSize };
  const shutdowns: (() => Promise<void>)[] = [];

  let tracer: CallTracer | null = null;
  let spans: EventSpans | null = null;
  if (config.traces) {
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
    // Event spans carry the ids the request thread already sent upstream: the id generator hands them over.
    const ids = { traceId: '', spanId: '' };
    const idGenerator = { generateTraceId: () => ids.traceId, generateSpanId: () => ids.spanId };
    const provider = new tracing.BasicTracerProvider({ resource, spanProcessors: [admitting], ...(opts.spansFromEvents ? { idGenerator } : {}) });
    shutdowns.push(() => provider.shutdown());
    if (opts.spansFromEvents) spans = createEventSpans(provider.getTracer('aos-gateway', opts.version), ids, () => bounded.room());
    else tracer = createCallTracer(provider.getTracer('aos-gateway', opts.version));
  }

  let sink: AuditLogSink | null = null;
  if (config.logs) {
    const bounded = new Bounded<logs.SdkLogRecord>(config.maxQueue, (r, n) => opts.onDrop('logs', r, n));
    const exporter = bounded.wrap(new OTLPLogExporter({ url: `${base}/v1/logs`, headers: config.headers, timeoutMillis: config.exportTimeoutMs }));
    const processor = new logs.BatchLogRecordProcessor({ exporter, ...batch });
    const admitting: logs.LogRecordProcessor = {
      onEmit: (record) => {
        if (bounded.admit()) processor.onEmit(record);
      },
      forceFlush: () => processor.forceFlush(),
      shutdown: () => processor.shutdown(),
    };
    const provider = new logs.LoggerProvider({ resource, processors: [admitting] });
    shutdowns.push(() => provider.shutdown());
    sink = createAuditLogSink(provider.getLogger('aos-gateway.audit', opts.version), () => bounded.room());
  }

  return {
    tracer,
    spans,
    logs: sink,
    async shutdown() {
      await Promise.allSettled(shutdowns.map((s) => s()));
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

/** gen_ai.operation.name of an event's operation. */
function genaiOperation(operation: string | null, tool: string | null): string {
  return (operation === null ? undefined : GENAI_OPERATION[operation]) ?? (tool !== null ? 'execute_tool' : (operation ?? 'request'));
}

/** The call's outcome as span attributes and status (GenAI conventions plus aos.*). */
function setOutcome(span: Span, e: AuditEvent): void {
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

/** `room`: whether the export queue has room; a full one (a slow or down collector) skips building the span. */
function createEventSpans(tracer: Tracer, ids: { traceId: string; spanId: string }, room: () => boolean): EventSpans {
  return {
    emit(records) {
      for (const r of records) {
        if (r.trace_id === null || r.span_id === null || !room()) continue;
        const parent = r.parent_span_id === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { traceId: r.trace_id, spanId: r.parent_span_id, traceFlags: TraceFlags.SAMPLED, isRemote: true });
        ids.traceId = r.trace_id;
        ids.spanId = r.span_id;
        const start = Date.parse(r.time);
        const op = genaiOperation(r.operation, r.tool);
        const span = tracer.startSpan(
          r.model === null ? op : `${op} ${r.model}`,
          {
            kind: SpanKind.CLIENT,
            startTime: start,
            attributes: { 'gen_ai.operation.name': op, 'gen_ai.provider.name': r.provider ?? 'none', 'aos.request_id': r.id, 'aos.route': r.route ?? 'unmatched' },
          },
          parent,
        );
        setOutcome(span, r);
        span.end(start + (r.total_ms ?? 0));
      }
    },
  };
}

function createAuditLogSink(logger: OtelLogger, room: () => boolean): AuditLogSink {
  return {
    emit(records, bodies) {
      for (let i = 0; i < records.length; i++) {
        if (!room()) continue;
        const r = records[i];
        // The whole event is the body (its canonical JSON, as hashed); the attributes are what a
        // collector routes and indexes on, plus the chain links so a SIEM can check them.
        const attributes: Record<string, string | number | boolean> = {
          'aos.audit.id': r.id,
          'aos.audit.seq': r.seq,
          'aos.audit.hash': r.hash,
          'aos.audit.prev_hash': r.prev_hash,
          'aos.audit.decision': r.decision,
          'aos.audit.outcome': r.outcome,
        };
        if (r.agent_id !== null) attributes['aos.audit.agent_id'] = r.agent_id;
        if (r.team !== null) attributes['aos.audit.team'] = r.team;
        if (r.route !== null) attributes['aos.audit.route'] = r.route;
        if (r.status !== null) attributes['aos.audit.status'] = r.status;
        if (r.workflow_id !== null) attributes['aos.audit.workflow_id'] = r.workflow_id;
        const context =
          r.trace_id === null || r.span_id === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { traceId: r.trace_id, spanId: r.span_id, traceFlags: TraceFlags.SAMPLED, isRemote: true });
        const warn = r.decision === 'deny' || r.outcome !== 'completed';
        logger.emit({
          timestamp: Date.parse(r.time),
          eventName: 'aos.audit',
          severityNumber: warn ? SeverityNumber.WARN : SeverityNumber.INFO,
          severityText: warn ? 'WARN' : 'INFO',
          body: bodies[i],
          attributes,
          context,
        });
      }
    },
  };
}
