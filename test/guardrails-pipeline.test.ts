/**
 * Guardrails end to end: real SDK clients through the gateway with the committed policy bundle. The
 * findings reach the policy (deny on high severity, redact below), the redacted request reaches the
 * upstream with numbered placeholders, the agent gets its own values back (streams included), and
 * the audit trail records where and what kind, never the value.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { auditEvents, type Harness, startHarness } from './helpers.js';
import { startMcpServer } from './mcp-fixture.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
templates:
  standard: { version: 1, providers: [openai, anthropic], models: ["*"], tools: ["*"], guardrails: standard }
  strict: { version: 1, providers: [openai, anthropic], models: ["*"], tools: ["*"], guardrails: strict }
  opaque: { version: 1, providers: [openai, anthropic], models: ["*"], tools: ["*"], guardrails: opaque }
agents:
  - { id: writer, team: content, template: standard }
  - { id: auditor, team: risk, template: strict }
  - { id: blind, team: content, template: opaque }
`;

const EMAIL = 'jane.doe@example.com';
const CARD = '4539 1488 0343 6467'; // passes Luhn, not a test card: high severity
const OTHER_EMAIL = 'ops@corp.example.org';
const AWS_KEY = 'AKIAZ7VRSQ5TJN3PXL2M';

async function harness(t: Test, overrides: Record<string, unknown> = {}) {
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      guardrails: { profiles: { opaque: { restore: false } } },
      ...overrides,
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = (agent: string) => h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
  return Object.assign(h, { token });
}

const openai = async (h: Harness & { token(a: string): Promise<string> }, agent = 'writer') => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: await h.token(agent), maxRetries: 0 });
const upstreamBody = (h: Harness) => h.upstream.received.at(-1)!.body;

/** The whole audit store as text: a value must not be anywhere in it. */
async function auditText(h: Harness, n: number): Promise<string> {
  return JSON.stringify(await auditEvents(h, n));
}

t.test('OpenAI chat: an email is redacted upstream and restored for the agent; the audit has the finding, not the value', async (t) => {
  const h = await harness(t);
  const client = await openai(h);
  const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `write to ${EMAIL} and ${EMAIL} today` }] });
  const sent = JSON.parse(upstreamBody(h));
  t.equal(sent.messages[0].content, 'write to [EMAIL_1] and [EMAIL_1] today', 'the provider sees one numbered placeholder per value');
  t.notOk(upstreamBody(h).includes(EMAIL), 'the value never reached the provider');
  t.equal(res.choices[0].message.content, `Echo: write to ${EMAIL} and ${EMAIL} today`, 'the agent gets its own value back');
  const [event] = await auditEvents(h, 1);
  t.same(event.findings, [{ detector: 'pii.email', severity: 'medium', path: 'messages.0.content' }]);
  t.ok(event.flags?.includes('redacted'), 'flagged redacted');
  t.equal(event.decision, 'allow');
  t.notOk((await auditText(h, 1)).includes(EMAIL), 'the audit store never holds the value');
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_guardrail_findings_total\{detector="pii.email",action="redacted"\} 2/, 'each occurrence counted');
});

t.test('streams split a placeholder anywhere: OpenAI chat and Anthropic messages restore it', async (t) => {
  const h = await harness(t);
  const client = await openai(h);
  const stream = await client.chat.completions.create({ model: 'fine-stream', stream: true, messages: [{ role: 'user', content: `cc ${OTHER_EMAIL} for ${EMAIL}` }] });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  t.equal(text, `Echo: cc ${OTHER_EMAIL} for ${EMAIL}`, 'OpenAI stream restored');
  t.equal(JSON.parse(upstreamBody(h)).messages[0].content, 'cc [EMAIL_1] for [EMAIL_2]');

  const anthropic = new Anthropic({ baseURL: `${h.url}/anthropic`, apiKey: await h.token('writer'), maxRetries: 0 });
  const s = anthropic.messages.stream({ model: 'fine-stream', max_tokens: 64, messages: [{ role: 'user', content: `ping ${EMAIL}` }] });
  let atext = '';
  for await (const e of s) if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') atext += e.delta.text;
  t.equal(atext, `Echo: ping ${EMAIL}`, 'Anthropic stream restored');
  t.equal((await s.finalMessage()).content[0].type, 'text');
  t.match(JSON.parse(upstreamBody(h)).messages[0].content, 'ping [EMAIL_1]');
});

t.test('OpenAI responses: the input string is redacted and restored', async (t) => {
  const h = await harness(t);
  const client = await openai(h);
  const res = await client.responses.create({ model: 'gpt-4o', input: `reach ${EMAIL}` });
  t.equal(res.output_text, `Echo: reach ${EMAIL}`);
  t.equal(JSON.parse(upstreamBody(h)).input, 'reach [EMAIL_1]');
});

t.test('a secret denies the call (high severity): the provider never sees it, the reason names detector and path', async (t) => {
  const h = await harness(t);
  const client = await openai(h);
  const before = h.upstream.received.length;
  const err = (await client.chat.completions
    .create({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: `deploy with ${AWS_KEY}` },
      ],
    })
    .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
  t.ok(err instanceof OpenAI.PermissionDeniedError);
  t.equal(err.code, 'aos_policy_denied');
  t.match(err.message, /guardrail finding secret\.[a-z_]+ \((high|critical)\) at messages\.1\.content/);
  t.notOk(err.message.includes(AWS_KEY), 'the error never echoes the value');
  t.equal(h.upstream.received.length, before, 'not forwarded');
  const [event] = await auditEvents(h, 1);
  t.equal(event.decision, 'deny');
  t.match(event.findings, [{ path: 'messages.1.content' }]);
  t.notOk((await auditText(h, 1)).includes(AWS_KEY));

  const anthropic = new Anthropic({ baseURL: `${h.url}/anthropic`, apiKey: await h.token('writer'), maxRetries: 0 });
  const aerr = (await anthropic.messages
    .create({ model: 'claude-sonnet-4-5', max_tokens: 16, system: `card on file: ${CARD}`, messages: [{ role: 'user', content: 'charge it' }] })
    .catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
  t.ok(aerr instanceof Anthropic.PermissionDeniedError, 'a payment card in the Anthropic system prompt is denied');
  t.match(aerr.message, /pii\.card \(high\) at system/);
  t.equal(h.upstream.received.length, before, 'not forwarded either');
});

t.test('a strict profile denies what standard redacts; a profile without restore leaves the placeholders', async (t) => {
  const h = await harness(t);
  const strict = await openai(h, 'auditor');
  const err = (await strict.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `mail ${EMAIL}` }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
  t.equal(err.code, 'aos_policy_denied', 'strict: medium severity denies');
  const blind = await openai(h, 'blind');
  const res = await blind.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `mail ${EMAIL}` }] });
  t.equal(res.choices[0].message.content, 'Echo: mail [EMAIL_1]', 'no restore: the agent sees the placeholder');
});

t.test('no findings: the body is forwarded byte for byte', async (t) => {
  const h = await harness(t);
  const client = await openai(h);
  await client.chat.completions.create({ model: 'gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: 'nothing to see, order 12345, release 2.1' }] });
  const [event] = await auditEvents(h, 1);
  t.same(event.findings, [], 'scanned, nothing found');
  t.notOk(event.flags?.includes('redacted'));
});

t.test('responses are scanned where the profile asks: findings recorded under response.*, bytes unchanged', async (t) => {
  // Without a policy nothing is redacted: the echo carries the email back, as a model that leaks would.
  const h = await harness(t, { policy: { mode: 'off' }, guardrails: { profiles: { standard: { responses: true } } } });
  const client = await openai(h);
  const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `hello ${EMAIL}` }] });
  t.equal(res.choices[0].message.content, `Echo: hello ${EMAIL}`);
  const stream = await client.chat.completions.create({ model: 'fine-stream', stream: true, messages: [{ role: 'user', content: `again ${EMAIL}` }] });
  for await (const _ of stream);
  const events = await auditEvents(h, 2);
  t.same(events[0].findings, [
    { detector: 'pii.email', severity: 'medium', path: 'messages.0.content' },
    { detector: 'pii.email', severity: 'medium', path: 'response.choices.0.message.content' },
  ]);
  t.same(
    events[1].findings,
    [
      { detector: 'pii.email', severity: 'medium', path: 'messages.0.content' },
      { detector: 'pii.email', severity: 'medium', path: 'response.choices.0.delta.content' },
    ],
    'found once in a stream split into 3-character events',
  );
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_guardrail_findings_total\{detector="pii.email",action="recorded"\} 2/);
});

/** A tool API that answers with the JSON body it got. */
async function echoApi(t: Test) {
  const seen: { url: string; body: string }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      seen.push({ url: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ received: body === '' ? null : JSON.parse(body) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

t.test('tool calls: HTTP tool bodies and MCP tools/call arguments are redacted and restored; a finding in the URL cannot be', async (t) => {
  const api = await echoApi(t);
  const mcp = await startMcpServer();
  t.teardown(() => mcp.close());
  const h = await harness(t, {
    tools: {
      crm: { kind: 'http', baseUrl: api.url, operations: { note: { method: 'POST', path: '/notes' }, find: { method: 'GET', path: '/find' } } },
      fixture: { kind: 'mcp', url: mcp.url },
    },
  });
  const auth = { authorization: `Bearer ${await h.token('writer')}`, 'content-type': 'application/json' };
  const res = await fetch(`${h.url}/tools/crm/notes`, { method: 'POST', headers: auth, body: JSON.stringify({ customer: { email: EMAIL }, note: 'call back' }) });
  t.equal(res.status, 200);
  t.same(JSON.parse(api.seen.at(-1)!.body), { customer: { email: '[EMAIL_1]' }, note: 'call back' }, 'the tool got the placeholder');
  t.same(await res.json(), { received: { customer: { email: EMAIL }, note: 'call back' } }, 'the agent got its value back');

  const inUrl = await fetch(`${h.url}/tools/crm/find?email=${encodeURIComponent(EMAIL)}`, { headers: auth });
  t.equal(inUrl.status, 403);
  t.equal(inUrl.headers.get('x-aos-error-code'), 'aos_obligation_unsupported', 'a value in the query cannot be redacted');
  t.notOk(
    api.seen.some((s) => s.url.includes('example.com')),
    'and was not sent',
  );

  const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/fixture`), { requestInit: { headers: { authorization: auth.authorization } } });
  const client = new Client({ name: 'guarded-agent', version: '1.0.0' });
  await client.connect(transport);
  t.teardown(() => client.close());
  const result = (await client.callTool({ name: 'echo', arguments: { text: `for ${EMAIL}` } })) as { content: { text: string }[] };
  t.equal(result.content[0].text, `for ${EMAIL}`, 'the MCP agent gets its value back');
  const call = mcp.requests.find((r) => r.rpc === 'tools/call')!;
  t.same((call.body as { params: { arguments: unknown } }).params.arguments, { text: 'for [EMAIL_1]' }, 'the MCP server got the placeholder');
  const denied = await client.callTool({ name: 'echo', arguments: { text: `key ${AWS_KEY}` } }).then(
    () => null,
    (e: Error) => e,
  );
  t.match(denied?.message, /guardrail finding secret/, 'a secret in MCP arguments is denied, as a JSON-RPC error');
});

t.test('bad input: huge prompts are bounded, adversarial text is linear, a non-JSON tool body is flagged', async (t) => {
  const h = await harness(t, { guardrails: { profiles: { standard: { maxScanBytes: 65536 } } }, limits: { maxBodyBytes: 4 * 1024 * 1024 } });
  const client = await openai(h);
  const huge = `${'lorem ipsum '.repeat(10_000)} ${EMAIL}`;
  const started = Date.now();
  const res = await client.chat.completions.create({ model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: huge }] });
  t.ok(res.choices[0].message.content?.startsWith('Echo: lorem'));
  const adversarial = `${'a@'.repeat(200_000)}${'1'.repeat(100_000)}-----BEGIN ${'x'.repeat(100_000)}`;
  await client.chat.completions.create({ model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: adversarial }] }).catch(() => null);
  t.ok(Date.now() - started < 5000, `two large prompts in ${Date.now() - started} ms`);
  const events = await auditEvents(h, 2);
  t.ok(events[0].flags?.includes('guardrails_truncated'), 'text past maxScanBytes is flagged, not scanned');
  t.same(events[0].findings, [], 'the email past the bound was not scanned');
});

t.test('a stream cut mid-way: the agent gets the error event its SDK raises, the findings are still audited', async (t) => {
  const h = await harness(t);
  const client = await openai(h);
  const stream = await client.chat.completions.create({ model: 'reset-mid-stream', stream: true, messages: [{ role: 'user', content: `to ${EMAIL} and more words here` }] });
  let text = '';
  const err = await (async () => {
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  })().then(
    () => null,
    (e: Error) => e,
  );
  t.ok(err !== null, `the SDK raised: ${err?.message}`);
  t.notOk(text.includes('[EMAIL_1]'), 'no placeholder leaked to the agent');
  const [event] = await auditEvents(h, 1);
  t.equal(event.outcome, 'failed');
  t.same(event.findings, [{ detector: 'pii.email', severity: 'medium', path: 'messages.0.content' }]);
  t.ok(event.flags?.includes('redacted'));
});
