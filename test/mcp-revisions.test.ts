/**
 * MCP revisions through the gateway: agents of 2026-07-28 (stateless; a raw HTTP client written
 * from the specification, as no SDK on npm speaks it yet) and of 2025-11-25 (the official SDK
 * client), in front of a 2025-11-25 server (the official SDK's McpServer) and a 2026-07-28 server
 * (test/mcp-stateless-server.ts). Policy, schema validation and audit apply whichever revision
 * each side speaks; the audit event records both.
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import t, { type Test } from 'tap';
import { auditEvents, startHarness } from './helpers.js';
import { startMcpServer } from './mcp-fixture.js';
import { statelessClient } from './mcp-stateless-client.js';
import { STATELESS, startStatelessServer } from './mcp-stateless-server.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
templates:
  helper: { version: 1, tools: ["old/echo", "old/add", "old/count", "new/echo"] }
agents:
  - { id: agent-a, team: qa, template: helper }
  - { id: agent-b, team: qa, template: helper }
`;

async function setup(t: Test) {
  const old = await startMcpServer();
  t.teardown(() => old.close());
  const fresh = await startStatelessServer();
  t.teardown(() => fresh.close());
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      audit: { mode: 'on' },
      tools: { old: { kind: 'mcp', url: old.url, apiKey: 'old-key' }, new: { kind: 'mcp', url: fresh.url, apiKey: 'new-key' } },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = (agent: string) => h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
  return { h, old, fresh, token };
}

t.test('a 2026-07-28 agent in front of a 2025-11-25 server: discover, list, call, decided and validated, one upstream session per agent', async (t) => {
  const { h, old, token } = await setup(t);
  const a = statelessClient(`${h.url}/mcp/old`, await token('agent-a'));
  const b = statelessClient(`${h.url}/mcp/old`, await token('agent-b'));

  const discover = await a('server/discover');
  t.equal(discover.status, 200);
  t.same(discover.result?.supportedVersions, [STATELESS], 'the gateway speaks 2026-07-28 to the agent');
  t.equal(discover.result?.resultType, 'complete');
  t.match(discover.result?.capabilities, { tools: {} }, "the server's capabilities, from the session's initialize");
  t.match(discover.result?._meta, { 'io.modelcontextprotocol/serverInfo': { name: 'fixture' } });

  const list = await a('tools/list');
  t.same(((list.result?.tools ?? []) as { name: string }[]).map((x) => x.name).sort(), ['add', 'count', 'echo'], 'filtered by policy as for any agent');
  t.match(list.result, { resultType: 'complete', ttlMs: 0, cacheScope: 'private' }, 'caching hints the old server could not give');

  const echo = await a('tools/call', { name: 'echo', arguments: { text: 'hi' } });
  t.same(echo.result?.content, [{ type: 'text', text: 'hi' }]);
  t.equal(echo.result?.resultType, 'complete');

  const invalid = await a('tools/call', { name: 'add', arguments: { a: 1, b: 'two' } });
  t.equal(invalid.error?.code, -32602, 'arguments validated against the schema the gateway read in the emulated session');
  const denied = await a('tools/call', { name: 'secret_dump', arguments: {} });
  t.equal(denied.error?.code, -32003, 'policy decides as for any agent');

  const progress = await a('tools/call', { name: 'count', arguments: { to: 3 }, _meta: { progressToken: 'p1' } });
  t.same(
    progress.messages.filter((m) => m.method === 'notifications/progress').map((m) => (m.params as { progress: number }).progress),
    [1, 2, 3],
    'progress streamed through',
  );
  t.match(progress.result, { resultType: 'complete', content: [{ text: 'counted to 3' }] });

  await b('tools/call', { name: 'echo', arguments: { text: 'from b' } });
  t.equal(old.sessions(), 2, 'one upstream session per agent, held by the gateway');
  const sessionsOf = (text: string) => new Set(old.requests.filter((r) => r.rpc === 'tools/call' && JSON.stringify(r.body).includes(text)).map((r) => r.headers['mcp-session-id']));
  t.equal(sessionsOf('"hi"').size, 1);
  t.not([...sessionsOf('"hi"')][0], [...sessionsOf('from b')][0], "agent b does not share agent a's session");
  t.equal(old.requests.filter((r) => r.rpc === 'initialize').length, 2, 'each session opened once');

  // The revision's HeaderMismatch: HTTP 400, -32020 (aos_mcp_header_mismatch), with the request's id.
  const missing = await a('tools/list', {}, { 'mcp-method': '' });
  t.equal(missing.status, 400);
  t.equal(missing.error?.code, -32020, 'an empty Mcp-Method does not match the body');
  const mismatch = await a('tools/call', { name: 'echo', arguments: { text: 'x' } }, { 'mcp-name': 'secret_dump' });
  t.equal(mismatch.status, 400);
  t.equal(mismatch.error?.code, -32020, 'Mcp-Name must match the body');
  t.match(mismatch.error?.message, /Mcp-Name/);
  const unnamed = await fetch(`${h.url}/mcp/old`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await token('agent-a')}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': STATELESS,
      'mcp-method': 'tools/call',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, _meta: { 'io.modelcontextprotocol/protocolVersion': STATELESS } } }),
  });
  t.equal(unnamed.status, 400);
  t.match(await unnamed.json(), { id: 5, error: { code: -32020, message: /needs the Mcp-Name header/ } }, 'a tools/call without Mcp-Name');
  const version = await a('tools/list', {}, { 'mcp-protocol-version': '2025-11-25' });
  t.equal(version.error?.code, -32020, 'MCP-Protocol-Version must match _meta');
  const encoded = await a('tools/call', { name: 'echo', arguments: { text: 'b64' } }, { 'mcp-name': `=?base64?${Buffer.from('echo').toString('base64')}?=` });
  t.same(encoded.result?.content, [{ type: 'text', text: 'b64' }], 'a Base64-encoded Mcp-Name that says the body is accepted');

  const events = await auditEvents(h, 9);
  const call = events.find((e) => e.tool === 'echo' && e.agent_id === 'agent-a' && e.decision === 'allow');
  t.same(call?.mcp, { agent_revision: STATELESS, server_revision: '2025-11-25' }, 'the audit event records both revisions');
});

t.test('a 2026-07-28 agent in front of a 2026-07-28 server: discovered, passed through with Mcp-Method/Mcp-Name set by the gateway', async (t) => {
  const { h, fresh, token } = await setup(t);
  const a = statelessClient(`${h.url}/mcp/new`, await token('agent-a'));
  const list = await a('tools/list');
  t.same(
    ((list.result?.tools ?? []) as { name: string }[]).map((x) => x.name),
    ['echo'],
    'filtered by policy',
  );
  t.match(list.result, { resultType: 'complete', ttlMs: 60_000, cacheScope: 'public' }, "the server's hints pass");
  const echo = await a('tools/call', { name: 'echo', arguments: { text: 'hi' } });
  t.same(echo.result?.content, [{ type: 'text', text: 'hi' }]);
  const invalid = await a('tools/call', { name: 'echo', arguments: {} });
  t.equal(invalid.error?.code, -32602, 'validated against the schema the gateway read with its own tools/list');
  t.ok(
    fresh.requests.some((r) => r.body.method === 'server/discover'),
    'auto: the gateway asked the server which revision it speaks',
  );
  for (const r of fresh.requests) {
    t.equal(r.headers['mcp-protocol-version'], STATELESS);
    t.equal(r.headers['mcp-method'], r.body.method, `${String(r.body.method)}: Mcp-Method set`);
    t.equal(r.headers.authorization, 'Bearer new-key', "the server's credential, never the agent's");
    t.notOk(r.headers['mcp-session-id'], 'no session');
  }
  const trace = '0af7651916cd43dd8448eb211c80319c';
  const traced = await a('tools/call', { name: 'echo', arguments: { text: 'traced' }, _meta: { traceparent: `00-${trace}-b7ad6b7169203331-01` } });
  t.same(traced.result?.content, [{ type: 'text', text: 'traced' }]);
  const upstreamMeta = fresh.requests.find((r) => JSON.stringify(r.body).includes('"traced"'))?.body.params as { _meta: { traceparent: string } };
  t.match(upstreamMeta._meta.traceparent, new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`), 'the server sees the same trace in _meta');
  // (With tracing on, the parent there is the gateway's span: trace-context.ts sets ctx.traceparent.)
  const events = await auditEvents(h, 4);
  t.same(events.find((e) => e.tool === 'echo' && e.decision === 'allow')?.mcp, { agent_revision: STATELESS, server_revision: STATELESS });
  t.equal(events.find((e) => e.tool_args_sha256 !== null && e.trace_id === trace)?.tool, 'echo', 'the call is in the trace its _meta named');
});

t.test('a 2025-11-25 agent (the official SDK client) is unchanged: its own session, both revisions 2025-11-25 in the audit', async (t) => {
  const { h, token } = await setup(t);
  const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/old`), { requestInit: { headers: { authorization: `Bearer ${await token('agent-a')}` } } });
  const client = new Client({ name: 'sdk-agent', version: '1.0.0' });
  await client.connect(transport);
  t.teardown(() => client.close());
  t.same((await client.callTool({ name: 'echo', arguments: { text: 'sdk' } })).content, [{ type: 'text', text: 'sdk' }]);
  const events = await auditEvents(h, 4);
  t.same(events.find((e) => e.tool === 'echo')?.mcp, { agent_revision: '2025-11-25', server_revision: '2025-11-25' });
  t.same(events.find((e) => e.operation === 'notifications/initialized')?.mcp, { agent_revision: '2025-11-25', server_revision: '2025-11-25' }, 'notifications too');
});
