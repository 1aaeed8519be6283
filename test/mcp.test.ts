/**
 * The MCP gateway end to end: the official SDK client (StreamableHTTPClientTransport) → gateway
 * (identity + the committed policy bundle) → a real SDK McpServer on loopback.
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import t, { type Test } from 'tap';
import { startHarness } from './helpers.js';
import { type McpFixture, type McpFixtureOptions, startMcpServer } from './mcp-fixture.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const TOOL_KEY = 'mcp-server-credential-0123456789';
const REGISTRY = `
templates:
  helper:
    version: 1
    tools: ["fixture/echo", "fixture/add", "fixture/count", "fixture/die", "fixture/delete_repo", "fixture/review", "fixture/docs://*", "jsonfix/*"]
  all: { version: 1, tools: ["*"] }
agents:
  - { id: helper-agent, team: support, template: helper }
  - { id: root-agent, team: platform, template: all }
`;

async function setup(t: Test, fixture: McpFixtureOptions = {}, extraTools: Record<string, unknown> = {}) {
  const server = await startMcpServer(fixture);
  t.teardown(() => server.close());
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      tools: { fixture: { kind: 'mcp', url: server.url, apiKey: TOOL_KEY }, ...extraTools },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = (agent: string) => h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
  const connect = async (agent: string | null, name = 'fixture') => {
    const headers: Record<string, string> = agent === null ? {} : { authorization: `Bearer ${await token(agent)}` };
    const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/${name}`), { requestInit: { headers } });
    const client = new Client({ name: 'test-agent', version: '1.0.0' });
    await client.connect(transport);
    t.teardown(() => client.close());
    return { client, transport };
  };
  return { h, server, token, connect };
}

const names = (tools: { name: string }[]) => tools.map((x) => x.name).sort();
const calls = (s: McpFixture, tool?: string) => s.requests.filter((r) => r.rpc === 'tools/call' && (tool === undefined || (r.body as { params: { name: string } }).params.name === tool));
const rpcError = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  return err as McpError;
};

t.test('tools/list is filtered by policy to what the agent may use; the server sees the tool credential, never the agent token', async (t) => {
  const { server, connect, token } = await setup(t);
  const { client } = await connect('helper-agent');
  t.same(names((await client.listTools()).tools), ['add', 'count', 'delete_repo', 'die', 'echo'], 'secret_dump is hidden; delete_repo (needs approval) stays listed');
  const root = await connect('root-agent');
  t.same(names((await root.client.listTools()).tools), ['add', 'add_tool', 'confirm', 'count', 'delete_repo', 'die', 'echo', 'secret_dump'], 'another template sees all');
  const jwt = await token('helper-agent');
  for (const r of server.requests) {
    t.equal(r.headers.authorization, `Bearer ${TOOL_KEY}`, `${r.method} ${r.rpc ?? ''}: the tool credential`);
    t.notOk(JSON.stringify(r.headers).includes(jwt.slice(0, 40)), 'no agent token upstream');
  }
  t.ok(
    server.requests.some((r) => r.rpc === 'notifications/initialized'),
    'notifications pass through',
  );
});

t.test('tools/list filtering covers every page (nextCursor kept)', async (t) => {
  const { connect } = await setup(t, { pageSize: 2 });
  const { client } = await connect('helper-agent');
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.listTools(cursor === undefined ? {} : { cursor });
    seen.push(...page.tools.map((x) => x.name));
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== undefined && pages < 10);
  t.equal(pages, 4, 'seven tools, two per page');
  t.same(seen.sort(), ['add', 'count', 'delete_repo', 'die', 'echo']);
});

t.test('a resumed stream (GET with Last-Event-ID) replaying a tools/list answer is filtered too', async (t) => {
  const { connect, h, token } = await setup(t, { resumable: true });
  const { transport } = await connect('helper-agent');
  const headers = {
    authorization: `Bearer ${await token('helper-agent')}`,
    'mcp-session-id': transport.sessionId!,
    'mcp-protocol-version': '2025-11-25',
    accept: 'application/json, text/event-stream',
  };
  const listed = await fetch(`${h.url}/mcp/fixture`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 'L', method: 'tools/list' }),
  });
  const text = await listed.text();
  const priming = /^id: (\S+)\n(?:retry: \d+\n)?data: \n\n/.exec(text);
  t.ok(priming, 'the server primes the stream with an event id');
  const ac = new AbortController();
  const replay = await fetch(`${h.url}/mcp/fixture`, { method: 'GET', headers: { ...headers, 'last-event-id': priming![1] }, signal: ac.signal });
  t.equal(replay.status, 200);
  const reader = replay.body!.getReader();
  let got = '';
  while (!got.includes('"tools"')) {
    const { value, done } = await reader.read();
    if (done) break;
    got += Buffer.from(value).toString('utf8');
  }
  ac.abort();
  const answer = JSON.parse(/data: (\{.*"id":"L".*\})/.exec(got)![1]) as { result: { tools: { name: string }[] } };
  t.same(names(answer.result.tools), ['add', 'count', 'delete_repo', 'die', 'echo'], 'the replayed answer is filtered like the live one');
});

t.test('allowed, denied, approval-needing and schema-invalid tools/call', async (t) => {
  const { server, connect } = await setup(t);
  const { client } = await connect('helper-agent');
  await client.listTools();
  const ok = await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
  t.same(ok.content, [{ type: 'text', text: 'hello' }], 'allowed call answered by the server');

  const cases = [
    { name: 'secret_dump', args: {}, code: -32003, aos: 'aos_policy_denied', message: /tool secret_dump is not allowed for template helper/ },
    { name: 'delete_repo', args: { repo: 'x' }, code: -32003, aos: 'aos_approval_pending', message: /waits for a human approval/ },
    { name: 'add', args: { a: 'one', b: 2 }, code: -32602, aos: 'aos_invalid_arguments', message: /invalid arguments for tool add: \/a must be number/ },
    { name: 'add', args: { a: 1 }, code: -32602, aos: 'aos_invalid_arguments', message: /must have required property 'b'/ },
    { name: 'count', args: { to: 500 }, code: -32602, aos: 'aos_invalid_arguments', message: /\/to must be <= 50/ },
  ];
  for (const c of cases) {
    const err = await rpcError(client.callTool({ name: c.name, arguments: c.args }));
    t.ok(err instanceof McpError, `${c.name}: the SDK raises McpError`);
    t.equal(err.code, c.code, `${c.name}: JSON-RPC code`);
    t.match(err.message, c.message, `${c.name}: message`);
    t.match(err.data, { code: c.aos }, `${c.name}: stable code in error.data`);
  }
  t.same(
    calls(server).map((r) => (r.body as { params: { name: string } }).params.name),
    ['echo'],
    'refused calls never reached the server',
  );
  t.same(server.called, ['echo']);
});

t.test('a call before any tools/list: the gateway learns the schemas itself; unknown tools are refused', async (t) => {
  const { server, connect } = await setup(t);
  const { client, transport } = await connect('root-agent');
  const err = await rpcError(client.callTool({ name: 'add', arguments: { a: 1, b: 'two' } }));
  t.equal(err.code, -32602, 'validated against the schema the gateway fetched');
  const own = server.requests.filter((r) => r.rpc === 'tools/list');
  t.equal(own.length, 1, 'one tools/list of its own');
  t.match((own[0].body as { id: string }).id, /^aos-tools-list-/);
  t.type(transport.sessionId, 'string', 'the agent has a session');
  t.equal(own[0].headers['mcp-session-id'], transport.sessionId, 'in the agent session');
  t.ok(own[0].headers['mcp-session-id'], 'carries the session id');
  t.same((await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).content, [{ type: 'text', text: '3' }]);
  const unknown = await rpcError(client.callTool({ name: 'nope', arguments: {} }));
  t.equal(unknown.code, -32602);
  t.match(unknown.data, { code: 'aos_tool_not_found' });
  t.equal(server.requests.filter((r) => r.rpc === 'tools/list').length, 1, 'a fresh complete list is not fetched again for an unknown name');
  t.equal(calls(server).length, 1, 'only the valid call reached the server');
});

t.test('tools/list_changed from the server makes the gateway learn the tools again', async (t) => {
  const { connect } = await setup(t);
  const { client } = await connect('root-agent');
  t.same((await client.callTool({ name: 'add', arguments: { a: 1, b: 1 } })).content, [{ type: 'text', text: '2' }], 'the gateway read the whole list');
  const changed = new Promise<void>((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()));
  await client.callTool({ name: 'add_tool', arguments: {} });
  await changed;
  t.same((await client.callTool({ name: 'extra', arguments: { n: 4 } })).content, [{ type: 'text', text: 'extra 4' }], 'the new tool is known, its schema applied');
  t.equal((await rpcError(client.callTool({ name: 'extra', arguments: { n: 'four' } }))).code, -32602);
});

t.test('the server cannot list its tools: calls are refused with a JSON-RPC error (fail closed), logged', async (t) => {
  const { server, connect, h } = await setup(t, { listFails: true });
  const { client } = await connect('root-agent');
  const err = await rpcError(client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }));
  t.equal(err.code, -32002);
  t.match(err.message, /could not read the tools of MCP server fixture to check the call: tools\/list failed: .*catalogue is down/);
  t.equal(calls(server).length, 0, 'the unchecked call never reached the server');
  t.ok(
    h.logs.some((l) => l.includes('could not read the tools of an MCP server')),
    'logged',
  );
});

t.test('an SSE-streamed result with progress notifications passes through as it comes', async (t) => {
  const { connect } = await setup(t);
  const { client } = await connect('helper-agent');
  const progress: number[] = [];
  const r = await client.callTool({ name: 'count', arguments: { to: 5 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
  t.same(progress, [1, 2, 3, 4, 5], 'every progress notification reached the client');
  t.same(r.content, [{ type: 'text', text: 'counted to 5' }]);
});

t.test('session lifecycle: initialize gives a session id, requests carry it and the protocol version, DELETE ends it', async (t) => {
  const { server, connect } = await setup(t);
  const { client, transport } = await connect('helper-agent');
  const sid = transport.sessionId;
  t.ok(sid, 'the session id came back through the gateway');
  await client.ping();
  // (The gateway's one server/discover probe, at the first initialize, asks which revision the server speaks.)
  const later = server.requests.filter((r) => r.rpc !== 'initialize' && r.rpc !== 'server/discover');
  t.ok(later.length >= 2);
  for (const r of later) {
    t.equal(r.headers['mcp-session-id'], sid, `${r.method} ${r.rpc ?? ''} carries the session`);
    t.equal(r.headers['mcp-protocol-version'], '2025-11-25');
  }
  // The SDK client opens the GET stream after initialization.
  for (let i = 0; i < 50 && !server.requests.some((r) => r.method === 'GET'); i++) await new Promise((r) => setTimeout(r, 10));
  t.ok(
    server.requests.some((r) => r.method === 'GET'),
    'the GET stream reached the server',
  );
  t.equal(server.sessions(), 1);
  await transport.terminateSession();
  t.ok(
    server.requests.some((r) => r.method === 'DELETE' && r.headers['mcp-session-id'] === sid),
    'DELETE forwarded',
  );
  t.equal(server.sessions(), 0, 'the server ended the session');
  const after = await rpcError(client.ping());
  // The client forgets the session id once it ended it: the server refuses a request without one.
  t.match(String(after), /No valid session ID|Session not found/, 'the ended session is refused by the server, through the gateway');
});

t.test('a session belongs to the agent that opened it: another agent naming it is refused, before and after a reload', async (t) => {
  const { server, connect, token, h } = await setup(t);
  const { client, transport } = await connect('helper-agent');
  const sid = transport.sessionId!;
  const stranger = { authorization: `Bearer ${await token('root-agent')}`, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25', accept: 'application/json, text/event-stream' };
  // The client opens its GET stream on its own after initialization: let it, then count.
  for (let i = 0; i < 50 && !server.requests.some((r) => r.method === 'GET'); i++) await new Promise((r) => setTimeout(r, 10));
  const seen = server.requests.length;
  const attempt = async () => {
    for (const [method, body] of [
      ['POST', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } })],
      ['GET', undefined],
      ['DELETE', undefined],
    ] as const) {
      const res = await fetch(`${h.url}/mcp/fixture`, { method, headers: { ...stranger, ...(body ? { 'content-type': 'application/json' } : {}) }, body });
      t.equal(res.status, 404, `${method}: 404, as for an unknown session`);
      t.equal(res.headers.get('x-aos-error-code'), 'aos_session_not_found');
      t.match(await res.json(), { jsonrpc: '2.0', id: null, error: { code: -32001, message: /no MCP session .* for this agent/ } });
    }
  };
  await attempt();
  t.same(await h.gateway.reload(), { ok: true });
  await attempt();
  t.equal(server.requests.length, seen, 'none reached the server');
  t.same((await client.callTool({ name: 'echo', arguments: { text: 'mine' } })).content, [{ type: 'text', text: 'mine' }], 'the owner goes on');
  await transport.terminateSession();
  t.equal(server.sessions(), 0);
});

for (const json of [false, true]) {
  t.test(`a server that dies mid-call (${json ? 'JSON' : 'SSE'} answers): a JSON-RPC error for that request, no hang`, async (t) => {
    const { connect } = await setup(t, { json });
    const { client } = await connect('helper-agent');
    const started = Date.now();
    const err = await rpcError(client.callTool({ name: 'die', arguments: {} }, undefined, { timeout: 10_000 }));
    t.ok(err instanceof McpError, `McpError: ${String(err)}`);
    t.equal(err.code, -32002);
    t.match(err.data, { code: 'aos_upstream_error' });
    t.ok(Date.now() - started < 5_000, 'settled promptly');
    t.same((await client.callTool({ name: 'echo', arguments: { text: 'still here' } })).content, [{ type: 'text', text: 'still here' }], 'the session goes on');
  });
}

t.test('JSON answers (enableJsonResponse): tools/list filtered, calls decided', async (t) => {
  const { connect } = await setup(t, { json: true });
  const { client } = await connect('helper-agent');
  t.same(names((await client.listTools()).tools), ['add', 'count', 'delete_repo', 'die', 'echo']);
  t.same((await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })).content, [{ type: 'text', text: '5' }]);
  t.equal((await rpcError(client.callTool({ name: 'secret_dump', arguments: {} }))).code, -32003);
});

t.test('stateless servers work the same', async (t) => {
  const { connect } = await setup(t, { stateless: true, json: true });
  const { client, transport } = await connect('helper-agent');
  t.equal(transport.sessionId, undefined);
  t.same((await client.callTool({ name: 'echo', arguments: { text: 'x' } })).content, [{ type: 'text', text: 'x' }]);
  t.equal((await rpcError(client.callTool({ name: 'add', arguments: {} }))).code, -32602);
});

t.test('resources/read and prompts/get are decided by policy; their lists are filtered', async (t) => {
  const { server, connect } = await setup(t);
  const { client } = await connect('helper-agent');
  t.same(
    (await client.listResources()).resources.map((r) => r.uri),
    ['docs://readme'],
    'secret://keys hidden',
  );
  t.same(
    (await client.listPrompts()).prompts.map((p) => p.name),
    ['review'],
  );
  const root = await connect('root-agent');
  t.same((await root.client.listResources()).resources.map((r) => r.uri).sort(), ['docs://readme', 'secret://keys']);
  t.same((await client.readResource({ uri: 'docs://readme' })).contents, [{ uri: 'docs://readme', text: 'read me' }]);
  const denied = await rpcError(client.readResource({ uri: 'secret://keys' }));
  t.equal(denied.code, -32003);
  t.match(denied.message, /tool secret:\/\/keys is not allowed/);
  const prompt = await client.getPrompt({ name: 'review', arguments: { code: 'x = 1' } });
  t.match(prompt.messages[0].content, { text: 'Review: x = 1' });
  t.notOk(
    server.requests.some((r) => r.rpc === 'resources/read' && (r.body as { params: { uri: string } }).params.uri === 'secret://keys'),
    'the denied read never reached the server',
  );
});

t.test('identity on MCP routes: no token is a 401 the client raises; the server is never reached', async (t) => {
  const { server, h } = await setup(t);
  const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/fixture`));
  const client = new Client({ name: 'anon', version: '1' });
  const err = (await client.connect(transport).then(
    () => null,
    (e: unknown) => e,
  )) as { code: number; message: string };
  t.equal(err.code, 401, 'StreamableHTTPError 401');
  t.match(err.message, /"code":-32001.*missing agent token.*aos_unauthenticated/);
  t.equal(server.requests.length, 0);
});

t.test('wire checks: batches, bad JSON-RPC, Mcp-Method/Mcp-Name headers that contradict the body, unknown servers', async (t) => {
  const { server, h, token } = await setup(t);
  const auth = { authorization: `Bearer ${await token('root-agent')}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const post = async (body: unknown, headers: Record<string, string> = {}, path = '/mcp/fixture') => {
    const res = await fetch(`${h.url}${path}`, { method: 'POST', headers: { ...auth, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, code: res.headers.get('x-aos-error-code'), body: (await res.json()) as { id: unknown; error: { code: number; message: string } } };
  };
  const call = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } };
  const cases: { name: string; body: unknown; headers?: Record<string, string>; path?: string; status: number; id: unknown; code: string; rpc: number; message: RegExp }[] = [
    { name: 'batch', body: [call], status: 400, id: null, code: 'aos_bad_request', rpc: -32600, message: /batches are not supported/ },
    { name: 'not JSON', body: '{"jsonrpc":', status: 400, id: null, code: 'aos_bad_request', rpc: -32600, message: /not valid JSON/ },
    { name: 'no jsonrpc', body: { id: 1, method: 'ping' }, status: 400, id: null, code: 'aos_bad_request', rpc: -32600, message: /"jsonrpc" must be "2.0"/ },
    // MCP 2026-07-28 HeaderMismatch: HTTP 400 with the request's id and -32020.
    {
      name: 'method header mismatch',
      body: call,
      headers: { 'mcp-method': 'tools/list' },
      status: 400,
      id: 9,
      code: 'aos_mcp_header_mismatch',
      rpc: -32020,
      message: /Mcp-Method header .* does not match/,
    },
    {
      name: 'name header mismatch',
      body: call,
      headers: { 'mcp-method': 'tools/call', 'mcp-name': 'add' },
      status: 400,
      id: 9,
      code: 'aos_mcp_header_mismatch',
      rpc: -32020,
      message: /Mcp-Name header .* does not match/,
    },
    {
      name: 'tools/call without a name',
      body: { jsonrpc: '2.0', id: 'a', method: 'tools/call', params: {} },
      status: 200,
      id: 'a',
      code: 'aos_bad_request',
      rpc: -32600,
      message: /needs params.name/,
    },
    {
      name: 'arguments not an object',
      body: { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: [1] } },
      status: 200,
      id: 3,
      code: 'aos_invalid_arguments',
      rpc: -32602,
      message: /must be an object/,
    },
    { name: 'unknown server', body: call, path: '/mcp/nope', status: 404, id: null, code: 'aos_route_not_found', rpc: -32601, message: /no route/ },
  ];
  for (const c of cases) {
    const r = await post(c.body, c.headers, c.path);
    t.equal(r.status, c.status, `${c.name}: status`);
    t.equal(r.code, c.code, `${c.name}: code`);
    t.equal(r.body.id, c.id, `${c.name}: the request's id`);
    t.equal(r.body.error.code, c.rpc, `${c.name}: JSON-RPC code`);
    t.match(r.body.error.message, c.message, `${c.name}: message`);
  }
  t.equal(server.requests.length, 0, 'none reached the server');
  const put = await fetch(`${h.url}/mcp/fixture`, { method: 'PUT', headers: auth, body: '{}' });
  t.equal(put.status, 405);
  t.equal(put.headers.get('allow'), 'GET, POST, DELETE');
  const matching = await post(call, { 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
  t.equal(matching.status, 200, 'headers that agree with the body are fine');
});
