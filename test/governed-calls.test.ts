/**
 * The whole pipeline at once, as an investigation reads it: an agent (a JWT) asks a model, which
 * proposes a tool call; the agent calls that tool through the MCP gateway; each step is decided by
 * the committed policy bundle, metered against the agent's budgets, and recorded in the audit
 * trail. Official SDK clients (openai 6, @anthropic-ai/sdk, the MCP client) against the sample
 * upstream and a real SDK McpServer on loopback.
 */
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { McpError } from '@modelcontextprotocol/sdk/types.js';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { verifyChain } from '../src/audit/verify.js';
import { auditEvents, startHarness } from './helpers.js';
import { startMcpServer } from './mcp-fixture.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const TOOL_KEY = 'mcp-server-credential-0123456789';
const REGISTRY = `
templates:
  worker:
    version: 3
    providers: [openai, anthropic]
    models: ["gpt-4o*", "claude-*"]
    tools: ["fixture/echo", "fixture/add"]
    budget: { daily_usd: 5, tool_calls_daily: 3 }
agents:
  - { id: worker-1, team: ops, template: worker }
`;
const ECHO_TOOL = { type: 'function' as const, function: { name: 'echo', description: 'Echoes text', parameters: { type: 'object', properties: { text: { type: 'string' } } } } };

async function setup(t: Test) {
  const server = await startMcpServer({});
  t.teardown(() => server.close());
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      tools: { fixture: { kind: 'mcp', url: server.url, apiKey: TOOL_KEY } },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = await h.gateway.signer()!.mint({ subject: 'worker-1', audience: 'aos-gateway', ttlSec: 600 });
  const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/fixture`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const mcp = new Client({ name: 'worker-1', version: '1.0.0' });
  await mcp.connect(transport);
  t.teardown(() => mcp.close());
  return { h, server, token, mcp };
}

const rpcError = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as McpError,
  );

t.test('a model proposes a tool, the agent calls it: both are decided, metered and audited, and the record connects them', async (t) => {
  const { h, server, token, mcp } = await setup(t);
  const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: token, maxRetries: 0 });
  const anthropic = new Anthropic({ baseURL: h.url, apiKey: token, maxRetries: 0 });

  const chat = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'call echo' }], tools: [ECHO_TOOL] });
  t.equal(chat.choices[0].message.tool_calls?.[0]?.type === 'function' && chat.choices[0].message.tool_calls[0].function.name, 'echo', 'the model asks for echo');
  const msg = await anthropic.messages.create({
    model: 'claude-sonnet-4-5',
    max_tokens: 200,
    messages: [{ role: 'user', content: 'call add' }],
    tools: [{ name: 'add', description: 'Adds', input_schema: { type: 'object', properties: {} } }],
  });
  t.equal(msg.content[0].type, 'tool_use');

  const result = await mcp.callTool({ name: 'echo', arguments: { text: 'hello' } });
  t.same(result.content, [{ type: 'text', text: 'hello' }], 'the allowed tool ran');
  const denied = await rpcError(mcp.callTool({ name: 'secret_dump', arguments: {} }));
  t.match(denied?.message, /denied by policy/, 'a tool outside the template is refused with a JSON-RPC error');
  t.notOk(server.called.includes('secret_dump'), 'and never reached the server');

  const all = await auditEvents(h, 2 + 4);
  const byOp = (op: string) => all.filter((e) => e.operation === op);
  const [openaiCall] = all.filter((e) => e.route === 'openai/chat.completions');
  t.match(
    openaiCall,
    {
      agent_id: 'worker-1',
      team: 'ops',
      template: 'worker',
      template_version: 3,
      decision: 'allow',
      outcome: 'completed',
      status: 200,
      model: 'gpt-4o-mini',
      tool_calls: ['echo'],
      input_tokens: chat.usage!.prompt_tokens,
      output_tokens: chat.usage!.completion_tokens,
    },
    'the model call: who, what it proposed, what it used',
  );
  t.ok(openaiCall.cost_usd! > 0, `and what it cost ($${openaiCall.cost_usd})`);
  const [anthropicCall] = all.filter((e) => e.route === 'anthropic/messages');
  t.match(anthropicCall, { tool_calls: ['add'], input_tokens: msg.usage.input_tokens, output_tokens: msg.usage.output_tokens }, 'Anthropic tool_use is recorded the same way');

  const toolCalls = byOp('tools/call');
  t.match(
    toolCalls.find((e) => e.tool === 'echo'),
    { kind: 'mcp', tool_server: 'fixture', decision: 'allow', outcome: 'completed', agent_id: 'worker-1' },
    'the tool call it led to',
  );
  t.ok(toolCalls.find((e) => e.tool === 'echo')!.tool_args_sha256, 'arguments kept as a hash only');
  t.match(
    toolCalls.find((e) => e.tool === 'secret_dump'),
    { kind: 'mcp', decision: 'deny', outcome: 'denied', error_code: 'aos_policy_denied' },
    'the refused one is recorded as denied',
  );
  const first = all.find((e) => e.id === openaiCall.id)!;
  t.ok(
    all.some((e) => e.tool === first.tool_calls![0] && e.agent_id === first.agent_id && e.seq > first.seq),
    'a query links "the model asked for echo" to "the agent called echo"',
  );
  t.ok(verifyChain(h.gateway.audit()!.store).ok, 'the chain verifies');
  const raw = JSON.stringify(all);
  t.notOk(raw.includes(TOOL_KEY) || raw.includes(token.slice(0, 40)), 'no tool credential or agent token in the trail');
});

t.test('tool-call budgets count MCP tools/call (not the rest of the protocol) and refuse past the limit', async (t) => {
  const { h, server, mcp } = await setup(t);
  await mcp.listTools();
  for (let i = 0; i < 3; i++) await mcp.callTool({ name: 'add', arguments: { a: i, b: 1 } });
  const before = server.called.length;
  const over = await rpcError(mcp.callTool({ name: 'add', arguments: { a: 9, b: 9 } }));
  t.ok(over !== null, 'the fourth call is refused');
  t.match(over?.message, /budget/i, `with a budget message: ${over?.message}`);
  t.equal(server.called.length, before, 'the server never saw it');
  t.ok((await mcp.listTools()).tools.length > 0, 'listing tools is not a tool call: still allowed');
  const all = await auditEvents(h, 9);
  t.match(
    all.filter((e) => e.operation === 'tools/call').map((e) => e.error_code),
    [null, null, null, 'aos_budget_exceeded'],
    'audited: three allowed, one refused for budget',
  );
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_denials_total\{reason="aos_budget_exceeded"\} 1/, 'counted as a denial by reason');
});

t.test('a hard budget a call cannot fit is a 429 insufficient_quota the SDK raises, with the policy enforcing too', async (t) => {
  const server = await startMcpServer({});
  t.teardown(() => server.close());
  const h = await startHarness(
    t,
    { identity: { mode: 'required', registry: 'agents.yaml' }, policy: { mode: 'enforce', bundle: { file: BUNDLE } } },
    {
      files: { 'agents.yaml': 'templates:\n  tiny: { version: 1, models: ["gpt-4o-mini"], maxTokens: 1000, budget: { daily_usd: 0.0005 } }\nagents:\n  - { id: tiny-1, team: ops, template: tiny }\n' },
    },
  );
  const token = await h.gateway.signer()!.mint({ subject: 'tiny-1', audience: 'aos-gateway', ttlSec: 600 });
  const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: token, maxRetries: 0 });
  // gpt-4o-mini output is $0.60 per 1M: 1000 tokens is $0.0006, over the $0.0005 a day.
  const err = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).then(
    () => null,
    (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
  );
  t.equal(err?.status, 429);
  t.equal(err?.code, 'aos_budget_exceeded');
  t.equal(err?.type, 'insufficient_quota', 'the quota error type SDKs surface');
  t.match(err?.message, /daily budget of agent:tiny-1 would be exceeded/);
  const ok = await openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
  t.ok(ok.choices[0].message.content, 'a call whose worst case fits goes through');
  t.equal(h.upstream.received.length, 1, 'only that one reached the upstream');
});
