/**
 * Approvals of MCP tool calls end to end: the official SDK client (StreamableHTTPClientTransport) →
 * gateway (the committed policy: `*delete*` tools need an approval) → a real SDK McpServer; people
 * decide with the real command line (`aos approvals …`, through the gateway's admin API).
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import t, { type Test } from 'tap';
import { aosCli } from './control-fixtures.js';
import { auditEvents, freePort, startHarness } from './helpers.js';
import { startMcpServer } from './mcp-fixture.js';
import { statelessClient } from './mcp-stateless-client.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
templates:
  helper: { version: 1, tools: ["fixture/*"] }
  careful: { version: 1, tools: ["fixture/*"], approval: { mode: block, timeoutSeconds: 60 } }
agents:
  - { id: helper-agent, team: support, template: helper }
  - { id: careful-agent, team: support, template: careful }
`;

async function setup(t: Test) {
  const server = await startMcpServer();
  t.teardown(() => server.close());
  const h = await startHarness(
    t,
    {
      admin: { host: '127.0.0.1', port: await freePort() },
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      tools: { fixture: { kind: 'mcp', url: server.url, apiKey: 'mcp-server-credential-0123456789' } },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const connect = async (agent: string) => {
    const token = await h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
    const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/fixture`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
    const client = new Client({ name: 'approvals-test', version: '1.0.0' });
    await client.connect(transport);
    t.teardown(() => client.close());
    return client;
  };
  const cli = (...args: string[]) => aosCli([...args, '--config', h.configFile]);
  return { h, server, connect, cli };
}

const rpcError = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as McpError,
  );

t.test('async: a JSON-RPC error with the approval id; approved with the CLI; the retry (a new request id) is served once', async (t) => {
  const { h, server, connect, cli } = await setup(t);
  const client = await connect('helper-agent');
  const err = await rpcError(client.callTool({ name: 'delete_repo', arguments: { repo: 'octo/old' } }));
  t.ok(err instanceof McpError, 'the SDK raises McpError');
  t.equal(err!.code, -32003);
  t.match(err!.data, { code: 'aos_approval_pending', approval_id: /^[0-9a-f-]{36}$/ });
  const id = (err!.data as { approval_id: string }).approval_id;
  t.match(err!.message, id, 'the id in the message a client shows');
  t.same(server.called, [], 'the server was not called');

  const listed = await cli('approvals', 'list', '--status', 'pending');
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, new RegExp(`${id}\\s+pending\\s+helper-agent\\s+POST /mcp/fixture fixture/delete_repo`));

  const noReason = await cli('approvals', 'approve', id);
  t.not(noReason.code, 0, 'a decision needs --reason');
  t.match(noReason.stderr, /--reason TEXT is required/);
  const approved = await cli('approvals', 'approve', id, '--reason', 'repo is archived');
  t.equal(approved.code, 0, approved.stderr);
  t.match(approved.stdout, /approved\s+helper-agent.*approved by cli:.*: repo is archived/);

  const ok = await client.callTool({ name: 'delete_repo', arguments: { repo: 'octo/old' } });
  t.same(ok.content, [{ type: 'text', text: 'deleted octo/old' }], 'the same call again is served');
  t.same(server.called, ['delete_repo']);
  const replay = await rpcError(client.callTool({ name: 'delete_repo', arguments: { repo: 'octo/old' } }));
  t.match(replay!.data, { code: 'aos_approval_pending' }, 'a replay asks again');
  t.not((replay!.data as { approval_id: string }).approval_id, id);
  const other = await rpcError(client.callTool({ name: 'delete_repo', arguments: { repo: 'octo/new' } }));
  t.match(other!.data, { code: 'aos_approval_pending' }, 'other arguments: another approval');
  t.same(server.called, ['delete_repo'], 'served once');

  const denied = await cli('approvals', 'deny', (other!.data as { approval_id: string }).approval_id, '--reason', 'not that one');
  t.equal(denied.code, 0, denied.stderr);
  const events = await auditEvents(h, 4);
  t.ok(
    events.some((e) => e.tool === 'delete_repo' && e.approval?.id === id && e.approval.status === 'used' && e.approval.reason === 'repo is archived'),
    'the served call is audited with its approval',
  );
});

t.test('block: the tools/call is held until a person approves it with the CLI', async (t) => {
  const { server, connect, cli } = await setup(t);
  const client = await connect('careful-agent');
  const result = client.callTool({ name: 'delete_repo', arguments: { repo: 'octo/held' } });
  let id: string | null = null;
  const deadline = Date.now() + 10_000;
  while (id === null && Date.now() < deadline) {
    const listed = await cli('approvals', 'list', '--status', 'pending', '--json');
    const line = listed.stdout.split('\n').find((l) => l.includes('careful-agent'));
    if (line !== undefined) id = (JSON.parse(line) as { id: string }).id;
  }
  t.ok(id, 'the held call is in the queue');
  t.same(server.called, [], 'nothing reached the server while held');
  const approved = await cli('approvals', 'approve', id!, '--reason', 'checked with the owner');
  t.equal(approved.code, 0, approved.stderr);
  const ok = await result;
  t.same(ok.content, [{ type: 'text', text: 'deleted octo/held' }], 'the held call went on once approved');
  t.same(server.called, ['delete_repo']);
});

t.test('a 2026-07-28 agent that declared URL elicitation: the pending approval as input_required with the approval URL; the retry goes through once approved', async (t) => {
  const server = await startMcpServer();
  t.teardown(() => server.close());
  const h = await startHarness(
    t,
    {
      admin: { host: '127.0.0.1', port: await freePort() },
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      approvals: { url: 'https://console.example/approvals/{id}' },
      tools: { fixture: { kind: 'mcp', url: server.url } },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const cli = (...args: string[]) => aosCli([...args, '--config', h.configFile]);
  const a = statelessClient(`${h.url}/mcp/fixture`, await h.gateway.signer()!.mint({ subject: 'helper-agent', audience: 'aos-gateway', ttlSec: 600 }));
  const urlCaps = { 'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {}, url: {} } } };
  const call = { name: 'delete_repo', arguments: { repo: 'octo/old' }, _meta: urlCaps };

  const first = await a('tools/call', call);
  t.equal(first.error, undefined, 'not an error for this agent');
  const asked = first.result as { resultType: string; inputRequests: Record<string, { method: string; params: Record<string, string> }>; requestState: string };
  t.equal(asked.resultType, 'input_required');
  const request = asked.inputRequests['aos-approval'];
  t.equal(request.method, 'elicitation/create');
  t.equal(request.params.mode, 'url');
  const id = request.params.elicitationId;
  t.match(id, /^[0-9a-f-]{36}$/);
  t.equal(request.params.url, `https://console.example/approvals/${id}`, 'the configured URL, {id} replaced');
  t.match(request.params.message, /fixture\/delete_repo/);

  const retry = { ...call, inputResponses: { 'aos-approval': { action: 'accept' } }, requestState: asked.requestState };
  const still = await a('tools/call', retry);
  t.same(
    (still.result as { inputRequests: Record<string, { params: { elicitationId: string } }> }).inputRequests['aos-approval'].params.elicitationId,
    id,
    'still pending: the same approval, asked again',
  );

  const approved = await cli('approvals', 'approve', id, '--reason', 'archived');
  t.equal(approved.code, 0, approved.stderr);
  const done = await a('tools/call', retry);
  t.match(done.result, { resultType: 'complete', content: [{ type: 'text', text: 'deleted octo/old' }] }, 'the retry is the approved call');
  t.same(server.called, ['delete_repo']);
  const upstream = server.requests.find((r) => r.rpc === 'tools/call')?.body as { params: Record<string, unknown> };
  t.notOk('requestState' in upstream.params || 'inputResponses' in upstream.params, "the answer to the gateway's own elicitation does not reach the server");

  const noUrl = await a('tools/call', { name: 'delete_repo', arguments: { repo: 'octo/other' } });
  t.equal(noUrl.error?.code, -32003, 'an agent that did not declare URL elicitation gets the error, as before');
  t.match((noUrl.error as { data?: unknown } | undefined)?.data, { code: 'aos_approval_pending' });
});
