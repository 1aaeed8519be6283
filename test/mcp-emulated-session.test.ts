/**
 * A 2025-11-25 agent (the official SDK client) in front of a server that speaks only 2026-07-28
 * (test/mcp-stateless-server.ts): the gateway plays the session (initialize from `server/discover`,
 * its own Mcp-Session-Id, DELETE ends it locally) and sends stateless requests; the server's
 * "input required" results become elicitation and sampling requests to the agent on the call's
 * stream, and its answers go back as `inputResponses`. Progress, cancellation and resource
 * subscriptions (through the GET stream, fed by a `subscriptions/listen`) cross the revisions.
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import t, { type Test } from 'tap';
import { auditEvents, startHarness } from './helpers.js';
import { STATELESS, startStatelessServer } from './mcp-stateless-server.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
templates:
  helper: { version: 1, tools: ["new/echo", "new/confirm", "new/summarize", "new/count", "new/slow", "new/touch", "new/change", "new/docs://readme"] }
  narrow: { version: 1, tools: ["new/echo"] }
  metered: { version: 1, tools: ["new/confirm"], budget: { tool_calls_daily: 1 } }
agents:
  - { id: agent-a, team: qa, template: helper }
  - { id: agent-b, team: qa, template: narrow }
  - { id: agent-c, team: qa, template: metered }
`;

async function setup(t: Test) {
  const fresh = await startStatelessServer();
  t.teardown(() => fresh.close());
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      audit: { mode: 'on' },
      tools: { new: { kind: 'mcp', url: fresh.url, apiKey: 'new-key' } },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const connect = async (agent: string, capabilities: Record<string, unknown> = {}) => {
    const token = await h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
    const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/new`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
    const client = new Client({ name: `sdk-${agent}`, version: '1.0.0' }, { capabilities });
    await client.connect(transport);
    t.teardown(() => client.close());
    return { client, transport, token };
  };
  return { h, fresh, connect };
}

const text = (r: unknown) => ((r as { content: { text: string }[] }).content ?? [])[0]?.text;

t.test('the gateway plays the session: initialize from server/discover, stateless requests upstream, decided and validated, DELETE ends it', async (t) => {
  const { h, fresh, connect } = await setup(t);
  const { client, transport, token } = await connect('agent-a');
  t.match(transport.sessionId, /^aos-/, "a session id of the gateway's");
  t.match(client.getServerVersion(), { name: 'stateless-fixture', version: '1.0.0' }, "serverInfo from server/discover's _meta");
  t.match(client.getServerCapabilities(), { tools: { listChanged: true }, resources: { subscribe: true } });
  t.equal(client.getInstructions(), 'A stateless fixture');
  await client.ping();
  await client.setLoggingLevel('debug');

  const tools = (await client.listTools()).tools.map((x) => x.name).sort();
  t.same(tools, ['change', 'confirm', 'count', 'echo', 'slow', 'summarize', 'touch'], 'filtered by policy (secret_dump is not for this agent)');
  t.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'hi' } })), 'hi');
  await t.rejects(client.callTool({ name: 'echo', arguments: {} }), { code: -32602 }, 'arguments validated against the schema the gateway read');
  await t.rejects(client.callTool({ name: 'secret_dump', arguments: {} }), { code: -32003 }, 'policy decides as for any agent');
  t.match((await client.readResource({ uri: 'docs://readme' })).contents, [{ text: 'read me' }]);

  const methods = fresh.requests.map((r) => r.body.method);
  t.notOk(methods.includes('initialize'), 'the server never saw initialize');
  t.notOk(methods.includes('ping') || methods.includes('logging/setLevel') || methods.includes('notifications/initialized'), 'nor what 2026-07-28 removed');
  for (const r of fresh.requests) {
    t.equal(r.headers['mcp-protocol-version'], STATELESS, `${String(r.body.method)}: the stateless revision`);
    t.equal(r.headers['mcp-method'], r.body.method);
    t.notOk(r.headers['mcp-session-id'], 'no session id');
    t.equal(r.headers.authorization, 'Bearer new-key');
  }
  const call = fresh.requests.find((r) => r.body.method === 'tools/call' && JSON.stringify(r.body).includes('"hi"'))!;
  t.equal(call.headers['mcp-name'], 'echo');
  t.match((call.body.params as { _meta: unknown })._meta, {
    'io.modelcontextprotocol/protocolVersion': STATELESS,
    'io.modelcontextprotocol/clientInfo': { name: 'sdk-agent-a' },
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/logLevel': 'debug',
  });

  // Another agent cannot use this session.
  const b = await h.gateway.signer()!.mint({ subject: 'agent-b', audience: 'aos-gateway', ttlSec: 600 });
  const sid = transport.sessionId!;
  const post = (authorization: string) =>
    fetch(`${h.url}/mcp/new`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/list' }),
    });
  t.equal((await (await post(`Bearer ${b}`)).json()).error.data.code, 'aos_session_not_found', "another agent's session");
  await transport.terminateSession();
  const after = await post(`Bearer ${token}`);
  t.equal((await after.json()).error.data.code, 'aos_session_not_found', 'DELETE ended it: the session is unknown');

  const events = await auditEvents(h, 10);
  t.same(events.find((e) => e.tool === 'echo' && e.decision === 'allow')?.mcp, { agent_revision: '2025-11-25', server_revision: STATELESS }, 'both revisions audited');
  t.ok(
    events.some((e) => e.operation === 'initialize' && e.decision === 'allow'),
    'initialize decided and audited though the gateway answered it',
  );
});

t.test("the server's input_required becomes elicitation and sampling requests to the agent; its answers go back as inputResponses", async (t) => {
  const { h, fresh, connect } = await setup(t);
  const { client } = await connect('agent-a', { elicitation: {}, sampling: {} });
  const asked: string[] = [];
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    asked.push(String(req.params.message));
    return asked.length === 1 ? { action: 'accept', content: { ok: true } } : { action: 'decline' };
  });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
    role: 'assistant',
    model: 'agent-model',
    content: { type: 'text', text: `short of ${(req.params.messages[0].content as { text: string }).text.length} chars` },
  }));

  const confirmed = await client.callTool({ name: 'confirm', arguments: { asks: 2 } });
  t.equal(text(confirmed), 'confirmed: ok=true, decline', 'two round trips, then the result');
  t.same(asked, ['Proceed (1)?', 'Proceed (2)?'], 'each elicitation reached the agent as a request on its stream');
  const calls = fresh.requests.filter((r) => r.body.method === 'tools/call' && (r.body.params as { name: string }).name === 'confirm');
  t.equal(calls.length, 3, 'the call, then one retry per answer');
  t.same(
    calls.map((r) => Object.keys((r.body.params as { inputResponses?: object }).inputResponses ?? {})),
    [[], ['confirm-1'], ['confirm-2']],
    "the answers under the server's keys",
  );
  t.ok(
    calls.slice(1).every((r) => typeof (r.body.params as { requestState?: unknown }).requestState === 'string'),
    "the server's requestState sent back",
  );
  t.match((calls[0].body.params as { _meta: unknown })._meta, { 'io.modelcontextprotocol/clientCapabilities': { elicitation: {}, sampling: {} } }, "the agent's capabilities from its initialize");
  t.same(fresh.called, ['confirm'], 'the tool completed once');

  const logs: unknown[] = [];
  client.fallbackNotificationHandler = async (n) => void logs.push(n.method);
  const summary = await client.callTool({ name: 'summarize', arguments: { text: 'a long text' } });
  t.equal(text(summary), 'summary: short of 22 chars', "sampling answered by the agent's model (an SSE answer)");

  const events = await auditEvents(h, 8);
  const rounds = events.filter((e) => e.tool === 'confirm');
  t.same(
    rounds.map((e) => [e.decision, e.operation]),
    [
      ['allow', 'tools/call'],
      ['allow', 'tools/call'],
      ['allow', 'tools/call'],
    ],
    'the call and each answer that carried a retry: decided and audited as the call',
  );
});

t.test("an agent's error answer fails the call; a retry refused (over the tool-call budget) ends the call with the refusal", async (t) => {
  const { h, fresh, connect } = await setup(t);
  const { client } = await connect('agent-a', { elicitation: {} });
  client.setRequestHandler(ElicitRequestSchema, async () => {
    throw new Error('no user here');
  });
  await t.rejects(client.callTool({ name: 'confirm', arguments: { asks: 1 } }), /no user here/, "the agent's error is the call's");
  t.equal(fresh.requests.filter((r) => r.body.method === 'tools/call').length, 1, 'no retry went to the server');

  // A retry counts against the tool-call budget as a call: over it, the refusal ends the agent's call.
  const c = await connect('agent-c', { elicitation: {} });
  c.client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { ok: true } }));
  await t.rejects(c.client.callTool({ name: 'confirm', arguments: { asks: 1 } }), { code: -32029, message: /budget/ }, 'the refused retry ends the call with its error');
  t.equal(fresh.requests.filter((r) => r.body.method === 'tools/call').length, 2, 'the retry never reached the server');
  const events = await auditEvents(h, 6);
  t.ok(
    events.some((e) => e.tool === 'confirm' && e.agent_id === 'agent-c' && e.error_code === 'aos_budget_exceeded'),
    'the refused retry is audited as the call',
  );
});

t.test('progress and cancellation cross the revisions', async (t) => {
  const { fresh, connect } = await setup(t);
  const { client } = await connect('agent-a');
  const progress: number[] = [];
  const r = await client.callTool({ name: 'count', arguments: { to: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
  t.same(progress, [1, 2, 3]);
  t.equal(text(r), 'counted to 3');

  const abort = new AbortController();
  const slow = client.callTool({ name: 'slow', arguments: {} }, undefined, { signal: abort.signal });
  for (let i = 0; i < 100 && !fresh.requests.some((x) => (x.body.params as { name?: string } | undefined)?.name === 'slow'); i++) await new Promise((r) => setTimeout(r, 10));
  abort.abort('changed my mind');
  await t.rejects(slow);
  for (let i = 0; i < 100 && fresh.cancelled.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(fresh.cancelled.length, 1, "notifications/cancelled closed the server's request (2026-07-28 cancellation)");
  t.notOk(fresh.called.includes('slow'));
});

t.test('resource subscriptions and list changes reach the GET stream through a subscriptions/listen of the gateway', async (t) => {
  const { fresh, connect } = await setup(t);
  const { client } = await connect('agent-a');
  const updated: string[] = [];
  let changed = 0;
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => void updated.push(n.params.uri));
  client.setNotificationHandler(ToolListChangedNotificationSchema, async () => void changed++);
  for (let i = 0; i < 100 && fresh.listeners() === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(fresh.listeners(), 1, 'the GET stream opened a listen upstream');
  await client.subscribeResource({ uri: 'docs://readme' });
  for (let i = 0; i < 100 && !fresh.requests.some((r) => r.body.method === 'subscriptions/listen' && JSON.stringify(r.body).includes('docs://readme')); i++)
    await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  await client.callTool({ name: 'touch', arguments: { uri: 'docs://readme' } });
  await client.callTool({ name: 'touch', arguments: { uri: 'docs://other' } });
  await client.callTool({ name: 'change', arguments: {} });
  for (let i = 0; i < 100 && (updated.length === 0 || changed < 2); i++) await new Promise((r) => setTimeout(r, 10));
  t.same(updated, ['docs://readme'], 'only the subscribed resource');
  t.ok(changed >= 1, 'tools/list_changed relayed');
  const listens = fresh.requests.filter((r) => r.body.method === 'subscriptions/listen');
  t.match(listens.at(-1)?.body.params, { notifications: { toolsListChanged: true, resourcesListChanged: true, resourceSubscriptions: ['docs://readme'] } });
  await client.unsubscribeResource({ uri: 'docs://readme' });
  await client.close();
  for (let i = 0; i < 100 && fresh.listeners() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(fresh.listeners(), 0, 'the listen ended with the GET stream');
});
