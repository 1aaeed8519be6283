/**
 * OTLP/HTTP (JSON) export of committed audit events, on the audit writer thread: a span per call
 * (with the ids the request thread sent upstream) and the event as a log record. The OTLP JSON is
 * written directly from the records into the request buffer of the next export: no SDK span, log
 * record or attribute object per event, and no serialization of an object tree. Through the SDK
 * both cost some 45 µs of CPU per event; here under half that, most of it escaping the event's JSON
 * for the log record's body and the HTTP send.
 *
 * The output is what the SDK produced from the same events, field for field and in the SDK's key
 * order (test/otlp-events.test.ts serializes both and compares them): the span of `setOutcome` in
 * otel.ts (the request-thread tracer, which keeps the SDK), the log record of an `aos.audit` event.
 * What the SDK read from the environment and no longer applies here: OTEL_TRACES_SAMPLER (every
 * event's span is exported, as it was by default: its ids were already sent upstream) and the
 * OTEL_*ATTRIBUTE* limits (the defaults, 128 attributes and no length limit, never cut these). The
 * transport is the SDK's (retries, timeout, OTEL_EXPORTER_OTLP_* fallbacks).
 *
 * Bounds as before: at most `maxQueue` records per signal wait for export; beyond it a record is
 * dropped (and not encoded) and counted `queue_full`; an export that fails counts its records
 * `export_failed`. A batch goes when `batchSize` are waiting or `scheduledDelayMs` after the first,
 * one export at a time per signal (an export that has not answered within `exportTimeoutMs` no
 * longer holds the next one back, as in the SDK's batch processors).
 */
import { isValidSpanId, isValidTraceId } from '@opentelemetry/api';
import type { IOtlpExportDelegate } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import type { AuditRecord } from '../audit/event.js';
import type { OtelConfig } from '../config/schema.js';

export type OtelSignal = 'spans' | 'logs';
export type DropReason = 'queue_full' | 'export_failed';

export interface EventExport {
  /** Committed events (`records`) and their canonical JSON (`bodies[i]` of `records[i]`): a span and a log record each. */
  emit(records: readonly AuditRecord[], bodies: readonly string[]): void;
  /** Whether a signal's queue has room for another record: when neither has, `refuse` the bodies instead of parsing them for `emit`. */
  room(): boolean;
  /** Counts the events of `bodies` as dropped (`queue_full`), as `emit` would with every queue full, without reading more of them than whether they carry a span. */
  refuse(bodies: readonly string[]): void;
  /** Exports what is queued (bounded by the export timeout) and stops: later events are not exported. */
  shutdown(): Promise<void>;
}

export interface EventExportOptions {
  onDrop(signal: OtelSignal, reason: DropReason, n: number): void;
  /** `service.version` (default 0.0.0) and the instrumentation scope's version (default none). */
  version?: string;
  /** The clock of `observedTimeUnixNano` (epoch ms). */
  now?: () => number;
}

/** gen_ai.operation.name for the gateway's operations (GenAI semantic conventions). */
const GENAI_OPERATION: Record<string, string> = {
  'chat.completions': 'chat',
  responses: 'chat',
  messages: 'chat',
  'messages.count_tokens': 'count_tokens',
  completions: 'text_completion',
  embeddings: 'embeddings',
};

/** gen_ai.operation.name of an event's operation. */
export function genaiOperation(operation: string | null, tool: string | null): string {
  return (operation === null ? undefined : GENAI_OPERATION[operation]) ?? (tool !== null ? 'execute_tool' : (operation ?? 'request'));
}

export function createEventExport(config: OtelConfig, opts: EventExportOptions): EventExport | null {
  if (config.endpoint === undefined || (!config.traces && !config.logs)) return null;
  const base = config.endpoint.replace(/\/+$/, '');
  const version = opts.version;
  const now = opts.now ?? Date.now;
  const resource = `{"attributes":[${attribute('service.name', true).s}${JSON.stringify(config.serviceName)}${attribute('service.version').s}${JSON.stringify(version ?? '0.0.0')}}}],"droppedAttributesCount":0}`;
  const scope = (name: string) => `{"name":${JSON.stringify(name)}${version === undefined ? '' : `,"version":${JSON.stringify(version)}`}}`;
  const spans = config.traces
    ? new Channel('spans', config, opts.onDrop, `${base}/v1/traces`, `{"resourceSpans":[{"resource":${resource},"scopeSpans":[{"scope":${scope('aos-gateway')},"spans":[`, ']}]}]}')
    : null;
  const logs = config.logs
    ? new Channel('logs', config, opts.onDrop, `${base}/v1/logs`, `{"resourceLogs":[{"resource":${resource},"scopeLogs":[{"scope":${scope('aos-gateway.audit')},"logRecords":[`, ']}]}]}')
    : null;
  let stopped = false;
  return {
    emit(records, bodies) {
      if (stopped) return;
      // When the export was handed them (the SDK read its clock per record; these are the same ms).
      const heads = logs === null ? null : logHeads(nanos(now()));
      let spansFull = 0;
      let logsFull = 0;
      for (let i = 0; i < records.length; i++) {
        const r = records[i];
        let toSpans = spans;
        // Events of calls without a span (traces were off, or the call was refused before tracing) have none now.
        if (r.trace_id === null || r.span_id === null) toSpans = null;
        else if (toSpans?.full()) {
          spansFull += 1;
          toSpans = null;
        }
        let toLogs = logs;
        if (toLogs?.full()) {
          logsFull += 1;
          toLogs = null;
        }
        if (toSpans === null && toLogs === null) continue;
        const startMs = Date.parse(r.time);
        const start = nanos(startMs);
        // The ids the SDK took as a valid span context (they are then hex, and written without escaping).
        const traceValid = r.trace_id !== null && isValidTraceId(r.trace_id);
        const spanValid = r.span_id !== null && isValidSpanId(r.span_id);
        if (toSpans !== null) {
          toSpans.record().write(spanOf(r, startMs, start, traceValid, spanValid));
          toSpans.added();
        }
        if (toLogs !== null) {
          writeLogRecord(toLogs.record(), r, bodies[i], start, heads!, traceValid && spanValid);
          toLogs.added();
        }
      }
      if (spansFull > 0) opts.onDrop('spans', 'queue_full', spansFull);
      if (logsFull > 0) opts.onDrop('logs', 'queue_full', logsFull);
    },
    room: () => !stopped && ((spans !== null && !spans.full()) || (logs !== null && !logs.full())),
    refuse(bodies) {
      if (stopped) return;
      let spanned = 0;
      if (spans !== null) for (const b of bodies) if (hasId(b, '"trace_id":') && hasId(b, '"span_id":')) spanned += 1;
      if (spanned > 0) opts.onDrop('spans', 'queue_full', spanned);
      if (logs !== null && bodies.length > 0) opts.onDrop('logs', 'queue_full', bodies.length);
    },
    async shutdown() {
      stopped = true;
      await Promise.allSettled([spans?.shutdown(), logs?.shutdown()]);
    },
  };
}

/**
 * Whether an event's canonical JSON has a non-null value for `key` (`"span_id":`): a span is made of
 * an event with both ids, as `emit` tests them. Only top-level keys hold these names, and in sorted
 * order they come near the end: searched from there.
 */
function hasId(body: string, key: string): boolean {
  const at = body.lastIndexOf(key);
  return at >= 0 && !body.startsWith('null', at + key.length);
}

/** ExportResultCode.SUCCESS (@opentelemetry/core). */
const SUCCESS = 0;
const COMMA = 0x2c;

/**
 * An export request being written: the envelope's head, then records separated by commas; sealed
 * with the envelope's tail. UTF-8 in a buffer from the start: the records wait off the JS heap,
 * and the request is sent as written (no joining, no encoding at export).
 */
class Batch {
  private buf: Buffer;
  private at: number;
  count = 0;
  /** A record was started and nothing of it written yet: the comma before it is due. */
  private comma = false;
  constructor(capacity: number, head: string) {
    this.buf = Buffer.allocUnsafe(Math.max(capacity, head.length * 3));
    this.at = this.buf.write(head, 0);
  }

  /** Starts the next record. */
  next(): this {
    this.comma = this.count > 0;
    this.count += 1;
    return this;
  }

  /** Appends a string's UTF-8. */
  write(s: string): void {
    const n = Buffer.byteLength(s);
    if (this.buf.length - this.at <= n) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n + 1));
      this.buf.copy(grown, 0, 0, this.at);
      this.buf = grown;
    }
    if (this.comma) {
      this.buf[this.at++] = COMMA;
      this.comma = false;
    }
    // ASCII (as a byte a character) is copied as Latin-1: a copy, where the UTF-8 encoder reads a
    // concatenated string character by character (twice the time).
    this.at += n === s.length ? this.buf.write(s, this.at, 'latin1') : this.buf.write(s, this.at);
  }

  /** The request: the envelope closed. */
  seal(tail: string): Buffer {
    this.write(tail);
    return this.buf.subarray(0, this.at);
  }
}

/** A sealed batch, as the export delegate takes it. */
interface Request {
  body: Buffer;
  count: number;
}

/** One signal's batches and their exports (the SDK's batch processor, without the SDK objects). */
class Channel {
  /** Sealed batches waiting for export, oldest first. */
  private sealed: Request[] = [];
  /** The batch being written. */
  private open: Batch | null = null;
  /** Records in `sealed` and `open`. */
  private waiting = 0;
  /** The size of the last request: the next one starts that large. */
  private capacity = 64 * 1024;
  private timer: NodeJS.Timeout | undefined = undefined;
  private exporting = false;
  private closed = false;
  private readonly delegate: IOtlpExportDelegate<Request>;
  constructor(
    private readonly signal: OtelSignal,
    private readonly config: OtelConfig,
    private readonly onDrop: EventExportOptions['onDrop'],
    url: string,
    private readonly head: string,
    private readonly tail: string,
  ) {
    const traces = signal === 'spans';
    // As OTLPTraceExporter and OTLPLogExporter (exporter-*-otlp-http, platform/node) build theirs.
    this.delegate = createOtlpHttpExportDelegate(
      convertLegacyHttpOptions({ url, headers: config.headers, timeoutMillis: config.exportTimeoutMs }, traces ? 'TRACES' : 'LOGS', traces ? 'v1/traces' : 'v1/logs', {
        'Content-Type': 'application/json',
      }),
      {
        serializeRequest: (request: Request) => request.body,
        // As the SDK's JSON serializers: the response matters only for a partial success (logged).
        deserializeResponse: (data: Uint8Array): unknown => {
          if (data.length === 0) return {};
          try {
            return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
          } catch {
            return {};
          }
        },
      },
      traces ? 'otlp_http_span_exporter' : 'otlp_http_log_exporter',
      { name: traces ? 'span' : 'log', countItems: (request: Request) => request.count },
      undefined,
    );
  }

  /** Whether `maxQueue` records wait (another is then dropped, and not encoded). */
  full(): boolean {
    return this.waiting >= this.config.maxQueue;
  }

  /** Starts a record: the batch to write it into (then call `added`). */
  record(): Batch {
    this.open ??= new Batch(this.capacity, this.head);
    return this.open.next();
  }

  /** The record is written: seals a full batch, exports or schedules. */
  added(): void {
    this.waiting += 1;
    if (this.open!.count >= this.config.batchSize) this.seal();
    if (this.exporting) return;
    if (this.sealed.length > 0) void this.export();
    else if (this.timer === undefined) this.timer = setTimeout(() => void this.export(), this.config.scheduledDelayMs).unref();
  }

  private seal(): void {
    const body = this.open!.seal(this.tail);
    this.sealed.push({ body, count: this.open!.count });
    this.capacity = body.length + 1024;
    this.open = null;
  }

  /** Sends the oldest batch; resolves when it is answered or the export timeout has passed. */
  private export(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sealed.length === 0 && this.open !== null) this.seal();
    const request = this.sealed.shift();
    if (request === undefined) return Promise.resolve();
    this.waiting -= request.count;
    this.exporting = true;
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(guard);
        this.exporting = false;
        if (!this.closed) {
          if (this.sealed.length > 0) void this.export();
          else if (this.open !== null) this.timer = setTimeout(() => void this.export(), this.config.scheduledDelayMs).unref();
        }
        resolve();
      };
      const guard = setTimeout(finish, this.config.exportTimeoutMs).unref();
      this.delegate.export(request, (result) => {
        if (result.code !== SUCCESS) this.onDrop(this.signal, 'export_failed', request.count);
        finish();
      });
    });
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const exports: Promise<void>[] = [];
    while (this.sealed.length > 0 || this.open !== null) exports.push(this.export());
    await Promise.all(exports);
    await this.delegate.shutdown();
  }
}

// ---- encoding ----------------------------------------------------------------------------------
// OTLP JSON as the SDK's JsonTraceSerializer and JsonLogsSerializer write it (otlp-transformer:
// common/internal.js toAnyValue, trace/internal.js sdkSpanToOtlpSpan, logs/internal.js toLogRecord):
// a number is `intValue` when Number.isInteger, else `doubleValue`, both as JSON numbers; ids as hex;
// times as nanosecond strings; fields the SDK leaves undefined are absent.
//
// Cost is per piece: each concatenated string is a node of a rope that the write into the batch
// flattens (some 30 ns each, far more than copying its bytes). So the pieces are few and large:
// an attribute is one piece of text before its value (which also closes the attribute before it),
// and the values of fields with few distinct values are cached whole.

/** The text before an attribute's value, by the value's type: `}},{"key":<key>,"value":{"stringValue":` and so on. */
interface Attribute {
  s: string;
  i: string;
  d: string;
  /** The whole attribute (but its closing `}}`) for true and false. */
  true: string;
  false: string;
  a: string;
  /** Whole attributes (but their closing `}}`) by string value, for the fields with few distinct values. */
  known: Map<string, string>;
}

/** `first`: the first of a list (nothing to close before it). */
function attribute(key: string, first = false): Attribute {
  const p = `${first ? '' : '}},'}{"key":${JSON.stringify(key)},"value":{`;
  return {
    s: flat(`${p}"stringValue":`),
    i: flat(`${p}"intValue":`),
    d: flat(`${p}"doubleValue":`),
    true: flat(`${p}"boolValue":true`),
    false: flat(`${p}"boolValue":false`),
    a: flat(`${p}"arrayValue":{"values":[`),
    known: new Map(),
  };
}

/** A flat copy of a string built by concatenation, for the pieces reused many times. */
function flat(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}

/** A string attribute of a field with few values (an operation, a route, a model): encoded once per value (up to 256 per field). */
function known(k: Attribute, v: string): string {
  let a = k.known.get(v);
  if (a === undefined) {
    a = flat(`${k.s}${JSON.stringify(v)}`);
    if (k.known.size < 256) k.known.set(v, a);
  }
  return a;
}

/** A number attribute: non-finite numbers are null, as JSON.stringify writes them. */
function num(k: Attribute, v: number): string {
  return `${Number.isInteger(v) ? k.i : k.d}${Number.isFinite(v) ? v : 'null'}`;
}

function strs(k: Attribute, v: readonly string[]): string {
  let a = k.a;
  for (let i = 0; i < v.length; i++) a += `${i === 0 ? '{"stringValue":' : '},{"stringValue":'}${JSON.stringify(v[i])}`;
  return `${a}${v.length === 0 ? ']}' : '}]}'}`;
}

const A = {
  operation: attribute('gen_ai.operation.name', true),
  provider: attribute('gen_ai.provider.name'),
  requestId: attribute('aos.request_id'),
  route: attribute('aos.route'),
  decision: attribute('aos.decision'),
  outcome: attribute('aos.outcome'),
  stream: attribute('aos.stream'),
  model: attribute('gen_ai.request.model'),
  maxTokens: attribute('gen_ai.request.max_tokens'),
  agent: attribute('aos.agent.id'),
  team: attribute('aos.team'),
  template: attribute('aos.template'),
  templateVersion: attribute('aos.template_version'),
  policyRevision: attribute('aos.policy.revision'),
  reasons: attribute('aos.reasons'),
  workflow: attribute('aos.workflow_id'),
  tool: attribute('gen_ai.tool.name'),
  inputTokens: attribute('gen_ai.usage.input_tokens'),
  outputTokens: attribute('gen_ai.usage.output_tokens'),
  cost: attribute('aos.cost_usd'),
  flags: attribute('aos.flags'),
  toolCalls: attribute('aos.tool_calls'),
  status: attribute('http.response.status_code'),
  upstreamMs: attribute('aos.upstream_ms'),
  errorType: attribute('error.type'),
  auditId: attribute('aos.audit.id', true),
  auditSeq: attribute('aos.audit.seq'),
  auditHash: attribute('aos.audit.hash'),
  auditPrevHash: attribute('aos.audit.prev_hash'),
  auditDecision: attribute('aos.audit.decision'),
  auditOutcome: attribute('aos.audit.outcome'),
  auditAgent: attribute('aos.audit.agent_id'),
  auditTeam: attribute('aos.audit.team'),
  auditRoute: attribute('aos.audit.route'),
  auditStatus: attribute('aos.audit.status'),
  auditWorkflow: attribute('aos.audit.workflow_id'),
};

/**
 * Epoch ms as OTLP nanoseconds, rounded as the SDK does (core's millisToHrTime: whole seconds, then
 * the rest rounded to the nanosecond; otlp-transformer's hrTimeToNanos).
 */
function nanos(ms: number): string {
  if (!Number.isFinite(ms)) return '0';
  let s = Math.trunc(ms / 1000);
  let ns = Math.round((ms % 1000) * 1e6);
  if (s <= 0 || ns < 0) return String(BigInt(s) * 1_000_000_000n + BigInt(ns));
  if (ns >= 1e9) {
    s += 1;
    ns -= 1e9;
  }
  return `${s}${String(ns).padStart(9, '0')}`;
}

/** `","name":<name>,"kind":3,"startTimeUnixNano":"` by operation and model (up to 256 of each). */
const NAMES = new Map<string, Map<string | null, string>>();

function nameOf(op: string, model: string | null): string {
  const byModel = NAMES.get(op);
  let name = byModel?.get(model);
  if (name !== undefined) return name;
  name = flat(`","name":${JSON.stringify(model === null ? op : `${op} ${model}`)},"kind":3,"startTimeUnixNano":"`);
  if (byModel === undefined) {
    if (NAMES.size < 256) NAMES.set(op, new Map([[model, name]]));
  } else if (byModel.size < 256) byModel.set(model, name);
  return name;
}

/**
 * The end of a span: its status, then its flags: sampled (every event's span is) and the W3C
 * is-remote bits of its parent: 257 (0x101, known: not remote) for a root, 769 (0x301) under the
 * agent's span.
 */
const SPAN_TAIL = '}}],"droppedAttributesCount":0,"events":[],"droppedEventsCount":0,"status":';
const STATUS_UNSET = '{"code":0},"links":[],"droppedLinksCount":0,"flags":';

/**
 * The span of a call: the start attributes as the request-thread tracer sets them, then
 * setOutcome's, in the same order (otel.ts). Kind CLIENT; from the event's time to after its total_ms.
 */
function spanOf(r: AuditRecord, startMs: number, start: string, traceValid: boolean, spanValid: boolean): string {
  const op = genaiOperation(r.operation, r.tool);
  // The SDK made a remote parent of a valid parent span context; otherwise the span is a root of the trace.
  const parent = traceValid && r.parent_span_id !== null && isValidSpanId(r.parent_span_id) ? r.parent_span_id : null;
  const endMs = startMs + (r.total_ms ?? 0);
  let s = traceValid ? `{"traceId":"${r.trace_id}` : `{"traceId":${JSON.stringify(r.trace_id).slice(0, -1)}`;
  s += spanValid ? `","spanId":"${r.span_id}` : `","spanId":${JSON.stringify(r.span_id).slice(0, -1)}`;
  if (parent !== null) s += `","parentSpanId":"${parent}`;
  s += `${nameOf(op, r.model)}${start}","endTimeUnixNano":"${endMs < startMs ? start : nanos(endMs)}","attributes":[`;
  s += `${known(A.operation, op)}${known(A.provider, r.provider ?? 'none')}${A.requestId.s}${JSON.stringify(r.id)}${known(A.route, r.route ?? 'unmatched')}`;
  s += `${known(A.decision, r.decision)}${known(A.outcome, r.outcome)}${r.stream ? A.stream.true : A.stream.false}`;
  if (r.model !== null) s += known(A.model, r.model);
  if (r.max_tokens !== null) s += num(A.maxTokens, r.max_tokens);
  if (r.agent_id !== null) s += `${A.agent.s}${JSON.stringify(r.agent_id)}`;
  if (r.team !== null) s += known(A.team, r.team);
  if (r.template !== null) s += known(A.template, r.template);
  if (r.template_version !== null) s += num(A.templateVersion, r.template_version);
  if (r.policy_revision !== null) s += known(A.policyRevision, r.policy_revision);
  if (r.reasons.length > 0) s += strs(A.reasons, r.reasons);
  if (r.workflow_id !== null) s += `${A.workflow.s}${JSON.stringify(r.workflow_id)}`;
  if (r.tool !== null) s += known(A.tool, r.tool);
  if (r.input_tokens !== null) s += num(A.inputTokens, r.input_tokens);
  if (r.output_tokens !== null) s += num(A.outputTokens, r.output_tokens);
  if (r.cost_usd !== null) s += num(A.cost, r.cost_usd);
  if (r.flags !== null) s += strs(A.flags, r.flags);
  if (r.tool_calls !== null) s += strs(A.toolCalls, r.tool_calls);
  if (r.status !== null) s += num(A.status, r.status);
  if (r.upstream_ms !== null) s += num(A.upstreamMs, r.upstream_ms);
  let status = STATUS_UNSET;
  if (r.error_code !== null) {
    s += known(A.errorType, r.error_code);
    status = `{"code":2,"message":${JSON.stringify(r.error_code)}},"links":[],"droppedLinksCount":0,"flags":`;
  } else if (r.status !== null && r.status >= 500) {
    s += known(A.errorType, String(r.status));
    status = '{"code":2},"links":[],"droppedLinksCount":0,"flags":';
  }
  return `${s}${SPAN_TAIL}${status}${parent === null ? '257}' : '769}'}`;
}

/** The start of a log record after its time, to its body, by severity (for the `observed` time of a batch of events). */
interface LogHeads {
  info: string;
  warn: string;
}

function logHeads(observed: string): LogHeads {
  const head = (severity: string) => flat(`","observedTimeUnixNano":"${observed}",${severity},"body":{"stringValue":`);
  return { info: head('"severityNumber":9,"severityText":"INFO"'), warn: head('"severityNumber":13,"severityText":"WARN"') };
}

/**
 * The log record of an event: the whole event as the body (its canonical JSON, as hashed); the
 * attributes are what a collector routes and indexes on, plus the chain links so a SIEM can check
 * them. `traced`: the trace context is valid (the SDK took it then only, as sampled: flags 1).
 */
function writeLogRecord(b: Batch, r: AuditRecord, body: string, time: string, heads: LogHeads, traced: boolean): void {
  const warn = r.decision === 'deny' || r.outcome !== 'completed';
  b.write(`{"timeUnixNano":"${time}${warn ? heads.warn : heads.info}`);
  // Written apart: the escaped body is most of the record, and a concatenation would copy it once more.
  b.write(JSON.stringify(body));
  let s = `},"eventName":"aos.audit","attributes":[${A.auditId.s}${JSON.stringify(r.id)}${num(A.auditSeq, r.seq)}${A.auditHash.s}${JSON.stringify(r.hash)}`;
  s += `${A.auditPrevHash.s}${JSON.stringify(r.prev_hash)}${known(A.auditDecision, r.decision)}${known(A.auditOutcome, r.outcome)}`;
  if (r.agent_id !== null) s += `${A.auditAgent.s}${JSON.stringify(r.agent_id)}`;
  if (r.team !== null) s += known(A.auditTeam, r.team);
  if (r.route !== null) s += known(A.auditRoute, r.route);
  if (r.status !== null) s += num(A.auditStatus, r.status);
  if (r.workflow_id !== null) s += `${A.auditWorkflow.s}${JSON.stringify(r.workflow_id)}`;
  b.write(traced ? `${s}}}],"droppedAttributesCount":0,"flags":1,"traceId":"${r.trace_id}","spanId":"${r.span_id}"}` : `${s}}}],"droppedAttributesCount":0}`);
}
