/**
 * Server-initiated requests across revisions: a 2026-07-28 agent (raw HTTP client) in front of a
 * 2025-11-25 server (the official SDK's McpServer, tool `confirm` elicits on the call's SSE stream).
 * The gateway answers the agent `input_required`, and on the agent's retry with `inputResponses`
 * POSTs the answer upstream as the JSON-RPC response and relays the rest of the original call.
 */
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { createInputRequests, fingerprint } from '../src/tools/mcp-input-required.js';
import { auditEvents, startHarness } from './helpers.js';
import { startMcpServer } from './mcp-fixture.js';
import { statelessClient } from './mcp-stateless-client.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
templates:
  helper: { version: 1, tools: ["old/confirm", "old/echo"] }
agents:
  - { id: agent-a, team: qa, template: helper }
  - { id: agent-b, team: qa, template: helper }
`;

async function setup(t: Test) {
  const old = await startMcpServer();
  t.teardown(() => old.close());
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      audit: { mode: 'on' },
      tools: { old: { kind: 'mcp', url: old.url } },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const client = async (agent: string) => statelessClient(`${h.url}/mcp/old`, await h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 }));
  return { h, old, client };
}

interface InputRequired {
  resultType: string;
  inputRequests: Record<string, { method: string; params: { message: string; requestedSchema: unknown } }>;
  requestState: string;
}

t.test('elicitation of a 2025-11-25 server becomes input_required; the retry answers it and gets the result', async (t) => {
  const { h, old, client } = await setup(t);
  const a = await client('agent-a');
  const call = { name: 'confirm', arguments: { asks: 2 } };

  const first = await a('tools/call', call);
  t.equal(first.status, 200);
  const asked = first.result as unknown as InputRequired;
  t.equal(asked.resultType, 'input_required');
  const [key, request] = Object.entries(asked.inputRequests)[0];
  t.equal(request.method, 'elicitation/create');
  t.equal(request.params.message, 'Proceed (1)?');
  t.type(asked.requestState, 'string');
  t.ok(
    first.messages.some((m) => m.method === 'notifications/message'),
    'what the server sent before its request reached the agent',
  );

  const second = await a('tools/call', { ...call, inputResponses: { [key]: { action: 'accept', content: { ok: true } } }, requestState: asked.requestState });
  const again = second.result as unknown as InputRequired;
  t.equal(again.resultType, 'input_required', 'the second elicitation of the same call: another round trip');
  const [key2, request2] = Object.entries(again.inputRequests)[0];
  t.equal(request2.params.message, 'Proceed (2)?');
  t.not(again.requestState, asked.requestState);

  const third = await a('tools/call', { ...call, inputResponses: { [key2]: { action: 'decline' } }, requestState: again.requestState });
  t.match(third.result, { resultType: 'complete', content: [{ type: 'text', text: 'confirmed: ok=true, decline' }] });
  t.equal(old.called.filter((n) => n === 'confirm').length, 1, 'the tool ran once: the retries continued it');
  const answers = old.requests.filter((r) => r.method === 'POST' && r.rpc === null).map((r) => r.body);
  t.same(
    answers.map((b) => (b as { result: unknown }).result),
    [{ action: 'accept', content: { ok: true } }, { action: 'decline' }],
    'the answers went upstream as JSON-RPC responses, in the session',
  );
  t.equal(old.sessions(), 1);

  const replay = await a('tools/call', { ...call, inputResponses: { [key2]: { action: 'accept', content: { ok: true } } }, requestState: again.requestState });
  t.equal((replay.result as unknown as InputRequired | undefined)?.resultType, 'input_required', 'a used state is unknown: the call starts again (and asks again)');

  const events = await auditEvents(h, 4);
  t.same(
    events.filter((e) => e.tool === 'confirm').map((e) => [e.decision, e.status]),
    [
      ['allow', 200],
      ['allow', 200],
      ['allow', 200],
      ['allow', 200],
    ],
    'every round trip decided and audited (the parked one when its answer to the agent ended)',
  );
});

t.test('a retry must repeat the call, and belongs to the agent that got the state', async (t) => {
  const { old, client } = await setup(t);
  const a = await client('agent-a');
  const b = await client('agent-b');
  const first = await a('tools/call', { name: 'confirm', arguments: { asks: 1 } });
  const asked = first.result as unknown as InputRequired;
  const key = Object.keys(asked.inputRequests)[0];
  const answer = { inputResponses: { [key]: { action: 'accept', content: { ok: true } } }, requestState: asked.requestState };

  const other = await b('tools/call', { name: 'confirm', arguments: { asks: 1 }, ...answer });
  t.equal((other.result as unknown as InputRequired).resultType, 'input_required', "agent b cannot use agent a's state: its call starts afresh");

  const changed = await a('tools/call', { name: 'confirm', arguments: { asks: 3 }, ...answer });
  t.equal(changed.error?.code, -32600, 'other arguments than the parked call: refused');
  t.match(changed.error?.message, /repeat the request/);
  t.equal(old.requests.filter((r) => r.method === 'POST' && r.rpc === null).length, 0, 'nothing was answered upstream');
});

t.test('parked requests: their agent only, once, until they expire (then cut); all cut on close', async (t) => {
  let now = 0;
  const store = createInputRequests(() => now);
  const cut: string[] = [];
  const park = (agent: string) => {
    const stream = { events: [], state: 'open', wake: null };
    return store.park({ agent, headers: {}, id: 1, method: 'tools/call', fingerprint: fingerprint('tools/call', { name: 'x' }), serverId: 0, stream, abort: () => cut.push(agent) });
  };
  const a = park('a');
  t.equal(store.take(a, 'b'), undefined, "another agent's state");
  t.equal(store.take(a, 'a')?.agent, 'a');
  t.equal(store.take(a, 'a'), undefined, 'taken once');
  const old = park('old');
  now = 10 * 60_000;
  t.equal(store.take(old, 'old'), undefined, 'expired');
  park('c');
  t.same(cut, ['old'], 'an expired one is cut when the next is parked');
  store.close();
  t.same(cut, ['old', 'c']);
  t.equal(store.size(), 0);
  t.equal(
    fingerprint('tools/call', { name: 'x', arguments: { a: 1 }, _meta: { p: 1 }, requestState: 's', inputResponses: {} }),
    fingerprint('tools/call', { name: 'x', arguments: { a: 1 } }),
    'the round trip fields and _meta are not part of the call',
  );
});
