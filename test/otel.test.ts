/** OpenTelemetry export to a real OTLP/HTTP (JSON) receiver on loopback: spans, log records, propagation, a down or slow collector. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { parsePrometheus } from './audit-events.js';
import { type Harness, refusedPort, startHarness } from './helpers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
templates:
  standard: { version: 4, providers: [openai], models: ["gpt-4o*"] }
agents:
  - { id: writer, team: content, template: standard }
`;

type Attrs = Record<string, unknown>;
interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status?: { code?: number };
  attributes: Attrs;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
}
interface LogRecord {
  traceId?: string;
  spanId?: string;
  eventName?: string;
  severityText?: string;
  body?: { stringValue?: string };
  attributes: Attrs;
}

/** An OTLP JSON key/value list, as sent. */
type OtlpAttrs = { key: string; value: Record<string, unknown> }[];
/** The parts of an OTLP/HTTP JSON payload the receiver reads. */
interface OtlpPayload {
  resourceSpans?: { resource?: { attributes?: OtlpAttrs }; scopeSpans?: { spans?: (Omit<Span, 'attributes'> & { attributes?: OtlpAttrs })[] }[] }[];
  resourceLogs?: { scopeLogs?: { logRecords?: (Omit<LogRecord, 'attributes'> & { attributes?: OtlpAttrs })[] }[] }[];
}

/** OTLP JSON AnyValue → plain value. */
function value(v: Record<string, unknown>): unknown {
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('boolValue' in v) return v.boolValue;
  if ('arrayValue' in v) return ((v.arrayValue as { values?: Record<string, unknown>[] }).values ?? []).map(value);
  return v;
}
const attrs = (list: OtlpAttrs = []): Attrs => Object.fromEntries(list.map((a) => [a.key, value(a.value)]));

interface Receiver {
  url: string;
  spans: Span[];
  logs: LogRecord[];
  resources: Attrs[];
  requests: number;
  server: Server;
}

/** A minimal OTLP/HTTP collector: decodes the JSON payloads of /v1/traces and /v1/logs. `stall`: accept and never answer. */
async function startReceiver(t: Test, opts: { stall?: boolean } = {}): Promise<Receiver> {
  const r: Receiver = { url: '', spans: [], logs: [], resources: [], requests: 0, server: null as unknown as Server };
  const held: ServerResponse[] = [];
  r.server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.requests += 1;
      if (opts.stall) return void held.push(res);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpPayload;
      if (req.url === '/v1/traces') {
        for (const rs of body.resourceSpans ?? []) {
          r.resources.push(attrs(rs.resource?.attributes));
          for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) r.spans.push({ ...s, attributes: attrs(s.attributes) });
        }
      } else if (req.url === '/v1/logs') {
        for (const rl of body.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) for (const l of sl.logRecords ?? []) r.logs.push({ ...l, attributes: attrs(l.attributes) });
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((res) => r.server.listen(0, '127.0.0.1', () => res()));
  r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}`;
  t.teardown(
    () =>
      new Promise<void>((res) => {
        for (const h of held) h.destroy();
        r.server.closeAllConnections();
        r.server.close(() => res());
      }),
  );
  return r;
}

async function until(what: () => boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function gateway(t: Test, otel: Record<string, unknown>): Promise<Harness & { token: string }> {
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      otel: { scheduledDelayMs: 20, exportTimeoutMs: 500, ...otel },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  return Object.assign(h, { token: await h.gateway.signer()!.mint({ subject: 'writer', audience: 'aos-gateway', ttlSec: 600 }) });
}

async function dropped(h: Harness): Promise<Record<string, number>> {
  const families = parsePrometheus(await (await fetch(`${h.admin}/metrics`)).text());
  const f = families.find((m) => m.name === 'aos_otel_dropped_total');
  return Object.fromEntries((f?.metrics ?? []).map((m) => [`${m.labels!.signal}/${m.labels!.reason}`, Number(m.value)]));
}

t.test('a span per call with GenAI attributes; the upstream gets our span as parent; audit events as log records', async (t) => {
  const rx = await startReceiver(t);
  const h = await gateway(t, { endpoint: rx.url });
  const agentTrace = '0af7651916cd43dd8448eb211c80319c';
  const agentSpan = 'b7ad6b7169203331';
  const openai = new OpenAI({
    baseURL: `${h.url}/v1`,
    apiKey: h.token,
    maxRetries: 0,
    defaultHeaders: { traceparent: `00-${agentTrace}-${agentSpan}-01`, tracestate: 'vendor=x', 'x-aos-workflow-id': 'wf-7' },
  });
  const first = await openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] });
  await openai.chat.completions.create({ model: 'o3', messages: [{ role: 'user', content: 'x' }] }).catch(() => null);
  await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${h.token}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
  });
  await until(() => rx.spans.length >= 3 && rx.logs.length >= 3);

  const upstreamTp = String(h.upstream.received[0].headers.traceparent);
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(upstreamTp);
  t.ok(m, `upstream traceparent ${upstreamTp}`);
  t.equal(m![1], agentTrace, 'same trace as the agent');
  t.not(m![2], agentSpan, "but the gateway's span as parent");
  t.equal(h.upstream.received[0].headers.tracestate, 'vendor=x', 'tracestate passes');
  t.equal(h.upstream.received[0].headers['x-aos-workflow-id'], 'wf-7');

  const ok = rx.spans.find((s) => s.spanId === m![2])!;
  t.ok(ok, 'the exported span is the one the upstream saw as parent');
  t.match(ok, { traceId: agentTrace, parentSpanId: agentSpan, name: 'chat gpt-4o-mini', kind: 3 });
  t.match(ok.attributes, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-4o-mini',
    'gen_ai.request.max_tokens': 50,
    'aos.agent.id': 'writer',
    'aos.team': 'content',
    'aos.template': 'standard',
    'aos.template_version': 4,
    'aos.decision': 'allow',
    'aos.outcome': 'completed',
    'aos.policy.revision': /\S+/,
    'aos.workflow_id': 'wf-7',
    'aos.route': 'openai/chat.completions',
    'http.response.status_code': 200,
    'aos.request_id': /^[0-9a-f-]{36}$/,
  });
  t.match(ok.attributes, { 'gen_ai.usage.input_tokens': first.usage!.prompt_tokens, 'gen_ai.usage.output_tokens': first.usage!.completion_tokens }, 'usage as the metering stage read it');
  t.ok((ok.attributes['aos.cost_usd'] as number) > 0, 'and its cost');
  t.ok(BigInt(ok.endTimeUnixNano) > BigInt(ok.startTimeUnixNano));
  const denied = rx.spans.find((s) => s.attributes['aos.decision'] === 'deny')!;
  t.match(denied, { traceId: agentTrace, parentSpanId: agentSpan, status: { code: 2 } });
  t.match(denied.attributes, { 'error.type': 'aos_policy_denied', 'gen_ai.request.model': 'o3', 'http.response.status_code': 403, 'aos.reasons': Array });
  const fresh = rx.spans.find((s) => s.traceId !== agentTrace)!;
  t.ok(fresh !== undefined && !fresh.parentSpanId, 'a call without traceparent starts a new trace');
  const began = Number.parseInt(fresh.traceId.slice(0, 12), 16);
  t.ok(Math.abs(began - Number(BigInt(fresh.startTimeUnixNano) / 1_000_000n)) < 60_000, `whose id starts with when it began (${fresh.traceId})`);
  t.equal(String(h.upstream.received[1].headers.traceparent).slice(3, 35), fresh.traceId);
  t.match(rx.resources[0], { 'service.name': 'aos-gateway' });

  const audit = h.gateway.audit()!.store.query({});
  t.equal(rx.logs.length, 3, 'one log record per audit event');
  for (const e of audit) {
    const l = rx.logs.find((x) => x.attributes['aos.audit.id'] === e.id)!;
    t.match(l, { eventName: 'aos.audit', traceId: e.trace_id });
    t.match(l.attributes, { 'aos.audit.hash': e.hash, 'aos.audit.prev_hash': e.prev_hash, 'aos.audit.seq': e.seq, 'aos.audit.decision': e.decision });
    const { seq: _s, prev_hash: _p, hash: _h, ...event } = e;
    t.same(JSON.parse(l.body!.stringValue!), event, 'the body is the whole event as hashed');
  }
  t.equal(audit[0].span_id, m![2], 'the audit event names the span');
  t.same(await dropped(h), { 'spans/queue_full': 0, 'spans/export_failed': 0, 'logs/queue_full': 0, 'logs/export_failed': 0 });
});

t.test('collector down: requests unaffected, failed exports counted', async (t) => {
  const h = await gateway(t, { endpoint: `http://127.0.0.1:${await refusedPort()}` });
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${h.token}` },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
    });
    t.equal(r.status, 200);
    await r.arrayBuffer();
  }
  await until(() => h.upstream.received.length === 20);
  let d: Record<string, number> = {};
  const deadline = Date.now() + 8000;
  while (Date.now() < deadline) {
    d = await dropped(h);
    if (d['spans/export_failed'] >= 20 && d['logs/export_failed'] >= 20) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(d['spans/export_failed'] >= 20, `spans dropped: ${JSON.stringify(d)}`);
  t.ok(d['logs/export_failed'] >= 20, 'log records dropped');
  t.equal(h.gateway.audit()!.store.query({}).length, 20, 'the audit trail itself is complete');
});

t.test('collector slow (never answers): requests keep their latency, the bounded queue drops and counts', async (t) => {
  const rx = await startReceiver(t, { stall: true });
  const h = await gateway(t, { endpoint: rx.url, maxQueue: 5, batchSize: 2, exportTimeoutMs: 3000 });
  const started = Date.now();
  const times: number[] = [];
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now();
    const r = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${h.token}` },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
    });
    await r.arrayBuffer();
    times.push(performance.now() - t0);
    t.equal(r.status, 200);
  }
  times.sort((a, b) => a - b);
  t.ok(times[Math.floor(times.length / 2)] < 100, `median ${times[Math.floor(times.length / 2)].toFixed(1)} ms: not waiting on the collector`);
  t.ok(Date.now() - started < 3000, 'all 40 calls done before the first export even timed out');
  let d: Record<string, number> = {};
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !(d['spans/queue_full'] > 0 && d['logs/queue_full'] > 0)) {
    await new Promise((r) => setTimeout(r, 50));
    d = await dropped(h);
  }
  t.ok(d['spans/queue_full'] > 0 && d['logs/queue_full'] > 0, `queue-full drops counted: ${JSON.stringify(d)}`);
});

t.test("no endpoint: no tracing at all; the agent's traceparent passes unchanged", async (t) => {
  const h = await gateway(t, {});
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${h.token}`, traceparent: tp },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
  });
  t.equal(h.upstream.received[0].headers.traceparent, tp);
  await h.gateway.audit()!.flush();
  t.match(h.gateway.audit()!.store.query({})[0], { trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: null });
});

t.test('audit off: spans are made on the request thread, same contract', async (t) => {
  const rx = await startReceiver(t);
  const h = await startHarness(t, { audit: { mode: 'off' }, otel: { endpoint: rx.url, scheduledDelayMs: 20 } });
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: tp },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 9, messages: [] }),
  });
  await fetch(`${h.url}/v1/nope`, { method: 'POST' });
  await until(() => rx.spans.length >= 2);
  const sent = String(h.upstream.received[0].headers.traceparent);
  const span = rx.spans.find((s) => s.spanId === sent.slice(36, 52))!;
  t.match(span, { traceId: '0af7651916cd43dd8448eb211c80319c', parentSpanId: 'b7ad6b7169203331', name: 'chat gpt-4o-mini' });
  t.match(span.attributes, { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.max_tokens': 9, 'aos.decision': 'allow' });
  t.match(rx.spans.find((s) => s !== span)!.attributes, { 'aos.decision': 'deny', 'error.type': 'aos_route_not_found' });
  t.equal(rx.logs.length, 0, 'no audit, no audit log records');
  t.equal(h.gateway.audit(), null);
});
