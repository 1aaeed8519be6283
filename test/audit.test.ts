/** The audit trail end to end: one event per request, its fields, privacy, trace/workflow ids, CLI and admin API. */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import type { AuditRecord } from '../src/audit/event.js';
import { createAuditTrail } from '../src/audit/trail.js';
import { verifyChain } from '../src/audit/verify.js';
import { createLogger } from '../src/log.js';
import { createCallMetrics } from '../src/telemetry/call-metrics.js';
import { createMetrics } from '../src/telemetry/metrics.js';
import { sampleEvent } from './audit-events.js';
import { auditEvents, type Harness, PROVIDER_KEY, startHarness } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/aos.js', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
templates:
  standard: { version: 3, providers: [openai, anthropic], models: ["gpt-4o*", "claude-*"] }
  recorded:
    version: 1
    providers: [openai]
    models: ["gpt-4o*"]
    audit: { capture: { request: true, response: true, maxBytes: 4096 } }
agents:
  - { id: writer, team: content, template: standard }
  - { id: recorded-agent, team: compliance, template: recorded }
`;

async function governed(t: Test) {
  const h = await startHarness(t, { identity: { mode: 'required', registry: 'agents.yaml' }, policy: { mode: 'enforce', bundle: { file: BUNDLE } } }, { files: { 'agents.yaml': REGISTRY } });
  const token = (agent: string) => h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
  return Object.assign(h, { token });
}

const post = (h: Harness, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

// Eleven runs of the command line below, each a fresh node with the tsx loader: seconds each on a busy machine.
t.setTimeout(180_000);

t.test('exactly one audit event per request, whatever its outcome', async (t) => {
  const h = await startHarness(t);
  const ids: string[] = [];
  const chat = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });
  const cases: { name: string; send(): Promise<string | null>; expect: Partial<AuditRecord> }[] = [
    {
      name: 'completed',
      send: async () => (await post(h, '/v1/chat/completions', chat('gpt-4o-mini'))).headers.get('x-aos-request-id'),
      expect: { decision: 'allow', outcome: 'completed', status: 200, stream: false, model: 'gpt-4o-mini', route: 'openai/chat.completions' },
    },
    {
      name: 'streamed',
      send: async () => {
        const r = await post(h, '/v1/chat/completions', chat('gpt-4o-mini', { stream: true }));
        await r.text();
        return r.headers.get('x-aos-request-id');
      },
      expect: { decision: 'allow', outcome: 'completed', stream: true },
    },
    {
      name: 'provider error passed through',
      send: async () => (await post(h, '/v1/chat/completions', chat('fail-500'))).headers.get('x-aos-request-id'),
      expect: { decision: 'allow', outcome: 'completed', status: 500, error_code: null },
    },
    {
      name: 'no route',
      send: async () => (await post(h, '/v1/nothing-here', {})).headers.get('x-aos-request-id'),
      expect: { decision: 'deny', outcome: 'denied', status: 404, error_code: 'aos_route_not_found', reasons: ['aos_route_not_found'], route: null },
    },
    { name: 'bad JSON', send: async () => (await post(h, '/v1/chat/completions', '{nope')).headers.get('x-aos-request-id'), expect: { decision: 'deny', status: 400, error_code: 'aos_bad_request' } },
    {
      name: 'too large',
      send: async () => (await post(h, '/v1/chat/completions', JSON.stringify(chat('x', { pad: 'x'.repeat(11 * 1024 * 1024) })))).headers.get('x-aos-request-id'),
      expect: { decision: 'deny', status: 413, error_code: 'aos_payload_too_large' },
    },
    {
      name: 'upstream reset mid-stream',
      send: async () => {
        const r = await post(h, '/v1/chat/completions', chat('reset-mid-stream', { stream: true }));
        await r.text().catch(() => '');
        return r.headers.get('x-aos-request-id');
      },
      expect: { decision: 'allow', outcome: 'failed', error_code: 'aos_upstream_error' },
    },
    {
      name: 'client went away',
      send: () =>
        new Promise((resolve) => {
          const req = request(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sample-delay-ms': '3000' } });
          req.on('error', () => resolve(null));
          req.end(JSON.stringify(chat('slow-first-byte')));
          setTimeout(() => {
            req.destroy();
            resolve(null);
          }, 150);
        }),
      expect: { decision: 'allow', outcome: 'aborted', status: 499, error_code: 'client_aborted' },
    },
  ];
  for (const c of cases) ids.push((await c.send()) ?? '');
  const all = await auditEvents(h, cases.length);
  t.equal(all.length, cases.length, 'one event per request');
  t.equal(new Set(all.map((e) => e.id)).size, all.length, 'ids are unique');
  cases.forEach((c, i) => {
    const e = ids[i] === '' ? all[i] : all.find((x) => x.id === ids[i]);
    t.match(e, c.expect, c.name);
    t.ok(typeof e?.total_ms === 'number', `${c.name}: total latency recorded`);
  });
  const forwarded = all.filter((e) => e.decision === 'allow');
  t.equal(forwarded.length, h.upstream.received.length, 'every call that reached the upstream is recorded as allowed');
  t.same(h.upstream.received.map((r) => r.headers['x-aos-request-id']).sort(), forwarded.map((e) => e.id).sort(), 'by id');
  t.ok(
    forwarded.every((e) => e.upstream_ms !== null),
    'upstream latency recorded',
  );
  t.match(all[0], { request_bytes: Number, request_sha256: /^[0-9a-f]{64}$/, response_bytes: Number, response_sha256: /^[0-9a-f]{64}$/, capture: null });
  const sorted = [...all].sort((a, b) => (a.id < b.id ? -1 : 1));
  t.same(
    sorted.map((e) => e.id),
    all.map((e) => e.id),
    'ids are time-ordered (UUIDv7), in commit order here',
  );
  t.ok(verifyChain(h.gateway.audit()!.store).ok, 'the chain verifies');
});

t.test('governed calls: agent, template version, policy revision and reasons; refusals before identity too', async (t) => {
  const h = await governed(t);
  const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: await h.token('writer'), maxRetries: 0 });
  await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
  await openai.chat.completions.create({ model: 'o3', messages: [{ role: 'user', content: 'x' }] }).catch(() => null);
  await new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'not-a-token', maxRetries: 0 }).models.list().catch(() => null);
  const anthropic = new Anthropic({ baseURL: `${h.url}/anthropic`, apiKey: await h.token('writer'), maxRetries: 0 });
  await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] });
  const all = await auditEvents(h, 4);
  t.equal(all.length, 4);
  const revision = h.gateway.current() && all[0].policy_revision;
  t.match(all[0], {
    agent_id: 'writer',
    team: 'content',
    template: 'standard',
    template_version: 3,
    decision: 'allow',
    outcome: 'completed',
    provider: 'openai',
    operation: 'chat.completions',
    kind: 'model',
    policy_revision: /\S+/,
  });
  t.match(all[1], { agent_id: 'writer', decision: 'deny', outcome: 'denied', status: 403, error_code: 'aos_policy_denied', model: 'o3', policy_revision: revision });
  t.ok(all[1].reasons.length > 0 && all[1].reasons.every((r) => r !== 'aos_policy_denied'), `the policy's reasons: ${all[1].reasons.join('; ')}`);
  t.match(all[2], { agent_id: null, decision: 'deny', error_code: 'aos_unauthenticated', reasons: ['aos_unauthenticated'], status: 401 });
  t.match(all[3], { agent_id: 'writer', provider: 'anthropic', route: 'anthropic/messages', decision: 'allow' });

  const admin = await h.gateway.signer()!.mint({ subject: 'ops', audience: 'aos-admin', roles: ['admin'], ttlSec: 60 });
  const auth = { authorization: `Bearer ${admin}` };
  const denied = (await (await fetch(`${h.admin}/admin/audit?decision=deny&agent=writer`, { headers: auth })).json()) as { events: AuditRecord[] };
  t.same(
    denied.events.map((e) => e.id),
    [all[1].id],
    'admin API: query by agent and decision',
  );
  t.equal((await fetch(`${h.admin}/admin/audit`)).status, 401, 'the admin API needs an admin token');
  t.equal((await fetch(`${h.admin}/admin/audit?since=yesterday`, { headers: auth })).status, 400, 'a bad time is a 400');
  t.match(await (await fetch(`${h.admin}/admin/audit/verify`, { headers: auth })).json(), { ok: true, checked: 4 });
});

t.test('privacy: bodies not stored by default; opt-in capture is redacted; keys and tokens never in the store or logs', async (t) => {
  const h = await governed(t);
  const agentToken = await h.token('writer');
  const recordedToken = await h.token('recorded-agent');
  const secretPrompt = `my key is sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX and the gateway's is ${PROVIDER_KEY}, mail jane.doe@example.com`;
  await new OpenAI({ baseURL: `${h.url}/v1`, apiKey: agentToken, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'plain prompt text' }] });
  const c = await new OpenAI({ baseURL: `${h.url}/v1`, apiKey: recordedToken, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: secretPrompt }] });
  t.match(c.choices[0].message.content, /sk-proj-ABCDEF/, 'the sample upstream echoes the secret back (so the response capture must redact it)');
  await post(h, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] }, { authorization: `Bearer ${agentToken}`, 'x-api-key': agentToken }).catch(() => null);
  const all = await auditEvents(h, 3);
  t.equal(all[0].capture, null, 'default: no body kept');
  t.notMatch(JSON.stringify(all[0]), /plain prompt text/);
  const cap = all[1].capture!;
  t.match(cap.request, /\[REDACTED:api_key\]/);
  t.match(cap.request, /\[REDACTED:credential\]/);
  t.match(cap.response, /Echo: my key is \[REDACTED:api_key\]/);
  t.notMatch(JSON.stringify(cap), /sk-proj-ABCDEF|sk-test-provider/);
  t.match(cap.response, /\[REDACTED:pii\.email\]/, "the guardrails' detectors redact the capture too (the echo carries the agent's restored value)");
  await h.gateway.audit()!.flush();
  const files = readdirSync(join(h.dir, 'data'));
  t.ok(files.includes('audit.db'), `files: ${files.join(', ')}`);
  for (const f of files) {
    const bytes = readFileSync(join(h.dir, 'data', f));
    for (const [what, secret] of [
      ['provider key', PROVIDER_KEY],
      ['agent token', agentToken],
      ['recorded agent token', recordedToken],
      ['prompt secret', 'sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX'],
      ['email', 'jane.doe@example.com'],
    ]) {
      t.equal(bytes.indexOf(secret), -1, `${what} not in ${f}`);
    }
  }
  const logs = h.logs.join('');
  for (const secret of [PROVIDER_KEY, agentToken, recordedToken]) t.equal(logs.indexOf(secret), -1, 'not in the logs');
});

t.test('trace and workflow ids: recorded, propagated, queried from the CLI; export as JSON lines', async (t) => {
  const h = await startHarness(t);
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;
  await post(h, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] }, { traceparent, 'x-aos-workflow-id': 'wf-invoice-42' });
  await post(h, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] }, { baggage: 'aos.workflow_id=wf%2Fbaggage, other=1' });
  await post(h, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] });
  const all = await auditEvents(h, 3);
  t.match(all[0], { trace_id: traceId, workflow_id: 'wf-invoice-42' });
  t.match(all[1], { trace_id: null, workflow_id: 'wf/baggage' });
  // No workflow named: the gateway started one (workflows.start), its id the call's trace id.
  t.match(all[2], { trace_id: /^[0-9a-f]{32}$/, workflow_id: all[2].trace_id });
  t.equal(h.upstream.received[0].headers.traceparent, traceparent, "without tracing the agent's traceparent passes as is");
  t.equal(h.upstream.received[0].headers['x-aos-workflow-id'], 'wf-invoice-42', 'the workflow id travels upstream');

  const cli = promisify(execFile);
  const run = (...args: string[]) => cli(process.execPath, [BIN, ...args, '--config', h.configFile], { timeout: 30_000 });
  t.match((await run('audit', 'verify')).stdout, /^ok: 3 events verified/);
  const byTrace = (await run('audit', 'query', '--trace', traceId, '--json')).stdout.trim().split('\n');
  t.equal(byTrace.length, 1);
  t.equal(JSON.parse(byTrace[0]).id, all[0].id);
  t.equal((await run('audit', 'query', '--workflow', 'wf/baggage', '--json')).stdout.trim().split('\n').length, 1);
  t.equal((await run('audit', 'query', '--decision', 'deny')).stdout, '', 'no denials');
  const tail = (await run('audit', 'tail', '--limit', '2')).stdout.trim().split('\n');
  t.equal(tail.length, 2);
  t.match(tail[1], new RegExp(all[2].id));
  const exported = (await run('audit', 'export', '--since', '1h', '--until', new Date(Date.now() + 60_000).toISOString(), '--format', 'jsonl')).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditRecord);
  t.same(
    exported.map((e) => e.id),
    all.map((e) => e.id),
  );
  t.match(exported[0], { seq: 1, prev_hash: /^0{64}$/, hash: /^[0-9a-f]{64}$/ });
  t.equal((await run('audit', 'export', '--since', new Date(Date.now() + 60_000).toISOString())).stdout, '', 'nothing in the future');
  const bad = await run('audit', 'export', '--format', 'csv').catch((e: { code: number; stderr: string }) => e);
  t.match(bad, { code: 1, stderr: /--format: expected jsonl/ });
  const badTime = await run('audit', 'query', '--since', 'last tuesday').catch((e: { code: number; stderr: string }) => e);
  t.match(badTime, { code: 1, stderr: /expected a time/ });

  // Tampering seen from the CLI: verify exits 1 and names the event.
  h.gateway.audit()!.store.db.prepare(`UPDATE audit_events SET body = replace(body, '"status":200', '"status":201') WHERE seq = 2`).run();
  const broken = await run('audit', 'verify').catch((e: { code: number; stdout: string }) => e);
  t.match(broken, { code: 1, stdout: new RegExp(`BROKEN \\(modified\\): event seq 2 \\(id ${all[1].id}\\)`) });
});

t.test('journal recovery: a decided call without a committed event comes back as interrupted, a refused one as it was', async (t) => {
  const h = await startHarness(t, { audit: { mode: 'off' } });
  const dir = join(h.dir, 'audit-data');
  // A long commit interval: nothing commits unless flushed.
  const config = { ...h.gateway.current().config.audit, mode: 'on' as const, flushMs: 10_000, retention: { maxAgeDays: 0, maxSizeMb: 0, intervalSec: 3600 } };
  const metrics = createCallMetrics(createMetrics().registry);
  const log = createLogger('silent');
  const first = createAuditTrail({ dataDir: dir, config, log, metrics });
  const done = sampleEvent(1);
  first.complete(done, first.intent(done));
  await first.flush();
  const intent = sampleEvent(2);
  first.intent(intent);
  const refused = sampleEvent(5);
  first.final(refused);
  // The process dies here: nothing else is flushed or closed (the journal lines are on disk).
  first.store.close();
  const second = createAuditTrail({ dataDir: dir, config, log, metrics });
  t.teardown(() => second.close());
  await second.flush();
  const all = second.store.query({});
  t.same(
    all.map((e) => e.id),
    [done.id, intent.id, refused.id].sort(),
  );
  t.match(
    all.find((e) => e.id === intent.id),
    { outcome: 'interrupted', status: null, decision: 'allow' },
  );
  t.match(
    all.find((e) => e.id === refused.id),
    { outcome: 'denied', decision: 'deny', status: 403 },
  );
  t.equal(readdirSync(dir).filter((f) => f.includes('.journal.') && readFileSync(join(dir, f), 'utf8') !== '').length, 0, 'old journal segments are gone');
  t.match(h.gateway.audit(), null, 'audit off: no trail');
});

t.test('a commit that fails is retried by the writer thread until it lands: in order, the chain intact, the failures counted', async (t) => {
  const h = await startHarness(t, { audit: { mode: 'off' } });
  const dir = join(h.dir, 'audit-retry');
  const config = { ...h.gateway.current().config.audit, mode: 'on' as const, flushMs: 10_000, retention: { maxAgeDays: 0, maxSizeMb: 0, intervalSec: 3600 } };
  const registry = createMetrics().registry;
  const metrics = createCallMetrics(registry);
  const logged: string[] = [];
  const log = createLogger('error', (line) => logged.push(line));
  const trail = createAuditTrail({ dataDir: dir, config, log, metrics });
  t.teardown(() => trail.close());
  const first = sampleEvent(1);
  trail.complete(first, trail.intent(first));
  await trail.flush();
  // Another connection takes the next sequence number: the writer's next transaction fails on it.
  const other = new Database(join(dir, 'audit.db'));
  other.prepare("INSERT INTO audit_events (seq, id, time_ms, decision, body, prev_hash, hash) VALUES (2, 'blocker', 0, 'allow', '{}', '-', '-')").run();
  const later = [sampleEvent(2), sampleEvent(3), sampleEvent(4)];
  let landed = false;
  trail.complete(later[0], trail.intent(later[0]));
  const flushed = trail.flush().then(() => (landed = true));
  trail.complete(later[1], trail.intent(later[1]));
  trail.final(later[2]);
  void trail.flush();
  await new Promise((r) => setTimeout(r, 900));
  const failures = async () => Number((await registry.getSingleMetricAsString('aos_audit_write_errors_total')).match(/^aos_audit_write_errors_total (\d+)/m)?.[1]);
  t.ok((await failures()) >= 2, 'each failed transaction is counted (retried every 250 ms)');
  t.equal(landed, false, 'not acknowledged while it fails');
  t.match(logged.join('\n'), /audit commit failed; retrying/, 'and logged');
  t.same(other.prepare('SELECT id FROM audit_events ORDER BY seq').pluck().all(), [first.id, 'blocker'], 'nothing of the failed commits is stored');
  other.prepare("DELETE FROM audit_events WHERE id = 'blocker'").run();
  other.close();
  await flushed;
  await trail.flush();
  t.same(
    trail.store.query({}).map((e) => e.id),
    [first.id, ...later.map((e) => e.id)],
    'every event lands once, the failed commits first, in the order they were sent',
  );
  t.equal(verifyChain(trail.store).ok, true, 'the chain verifies');
});

t.test('journal: an intent line holds the decided fields only; recovered, it is the decided event with its outcome unknown; whole-event lines of earlier versions recover too', async (t) => {
  const h = await startHarness(t, { audit: { mode: 'off' } });
  const dir = join(h.dir, 'audit-intent');
  const config = { ...h.gateway.current().config.audit, mode: 'on' as const, flushMs: 10_000, retention: { maxAgeDays: 0, maxSizeMb: 0, intervalSec: 3600 } };
  const metrics = createCallMetrics(createMetrics().registry);
  const log = createLogger('silent');
  const first = createAuditTrail({ dataDir: dir, config, log, metrics });
  // As the recorder journals it: decided, completion fields not known yet.
  const decided = {
    ...sampleEvent(1),
    trace_id: 'ab'.repeat(16),
    span_id: 'cd'.repeat(8),
    capture: { request: 'the prompt', truncated: true },
    outcome: 'interrupted' as const,
    status: null,
    total_ms: null,
    upstream_ms: null,
    response_bytes: null,
  };
  first.intent(decided);
  first.store.close();
  const segment = readdirSync(dir).find((f) => f.includes('.journal.'))!;
  const line = readFileSync(join(dir, segment), 'utf8');
  t.match(line, /^I \[/, 'an intent line is a JSON array');
  t.notMatch(line, /outcome|status|total_ms|"allow"/, 'no key names, no completion fields');
  t.ok(line.length < JSON.stringify(decided).length * 0.75, `the line (${line.length} bytes) is well under the whole event (${JSON.stringify(decided).length})`);
  // A line as earlier versions wrote it: the whole event.
  const older = { ...sampleEvent(2), outcome: 'interrupted' as const };
  writeFileSync(join(dir, segment), `${line}I ${JSON.stringify(older)}\n`);
  const second = createAuditTrail({ dataDir: dir, config, log, metrics });
  t.teardown(() => second.close());
  await second.flush();
  const all = second.store.query({});
  t.equal(all.length, 2);
  const recovered = all.find((e) => e.id === decided.id)!;
  const { seq: _seq, prev_hash: _prev, hash: _hash, ...event } = recovered;
  t.same(event, decided, 'the recovered event is the decided one, field for field');
  t.match(
    all.find((e) => e.id === older.id),
    { outcome: 'interrupted', status: null, team: older.team, route: older.route },
  );
  t.ok(verifyChain(second.store).ok);
});

t.test('sizes and hashes describe the bodies exactly (one chunk and streamed)', async (t) => {
  const h = await startHarness(t);
  const { createHash } = await import('node:crypto');
  const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  const bodies: string[] = [];
  const answers: Buffer[] = [];
  for (const stream of [false, true]) {
    const body = JSON.stringify({ model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content: 'count the bytes' }] });
    bodies.push(body);
    answers.push(Buffer.from(await (await post(h, '/v1/chat/completions', body)).arrayBuffer()));
  }
  const all = await auditEvents(h, 2);
  t.same(
    all.map((e) => e.stream),
    [false, true],
    'one event per call, in order: json, then stream',
  );
  all.forEach((e, i) => {
    t.equal(e.request_bytes, Buffer.byteLength(bodies[i]));
    t.equal(e.request_sha256, sha(bodies[i]));
    t.equal(e.response_bytes, answers[i].length, `${e.stream ? 'stream' : 'json'}: response size`);
    t.equal(e.response_sha256, sha(answers[i]), `${e.stream ? 'stream' : 'json'}: response hash`);
  });
});
