/** Agent identity end to end: real SDKs with a JWT as their API key, registry, suspension, admin API. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic0 from '@anthropic-ai/sdk';
import Anthropic1 from 'anthropic-sdk-v1';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { ConfigError } from '../src/config/load.js';
import { loadRegistry } from '../src/identity/registry.js';
import { createSuspensionStore } from '../src/identity/suspensions.js';
import { openDatabase } from '../src/store/database.js';
import { auditEvents, type Harness, PROVIDER_KEY, startHarness } from './helpers.js';

const REGISTRY = `
unknownAgents: { action: deny, template: trial }
templates:
  standard: { version: 3, providers: [openai, anthropic], models: ["*"] }
  trial: { version: 1, models: ["gpt-4o-mini"] }
agents:
  - { id: billing-agent, team: finance, owner: fin@example.com, roles: [agent], labels: { env: prod }, template: standard }
  - { id: support-agent, team: support, template: standard }
`;

async function identityHarness(t: Test, registry = REGISTRY): Promise<Harness & { token(agent: string, extra?: { ttlSec?: number; admin?: boolean }): Promise<string> }> {
  const h = await startHarness(t, { identity: { mode: 'required', registry: 'agents.yaml' } }, { files: { 'agents.yaml': registry } });
  return Object.assign(h, {
    token: (agent: string, extra: { ttlSec?: number; admin?: boolean } = {}) =>
      h.gateway.signer()!.mint({
        subject: agent,
        audience: extra.admin ? 'aos-admin' : 'aos-gateway',
        roles: extra.admin ? ['admin'] : ['agent'],
        ttlSec: extra.ttlSec ?? 600,
      }),
  });
}

const chat = (h: Harness, headers: Record<string, string>) =>
  fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-sample', messages: [{ role: 'user', content: 'hi' }] }),
  });

t.test('the OpenAI SDK with an agent JWT as its API key works unchanged; the JWT never goes upstream', async (t) => {
  const h = await identityHarness(t);
  const jwt = await h.token('billing-agent');
  const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: jwt, maxRetries: 0 });
  const r = await client.chat.completions.create({ model: 'gpt-sample', messages: [{ role: 'user', content: 'who am i' }] });
  t.equal(r.choices[0].message.content, 'Echo: who am i');
  const stream = await client.chat.completions.create({ model: 'gpt-sample', stream: true, messages: [{ role: 'user', content: 'streamed' }] });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  t.equal(text, 'Echo: streamed');
  for (const req of h.upstream.received) {
    t.equal(req.headers.authorization, `Bearer ${PROVIDER_KEY}`);
    t.notMatch(JSON.stringify(req.headers), jwt, 'the agent token is stripped');
  }
});

t.test('Anthropic SDK 0.x (x-api-key) and 1.x (Authorization: Bearer) both authenticate', async (t) => {
  const h = await identityHarness(t);
  const jwt = await h.token('support-agent');
  for (const [name, Client] of [
    ['0.x', Anthropic0],
    ['1.x', Anthropic1],
  ] as const) {
    const client = new (Client as typeof Anthropic0)({ baseURL: `${h.url}/anthropic`, apiKey: jwt, maxRetries: 0 });
    const m = await client.messages.create({ model: 'claude-sample', max_tokens: 16, messages: [{ role: 'user', content: name }] });
    t.equal(m.content[0].type === 'text' && m.content[0].text, `Echo: ${name}`, name);
  }
  const sent = h.upstream.received.map((r) => [r.headers['x-api-key'], r.headers.authorization]);
  t.same(
    sent,
    [
      [PROVIDER_KEY, undefined],
      [PROVIDER_KEY, undefined],
    ],
    'only the provider key reaches the upstream',
  );
});

t.test('unauthenticated calls get 401 in the caller dialect with a challenge, and reach nothing', async (t) => {
  const h = await identityHarness(t);
  const good = await h.token('billing-agent');
  const cases: [string, Record<string, string>, RegExp][] = [
    ['no token', {}, /missing agent token/],
    ['not a JWT', { authorization: 'Bearer sk-live-looks-like-a-key' }, /not a JWT|malformed|invalid/i],
    ['Basic auth', { authorization: 'Basic dXNlcjpwYXNz' }, /Authorization must be "Bearer <agent token>"/],
    ['conflicting credentials', { authorization: `Bearer ${good}`, 'x-api-key': 'something-else' }, /conflicting credentials/],
    ['wrong audience (admin token)', { authorization: `Bearer ${await h.token('billing-agent', { admin: true })}` }, /audience/],
  ];
  for (const [name, headers, message] of cases) {
    const res = await chat(h, headers);
    t.equal(res.status, 401, name);
    const body = (await res.json()) as { error: { code: string; message: string } };
    t.equal(body.error.code, 'aos_unauthenticated', name);
    t.match(body.error.message, message, name);
    t.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="aos-gateway"/, name);
    for (const v of Object.values(headers)) t.notMatch(JSON.stringify(body), v.replace(/^Bearer /, ''), `${name}: the token is not echoed`);
  }
  // Anthropic route: Anthropic-shaped error that the SDK raises as AuthenticationError.
  const anthropic = new Anthropic0({ baseURL: `${h.url}/anthropic`, apiKey: 'not-a-token', maxRetries: 0 });
  const err = await anthropic.messages.create({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
  t.ok(err instanceof Anthropic0.AuthenticationError, 'the SDK raises AuthenticationError');
  t.match(err, { status: 401, error: { type: 'error', error: { type: 'authentication_error', code: 'aos_unauthenticated' } } });
  t.equal(h.upstream.received.length, 0, 'nothing reached the upstream');
});

t.test('an expired token is refused with "expired"', async (t) => {
  const h = await identityHarness(t);
  const expired = await h.gateway.signer()!.mint({ subject: 'billing-agent', audience: 'aos-gateway', ttlSec: 1 });
  t.equal((await chat(h, { authorization: `Bearer ${expired}` })).status, 200, 'valid while fresh (and now cached)');
  // exp is 1 s ahead, clock skew tolerance 30 s by default: set it to 0 for this check.
  const h2 = await startHarness(t, { identity: { mode: 'required', registry: 'agents.yaml', clockSkewSec: 0 } }, { files: { 'agents.yaml': REGISTRY } });
  const short = await h2.gateway.signer()!.mint({ subject: 'billing-agent', audience: 'aos-gateway', ttlSec: 1 });
  t.equal((await chat(h2, { authorization: `Bearer ${short}` })).status, 200);
  await new Promise((r) => setTimeout(r, 2100));
  const res = await chat(h2, { authorization: `Bearer ${short}` });
  t.equal(res.status, 401, 'the cached verification does not outlive exp');
  t.match(((await res.json()) as { error: { message: string } }).error.message, /expired/);
});

t.test('unknown agents: denied by default, or admitted under the configured template', async (t) => {
  const h = await identityHarness(t);
  const res = await chat(h, { authorization: `Bearer ${await h.token('stranger')}` });
  t.equal(res.status, 403);
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'aos_agent_unknown');
  const admitted = await identityHarness(t, REGISTRY.replace('action: deny', 'action: admit'));
  t.equal((await chat(admitted, { authorization: `Bearer ${await admitted.token('stranger')}` })).status, 200);
});

t.test('suspension mid-run: from another process (CLI path) within a second, and via the admin API at once', async (t) => {
  const h = await identityHarness(t);
  const auth = { authorization: `Bearer ${await h.token('billing-agent')}` };
  t.equal((await chat(h, auth)).status, 200);

  // What `aos agents suspend` does: its own SQLite connection to the same file.
  const db = openDatabase(join(h.dir, 'data'));
  const cli = createSuspensionStore(db, { pollMs: 0 });
  t.teardown(() => {
    cli.close();
    db.close();
  });
  cli.suspend('billing-agent', 'runaway loop', 'cli:test');
  const t0 = Date.now();
  let status = 200;
  while (status !== 403 && Date.now() - t0 < 3000) {
    status = (await chat(h, auth)).status;
    if (status !== 403) await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(status, 403, 'suspended');
  t.ok(Date.now() - t0 < 1000, `took effect in ${Date.now() - t0} ms (< 1 s)`);
  const denied = (await (await chat(h, auth)).json()) as { error: { code: string; message: string } };
  t.same([denied.error.code, denied.error.message], ['aos_agent_suspended', 'agent billing-agent is suspended']);
  t.equal((await chat(h, { authorization: `Bearer ${await h.token('support-agent')}` })).status, 200, 'other agents unaffected');

  // Admin API: resume, then suspend again, each effective on the very next request.
  const admin = { authorization: `Bearer ${await h.token('ops-admin', { admin: true })}` };
  const resumed = await fetch(`${h.admin}/admin/agents/billing-agent/resume`, { method: 'POST', headers: admin });
  t.equal(resumed.status, 200);
  t.equal((await chat(h, auth)).status, 200, 'resumed at once');
  const suspended = await fetch(`${h.admin}/admin/agents/billing-agent/suspend`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'investigation' }),
  });
  t.match(await suspended.json(), { id: 'billing-agent', team: 'finance', status: 'suspended', suspension: { reason: 'investigation', actor: 'ops-admin' } });
  t.equal((await chat(h, auth)).status, 403, 'suspended at once');
  t.equal(cli.list().length, 1, 'persisted in SQLite');
});

t.test("a suspended agent's refusal is audited as that agent's call", async (t) => {
  const h = await identityHarness(t);
  const admin = { authorization: `Bearer ${await h.token('ops-admin', { admin: true })}` };
  const suspended = await fetch(`${h.admin}/admin/agents/billing-agent/suspend`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'investigation' }),
  });
  t.equal(suspended.status, 200);
  t.equal((await chat(h, { authorization: `Bearer ${await h.token('billing-agent')}` })).status, 403);
  const [refusal] = await auditEvents(h, 1);
  t.match(refusal, { agent_id: 'billing-agent', team: 'finance', template: 'standard', decision: 'deny', error_code: 'aos_agent_suspended' });
  t.same(
    h.gateway
      .audit()!
      .store.query({ agent: 'billing-agent' })
      .map((r) => r.error_code),
    ['aos_agent_suspended'],
    'found by the agent filter',
  );
});

t.test('admin API: open probes, everything else needs an admin token', async (t) => {
  const h = await identityHarness(t);
  for (const p of ['/healthz', '/readyz', '/metrics']) t.equal((await fetch(`${h.admin}${p}`)).status, 200, p);
  t.equal((await fetch(`${h.admin}/admin/agents`)).status, 401, 'no token');
  const agentToken = await h.token('billing-agent');
  t.equal((await fetch(`${h.admin}/admin/agents`, { headers: { authorization: `Bearer ${agentToken}` } })).status, 401, 'an agent token is for another audience');
  const noRole = await h.gateway.signer()!.mint({ subject: 'intruder', audience: 'aos-admin', roles: ['agent'], ttlSec: 60 });
  t.equal((await fetch(`${h.admin}/admin/agents`, { headers: { authorization: `Bearer ${noRole}` } })).status, 403, 'admin audience without the admin role');
  const res = await fetch(`${h.admin}/admin/agents`, { headers: { authorization: `Bearer ${await h.token('root', { admin: true })}` } });
  t.equal(res.status, 200);
  const body = (await res.json()) as { agents: { id: string; template: string; templateVersion: number; status: string }[] };
  t.same(
    body.agents.map((a) => [a.id, a.template, a.templateVersion, a.status]),
    [
      ['billing-agent', 'standard', 3, 'active'],
      ['support-agent', 'standard', 3, 'active'],
    ],
  );
});

t.test('registry validation names file, line and key', async (t) => {
  const dir = t.testdir({});
  const cases: [string, string][] = [
    ['templates: {}\n', 'agents.yaml:1:12: templates: expected at least 1 key, got {}'],
    [
      REGISTRY.replace('template: standard }\n  - { id: support-agent', 'template: gold }\n  - { id: support-agent'),
      'agents.yaml:7:114: agents[0].template: expected one of the templates (standard, trial), got "gold"',
    ],
    [REGISTRY.replace('id: support-agent', 'id: billing-agent'), 'agents.yaml:8:11: agents[1].id: agent "billing-agent" is listed twice'],
    [REGISTRY.replace('action: deny, template: trial', 'action: admit, template: nope'), 'agents.yaml:2:43: unknownAgents.template: expected one of the templates (standard, trial), got "nope"'],
    [REGISTRY.replace('version: 3', 'version: "three"'), 'agents.yaml:4:24: templates.standard.version: expected integer, got "three"'],
  ];
  for (const [text, expected] of cases) {
    writeFileSync(join(dir, 'agents.yaml'), text);
    try {
      loadRegistry(join(dir, 'agents.yaml'));
      t.fail(`accepted: ${expected}`);
    } catch (err) {
      t.ok(err instanceof ConfigError);
      t.equal((err as Error).message.replace(`${dir}/`, ''), expected);
    }
  }
});
