/** The trace ids the gateway starts: W3C-valid, unique, and ordered by when their trace began. */
import t from 'tap';
import { newTraceId, randomHexId } from '../src/telemetry/trace-ids.js';
import { auditEvents, startHarness } from './helpers.js';

const W3C_TRACE_ID = /^[0-9a-f]{32}$/;

t.test('48 bits of milliseconds, then 80 random bits', async (t) => {
  const before = Date.now();
  const id = newTraceId();
  const after = Date.now();
  t.match(id, W3C_TRACE_ID);
  const ms = Number.parseInt(id.slice(0, 12), 16);
  t.ok(ms >= before && ms <= after, `the first 12 hex digits are the time (${id})`);
  t.equal(newTraceId(0).slice(0, 12), '000000000000');
  t.not(newTraceId(0), '0'.repeat(32), 'never all zeros, even at time 0');
  t.equal(newTraceId(0x123456789abc).slice(0, 12), '123456789abc');
});

t.test('unique, and sorted by time across milliseconds', async (t) => {
  const ids = new Set<string>();
  for (let i = 0; i < 200_000; i++) ids.add(newTraceId(1_800_000_000_000));
  t.equal(ids.size, 200_000, 'no collision among 200,000 ids of the same millisecond');
  const tails = [...ids].map((id) => id.slice(12));
  const ones = tails
    .join('')
    .split('')
    .filter((c) => c === 'f').length;
  const share = ones / (tails.length * 20);
  t.ok(Math.abs(share - 1 / 16) < 0.002, `the random part is uniform ('f' in ${(share * 100).toFixed(2)}% of digits)`);
  const ordered = [1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000, 2 ** 47].map((ms) => newTraceId(ms));
  t.same([...ordered].sort(), ordered, 'a later millisecond sorts after');
  t.match(randomHexId(8), /^[0-9a-f]{16}$/, 'span ids stay random 8 bytes');
});

t.test("through the gateway: a call without traceparent gets a time-ordered trace and workflow; an agent's own trace is kept", async (t) => {
  const h = await startHarness(t, { workflows: { start: true } });
  const call = (headers: Record<string, string> = {}) =>
    fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'gpt-sample', messages: [{ role: 'user', content: 'hi' }] }),
    });
  const before = Date.now();
  const fresh = await call();
  await fresh.arrayBuffer();
  const agentTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const own = await call({ traceparent: `00-${agentTrace}-00f067aa0ba902b7-01` });
  await own.arrayBuffer();
  const [a, b] = await auditEvents(h, 2);
  t.match(a.trace_id, W3C_TRACE_ID);
  const ms = Number.parseInt(a.trace_id!.slice(0, 12), 16);
  t.ok(ms >= before && ms <= Date.now(), `the new trace's id starts with when it began (${a.trace_id})`);
  t.equal(a.workflow_id, a.trace_id, 'the workflow the gateway started is that trace');
  t.equal(fresh.headers.get('x-aos-workflow-id'), a.trace_id);
  t.equal(h.upstream.received[0].headers.baggage, `aos.workflow_id=${a.trace_id}`, 'and the upstream is told so');
  t.equal(b.trace_id, agentTrace, "the agent's trace id is kept as sent");
});
