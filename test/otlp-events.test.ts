/**
 * The audit writer's OTLP export (src/telemetry/otlp-events.ts) against the OpenTelemetry SDK it
 * replaced: the same records go through both, the SDK's spans and log records built as the writer
 * built them before (tracer with the request thread's ids, setOutcome, a logger per audit event) and
 * serialized by the SDK's own JSON serializers; the requests our export sends to a real receiver
 * must be the same, byte for byte. The one field that cannot match is a log record's
 * observedTimeUnixNano (the SDK read its clock per record); it is checked to be a time of the test.
 * Then the bounds: queue full (dropped, not encoded), a failed export, batching, shutdown.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { JsonLogsSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { logs, resources, tracing } from '@opentelemetry/sdk-node';
import t, { type Test } from 'tap';
import type { AuditRecord } from '../src/audit/event.js';
import type { OtelConfig } from '../src/config/schema.js';
import { setOutcome } from '../src/telemetry/otel.js';
import { createEventExport, type DropReason, genaiOperation, type OtelSignal } from '../src/telemetry/otlp-events.js';

interface Received {
  url: string;
  body: string;
  headers: IncomingMessage['headers'];
}

/** An OTLP/HTTP receiver on loopback that keeps each request as sent; `status`: what it answers. */
async function receiver(t: Test, status = 200): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ url: req.url!, body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '{}' : '{"error":"no"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got };
}

function config(endpoint: string, over: Partial<OtelConfig> = {}): OtelConfig {
  return { endpoint, serviceName: 'aos-gateway', headers: { 'x-api-key': 'k1' }, traces: true, logs: true, maxQueue: 4096, batchSize: 512, scheduledDelayMs: 20, exportTimeoutMs: 2000, ...over };
}

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const ZERO_SPAN = '0000000000000000';

/** An event as the gateway records a completed chat call; `over` varies it. */
function record(seq: number, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    agent_id: 'writer',
    capture: null,
    cost_usd: 0.00001935,
    decision: 'allow',
    error_code: null,
    findings: null,
    flags: null,
    id: `01a24eb9-fe5d-7296-a10a-4e3374fd${String(3790 + seq).padStart(4, '0')}`,
    input_tokens: 57,
    kind: 'model',
    max_tokens: 256,
    method: 'POST',
    model: 'gpt-4o-mini',
    operation: 'chat.completions',
    outcome: 'completed',
    output_tokens: 18,
    parent_span_id: null,
    path: '/v1/chat/completions',
    policy_revision: 'sha256:1e1a2f02ac8ac9f8',
    provider: 'openai',
    reasons: [],
    request_bytes: 120,
    request_sha256: null,
    response_bytes: 300,
    response_sha256: null,
    route: 'openai/chat.completions',
    span_id: `9c050b5cc1b958${String(10 + seq).padStart(2, '0')}`,
    status: 200,
    stream: false,
    team: 'content',
    template: 'standard',
    template_version: 4,
    time: `2026-12-07T04:19:0${seq % 10}.853Z`,
    tool: null,
    tool_args_sha256: null,
    tool_calls: null,
    tool_server: null,
    total_ms: 18.438965,
    trace_id: `200a4d1c719f80a69bd222ecb0b662${String(10 + seq).padStart(2, '0')}`,
    upstream_ms: 11.492,
    workflow_id: null,
    seq,
    prev_hash: `${String(seq - 1).padStart(2, '0')}${'a'.repeat(62)}`,
    hash: `${String(seq).padStart(2, '0')}${'b'.repeat(62)}`,
    ...over,
  };
}

/** Every shape of event the export has a branch for. */
const CASES: Partial<AuditRecord>[] = [
  {},
  { stream: true, parent_span_id: 'b7ad6b7169203331', trace_id: TRACE, workflow_id: 'wf-7' },
  // Denied by policy: reasons, 403, the error as status; no usage.
  {
    decision: 'deny',
    outcome: 'denied',
    status: 403,
    error_code: 'aos_policy_denied',
    reasons: ['model "o3" not allowed', 'budget'],
    model: 'o3',
    cost_usd: null,
    input_tokens: null,
    output_tokens: null,
    upstream_ms: null,
  },
  // Upstream 502 without a gateway error code: error.type is the status.
  { outcome: 'completed', status: 502, cost_usd: 0, input_tokens: null, output_tokens: null },
  // The client went away.
  { outcome: 'aborted', status: 499, error_code: 'client_aborted', total_ms: 20.424 },
  // A tool call through MCP: no model, execute_tool, tool calls and flags.
  { kind: 'tool', operation: 'tools/call', tool: 'search', model: null, max_tokens: null, cost_usd: null, tool_calls: ['search', 'fetch'], flags: ['redacted'], total_ms: 3 },
  // No operation, nothing matched.
  {
    operation: null,
    provider: null,
    route: null,
    model: null,
    agent_id: null,
    team: null,
    template: null,
    template_version: null,
    policy_revision: null,
    decision: 'deny',
    outcome: 'denied',
    status: 404,
    error_code: 'aos_route_not_found',
    reasons: ['aos_route_not_found'],
  },
  // Interrupted: no status, no total; an empty flags list.
  { outcome: 'interrupted', status: null, total_ms: null, upstream_ms: null, flags: [], cost_usd: 1.5e-7, max_tokens: 0 },
  // No span (tracing off then): a log record without trace context, no span.
  { trace_id: null, span_id: null, parent_span_id: null },
  // A trace id without a span id (no span either), and ids the SDK refused as a span context.
  { span_id: null },
  { parent_span_id: ZERO_SPAN, trace_id: TRACE },
  { span_id: ZERO_SPAN },
  // Text that needs escaping or is not ASCII, and numbers at the edges.
  {
    model: 'modèle-€-"quoted"\n',
    agent_id: 'agent-ü-☃',
    team: 'tëam',
    reasons: ['a\\b', '\u2028', 'lone \ud800'],
    workflow_id: 'wf-😀',
    input_tokens: 2 ** 40,
    cost_usd: 0.1 + 0.2,
    upstream_ms: 1e-7,
    total_ms: 0.0000001,
  },
  { time: '2026-12-07T04:19:09.999Z', total_ms: 0.0009999, template_version: 1 },
  { total_ms: -5 },
  { operation: 'embeddings', model: 'text-embedding-3-small', status: 500, error_code: null },
  { operation: 'messages.count_tokens', provider: 'anthropic', route: 'anthropic/messages.count_tokens', model: 'claude-sonnet-4' },
  { operation: 'a2a', model: null, tool: null, kind: 'http' },
];

/** Canonical JSON of an event as the writer received it (the body of its log record). */
function bodyOf(r: AuditRecord): string {
  const { seq: _s, prev_hash: _p, hash: _h, ...event } = r;
  return JSON.stringify(Object.fromEntries(Object.entries(event).sort(([a], [b]) => (a < b ? -1 : 1))));
}

/**
 * The requests the SDK made of the same records, as the writer built its spans and log records
 * before (createEventSpans, createAuditLogSink), serialized by the SDK's JSON serializers.
 */
function sdkRequests(records: AuditRecord[], bodies: string[], version?: string): { traces: string; logs: string } {
  const resource = resources.resourceFromAttributes({ 'service.name': 'aos-gateway', 'service.version': version ?? '0.0.0' });
  const spans: tracing.ReadableSpan[] = [];
  const ids = { traceId: '', spanId: '' };
  const provider = new tracing.BasicTracerProvider({
    resource,
    idGenerator: { generateTraceId: () => ids.traceId, generateSpanId: () => ids.spanId },
    spanProcessors: [{ onStart: () => {}, onEnd: (s) => spans.push(s), forceFlush: async () => {}, shutdown: async () => {} }],
  });
  const tracer = provider.getTracer('aos-gateway', version);
  for (const r of records) {
    if (r.trace_id === null || r.span_id === null) continue;
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
  const records_: logs.SdkLogRecord[] = [];
  const logger = new logs.LoggerProvider({ resource, processors: [{ onEmit: (l) => records_.push(l), forceFlush: async () => {}, shutdown: async () => {} }] }).getLogger('aos-gateway.audit', version);
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
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
  const text = (b: Uint8Array | undefined) => Buffer.from(b!).toString('utf8');
  return { traces: text(JsonTraceSerializer.serializeRequest(spans)), logs: text(JsonLogsSerializer.serializeRequest(records_)) };
}

const OBSERVED = /"observedTimeUnixNano":"(\d+)"/g;

async function until(what: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const version of [undefined, '1.2.3']) {
  t.test(`the same requests as the SDK, byte for byte (version ${version ?? 'unset'})`, async (t) => {
    const rx = await receiver(t);
    const records = CASES.map((over, i) => record(i + 1, over));
    const bodies = records.map(bodyOf);
    const before = Date.now();
    const sdk = sdkRequests(records, bodies, version);
    const drops: string[] = [];
    const ex = createEventExport(config(rx.url), { version, onDrop: (s, r, n) => drops.push(`${s}/${r}/${n}`) })!;
    ex.emit(records.slice(0, 5), bodies.slice(0, 5));
    ex.emit(records.slice(5), bodies.slice(5));
    await ex.shutdown();
    const after = Date.now();
    t.same(drops, []);

    const traces = rx.got.filter((g) => g.url === '/v1/traces');
    t.equal(traces.length, 1, 'one request: fewer records than a batch');
    t.equal(traces[0].body, sdk.traces, 'spans: the same bytes');
    const spans = JSON.parse(traces[0].body).resourceSpans[0].scopeSpans[0].spans as { spanId: string; parentSpanId?: string; flags: number }[];
    t.equal(spans.length, records.filter((r) => r.trace_id !== null && r.span_id !== null).length, 'a span for each event with span ids');
    t.match(
      spans.find((s) => s.parentSpanId === 'b7ad6b7169203331'),
      { flags: 0x301 },
      'a remote parent',
    );
    t.notOk(
      spans.some((s) => s.parentSpanId === ZERO_SPAN),
      'an invalid parent span id is no parent (as the SDK decided)',
    );

    const logReq = rx.got.filter((g) => g.url === '/v1/logs');
    t.equal(logReq.length, 1);
    // observedTimeUnixNano: when the SDK, or the export, was handed the record.
    for (const body of [logReq[0].body, sdk.logs]) {
      const observed = [...body.matchAll(OBSERVED)].map((m) => Number(BigInt(m[1]) / 1_000_000n));
      t.equal(observed.length, records.length, 'a log record per event');
      t.ok(
        observed.every((ms) => ms >= before && ms <= after),
        'observed during the test',
      );
    }
    const unobserved = (body: string) => body.replace(OBSERVED, '"observedTimeUnixNano":"0"');
    t.equal(unobserved(logReq[0].body), unobserved(sdk.logs), 'log records: the same bytes but observedTimeUnixNano');
    // The parsed form too, for a readable diff should the bytes ever differ.
    t.same(JSON.parse(unobserved(logReq[0].body)), JSON.parse(unobserved(sdk.logs)));
    t.match(traces[0].headers, { 'content-type': 'application/json', 'x-api-key': 'k1', 'user-agent': /^OTel-OTLP-Exporter-JavaScript\// }, 'the SDK transport and its headers');
  });
}

t.test('a full queue drops and counts, without encoding the records it drops', async (t) => {
  const rx = await receiver(t);
  const drops: string[] = [];
  const ex = createEventExport(config(rx.url, { maxQueue: 3, batchSize: 100, scheduledDelayMs: 1000 }), { onDrop: (s, r, n) => drops.push(`${s}/${r}/${n}`) })!;
  const plain = [1, 2, 3, 4, 5, 6, 7].map((i) => record(i));
  const bodies = plain.map(bodyOf);
  // Past the third, every property read is recorded: a dropped record may be read for whether it has a span, no more.
  const read = new Set<string>();
  const records = plain.map((r, i) =>
    i < 3
      ? r
      : new Proxy(r, {
          get(target, key) {
            read.add(String(key));
            return target[key as keyof AuditRecord];
          },
        }),
  );
  ex.emit(records, bodies);
  t.same(drops, ['spans/queue_full/4', 'logs/queue_full/4']);
  t.same([...read].sort(), ['span_id', 'trace_id'], 'dropped records were not encoded');
  await ex.shutdown();
  const count = (url: string, key: string) =>
    rx.got.filter((g) => g.url === url).reduce((n, g) => n + JSON.parse(g.body)[key][0][url === '/v1/traces' ? 'scopeSpans' : 'scopeLogs'][0][url === '/v1/traces' ? 'spans' : 'logRecords'].length, 0);
  t.equal(count('/v1/traces', 'resourceSpans'), 3, 'the queued spans were exported at shutdown');
  t.equal(count('/v1/logs', 'resourceLogs'), 3);
});

t.test('with every queue full the writer refuses events unparsed: the same drops as emit', async (t) => {
  const rx = await receiver(t);
  const run = (refuse: boolean) => {
    const drops: string[] = [];
    const ex = createEventExport(config(rx.url, { maxQueue: 2, batchSize: 100, scheduledDelayMs: 1000 }), { onDrop: (s, r, n) => drops.push(`${s}/${r}/${n}`) })!;
    t.ok(ex.room(), 'room while the queues are empty');
    const first = [1, 2].map((i) => record(i));
    ex.emit(first, first.map(bodyOf));
    t.notOk(ex.room(), 'none once both are full');
    // Events without a span (no trace or span id) count for logs only.
    const rest = [record(3), record(4, { span_id: null }), record(5, { trace_id: null, span_id: null }), record(6)];
    if (refuse) ex.refuse(rest.map(bodyOf));
    else ex.emit(rest, rest.map(bodyOf));
    return { ex, drops };
  };
  const refused = run(true);
  const emitted = run(false);
  t.same(refused.drops, ['spans/queue_full/2', 'logs/queue_full/4']);
  t.same(refused.drops, emitted.drops, 'as emit counts them');
  await refused.ex.shutdown();
  await emitted.ex.shutdown();
  t.notOk(refused.ex.room(), 'no room once shut down');
  refused.ex.refuse([bodyOf(record(7))]);
  t.equal(refused.drops.length, 2, 'nothing counted after shutdown');
  const logsOnly: string[] = [];
  const ex = createEventExport(config(rx.url, { traces: false, maxQueue: 1, batchSize: 100, scheduledDelayMs: 1000 }), { onDrop: (s, r, n) => logsOnly.push(`${s}/${r}/${n}`) })!;
  ex.emit([record(1)], [bodyOf(record(1))]);
  t.notOk(ex.room(), 'traces off: the logs queue alone decides');
  ex.refuse([bodyOf(record(2))]);
  t.same(logsOnly, ['logs/queue_full/1']);
  await ex.shutdown();
});

t.test('an export the collector refuses (500) counts its records as export_failed', async (t) => {
  const rx = await receiver(t, 500);
  const drops: string[] = [];
  const onDrop = (signal: OtelSignal, reason: DropReason, n: number) => drops.push(`${signal}/${reason}/${n}`);
  const ex = createEventExport(config(rx.url, { batchSize: 4 }), { onDrop })!;
  const records = [1, 2, 3, 4, 5, 6].map((i) => record(i));
  ex.emit(records, records.map(bodyOf));
  await until(() => drops.length === 4);
  t.same(
    drops.sort(),
    ['logs/export_failed/2', 'logs/export_failed/4', 'spans/export_failed/2', 'spans/export_failed/4'],
    'a full batch at once, the rest after the delay; each failed once (500 is not retried)',
  );
  t.equal(rx.got.length, 4);
  await ex.shutdown();
});

t.test('batches: a full one goes at once, a partial one after scheduledDelayMs, one export at a time', async (t) => {
  const rx = await receiver(t);
  const ex = createEventExport(config(rx.url, { logs: false, batchSize: 3, scheduledDelayMs: 300 }), { onDrop: () => t.fail('nothing dropped') })!;
  const records = [1, 2, 3, 4].map((i) => record(i));
  const start = Date.now();
  ex.emit(records, records.map(bodyOf));
  await until(() => rx.got.length === 1);
  t.ok(Date.now() - start < 250, 'the full batch did not wait for the delay');
  t.equal(JSON.parse(rx.got[0].body).resourceSpans[0].scopeSpans[0].spans.length, 3);
  await until(() => rx.got.length === 2);
  t.ok(Date.now() - start >= 290, 'the partial one did');
  t.equal(JSON.parse(rx.got[1].body).resourceSpans[0].scopeSpans[0].spans.length, 1);
  t.ok(
    rx.got.every((g) => g.url === '/v1/traces'),
    'logs off: no log requests',
  );
  await ex.shutdown();
});

t.test('shutdown exports everything queued at once, in batches, and stops', async (t) => {
  const rx = await receiver(t);
  const ex = createEventExport(config(rx.url, { batchSize: 2, scheduledDelayMs: 1000, maxQueue: 100 }), { onDrop: () => t.fail('nothing dropped') })!;
  const records = [1, 2, 3, 4, 5].map((i) => record(i));
  ex.emit(records, records.map(bodyOf));
  const start = Date.now();
  await ex.shutdown();
  t.ok(Date.now() - start < 900, 'without waiting for the scheduled delay');
  const spans = rx.got.filter((g) => g.url === '/v1/traces').flatMap((g) => JSON.parse(g.body).resourceSpans[0].scopeSpans[0].spans as { spanId: string }[]);
  t.same(spans.map((s) => s.spanId).sort(), records.map((r) => r.span_id).sort(), 'every span, once');
  t.equal(rx.got.filter((g) => g.url === '/v1/logs').length, 3, 'log records in batches of 2');
  const n = rx.got.length;
  ex.emit(records, records.map(bodyOf));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(rx.got.length, n, 'nothing after shutdown');
});

t.test('a collector that never answers: shutdown is bounded by the export timeout', async (t) => {
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    req.resume();
    held.push(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const h of held) h.destroy();
    server.closeAllConnections();
    server.close();
  });
  const drops: string[] = [];
  const ex = createEventExport(config(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { exportTimeoutMs: 300 }), { onDrop: (s, r, n) => drops.push(`${s}/${r}/${n}`) })!;
  ex.emit([record(1)], [bodyOf(record(1))]);
  const start = Date.now();
  await ex.shutdown();
  t.ok(Date.now() - start < 2500, `shutdown took ${Date.now() - start} ms`);
  t.same(drops.sort(), ['logs/export_failed/1', 'spans/export_failed/1']);
});

t.test('no endpoint, or neither signal: no export', async (t) => {
  t.equal(createEventExport(config('http://127.0.0.1:1', { traces: false, logs: false }), { onDrop: () => {} }), null);
  t.equal(createEventExport({ ...config('x'), endpoint: undefined }, { onDrop: () => {} }), null);
});
