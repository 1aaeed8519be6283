import { createHash, type Hash } from 'node:crypto';
import { ERRORS } from '../errors.js';
import type { CallContext, Stage } from '../pipeline/context.js';
import type { CallMetrics } from '../telemetry/call-metrics.js';
import type { CallTracer } from '../telemetry/otel.js';
import { randomHexId } from '../telemetry/trace-ids.js';
import type { ResponseTap } from '../upstream/tap.js';
import { sha256Hex } from './canonical.js';
import type { AuditDecision, AuditEvent } from './event.js';
import type { Redactor } from './redact.js';
import type { AuditTrail } from './trail.js';

export interface Capture {
  request: boolean;
  response: boolean;
  maxBytes: number;
}

export interface CallRecorderOptions {
  /** The audit writer; null when audit is off (metrics and tracing still run). */
  trail: AuditTrail | null;
  /** Spans made on the request thread (when audit is off). */
  tracer: CallTracer | null;
  /** Spans made from audit events by the writer thread: the request thread only assigns their ids. */
  spansFromEvents: boolean;
  metrics: CallMetrics;
  /** SHA-256 of request and response bodies. */
  hashBodies: boolean;
  /** What a template opted into capturing; null: sizes and hashes only. */
  capture(template: string): Capture | null;
  redact: Redactor;
}

export interface CallRecorder {
  /** The last stage before forwarding (null when neither audit nor tracing is on). */
  readonly decided: Stage | null;
  /** The proxy handler's finish hook: one audit event, one span and the call metrics per request. */
  finished(ctx: CallContext, status: number, totalMs: number, upstreamMs: number | null): void;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}/;
const ZERO_TRACE = '0'.repeat(32);
const MAX_WORKFLOW_ID = 128;

/** The trace id of the agent's traceparent and the workflow id (`x-aos-workflow-id`, or baggage `aos.workflow_id`). */
export function readTraceHeaders(ctx: CallContext): void {
  const h = ctx.req.headers;
  const tp = h.traceparent;
  if (ctx.traceId === null && typeof tp === 'string') {
    const m = TRACEPARENT.exec(tp);
    if (m !== null && m[1] !== ZERO_TRACE) ctx.traceId = m[1];
  }
  const wf = h['x-aos-workflow-id'];
  if (typeof wf === 'string' && wf !== '') {
    ctx.workflowId = clean(wf);
  } else if (typeof h.baggage === 'string') {
    for (const member of h.baggage.split(',')) {
      const eq = member.indexOf('=');
      if (eq !== -1 && member.slice(0, eq).trim() === 'aos.workflow_id') {
        const v = member.slice(eq + 1).split(';')[0].trim();
        try {
          ctx.workflowId = clean(decodeURIComponent(v));
        } catch {
          ctx.workflowId = clean(v);
        }
      }
    }
  }
}

/** The agent's span id, when its traceparent is the trace this call is in. */
function parentSpan(ctx: CallContext): string | null {
  const tp = ctx.req.headers.traceparent;
  if (typeof tp !== 'string' || ctx.traceId === null) return null;
  const m = TRACEPARENT.exec(tp);
  return m !== null && m[1] === ctx.traceId ? m[2] : null;
}

/** Ids for the call's span, exported later from its audit event: the agent's trace (or a new one), a new span. */
function assignSpan(ctx: CallContext): void {
  if (ctx.traceparent !== null) return;
  const traceId = (ctx.traceId ??= randomHexId(16));
  ctx.traceparent = `00-${traceId}-${randomHexId(8)}-01`;
}

function clean(v: string): string | null {
  // eslint-disable-next-line no-control-regex
  const s = v.trim().replace(/[\u0000-\u001f\u007f]/g, '').slice(0, MAX_WORKFLOW_ID);
  return s === '' ? null : s;
}

/**
 * Counts (and hashes, and for opted-in templates keeps the head of) the response on its way to the
 * client. A one-chunk response (the common non-streaming case) is hashed once at the end; from the
 * second chunk on, incrementally.
 */
class ResponseRecorder implements ResponseTap {
  bytes = 0;
  first: Buffer | null = null;
  hasher: Hash | null = null;
  kept: Buffer[] | null;
  keptBytes = 0;
  constructor(readonly hash: boolean, readonly max: number) {
    this.kept = max > 0 ? [] : null;
  }
  onData(chunk: Buffer): Buffer {
    this.bytes += chunk.length;
    if (this.hash) {
      if (this.hasher !== null) this.hasher.update(chunk);
      else if (this.first === null) this.first = chunk;
      else {
        this.hasher = createHash('sha256').update(this.first).update(chunk);
        this.first = null;
      }
    }
    if (this.kept !== null && this.keptBytes < this.max) {
      const part = chunk.length <= this.max - this.keptBytes ? chunk : chunk.subarray(0, this.max - this.keptBytes);
      this.kept.push(part);
      this.keptBytes += part.length;
    }
    return chunk;
  }
  digest(): string | null {
    if (!this.hash) return null;
    if (this.hasher !== null) return this.hasher.digest('hex');
    return sha256Hex(this.first ?? Buffer.alloc(0));
  }
}

interface Pending {
  event: AuditEvent;
  segment: number;
  response: ResponseRecorder | null;
}

export function createCallRecorder(opts: CallRecorderOptions): CallRecorder {
  const { trail, tracer, metrics, hashBodies, redact } = opts;
  const spanIds = trail !== null && opts.spansFromEvents;
  const pending = new Map<string, Pending>();

  const captureOf = (ctx: CallContext): Capture | null => (ctx.agent === null ? null : opts.capture(ctx.agent.template));

  const eventOf = (ctx: CallContext, decision: AuditDecision, capture: Capture | null): AuditEvent => {
    const agent = ctx.agent;
    const route = ctx.route;
    const call = ctx.call;
    const tool = call?.tool ?? null;
    const body = ctx.body;
    const d = ctx.decision;
    const tp = ctx.traceparent;
    let captured: AuditEvent['capture'] = null;
    if (capture !== null && capture.request && body !== null && body.length > 0) {
      captured = { request: redact(body.subarray(0, capture.maxBytes).toString('utf8')) };
      if (body.length > capture.maxBytes) captured.truncated = true;
    }
    // Keys in sorted order: JSON.stringify of the event is then its canonical encoding (canonical.ts).
    return {
      agent_id: agent?.id ?? null,
      capture: captured,
      cost_usd: null,
      decision,
      error_code: null,
      findings: null,
      flags: null,
      id: ctx.id,
      input_tokens: null,
      kind: call?.kind ?? (route === null ? null : 'http'),
      max_tokens: call?.maxTokens ?? null,
      method: ctx.req.method ?? 'GET',
      model: call?.model ?? null,
      operation: call?.operation ?? route?.operation.name ?? null,
      outcome: decision === 'allow' ? 'interrupted' : 'denied',
      output_tokens: null,
      parent_span_id: parentSpan(ctx),
      path: ctx.path,
      policy_revision: d?.revision ?? null,
      provider: route?.upstream.name ?? null,
      reasons: d !== null && !d.allow ? d.reasons.slice() : decision === 'deny' && ctx.errorCode !== null ? [ctx.errorCode] : [],
      request_bytes: body?.length ?? 0,
      request_sha256: hashBodies && body !== null && body.length > 0 ? sha256Hex(body) : null,
      response_bytes: null,
      response_sha256: null,
      route: route?.name ?? null,
      span_id: tp === null ? null : tp.slice(36, 52),
      status: null,
      stream: call?.stream ?? false,
      team: agent?.team ?? null,
      template: agent?.template ?? null,
      template_version: agent?.templateVersion ?? null,
      time: new Date(performance.timeOrigin + ctx.start).toISOString(),
      tool: tool?.name ?? null,
      tool_args_sha256: tool !== null && tool.args !== undefined ? sha256Hex(JSON.stringify(tool.args) ?? 'null') : null,
      tool_calls: null,
      tool_server: tool?.server ?? null,
      total_ms: null,
      trace_id: ctx.traceId,
      upstream_ms: null,
      workflow_id: ctx.workflowId,
    };
  };

  const decided: Stage | null = trail === null && tracer === null ? null : function decidedStage(ctx) {
    readTraceHeaders(ctx);
    if (tracer !== null) tracer.start(ctx);
    else if (spanIds) assignSpan(ctx);
    if (trail === null) return;
    const capture = captureOf(ctx);
    const event = eventOf(ctx, 'allow', capture);
    // The call is recorded as decided before it is forwarded: this write(2) has returned.
    const segment = trail.intent(event);
    const keep = capture !== null && capture.response ? capture.maxBytes : 0;
    const response = hashBodies || keep > 0 ? new ResponseRecorder(hashBodies, keep) : null;
    if (response !== null) ctx.tap(response);
    pending.set(ctx.id, { event, segment, response });
  };

  return {
    decided,
    finished(ctx, status, totalMs, upstreamMs) {
      const p = trail === null ? undefined : pending.get(ctx.id);
      // The client can leave before the forwarder saw it (this hook runs first on 'close').
      const code = ctx.errorCode ?? (status === 499 ? 'client_aborted' : null);
      const aborted = code === 'client_aborted';
      let event: AuditEvent | null = null;
      let decision: AuditDecision;
      if (p !== undefined) {
        pending.delete(ctx.id);
        event = p.event;
        decision = 'allow';
        event.outcome = aborted ? 'aborted' : code !== null ? 'failed' : 'completed';
        const r = p.response;
        if (r !== null) {
          event.response_bytes = r.bytes;
          if (ctx.upstreamStart !== 0) event.response_sha256 = r.digest();
          if (r.kept !== null && r.kept.length > 0) {
            (event.capture ??= {}).response = redact(Buffer.concat(r.kept).toString('utf8'));
            if (r.bytes > r.keptBytes) event.capture.truncated = true;
          }
        }
      } else {
        // A refusal is a 4xx code even where the wire status is 200 (JSON-RPC errors on MCP routes).
        const refusal = code !== null && (code in ERRORS ? ERRORS[code as keyof typeof ERRORS].status : status);
        decision = ctx.upstreamStart !== 0 ? 'allow' : aborted ? 'none' : refusal !== false && refusal >= 400 && refusal < 500 ? 'deny' : ctx.decision !== null && ctx.decision.allow && code === null ? 'allow' : 'none';
        if (trail !== null || tracer !== null) {
          // A call refused before the decided stage: its trace ids and span start here.
          if (ctx.traceparent === null) {
            readTraceHeaders(ctx);
            if (tracer !== null) tracer.start(ctx);
            else if (spanIds) assignSpan(ctx);
          }
        }
        if (trail !== null || tracer !== null) {
          event = eventOf(ctx, decision, trail === null ? null : captureOf(ctx));
          event.outcome = decision === 'deny' ? 'denied' : aborted ? 'aborted' : code !== null ? 'failed' : 'completed';
        }
      }
      metrics.call(ctx.route?.name ?? 'unmatched', decision, status, code);
      if (event === null) return;
      const usage = ctx.usage;
      event.status = status;
      event.error_code = code;
      event.input_tokens = usage?.inputTokens ?? null;
      event.output_tokens = usage?.outputTokens ?? null;
      event.cost_usd = ctx.costUsd;
      event.flags = ctx.flags === null ? null : ctx.flags.slice();
      event.tool_calls = ctx.toolCalls === null ? null : ctx.toolCalls.slice();
      event.total_ms = Math.round(totalMs * 1000) / 1000;
      event.upstream_ms = upstreamMs === null ? null : Math.round(upstreamMs * 1000) / 1000;
      if (tracer !== null) tracer.end(ctx, event, performance.timeOrigin + ctx.start + totalMs);
      if (trail === null) return;
      if (p !== undefined) trail.complete(event, p.segment);
      else trail.final(event);
    },
  };
}
