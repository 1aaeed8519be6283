/**
 * Realtime over WebSocket through the gateway: the openai SDK's `OpenAIRealtimeWS` (and a raw `ws`
 * client doing what a browser does) against a fake Realtime server. The upgrade is authenticated,
 * decided by policy and budgeted before any WebSocket exists; the provider key is injected and the
 * agent's never forwarded; frames are relayed both ways; every `response.done` is charged; the
 * session is one audit event (status 101, its totals, its close code); a budget exhausted mid-session
 * ends it with an error event and 1008; shutdown closes it with 1001.
 */
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { costOf, loadPrices } from '../src/metering/prices.js';
import { realtimeUsage } from '../src/providers/openai-metering.js';
import { auditEvents, PROVIDER_KEY, startHarness } from './helpers.js';
import { closed, type FakeRealtime, fakeUsage, openaiRealtime, opened, rawClient, startFakeRealtime, until } from './realtime-fixtures.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const PRICE = loadPrices(fileURLToPath(new URL('../config/prices.yaml', import.meta.url))).price('gpt-realtime-2025-08-28')!;
const MODEL = 'gpt-realtime-2025-08-28';

const REGISTRY = `
templates:
  voice: { version: 1, models: ["gpt-realtime*"], maxTokens: 256, budget: { daily_usd: 5 } }
  tight: { version: 1, models: ["gpt-realtime*"], maxTokens: 256, budget: { daily_usd: 0.02 } }
agents:
  - { id: voice, team: support, template: voice }
  - { id: frugal, team: support, template: tight }
  - { id: paused, team: support, template: voice }
`;

async function harness(t: Test, fake: FakeRealtime, extra: Record<string, unknown> = {}) {
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      // An upgraded connection is no longer an HTTP request: Node's request timeout must not cut it.
      limits: { requestTimeoutMs: 400, headersTimeoutMs: 400 },
      providers: { realtime: { dialect: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY } },
      routes: [
        { prefix: '/rt/v1', provider: 'realtime' },
        { prefix: '/v1', provider: 'openai' },
      ],
      ...extra,
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = (agent: string) => h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
  const spent = async (agent: string) => (await h.gateway.budgets()!.show(`agent:${agent}`)).budgets.find((b) => b.key === 'daily_usd')!;
  return Object.assign(h, { token, spent, base: `${h.url}/rt/v1` });
}

async function fakeServer(t: Test) {
  const fake = await startFakeRealtime({ bearer: PROVIDER_KEY });
  t.teardown(() => fake.close());
  return fake;
}

const sum = (n: number) => {
  let input = 0;
  let output = 0;
  let cost = 0;
  for (let i = 1; i <= n; i++) {
    const u = fakeUsage(i);
    input += u.input_tokens;
    output += u.output_tokens;
    cost += costOf(realtimeUsage(u)!, PRICE);
  }
  return { input, output, cost };
};

t.test('the SDK through the gateway: relayed both ways, credential injected, metered, one audit event', async (t) => {
  const fake = await fakeServer(t);
  const h = await harness(t, fake);
  const token = await h.token('voice');
  const rt = await openaiRealtime(h.base, token, MODEL);
  t.equal(rt.socket.protocol, '', 'no subprotocol was offered, none chosen');
  const created = await until(rt, 'session.created');
  t.match(created.at(-1), { type: 'session.created', session: { model: MODEL } });

  const hs = fake.handshakes[0];
  t.equal(hs.path, `/v1/realtime?model=${MODEL}`, 'path and query forwarded');
  t.equal(hs.headers.authorization, `Bearer ${PROVIDER_KEY}`, 'the provider key is injected');
  t.notOk(JSON.stringify(hs.headers).includes(token), "the agent's token never reaches the provider");
  t.ok(hs.headers['x-aos-request-id'], 'the request id goes upstream');

  for (const words of ['hello there', 'and again']) {
    const events = until(rt, 'response.done');
    rt.send({ type: 'response.create', response: { instructions: words } });
    const got = await events;
    const text = got
      .filter((e) => e.type === 'response.output_text.delta')
      .map((e) => e.delta)
      .join('');
    t.equal(text.trim(), `Echo: ${words}`, 'deltas relayed in order');
  }
  // A session outlives the request timeout (400 ms here): it is no longer an HTTP request.
  await new Promise((r) => setTimeout(r, 700));
  t.equal(rt.socket.readyState, rt.socket.OPEN, 'still open past the request timeout');
  const bye = closed(rt.socket);
  rt.close({ code: 1000, reason: 'done' });
  t.same(await bye, { code: 1000, reason: 'done' });

  const [event] = await auditEvents(h, 1);
  const want = sum(2);
  t.match(event, {
    agent_id: 'voice',
    route: 'realtime/realtime',
    operation: 'realtime',
    kind: 'model',
    model: MODEL,
    stream: true,
    decision: 'allow',
    outcome: 'completed',
    status: 101,
    error_code: null,
    input_tokens: want.input,
    output_tokens: want.output,
    session: { close_code: 1000, close_reason: 'done', responses: 2, client_messages: 2, audio_input_tokens: 80, audio_output_tokens: 40 },
  });
  t.ok(Math.abs(event.cost_usd! - want.cost) < 1e-12, `cost ${event.cost_usd} = the fake's usage at realtime prices (${want.cost})`);
  t.ok(event.total_ms! >= 700, 'the duration is the session');
  t.equal(fake.closes[0], 1000, "the client's close went upstream");
  const spent = await h.spent('voice');
  t.equal(spent.reserved, 0, 'nothing left reserved');
  t.ok(Math.abs(spent.spent - want.cost) < 1e-8, 'the budget was charged the same');
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_calls_total\{route="realtime\/realtime",decision="allow",status="101"\} 1/);
  t.match(metrics, /aos_realtime_messages_total\{from="client"\} 2/);
  t.match(metrics, /aos_realtime_sessions 0/);
});

t.test("a browser's key subprotocol: read as the agent token, stripped; OpenAI-Beta passed", async (t) => {
  const fake = await fakeServer(t);
  const h = await harness(t, fake);
  const token = await h.token('voice');
  const ws = rawClient(`${h.base}/realtime?model=${MODEL}`, ['realtime', `openai-insecure-api-key.${token}`], { 'OpenAI-Beta': 'realtime=v1' });
  await opened(ws);
  t.equal(ws.protocol, 'realtime', "the upstream's choice");
  const hs = fake.handshakes[0];
  t.same(hs.protocols, ['realtime'], 'the key subprotocol is not forwarded');
  t.equal(hs.headers['openai-beta'], 'realtime=v1');
  t.notOk(JSON.stringify(hs.headers).includes(token));
  ws.send(Buffer.from([1, 2, 3]), { binary: true });
  const [echo] = (await Promise.race([new Promise((r) => ws.on('message', (d, binary) => binary && r([d]))), new Promise((r) => setTimeout(() => r([null]), 2000))])) as [Buffer | null];
  t.same(echo && [...echo], [1, 2, 3], 'binary frames relayed both ways');
  const bye = closed(ws);
  ws.close(4001, 'custom');
  t.same(await bye, { code: 4001, reason: 'custom' });
  await new Promise((r) => setTimeout(r, 50));
  t.same(fake.closes, [4001], 'close code and reason passed through');
});

t.test('refused before the upgrade, in OpenAI’s shape: no WebSocket, nothing upstream, audited', async (t) => {
  const fake = await fakeServer(t);
  const h = await harness(t, fake);
  h.gateway.suspensions().suspend('paused', 'testing', 'test');
  const refused = async (url: string, headers: Record<string, string>, protocols: string[] = []) => {
    const err = (await opened(rawClient(url, protocols, headers)).catch((e) => e)) as { status: number; body: string; headers: Record<string, string> };
    return { status: err.status, code: err.headers?.['x-aos-error-code'], body: err.body === undefined ? null : JSON.parse(err.body) };
  };
  const auth = async (agent: string) => ({ authorization: `Bearer ${await h.token(agent)}` });

  const denied = await refused(`${h.base}/realtime?model=gpt-4o-realtime-preview`, await auth('voice'));
  t.equal(denied.status, 403);
  t.match(denied.body, { error: { code: 'aos_policy_denied', type: 'permission_denied', message: /model gpt-4o-realtime-preview is not allowed/ } });
  t.match(await refused(`${h.base}/realtime?model=${MODEL}`, {}), { status: 401, code: 'aos_unauthenticated' });
  t.match(await refused(`${h.base}/realtime?model=${MODEL}`, {}, ['realtime', 'openai-insecure-api-key.not-a-token']), { status: 401, code: 'aos_unauthenticated' });
  t.match(await refused(`${h.base}/realtime?model=${MODEL}`, await auth('paused')), { status: 403, code: 'aos_agent_suspended' });
  t.match(await refused(`${h.base}/realtime`, await auth('voice')), { status: 400, code: 'aos_bad_request', body: { error: { param: 'model' } } });
  t.match(await refused(`${h.base}/models`, await auth('voice')), { status: 400, body: { error: { message: /does not accept a WebSocket upgrade/ } } });
  t.match(await refused(`${h.base}/realtime?model=${MODEL}`, { ...(await auth('voice')), Origin: 'https://evil.example' }), { status: 403, code: 'aos_origin_not_allowed' });
  t.equal(fake.handshakes.length, 0, 'nothing reached the provider');

  const plain = await fetch(`${h.base}/realtime?model=${MODEL}`, { headers: await auth('voice') });
  t.equal(plain.status, 400, 'a plain GET of the realtime path');
  t.match(await plain.json(), { error: { message: /WebSocket endpoint/ } });

  const events = await auditEvents(h, 8);
  t.equal(events.length, 8, 'every refusal is one audit event');
  t.ok(
    events.every((e) => e.decision === 'deny' && e.outcome === 'denied'),
    'all denied',
  );
});

t.test('the provider refuses the handshake: its answer passes through', async (t) => {
  const fake = await startFakeRealtime({ bearer: 'another-key' });
  t.teardown(() => fake.close());
  const h = await harness(t, fake);
  const err = (await opened(rawClient(`${h.base}/realtime?model=${MODEL}`, [], { authorization: `Bearer ${await h.token('voice')}` })).catch((e) => e)) as { status: number; body: string };
  t.equal(err.status, 401);
  t.match(JSON.parse(err.body), { error: { code: 'invalid_api_key' } });
  const [event] = await auditEvents(h, 1);
  t.match(event, { status: 401, decision: 'allow', input_tokens: null });
  t.equal((await h.spent('voice')).reserved, 0, 'the reservation was released');
});

t.test('a budget exhausted mid-session: error event, close 1008, audited', async (t) => {
  const fake = await fakeServer(t);
  const h = await harness(t, fake);
  const rt = await openaiRealtime(h.base, await h.token('frugal'), MODEL);
  const errors: unknown[] = [];
  rt.on('error', (e) => errors.push(e));
  await until(rt, 'session.created');
  const bye = closed(rt.socket);
  const events = until(rt, 'error');
  rt.send({ type: 'response.create', response: { instructions: 'spend it' } });
  const got = await events;
  t.same(
    got.map((e) => e.type).filter((x) => x !== 'response.output_text.delta'),
    ['response.created', 'response.done', 'error'],
    'the response completes, then the error',
  );
  t.match(got.at(-1), { type: 'error', error: { type: 'invalid_request_error', code: 'aos_budget_exceeded', message: /daily budget of agent:frugal would be exceeded/ } });
  t.match(errors, [{ error: { code: 'aos_budget_exceeded' } }], 'the SDK raises it');
  t.same(await bye, { code: 1008, reason: 'aos_budget_exceeded' });
  await new Promise((r) => setTimeout(r, 50));
  t.same(fake.closes, [1000], 'the upstream is closed normally');

  const [event] = await auditEvents(h, 1);
  const want = sum(1);
  t.match(event, { agent_id: 'frugal', status: 101, outcome: 'failed', error_code: 'aos_budget_exceeded', input_tokens: want.input, session: { close_code: 1008, responses: 1 } });
  const spent = await h.spent('frugal');
  t.equal(spent.reserved, 0);
  t.ok(Math.abs(spent.spent - want.cost) < 1e-8, 'charged what was done');
});

t.test('the upstream closes or drops the session', async (t) => {
  const fake = await fakeServer(t);
  const h = await harness(t, fake);
  const token = await h.token('voice');
  const a = await openaiRealtime(h.base, token, MODEL);
  let bye = closed(a.socket);
  a.send({ type: 'test.close' } as never);
  t.same(await bye, { code: 4000, reason: 'closed by the fake' }, "the upstream's close code and reason");

  const b = await openaiRealtime(h.base, token, MODEL);
  const errors: { error?: { code?: string } }[] = [];
  b.on('error', (e) => errors.push(e as never));
  bye = closed(b.socket);
  b.send({ type: 'test.drop' } as never);
  t.same(await bye, { code: 1011, reason: 'aos_upstream_error' });
  t.match(errors, [{ error: { code: 'aos_upstream_error' } }], 'an error event, not a clean close');
  const events = await auditEvents(h, 2);
  t.match(
    events.map((e) => [e.outcome, e.error_code, e.session?.close_code]),
    [
      ['completed', null, 4000],
      ['failed', 'aos_upstream_error', 1011],
    ],
  );
});

t.test('graceful shutdown closes open sessions with 1001', async (t) => {
  const fake = await fakeServer(t);
  const h = await harness(t, fake);
  const rt = await openaiRealtime(h.base, await h.token('voice'), MODEL);
  await until(rt, 'session.created');
  const bye = closed(rt.socket);
  const started = Date.now();
  const stopped = h.gateway.stop(5000);
  t.same(await bye, { code: 1001, reason: 'gateway shutting down' });
  const took = Date.now() - started;
  t.ok(took < 1000, `closed at once, not at the end of the grace period (${took} ms)`);
  await stopped;
  await new Promise((r) => setTimeout(r, 50));
  t.same(fake.closes, [1001], 'the upstream is told too');
});
