import { createHash, type Hash } from 'node:crypto';
import type { Span } from '@opentelemetry/api';
import { type CallContext, callDecision, type Outcome, type Stage } from '../pipeline/context.js';
import type { CallTracer } from '../telemetry/otel.js';
import { assignSpanIds, parentSpanId, readTraceHeaders } from '../telemetry/trace-context.js';
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
  /** The audit writer; null when audit is off (tracing may still run). */
  trail: AuditTrail | null;
  /** Spans made on the request thread (when audit is off). */
  tracer: CallTracer | null;
  /** Spans made from audit events by the writer thread: the request thread only assigns their ids. */
  spansFromEvents: boolean;
  /** SHA-256 of request and response bodies. */
  hashBodies: boolean;
  /** What a template opted into capturing; null: sizes and hashes only. */
  capture(template: string): Capture | null;
  redact: Redactor;
}

/**
 * The record stage, first on every request (null when neither audit nor tracing is on). It
 * registers two hooks on the request: when the call is decided, last before forwarding, the event
 * is written to the intent journal and the span starts; when the request finishes, after every
 * later stage's finisher (so the budget is settled), exactly one audit event is completed and the
 * span ends. A call refused before it was decided gets its whole event at the finish.
 */
export function createCallRecorder(opts: CallRecorderOptions): Stage | null {
  if (opts.trail === null && opts.tracer === null) return null;
  const recorder = new Recorder(opts);
  return function recordStage(ctx) {
    const call = new RecordedCall(recorder, ctx);
    ctx.onForward(call.decided);
    ctx.onFinish(call.finished);
  };
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
  constructor(
    readonly hash: boolean,
    readonly max: number,
  ) {
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

/** What every call's record shares: options and the event builder. */
class Recorder {
  readonly trail: AuditTrail | null;
  readonly tracer: CallTracer | null;
  readonly spanIds: boolean;
  readonly hashBodies: boolean;
  constructor(readonly opts: CallRecorderOptions) {
    this.trail = opts.trail;
    this.tracer = opts.tracer;
    this.spanIds = opts.trail !== null && opts.spansFromEvents;
    this.hashBodies = opts.hashBodies;
  }

  captureOf(ctx: CallContext): Capture | null {
    // Shared memory: the audit event holds the value's hash and size, never the value (docs/coordination.md).
    if (ctx.call?.kind === 'memory') return null;
    return ctx.agent === null || this.trail === null ? null : this.opts.capture(ctx.agent.template);
  }

  /** Trace ids read, the span started (or its ids assigned for the writer thread). */
  trace(ctx: CallContext): Span | null {
    readTraceHeaders(ctx);
    if (this.tracer !== null) return this.tracer.start(ctx);
    if (this.spanIds) assignSpanIds(ctx);
    return null;
  }

  eventOf(ctx: CallContext, decision: AuditDecision, capture: Capture | null): AuditEvent {
    const agent = ctx.agent;
    const route = ctx.route;
    const call = ctx.call;
    const tool = call?.tool ?? null;
    const body = ctx.body;
    const d = ctx.decision;
    const tp = ctx.traceparent;
    let captured: AuditEvent['capture'] = null;
    if (capture?.request && body !== null && body.length > 0) {
      // What goes upstream: after the guardrails' redaction, when the policy obliged one.
      const sent = ctx.jsonChanged && ctx.flags?.includes('redacted') ? Buffer.from(JSON.stringify(ctx.json)) : body;
      captured = { request: this.opts.redact(sent.subarray(0, capture.maxBytes).toString('utf8')) };
      if (sent.length > capture.maxBytes) captured.truncated = true;
    }
    // Keys in sorted order: JSON.stringify of the event is then its canonical encoding (canonical.ts).
    const event: AuditEvent = {
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
      parent_span_id: parentSpanId(ctx),
      path: ctx.path,
      policy_revision: d?.revision ?? null,
      provider: route?.upstream.name ?? null,
      reasons: d !== null && !d.allow ? d.reasons.slice() : decision === 'deny' && ctx.errorCode !== null ? [ctx.errorCode] : [],
      request_bytes: body?.length ?? 0,
      request_sha256: this.hashBodies && body !== null && body.length > 0 ? sha256Hex(body) : null,
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
    const a = ctx.approval;
    // Only calls bound to an approval carry the key (encoded by the general path of canonical.ts).
    if (a !== null) event.approval = { id: a.id, status: a.status, approver: a.approver, reason: a.reason, waited_ms: Math.round(a.waitedMs) };
    const revisions = call?.revisions;
    // Only MCP POSTs carry the key (encoded by the general path of canonical.ts).
    if (revisions !== undefined) event.mcp = { agent_revision: revisions.agent, server_revision: revisions.server };
    // Only A2A hand-offs and delegated calls carry the key: the chain the hand-off makes, or the one the agent acts under.
    const handoff = call?.a2a;
    const chain = ctx.delegation?.chain ?? (handoff !== undefined && agent !== null ? [agent.id] : null);
    if (handoff !== undefined && chain !== null && handoff.method !== 'GetAgentCard') event.delegation = { chain: [...chain, handoff.agent], depth: chain.length };
    else if (ctx.delegation !== null) event.delegation = { chain: ctx.delegation.chain.slice(), depth: ctx.delegation.depth };
    return event;
  }
}

/** One request's record: its decided event (written to the intent journal), its span, its response tap. */
class RecordedCall {
  private event: AuditEvent | null = null;
  private segment = 0;
  private response: ResponseRecorder | null = null;
  private span: Span | null = null;
  private traced = false;
  constructor(
    private readonly r: Recorder,
    private readonly ctx: CallContext,
  ) {}

  readonly decided = (): void => {
    const { r, ctx } = this;
    this.span = r.trace(ctx);
    this.traced = true;
    if (r.trail === null) return;
    const capture = r.captureOf(ctx);
    const event = r.eventOf(ctx, 'allow', capture);
    // The call is recorded as decided before it is forwarded: this write(2) has returned.
    this.segment = r.trail.intent(event);
    this.event = event;
    const keep = capture?.response ? capture.maxBytes : 0;
    if (r.hashBodies || keep > 0) {
      const response = new ResponseRecorder(r.hashBodies, keep);
      this.response = response;
      ctx.tap(response);
    }
  };

  readonly finished = (outcome: Outcome): void => {
    const { r, ctx } = this;
    const code = ctx.errorCode;
    const aborted = code === 'client_aborted';
    let event = this.event;
    if (event !== null) {
      event.outcome = aborted ? 'aborted' : code !== null ? 'failed' : 'completed';
      this.completeResponse(event);
    } else {
      // A call refused (or abandoned) before it was decided: its trace ids and span start here.
      if (!this.traced) this.span = r.trace(ctx);
      const decision = callDecision(ctx);
      event = r.eventOf(ctx, decision, r.captureOf(ctx));
      event.outcome = decision === 'deny' ? 'denied' : aborted ? 'aborted' : code !== null ? 'failed' : 'completed';
    }
    const usage = ctx.usage;
    event.status = outcome.status;
    event.error_code = code;
    event.input_tokens = usage?.inputTokens ?? null;
    event.output_tokens = usage?.outputTokens ?? null;
    event.cost_usd = ctx.costUsd;
    event.flags = ctx.flags === null ? null : ctx.flags.slice();
    event.findings = ctx.findings === null ? null : ctx.findings.slice();
    event.tool_calls = ctx.toolCalls === null ? null : ctx.toolCalls.slice();
    event.total_ms = Math.round(outcome.totalMs * 1000) / 1000;
    event.upstream_ms = outcome.upstreamMs === null ? null : Math.round(outcome.upstreamMs * 1000) / 1000;
    const m = ctx.call?.memoryRecord;
    // Only shared memory operations carry the key (encoded by the general path of canonical.ts).
    if (m !== undefined) event.memory = { namespace: m.namespace, key: m.key, etag: m.etag, value_sha256: m.value_sha256, value_bytes: m.value_bytes, results: m.results, outcome: m.outcome };
    const s = ctx.session;
    if (s !== null) {
      // A WebSocket session: no response body to hash; what went through it, and how it closed.
      event.response_bytes = s.upstreamBytes;
      event.response_sha256 = null;
      event.session = {
        close_code: s.closeCode,
        close_reason: s.closeReason,
        responses: s.responses,
        client_messages: s.clientMessages,
        upstream_messages: s.upstreamMessages,
        client_bytes: s.clientBytes,
        upstream_bytes: s.upstreamBytes,
        audio_input_tokens: usage?.audioInputTokens ?? 0,
        audio_output_tokens: usage?.audioOutputTokens ?? 0,
      };
    }
    if (r.tracer !== null) r.tracer.end(this.span, ctx, event, performance.timeOrigin + ctx.start + outcome.totalMs);
    if (r.trail === null) return;
    if (this.event !== null) r.trail.complete(event, this.segment);
    else r.trail.final(event);
  };

  private completeResponse(event: AuditEvent): void {
    const res = this.response;
    if (res === null) return;
    event.response_bytes = res.bytes;
    if (this.ctx.upstreamStart !== 0) event.response_sha256 = res.digest();
    if (res.kept !== null && res.kept.length > 0) {
      let capture = event.capture;
      if (capture === undefined || capture === null) {
        capture = {};
        event.capture = capture;
      }
      capture.response = this.r.opts.redact(Buffer.concat(res.kept).toString('utf8'));
      if (res.bytes > res.keptBytes) capture.truncated = true;
    }
  }
}
