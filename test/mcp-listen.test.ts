/**
 * `subscriptions/listen` (2026-07-28) through the gateway: passed through to a 2026-07-28 server
 * (test/mcp-stateless-server.ts), and translated for a 2025-11-25 server (the official SDK's
 * McpServer, test/mcp-fixture.ts) in the session the gateway holds for the agent: its GET stream
 * relayed, resources subscribed as the policy allows. And a 2025-11-25 server that elicits on its
 * GET stream rather than on the call's, in front of a 2025-11-25 agent (the official SDK client).
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import t, { type Test } from 'tap';
import { SseSplitter } from '../src/upstream/sse.js';
import { auditEvents, startHarness } from './helpers.js';
import { startMcpServer } from './mcp-fixture.js';
import { statelessClient } from './mcp-stateless-client.js';
import { STATELESS, startStatelessServer } from './mcp-stateless-server.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
templates:
  helper: { version: 1, tools: ["new/touch", "new/change", "new/docs://readme", "old/touch", "old/add_tool", "old/ask_on_stream", "old/extra", "old/docs://readme"] }
agents:
  - { id: agent-a, team: qa, template: helper }
`;

async function setup(t: Test) {
  const fresh = await startStatelessServer();
  t.teardown(() => fresh.close());
  const old = await startMcpServer({ streams: true });
  t.teardown(() => old.close());
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      audit: { mode: 'on' },
      // A short body timeout: a listen stream, idle by nature, must outlive it.
      tools: { new: { kind: 'mcp', url: fresh.url, bodyTimeoutMs: 300 }, old: { kind: 'mcp', url: old.url } },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = await h.gateway.signer()!.mint({ subject: 'agent-a', audience: 'aos-gateway', ttlSec: 600 });
  return { h, fresh, old, token };
}

/** A 2026-07-28 listen: the stream's messages as they come, and a way to close it. */
async function listen(url: string, token: string, id: number, notifications: Record<string, unknown>) {
  const abort = new AbortController();
  const res = await fetch(url, {
    method: 'POST',
    signal: abort.signal,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': STATELESS,
      'mcp-method': 'subscriptions/listen',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id,
      method: 'subscriptions/listen',
      params: { notifications, _meta: { 'io.modelcontextprotocol/protocolVersion': STATELESS, 'io.modelcontextprotocol/clientCapabilities': {} } },
    }),
  });
  const messages: Record<string, unknown>[] = [];
  const splitter = new SseSplitter();
  const reader = res.body!.getReader();
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done || value === undefined) return;
      for (const e of splitter.push(Buffer.from(value))) if (e.data !== '') messages.push(JSON.parse(e.data));
    }
  })();
  const next = async (method: string, from = 0) => {
    for (let i = 0; i < 300; i++) {
      const m = messages.slice(from).find((x) => x.method === method);
      if (m !== undefined) return m as { method: string; params: Record<string, unknown> & { _meta: Record<string, unknown> } };
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no ${method} on the listen stream (got ${JSON.stringify(messages)})`);
  };
  return { status: res.status, type: res.headers.get('content-type'), messages, next, close: () => abort.abort() };
}

const until = async (what: () => boolean) => {
  for (let i = 0; i < 300 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
};

t.test('2026-07-28 agent and server: subscriptions/listen passes through, a long-lived stream (idle past the body timeout)', async (t) => {
  const { h, fresh, token } = await setup(t);
  const l = await listen(`${h.url}/mcp/new`, token, 7, { toolsListChanged: true, resourceSubscriptions: ['docs://readme'] });
  t.equal(l.status, 200);
  t.match(l.type, /text\/event-stream/);
  const ack = await l.next('notifications/subscriptions/acknowledged');
  t.same(ack.params.notifications, { toolsListChanged: true, resourceSubscriptions: ['docs://readme'] });
  t.equal(ack.params._meta['io.modelcontextprotocol/subscriptionId'], 7);
  const upstream = fresh.requests.find((r) => r.body.method === 'subscriptions/listen')!;
  t.equal(upstream.headers['mcp-method'], 'subscriptions/listen', 'the gateway set the routing headers');
  await new Promise((r) => setTimeout(r, 2000)); // undici checks body timeouts about once a second
  const a = statelessClient(`${h.url}/mcp/new`, token);
  await a('tools/call', { name: 'touch', arguments: { uri: 'docs://readme' } });
  const updated = await l.next('notifications/resources/updated');
  t.same([updated.params.uri, updated.params._meta['io.modelcontextprotocol/subscriptionId']], ['docs://readme', 7]);
  l.close();
  await until(() => fresh.listeners() === 0);
  t.equal(fresh.listeners(), 0, 'closing the stream ends the listen upstream');
  const events = await auditEvents(h, 2);
  t.ok(
    events.some((e) => e.operation === 'subscriptions/listen' && e.decision === 'allow'),
    'decided and audited',
  );
});

t.test('2026-07-28 agent, 2025-11-25 server: the listen is served from the held session (GET stream, resources/subscribe)', async (t) => {
  const { h, old, token } = await setup(t);
  const url = `${h.url}/mcp/old`;
  const l = await listen(url, token, 'l1' as unknown as number, { toolsListChanged: true, promptsListChanged: true, resourceSubscriptions: ['docs://readme', 'secret://keys'] });
  t.equal(l.status, 200);
  const ack = await l.next('notifications/subscriptions/acknowledged');
  t.same(
    ack.params.notifications,
    { toolsListChanged: true, promptsListChanged: true, resourceSubscriptions: ['docs://readme'] },
    "what the server can send and the policy allows (secret://keys is not this agent's)",
  );
  t.equal(ack.params._meta['io.modelcontextprotocol/subscriptionId'], 'l1');
  t.same(old.subscribed(), ['docs://readme'], 'subscribed in the session the gateway holds');
  await until(() => old.requests.some((r) => r.method === 'GET'));
  const get = old.requests.find((r) => r.method === 'GET')!;
  t.ok(get.headers['mcp-session-id'], "the session's GET stream");

  const a = statelessClient(url, token);
  t.equal((await a('tools/call', { name: 'touch', arguments: { uri: 'docs://readme' } })).result?.resultType, 'complete');
  const updated = await l.next('notifications/resources/updated');
  t.same([updated.params.uri, updated.params._meta['io.modelcontextprotocol/subscriptionId']], ['docs://readme', 'l1'], 'relayed with the subscription id');
  await a('tools/call', { name: 'add_tool', arguments: {} });
  const changed = await l.next('notifications/tools/list_changed');
  t.equal(changed.params._meta['io.modelcontextprotocol/subscriptionId'], 'l1');
  t.same(
    (await a('tools/call', { name: 'extra', arguments: { n: 2 } })).result?.content,
    [{ type: 'text', text: 'extra 2' }],
    'the change read on the GET stream made the gateway learn the tools again (the new one is checked, not refused)',
  );
  t.equal(old.sessions(), 1, 'the calls and the listen share the one held session');

  l.close();
  await until(() => old.subscribed().length === 0);
  t.same(old.subscribed(), [], 'unsubscribed when the listen ended');
});

t.test('a 2025-11-25 server that elicits on its GET stream: relayed to a 2025-11-25 agent, its answer back', async (t) => {
  const { h, old, token } = await setup(t);
  const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/old`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: 'sdk-agent', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  const asked: string[] = [];
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    asked.push(String(req.params.message));
    return { action: 'accept', content: { ok: true } };
  });
  await client.connect(transport);
  t.teardown(() => client.close());
  await until(() => old.requests.some((r) => r.method === 'GET'));
  const r = await client.callTool({ name: 'ask_on_stream', arguments: {} });
  t.same(r.content, [{ type: 'text', text: 'stream answer: accept' }]);
  t.same(asked, ['From the GET stream?'], 'the request came on the GET stream through the gateway');
  const answer = old.requests.find((x) => x.method === 'POST' && x.rpc === null && (x.body as { result?: unknown }).result !== undefined);
  t.match(answer?.body, { result: { action: 'accept' } }, 'the answer reached the server in the session');
});

t.test('a 2025-11-25 server that elicits on its GET stream, in front of a 2026-07-28 agent: input_required all the same', async (t) => {
  const { h, old, token } = await setup(t);
  const a = statelessClient(`${h.url}/mcp/old`, token);
  const first = await a('tools/call', { name: 'ask_on_stream', arguments: {} });
  const asked = first.result as { resultType: string; inputRequests: Record<string, { method: string; params: { message: string } }>; requestState: string };
  t.equal(asked?.resultType, 'input_required', "the request on the GET stream became the call's input_required");
  const [key, request] = Object.entries(asked.inputRequests)[0];
  t.same([request.method, request.params.message], ['elicitation/create', 'From the GET stream?']);
  t.ok(
    old.requests.some((r) => r.method === 'GET'),
    "the gateway watched the session's GET stream",
  );
  const done = await a('tools/call', { name: 'ask_on_stream', arguments: {}, inputResponses: { [key]: { action: 'accept', content: { ok: true } } }, requestState: asked.requestState });
  t.match(done.result, { resultType: 'complete', content: [{ type: 'text', text: 'stream answer: accept' }] });
  t.same(
    old.called.filter((n) => n === 'ask_on_stream'),
    ['ask_on_stream'],
    'the tool ran once',
  );
});
