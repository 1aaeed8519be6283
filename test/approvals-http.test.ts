/**
 * Human approvals on a standalone gateway, end to end with an HTTP tool: agents → gateway
 * (/tools/tickets/…, an operation marked sensitive, the committed policy) → a real node:http API.
 * People decide on the gateway's admin API; a real local HTTP server receives the webhook.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { verifyChain } from '../src/audit/verify.js';
import { auditEvents, startHarness } from './helpers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const TICKETS_KEY = 'tickets-api-credential-0123456789';
const REGISTRY = `
templates:
  desk: { version: 1, tools: ["tickets"] }
  held: { version: 1, tools: ["tickets"], approval: { mode: block, timeoutSeconds: 2 } }
  brief: { version: 1, tools: ["tickets"], approval: { timeoutSeconds: 1, ttlSeconds: 1 } }
agents:
  - { id: desk, team: support, template: desk }
  - { id: other, team: support, template: desk }
  - { id: holder, team: support, template: held }
  - { id: brief, team: support, template: brief }
`;

async function listen(t: Test, handler: (req: IncomingMessage, body: string) => { status: number; body: unknown }) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const out = handler(req, Buffer.concat(chunks).toString('utf8'));
      const text = JSON.stringify(out.body);
      res.writeHead(out.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function setup(t: Test, webhookStatus = 200) {
  const seen: { method: string; url: string; body: string; auth: string | undefined; approvalHeader?: string | string[] }[] = [];
  const api = await listen(t, (req, body) => {
    seen.push({ method: req.method!, url: req.url!, body, auth: req.headers.authorization, approvalHeader: req.headers['x-aos-approval-id'] });
    return { status: 200, body: { ok: true, method: req.method, url: req.url } };
  });
  const hooks: { body: Record<string, unknown>; headers: IncomingMessage['headers'] }[] = [];
  const hook = await listen(t, (req, body) => {
    hooks.push({ body: JSON.parse(body), headers: req.headers });
    return { status: webhookStatus, body: { ok: webhookStatus < 300 } };
  });
  const tools = {
    tickets: {
      kind: 'http',
      baseUrl: `${api}/api`,
      apiKey: TICKETS_KEY,
      operations: {
        list: { method: 'GET', path: '/tickets', readOnly: true },
        remove: { method: 'DELETE', path: '/tickets/{id}', sensitive: true },
        close: { method: 'POST', path: '/tickets/{id}/close', sensitive: true },
      },
    },
  };
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      tools,
      approvals: { webhook: { url: `${hook}/hooks/secret-path`, headers: { 'x-hook-token': 'hook-secret' }, retries: 1 } },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const signer = h.gateway.signer()!;
  const agentToken = (agent: string) => signer.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
  const personToken = (sub: string, roles: string[]) => signer.mint({ subject: sub, audience: 'aos-admin', roles, ttlSec: 600 });
  const call = async (agent: string, method: string, path: string, opts: { body?: unknown; approval?: string; signal?: AbortSignal } = {}) => {
    const headers: Record<string, string> = { authorization: `Bearer ${await agentToken(agent)}` };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.approval !== undefined) headers['x-aos-approval-id'] = opts.approval;
    const res = await fetch(`${h.url}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: opts.signal });
    const text = await res.text();
    return { status: res.status, code: res.headers.get('x-aos-error-code'), approval: res.headers.get('x-aos-approval-id'), json: text === '' ? null : JSON.parse(text) };
  };
  const admin = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${h.admin}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, code: res.headers.get('x-aos-error-code'), json: await res.json() };
  };
  const approver = await personToken('alice', ['approver']);
  const decide = (id: string, verb: 'approve' | 'deny', reason: string) => admin('POST', `/admin/approvals/${id}/${verb}`, approver, { reason });
  const metric = async (name: string) => {
    const text = await (await fetch(`${h.admin}/metrics`)).text();
    const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
    return m === null ? Number.NaN : Number(m[1]);
  };
  return { h, seen, hooks, call, admin, decide, approver, personToken, agentToken, metric };
}

const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

t.test('async: pending at once, approved by a person, used once by the retry; a replay asks again', async (t) => {
  const { h, seen, hooks, call, decide, admin, approver, metric } = await setup(t);
  const first = await call('desk', 'DELETE', '/tools/tickets/tickets/7?force=1');
  t.equal(first.status, 403);
  t.equal(first.code, 'aos_approval_pending');
  t.match(first.approval, /^[0-9a-f-]{36}$/, 'the approval id in x-aos-approval-id');
  const id = first.approval!;
  t.match(first.json.error.message, id, 'and in the message');
  t.equal(seen.length, 0, 'the API was not called');

  const again = await call('desk', 'DELETE', '/tools/tickets/tickets/7?force=1');
  t.equal(again.approval, id, 'the same request again: the same pending approval');

  const { json: listed } = await admin('GET', '/admin/approvals?status=pending', approver);
  t.equal(listed.approvals.length, 1);
  t.match(listed.approvals[0], { id, agentId: 'desk', status: 'pending', request: { kind: 'tool', tool: 'tickets', operation: 'remove', method: 'DELETE', path: '/tools/tickets/tickets/7?force=1' } });
  t.notOk(JSON.stringify(listed).includes(TICKETS_KEY), 'no credential in what people see');

  await until('the webhook', () => hooks.length === 1);
  t.match(hooks[0].body, { text: new RegExp(`agent desk asks for DELETE /tools/tickets/tickets/7.*aos approvals approve ${id}`), approval: { id, status: 'pending' } });
  t.equal(hooks[0].headers['x-hook-token'], 'hook-secret', 'the configured headers');

  const ok = await decide(id, 'approve', 'ticket 7 is spam');
  t.equal(ok.status, 200);
  t.match(ok.json.approval, { id, status: 'approved', decidedBy: 'alice', reason: 'ticket 7 is spam' });
  t.equal((await decide(id, 'deny', 'changed my mind')).code, 'aos_approval_decided', 'decided once');

  const done = await call('desk', 'DELETE', '/tools/tickets/tickets/7?force=1');
  t.equal(done.status, 200, 'the retry goes through');
  t.equal(seen.length, 1);
  t.match(seen[0], { method: 'DELETE', url: '/api/tickets/7?force=1', auth: `Bearer ${TICKETS_KEY}` });

  const replay = await call('desk', 'DELETE', '/tools/tickets/tickets/7?force=1');
  t.equal(replay.code, 'aos_approval_pending', 'a replay needs a new approval');
  t.not(replay.approval, id);
  const named = await call('desk', 'DELETE', '/tools/tickets/tickets/7?force=1', { approval: id });
  t.equal(named.code, 'aos_approval_used', 'the used approval named again: refused');
  t.equal(seen.length, 1, 'the API was called once');

  const events = await auditEvents(h, 5);
  const withApproval = events.filter((e) => e.approval?.id === id);
  t.match(
    withApproval.map((e) => [e.error_code, e.approval!.status]),
    [
      ['aos_approval_pending', 'pending'],
      ['aos_approval_pending', 'pending'],
      [null, 'used'],
      ['aos_approval_used', 'used'],
    ],
  );
  t.match(withApproval[2].approval, { approver: 'alice', reason: 'ticket 7 is spam' });
  t.notOk(
    events.some((e) => e.tool === 'tickets' && e.operation === 'list' && e.approval !== undefined),
    'other calls carry no approval',
  );
  t.equal(verifyChain(h.gateway.audit()!.store).ok, true, 'the chain verifies with approval fields in it');
  t.equal(await metric('aos_approvals_total{outcome="requested"}'), 2);
  t.equal(await metric('aos_approvals_total{outcome="approved"}'), 1);
  t.equal(await metric('aos_approvals_total{outcome="used"}'), 1);
  t.equal(await metric('aos_approvals_pending'), 1);
});

t.test('an approval is bound to its agent and its exact request', async (t) => {
  const { seen, call, decide } = await setup(t);
  const first = await call('desk', 'POST', '/tools/tickets/tickets/7/close', { body: { note: 'done' } });
  const id = first.approval!;
  await decide(id, 'approve', 'ok');
  const cases = [
    { agent: 'desk', path: '/tools/tickets/tickets/7/close', body: { note: 'done, and more' }, why: 'another body' },
    { agent: 'desk', path: '/tools/tickets/tickets/8/close', body: { note: 'done' }, why: 'another path' },
    { agent: 'other', path: '/tools/tickets/tickets/7/close', body: { note: 'done' }, why: 'another agent' },
  ];
  for (const c of cases) {
    const r = await call(c.agent, 'POST', c.path, { body: c.body, approval: id });
    t.equal(r.code, 'aos_approval_mismatch', c.why);
  }
  t.equal((await call('desk', 'POST', '/tools/tickets/tickets/8/close', { body: { note: 'done' } })).code, 'aos_approval_pending', 'without the id: its own approval');
  t.equal((await call('desk', 'DELETE', '/tools/tickets/tickets/7', { approval: 'no-such-approval' })).code, 'aos_approval_not_found');
  t.equal(seen.length, 0);
  const ok = await call('desk', 'POST', '/tools/tickets/tickets/7/close', { body: { note: 'done' }, approval: id });
  t.equal(ok.status, 200, 'the right one, named: used');
  t.equal(seen.at(-1)!.approvalHeader, undefined, 'the approval header is not forwarded');

  const denied = await call('desk', 'DELETE', '/tools/tickets/tickets/9');
  await decide(denied.approval!, 'deny', 'not this one');
  const refused = await call('desk', 'DELETE', '/tools/tickets/tickets/9', { approval: denied.approval! });
  t.equal(refused.code, 'aos_approval_denied');
  t.match(refused.json.error.message, /denied by alice: not this one/);
});

t.test('expiry: an approval not decided in time, and one not used in time', async (t) => {
  const { seen, call, decide, metric } = await setup(t);
  const a = await call('brief', 'DELETE', '/tools/tickets/tickets/1');
  const b = await call('brief', 'DELETE', '/tools/tickets/tickets/2');
  await decide(b.approval!, 'approve', 'quick');
  await new Promise((r) => setTimeout(r, 1100));
  t.equal((await decide(a.approval!, 'approve', 'too late')).code, 'aos_approval_decided', 'an expired approval cannot be decided');
  t.equal((await call('brief', 'DELETE', '/tools/tickets/tickets/1', { approval: a.approval! })).code, 'aos_approval_expired');
  t.equal((await call('brief', 'DELETE', '/tools/tickets/tickets/2', { approval: b.approval! })).code, 'aos_approval_expired', 'approved, then unused past its ttl');
  const fresh = await call('brief', 'DELETE', '/tools/tickets/tickets/2');
  t.equal(fresh.code, 'aos_approval_pending', 'without the id: a new one');
  t.not(fresh.approval, b.approval);
  t.equal(seen.length, 0);
  t.equal(await metric('aos_approvals_total{outcome="expired"}'), 2);
});

t.test('block: the call is held until approved, denied, or the timeout; a client that leaves frees its waiter', async (t) => {
  const { h, seen, call, admin, approver, decide, metric } = await setup(t);
  const pending = async () => (await admin('GET', '/admin/approvals?status=pending', approver)).json.approvals as { id: string }[];

  const held = call('holder', 'DELETE', '/tools/tickets/tickets/11');
  await until('a pending approval', async () => (await pending()).length === 1);
  t.equal(seen.length, 0, 'held: nothing forwarded');
  t.equal(await metric('aos_approvals_held'), 1);
  const [{ id }] = await pending();
  await decide(id, 'approve', 'go');
  const r = await held;
  t.equal(r.status, 200, 'approved while held: the call went on');
  t.equal(seen.length, 1);

  const held2 = call('holder', 'DELETE', '/tools/tickets/tickets/12');
  await until('a pending approval', async () => (await pending()).length === 1);
  await decide((await pending())[0].id, 'deny', 'no');
  const r2 = await held2;
  t.equal(r2.code, 'aos_approval_denied');
  t.ok(r2.approval, 'with the approval id');

  const started = Date.now();
  const r3 = await call('holder', 'DELETE', '/tools/tickets/tickets/13');
  t.equal(r3.code, 'aos_approval_timeout', 'not decided within timeoutSeconds');
  t.ok(Date.now() - started >= 1900, 'after the timeout');
  t.match((await admin('GET', `/admin/approvals/${r3.approval}`, approver)).json.approval, { status: 'expired' });

  const ac = new AbortController();
  const gone = call('holder', 'DELETE', '/tools/tickets/tickets/14', { signal: ac.signal }).catch((e: Error) => e);
  await until('a pending approval', async () => (await pending()).length === 1);
  t.equal(await metric('aos_approvals_held'), 1);
  ac.abort();
  t.ok((await gone) instanceof Error, 'the client left');
  await until('the waiter released', async () => (await metric('aos_approvals_held')) === 0);
  t.equal((await pending()).length, 1, 'its approval stays pending: a retry can still use it');
  t.equal(seen.length, 1);

  const events = await auditEvents(h, 4);
  const holderEvents = events.filter((e) => e.agent_id === 'holder');
  t.match(
    holderEvents.map((e) => [e.status, e.error_code, e.approval?.status]),
    [
      [200, null, 'used'],
      [403, 'aos_approval_denied', 'denied'],
      [403, 'aos_approval_timeout', 'expired'],
      [499, 'client_aborted', 'pending'],
    ],
    'each held call audited with its approval (the one whose client left: pending, 499)',
  );
  t.ok(holderEvents[0].approval!.waited_ms > 0, 'the wait is recorded');
});

t.test('who may decide: approver or admin tokens of the admin audience; an agent token never', async (t) => {
  const { call, admin, personToken, agentToken } = await setup(t);
  const { approval: id } = await call('desk', 'DELETE', '/tools/tickets/tickets/3');
  const agent = await agentToken('desk');
  const cases = [
    { token: agent, status: 401, why: 'an agent token (agent audience)' },
    { token: await personToken('vera', ['viewer']), status: 403, why: 'an admin-audience token without the approver role' },
    { token: '', status: 401, why: 'no token' },
  ];
  for (const c of cases) {
    const r = await admin('POST', `/admin/approvals/${id}/approve`, c.token, { reason: 'mine' });
    t.equal(r.status, c.status, c.why);
    t.equal((await admin('GET', '/admin/approvals', c.token)).status, c.status, `${c.why}: cannot list either`);
  }
  t.equal((await admin('POST', `/admin/approvals/${id}/approve`, await personToken('root', ['admin']), {})).code, 'aos_bad_request', 'a decision needs a reason');
  const byAdmin = await admin('POST', `/admin/approvals/${id}/approve`, await personToken('root', ['admin']), { reason: 'admin may' });
  t.match(byAdmin.json.approval, { status: 'approved', decidedBy: 'root' });
  t.equal((await admin('GET', '/admin/agents', await personToken('alice', ['approver']))).status, 403, 'the approver role grants approvals only');
});

t.test('a webhook that fails is retried, then counted; the call is not held by it', async (t) => {
  const { hooks, call, metric } = await setup(t, 500);
  const r = await call('desk', 'DELETE', '/tools/tickets/tickets/5');
  t.equal(r.code, 'aos_approval_pending', 'answered at once');
  await until('the failure counted', async () => (await metric('aos_approvals_webhook_failures_total')) === 1);
  t.equal(hooks.length, 2, 'one attempt and one retry (retries: 1)');
});
