/**
 * Agent-to-agent hand-offs through the gateway (A2A 1.0): three agents, planner → researcher →
 * writer, each a real server or client of the official A2A JavaScript SDK, each calling a model
 * through the gateway with the official openai SDK. One trace, one workflow id on every audit
 * event, the delegation chain in the callee's policy input and audit events, a fourth hop refused
 * by the depth limit, a loop refused, a forged delegation ignored, both bindings, streaming relayed
 * as it comes, the card served through the gateway with its skills filtered by the policy.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { stringify } from 'yaml';
import { type A2aAgentServer, a2aClient, agentFetch, answerText, type Incoming, openaiAs, passOn, startA2aAgent, userMessage } from './a2a-agents.js';
import { auditEvents, type Harness, startHarness } from './helpers.js';
import { REDIS, startRedis } from './redis-server.js';
import { opaCli } from './tools.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const OPA = opaCli();

/** A policy that allows everything but a writer's model call outside the chain planner → researcher → writer: it reads `call.delegation`. */
const CHAIN_POLICY = `package aos

import rego.v1

decision := {"allow": count(deny) == 0, "reasons": sort([r | some r in deny]), "obligations": {}}

deny contains "writer works only for researcher on planner's behalf" if {
	input.agent.id == "writer"
	input.call.kind == "model"
	object.get(input.call, "delegation", {"chain": []}).chain != ["planner", "researcher", "writer"]
}

deny contains "the research skill of researcher is not for planner" if {
	input.agent.id == "planner"
	input.call.kind == "a2a"
	input.call.a2a.skill == "secret"
}
`;

const ask = (content: string) => ({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user' as const, content }] });

interface World {
  h: Harness;
  tokens: Record<string, string>;
  /** What the agents' own calls came to (errors included), by agent. */
  notes: Record<string, string[]>;
  servers: Record<string, A2aAgentServer>;
}

/** Starts researcher, writer and editor (A2A servers), then the gateway with the registry that names them. */
async function world(
  t: Test,
  opts: { policy: 'chain' | 'default'; maxDepth?: number; workflowUsd?: number; workflowHandoffs?: number; metering?: Record<string, unknown>; gate?: Promise<void> } = { policy: 'chain' },
): Promise<World> {
  const env = { gw: '', tokens: {} as Record<string, string> };
  const notes: Record<string, string[]> = { researcher: [], writer: [], editor: [] };
  const note = (who: string, what: string) => notes[who].push(what);
  const codeOf = (err: unknown) => {
    // JSON-RPC: the ErrorInfo's reason; HTTP+JSON: the SDK keeps the response's headers (x-aos-error-code).
    const e = err as { data?: { reason?: string }[]; headers?: Record<string, string>; message?: string };
    return Array.isArray(e.data) ? e.data[0]?.reason : (e.headers?.['x-aos-error-code'] ?? e.message);
  };

  // Each agent: asks a model (passing on what the gateway gave it), then hands on to the next.
  const research = async (text: string, incoming: Incoming, stream: { update(text: string): void } | null) => {
    const openai = openaiAs(env.gw, env.tokens.researcher, passOn(incoming));
    const found = await openai.chat.completions.create(ask(`research ${text}`));
    note('researcher', 'model ok');
    if (stream !== null) {
      stream.update('researched');
      // Held until the test saw the first events: a gateway that buffered the stream would never show them.
      await opts.gate;
    }
    if (text.includes('no hand-off')) return `research: ${found.choices[0].message.content}`;
    const writer = await a2aClient(env.gw, 'writer', text.includes('rest') ? 'rest' : 'jsonrpc', agentFetch(env.tokens.researcher, passOn(incoming)));
    const draft = await writer.sendMessage({ message: userMessage(`write up ${text}`) } as never);
    return `research done; ${answerText(draft)}`;
  };
  const write = async (text: string, incoming: Incoming) => {
    const openai = openaiAs(env.gw, env.tokens.writer, passOn(incoming));
    const draft = await openai.chat.completions.create(ask(`write ${text}`));
    note('writer', 'model ok');
    // A fourth agent (over the depth limit), and back to researcher (a loop).
    for (const [callee, binding] of [
      ['editor', 'jsonrpc'],
      ['researcher', 'rest'],
    ] as const) {
      try {
        const client = await a2aClient(env.gw, callee, binding, agentFetch(env.tokens.writer, passOn(incoming)));
        await client.sendMessage({ message: userMessage('edit this') } as never);
        note('writer', `${callee} ok`);
      } catch (err) {
        note('writer', `${callee}: ${codeOf(err)}`);
      }
    }
    return `draft: ${draft.choices[0].message.content}`;
  };
  const researcher = await startA2aAgent(t, 'researcher', research, ['research', 'secret']);
  const writer = await startA2aAgent(t, 'writer', write, ['draft', 'publish']);
  const editor = await startA2aAgent(t, 'editor', async () => {
    note('editor', 'reached');
    return 'edited';
  });

  const registry = {
    templates: {
      planner: {
        version: 1,
        providers: ['openai'],
        models: ['gpt-4o*'],
        agents: ['researcher', 'writer/draft'],
        budget: { ...(opts.workflowUsd === undefined ? {} : { workflow_usd: opts.workflowUsd }), ...(opts.workflowHandoffs === undefined ? {} : { workflow_handoffs: opts.workflowHandoffs }) },
      },
      worker: { version: 1, providers: ['openai'], models: ['gpt-4o*'], agents: ['*'] },
    },
    delegation: { maxDepth: opts.maxDepth ?? 2 },
    agents: [
      { id: 'planner', team: 'ops', template: 'planner' },
      { id: 'researcher', team: 'ops', template: 'worker', a2a: researcher.endpoint },
      { id: 'writer', team: 'ops', template: 'worker', a2a: writer.endpoint },
      { id: 'editor', team: 'ops', template: 'worker', a2a: { url: editor.endpoint.url } },
    ],
  };
  let policy: Record<string, unknown> = { mode: 'enforce', bundle: { file: BUNDLE } };
  if (opts.policy === 'chain') {
    const dir = mkdtempSync(join(tmpdir(), 'aos-a2a-policy-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'policy.rego'), CHAIN_POLICY);
    policy = { mode: 'enforce', bundle: { directory: dir } };
  }
  const h = await startHarness(
    t,
    { identity: { mode: 'required', registry: 'agents.yaml' }, policy, ...(opts.metering === undefined ? {} : { metering: opts.metering }) },
    { files: { 'agents.yaml': stringify(registry) }, env: OPA.path === null ? {} : { AOS_OPA: OPA.path } },
  );
  env.gw = h.url;
  for (const id of ['planner', 'researcher', 'writer', 'editor']) env.tokens[id] = await h.gateway.signer()!.mint({ subject: id, audience: 'aos-gateway', ttlSec: 600 });
  return { h, tokens: env.tokens, notes, servers: { researcher, writer, editor } };
}

t.test('planner → researcher → writer: one trace, one workflow, the chain in the policy input, a fourth hop and a loop refused', OPA.options, async (t) => {
  const { h, tokens, notes } = await world(t);
  // The planner: a model call starts the workflow, then it hands work to the researcher (JSON-RPC).
  const planner = openaiAs(h.url, tokens.planner);
  const first = await planner.chat.completions.create(ask('plan the report')).withResponse();
  const workflow = first.response.headers.get('x-aos-workflow-id')!;
  t.match(workflow, /^[0-9a-f]{32}$/, 'the first call started a workflow');
  const researcher = await a2aClient(h.url, 'researcher', 'jsonrpc', agentFetch(tokens.planner, { 'x-aos-workflow-id': workflow }));
  const result = await researcher.sendMessage({ message: userMessage('the quarterly numbers') } as never);
  t.match(answerText(result), /^research done; draft: /, "the writer's draft came back through the researcher");

  t.same(notes.researcher, ['model ok']);
  t.same(notes.writer, ['model ok', 'editor: aos_delegation_too_deep', 'researcher: aos_delegation_loop'], 'a fourth hop and a loop are refused with their own codes');
  t.same(notes.editor, [], 'the editor was never reached');

  const events = await auditEvents(h, 9);
  const summary = events.map((e) => [e.agent_id, e.kind, e.operation, e.decision, e.error_code, e.delegation?.chain.join('>') ?? null]);
  t.same(
    summary.filter((s) => s[2] !== 'GetAgentCard'),
    [
      ['planner', 'model', 'chat.completions', 'allow', null, null],
      ['researcher', 'model', 'chat.completions', 'allow', null, 'planner>researcher'],
      ['writer', 'model', 'chat.completions', 'allow', null, 'planner>researcher>writer'],
      ['writer', 'a2a', 'SendMessage', 'deny', 'aos_delegation_too_deep', 'planner>researcher>writer>editor'],
      ['writer', 'a2a', 'SendMessage', 'deny', 'aos_delegation_loop', 'planner>researcher>writer>researcher'],
      ['researcher', 'a2a', 'SendMessage', 'allow', null, 'planner>researcher>writer'],
      ['planner', 'a2a', 'SendMessage', 'allow', null, 'planner>researcher'],
    ],
    'every call audited with the chain it made or acted under (in the order they ended)',
  );
  t.ok(
    events.every((e) => e.workflow_id === workflow),
    'one workflow id on every audit event (the cards read through the gateway included)',
  );
  t.ok(
    events.every((e) => e.trace_id === workflow),
    'one trace: every call, every agent',
  );
  t.equal(events.find((e) => e.agent_id === 'writer' && e.kind === 'model')?.delegation?.depth, 2);
  t.ok(
    events.filter((e) => e.operation === 'GetAgentCard').every((e) => e.decision === 'allow'),
    'the cards were read through the gateway',
  );

  // The writer on its own (no delegation, or a forged one): the policy that reads the chain denies it.
  const forged = `${Buffer.from('{"alg":"EdDSA","typ":"aos-delegation+jwt"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'planner', act: { sub: 'writer', act: { sub: 'researcher' } }, exp: 9e9 })).toString('base64url')}.${Buffer.alloc(64).toString('base64url')}`;
  for (const headers of [{}, { 'x-aos-delegation': forged }, { 'x-aos-delegation': 'not a token' }] as Record<string, string>[]) {
    const err = await openaiAs(h.url, tokens.writer, headers)
      .chat.completions.create(ask('write alone'))
      .catch((e: unknown) => e as { status: number; message: string });
    t.match(err, { status: 403, message: /writer works only for researcher on planner's behalf/ }, 'a forged or missing delegation counts for nothing');
  }
  const forgedEvents = (await auditEvents(h, events.length + 3)).slice(-2);
  t.same(
    forgedEvents.map((e) => [e.flags, e.delegation]),
    [
      [['delegation_ignored'], undefined],
      [['delegation_ignored'], undefined],
    ],
    'flagged delegation_ignored, no chain recorded',
  );
});

t.test('HTTP+JSON binding, streaming relayed event by event, the card through the gateway filtered by the default policy', async (t) => {
  const { h, tokens, notes } = await world(t, { policy: 'default' });
  const fetchImpl = agentFetch(tokens.planner);
  // The card: interfaces point at the gateway, gRPC left out, skills the policy refuses left out, the gateway's token scheme.
  const res = await fetchImpl(`${h.url}/a2a/writer/.well-known/agent-card.json`);
  t.equal(res.status, 200);
  const card = (await res.json()) as Record<string, unknown>;
  t.same(
    (card.supportedInterfaces as { url: string; protocolBinding: string }[]).map((i) => [i.url, i.protocolBinding]),
    [
      [`${h.url}/a2a/writer`, 'JSONRPC'],
      [`${h.url}/a2a/writer`, 'HTTP+JSON'],
    ],
  );
  t.same(
    (card.skills as { id: string }[]).map((s) => s.id),
    ['draft'],
    'planner may use writer/draft only (template agents: [researcher, writer/draft])',
  );
  t.ok((card.securitySchemes as Record<string, unknown>).aos_agent_token);
  const full = (await (await fetchImpl(`${h.url}/a2a/researcher/.well-known/agent-card.json`)).json()) as { skills: { id: string }[] };
  t.same(
    full.skills.map((s) => s.id),
    ['research', 'secret'],
    'every skill of an agent the template names whole',
  );

  t.same(notes.researcher, []);

  // The default policy: the planner may not hand work to the editor (not in its template's agents).
  const cardRes = await fetchImpl(`${h.url}/a2a/editor/.well-known/agent-card.json`);
  t.equal(cardRes.status, 403, 'even its card is refused');
  t.equal(cardRes.headers.get('x-aos-error-code'), 'aos_policy_denied');
  const rpc = await fetchImpl(`${h.url}/a2a/editor`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'SendMessage', params: { message: { messageId: 'm1', role: 'ROLE_USER', parts: [{ text: 'hi' }] } } }),
  });
  const body = (await rpc.json()) as { id: number; error: { code: number; message: string; data: { reason: string }[] } };
  t.equal(rpc.status, 403);
  t.equal(body.id, 7, 'a JSON-RPC error answers the request');
  t.equal(body.error.code, -32043, 'a code A2A does not reserve');
  t.equal(body.error.data[0].reason, 'aos_policy_denied');
  t.match(body.error.message, /agent editor is not one agents of template planner may hand work to/);
});

t.test('bad input: not JSON-RPC, unknown agent, unknown HTTP+JSON operation, no token', async (t) => {
  const { h, tokens } = await world(t, { policy: 'default' });
  const fetchImpl = agentFetch(tokens.planner);
  const post = (path: string, body: string) => fetchImpl(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const cases: [string, Promise<Response>, number, string][] = [
    ['not JSON', post('/a2a/researcher', '{'), 400, 'aos_bad_request'],
    ['a batch', post('/a2a/researcher', '[]'), 400, 'aos_bad_request'],
    ['no method', post('/a2a/researcher', '{"jsonrpc":"2.0","id":1}'), 400, 'aos_bad_request'],
    ['an agent with no endpoint', post('/a2a/planner', '{}'), 404, 'aos_route_not_found'],
    ['an unknown HTTP+JSON operation', post('/a2a/researcher/message:fly', '{}'), 404, 'aos_route_not_found'],
    ['GET of the JSON-RPC endpoint', fetchImpl(`${h.url}/a2a/researcher`), 405, 'aos_method_not_allowed'],
    ['no agent token', fetch(`${h.url}/a2a/researcher`, { method: 'POST', body: '{}' }), 401, 'aos_unauthenticated'],
  ];
  for (const [name, p, status, code] of cases) {
    const res = await p;
    t.equal(res.status, status, name);
    t.equal(res.headers.get('x-aos-error-code'), code, name);
    const body = (await res.json()) as { jsonrpc?: string; error: { data?: { reason: string }[]; details?: { reason: string }[] } };
    t.equal((body.error.data ?? body.error.details)?.[0].reason, code, `${name}: in the binding's shape`);
  }
});

t.test('streaming, both bindings: every event is relayed as it comes, never buffered whole', async (t) => {
  for (const binding of ['jsonrpc', 'rest'] as const) {
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const { h, tokens, notes } = await world(t, { policy: 'default', gate });
    const researcher = await a2aClient(h.url, 'researcher', binding, agentFetch(tokens.planner));
    const it = researcher.sendMessageStream({ message: userMessage('numbers, no hand-off') } as never)[Symbol.asyncIterator]();
    const within = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no event within 5 s: the stream was held back')), 5000))]);
    const early = [(await within(it.next())).value?.payload?.$case, (await within(it.next())).value?.payload?.$case];
    t.same(early, ['task', 'statusUpdate'], `${binding}: the task and its progress arrived while the researcher was still working`);
    open();
    const rest: string[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value.payload?.$case ?? 'none');
    t.same(rest, ['artifactUpdate', 'statusUpdate'], `${binding}: then the answer and the completion`);
    t.same(notes.researcher, ['model ok']);
    const events = await auditEvents(h, 3);
    const handoff = events.find((e) => e.kind === 'a2a' && e.operation === 'SendStreamingMessage');
    t.match(
      handoff,
      { agent_id: 'planner', stream: true, decision: 'allow', outcome: 'completed', delegation: { chain: ['planner', 'researcher'], depth: 1 } },
      `${binding}: audited as a streaming hand-off`,
    );
  }
});

for (const store of ['sqlite', 'redis'] as const) {
  t.test(`a workflow budget every agent in the workflow draws from (${store})`, store === 'redis' ? REDIS.options : {}, async (t) => {
    const metering = store === 'redis' ? { store: 'redis', redis: { url: (await startRedis(t)).url, keyPrefix: 'a2a' } } : undefined;
    // The planner's template: $0.0001 per workflow; the researcher's template has none of its own.
    const { h, tokens, notes, servers } = await world(t, { policy: 'default', workflowUsd: 0.0001, metering });
    const planner = openaiAs(h.url, tokens.planner);
    const first = await planner.chat.completions.create(ask('plan')).withResponse();
    const workflow = first.response.headers.get('x-aos-workflow-id')!;
    const researcher = await a2aClient(h.url, 'researcher', 'jsonrpc', agentFetch(tokens.planner, { 'x-aos-workflow-id': workflow }));
    await researcher.sendMessage({ message: userMessage('numbers, no hand-off') } as never);
    t.same(notes.researcher, ['model ok'], "the researcher's call fit the workflow's budget");
    // The researcher goes on under the delegation it got: the same workflow budget, signed by the gateway.
    const delegated = servers.researcher.seen.find((hd) => typeof hd['x-aos-delegation'] === 'string')!['x-aos-delegation'] as string;
    const openai = openaiAs(h.url, tokens.researcher, { 'x-aos-delegation': delegated });
    let refused: { status?: number; message?: string; headers?: Headers } | null = null;
    let calls = 0;
    while (refused === null && calls < 60) {
      await openai.chat.completions.create(ask('more research')).then(
        () => calls++,
        (e: unknown) => {
          refused = e as typeof refused;
        },
      );
    }
    t.ok(calls > 3 && calls < 30, `the budget held ${calls} more calls`);
    t.match(refused, { status: 429, message: new RegExp(`workflow budget of workflow:${workflow} would be exceeded`) }, 'then aos_budget_exceeded');
    const again = await planner.chat.completions.create(ask('plan more'), { headers: { 'x-aos-workflow-id': workflow } }).catch((e: unknown) => e as { status: number });
    t.match(again, { status: 429 }, "the planner draws from the same workflow's budget: refused too");
    const fresh = await planner.chat.completions.create(ask('another plan')).withResponse();
    t.not(fresh.response.headers.get('x-aos-workflow-id'), workflow, 'a new workflow');
    t.ok(fresh.data.choices.length > 0, 'has its own budget');
    const events = await auditEvents(h, calls + 5);
    const spent = events.filter((e) => e.workflow_id === workflow && e.kind === 'model').reduce((sum, e) => sum + (e.cost_usd ?? 0), 0);
    t.ok(spent > 0.00005 && spent <= 0.0001, `what the workflow spent ($${spent.toFixed(6)}) stayed within its budget`);
  });
}

t.test("a delegation is bound to its agent: the writer's token is nothing to the researcher", OPA.options, async (t) => {
  const { h, tokens, servers } = await world(t);
  const planner = a2aClient(h.url, 'researcher', 'jsonrpc', agentFetch(tokens.planner));
  await (await planner).sendMessage({ message: userMessage('numbers') } as never);
  const writers = servers.writer.seen.find((hd) => typeof hd['x-aos-delegation'] === 'string')!['x-aos-delegation'] as string;
  t.ok(writers, 'the writer got a gateway-signed delegation');
  const [, payload] = writers.split('.');
  t.match(
    JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')),
    { sub: 'planner', act: { sub: 'writer', act: { sub: 'researcher' } }, aud: 'aos-delegation' },
    'RFC 8693 act claims: the current actor outermost',
  );
  await openaiAs(h.url, tokens.researcher, { 'x-aos-delegation': writers }).chat.completions.create(ask('as the writer'));
  const last = (await auditEvents(h, 8)).filter((e) => e.agent_id === 'researcher' && e.kind === 'model').at(-1)!;
  t.same(last.flags, ['delegation_ignored'], "another agent's delegation is ignored");
  t.equal(last.delegation, undefined);
  t.ok(
    h.upstream.received.every((r) => r.headers['x-aos-delegation'] === undefined),
    'a delegation token never reaches a model provider',
  );
  const asBearer = await openaiAs(h.url, writers)
    .chat.completions.create(ask('a delegation as an agent token'))
    .catch((e: unknown) => e as { status: number });
  t.match(asBearer, { status: 401 }, 'a delegation token is no agent token (another audience)');
});

t.test("fan-out: the workflow's hand-offs are bounded by the first agent's template, across every agent in it", OPA.options, async (t) => {
  // Depth would allow the writer's hand-off to the editor; the workflow's two hand-offs are spent by then.
  const { h, tokens, notes } = await world(t, { policy: 'chain', maxDepth: 4, workflowHandoffs: 2 });
  const researcher = await a2aClient(h.url, 'researcher', 'jsonrpc', agentFetch(tokens.planner));
  t.match(answerText(await researcher.sendMessage({ message: userMessage('numbers') } as never)), /^research done; draft: /);
  t.same(notes.writer, ['model ok', 'editor: aos_budget_exceeded', 'researcher: aos_delegation_loop'], 'a third hand-off in the workflow is refused');
  t.same(notes.editor, []);
  const refused = (await auditEvents(h, 8)).find((e) => e.error_code === 'aos_budget_exceeded');
  t.match(refused, { agent_id: 'writer', kind: 'a2a', reasons: ['aos_budget_exceeded'], delegation: { chain: ['planner', 'researcher', 'writer', 'editor'] } });
});

t.test("guardrails on a hand-off's message: a card number refused, an email redacted for the callee and restored for the caller, both bindings", async (t) => {
  const EMAIL = 'jane.doe@example.com';
  const CARD = '4539 1488 0343 6467'; // passes Luhn, not a test card: high severity
  const got: string[] = [];
  const echo = await startA2aAgent(t, 'echo', async (text) => {
    got.push(text);
    return `you said: ${text}`;
  });
  const registry = {
    templates: { planner: { version: 1, agents: ['echo'] }, worker: { version: 1 } },
    agents: [
      { id: 'planner', team: 'ops', template: 'planner' },
      { id: 'echo', team: 'ops', template: 'worker', a2a: echo.endpoint },
    ],
  };
  const h = await startHarness(
    t,
    { identity: { mode: 'required', registry: 'agents.yaml' }, policy: { mode: 'enforce', bundle: { file: BUNDLE } } },
    { files: { 'agents.yaml': stringify(registry) } },
  );
  const token = await h.gateway.signer()!.mint({ subject: 'planner', audience: 'aos-gateway', ttlSec: 600 });
  for (const binding of ['jsonrpc', 'rest'] as const) {
    const client = await a2aClient(h.url, 'echo', binding, agentFetch(token));
    const answer = await client.sendMessage({ message: userMessage(`write to ${EMAIL} today`) } as never);
    t.equal(got.at(-1), 'write to [EMAIL_1] today', `${binding}: the callee got a placeholder`);
    t.equal(answerText(answer), `you said: write to ${EMAIL} today`, `${binding}: the caller got its own value back`);
    const before = got.length;
    const refused = await client.sendMessage({ message: userMessage(`charge ${CARD}`) } as never).catch((e: unknown) => e as Error);
    t.ok(refused instanceof Error, `${binding}: a card number is refused`);
    t.notOk(String((refused as Error).message).includes(CARD), `${binding}: the error never echoes the value`);
    t.equal(got.length, before, `${binding}: nothing reached the callee`);
  }
  // Each client read the card first (through the gateway): 6 events, 4 of them messages.
  const events = (await auditEvents(h, 6)).filter((e) => !e.path?.includes('agent-card'));
  t.equal(events.length, 4, 'two messages per binding');
  const redacted = events.filter((e) => e.flags?.includes('redacted'));
  t.same(
    redacted.map((e) => e.findings?.map((f) => [f.detector, f.path])),
    [[['pii.email', 'params.message.parts.0.text']], [['pii.email', 'message.parts.0.text']]],
    'the finding with its path in each binding, never the value',
  );
  const denied = events.filter((e) => e.decision === 'deny');
  t.same(
    denied.map((e) => [e.error_code, e.findings?.[0].detector]),
    [
      ['aos_policy_denied', 'pii.card'],
      ['aos_policy_denied', 'pii.card'],
    ],
  );
  t.notOk(JSON.stringify(events).includes(EMAIL) || JSON.stringify(events).includes(CARD), 'no value in the audit trail');
});
