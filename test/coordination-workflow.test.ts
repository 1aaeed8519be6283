/**
 * Workflows: a call that names none starts one (its id the call's trace id, answered in
 * x-aos-workflow-id); the id goes upstream and to tools in `baggage`, merged with the agent's; every
 * audit event carries it and the trail is queried by it; a workflow's calls are one trace.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { auditEvents, startHarness } from './helpers.js';

/** A plain HTTP tool that records the headers it got. */
async function startTool(t: Test) {
  const seen: IncomingMessage['headers'][] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const ask = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'step' }] };

t.test('a call without a workflow starts one; the agent carries it on; baggage merged; one trace; queried by id', async (t) => {
  const tool = await startTool(t);
  const h = await startHarness(t, { tools: { notes: { kind: 'http', baseUrl: tool.url, operations: { save: { method: 'POST', path: '/save' } } } } });
  const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'k', maxRetries: 0 });

  const first = await openai.chat.completions.create(ask).withResponse();
  const id = first.response.headers.get('x-aos-workflow-id');
  t.match(id, /^[0-9a-f]{32}$/, 'a workflow was started');
  t.equal(h.upstream.received[0].headers.baggage, `aos.workflow_id=${id}`, 'sent upstream in baggage');

  // The agent carries it on (the header), with baggage of its own.
  const agentBaggage = 'tenant=acme,aos.workflow_id=stale;prop=1';
  const second = await openai.chat.completions.create(ask, { headers: { 'x-aos-workflow-id': id!, baggage: agentBaggage } }).withResponse();
  t.equal(second.response.headers.get('x-aos-workflow-id'), id);
  t.equal(h.upstream.received[1].headers.baggage, `tenant=acme,aos.workflow_id=${id}`, "merged with the agent's members, its own workflow member replaced");

  // A tool call of the workflow, named in baggage only.
  const res = await fetch(`${h.url}/tools/notes/save`, { method: 'POST', headers: { 'content-type': 'application/json', baggage: `aos.workflow_id=${id}` }, body: '{}' });
  t.equal(res.status, 200);
  t.equal(tool.seen[0].baggage, `aos.workflow_id=${id}`, 'the tool got it too');

  // Another workflow the agent names itself.
  await openai.chat.completions.create(ask, { headers: { 'x-aos-workflow-id': 'order-42' } });
  t.equal(h.upstream.received[2].headers.baggage, 'aos.workflow_id=order-42');

  const events = await auditEvents(h, 4);
  t.same(
    events.map((e) => e.workflow_id),
    [id, id, id, 'order-42'],
    'every audit event carries its workflow',
  );
  t.same(
    events.slice(0, 3).map((e) => e.trace_id),
    [id, id, id],
    "a gateway-started workflow's calls are one trace (its id is the trace id)",
  );
  t.equal(h.gateway.audit()!.store.query({ workflow: id! }).length, 3, 'queried by workflow id');
  const admin = await fetch(`${h.admin}/admin/audit?workflow=${id}`);
  t.ok(admin.status === 200 || admin.status === 401, 'the admin API filter exists (aos audit query --workflow)');
});

t.test('an agent traceparent keeps its trace; workflows.start false starts none', async (t) => {
  const h = await startHarness(t, { workflows: { start: false } });
  const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'k', maxRetries: 0 });
  const plain = await openai.chat.completions.create(ask).withResponse();
  t.equal(plain.response.headers.get('x-aos-workflow-id'), null);
  t.equal(h.upstream.received[0].headers.baggage, undefined, 'no baggage added');
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  await openai.chat.completions.create(ask, { headers: { traceparent, 'x-aos-workflow-id': 'wf-9' } });
  t.equal(h.upstream.received[1].headers.baggage, 'aos.workflow_id=wf-9', 'a named workflow is still propagated');
  const events = await auditEvents(h, 2);
  t.equal(events[0].workflow_id, null);
  t.equal(events[1].workflow_id, 'wf-9');
  t.equal(events[1].trace_id, '0af7651916cd43dd8448eb211c80319c', "the agent's trace wins");
});
