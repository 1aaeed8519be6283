/** The control plane's two listeners refuse what they must: unknown credentials 401, revoked gateways 403, roles enforced. */
import t from 'tap';
import { ADMIN_TOKEN, makeIssuer, startControl } from './control-fixtures.js';

const hello = { version: '0.1.0', labels: { pod: 'p1' }, snapshotVersion: 0, policyRevision: null };

t.test('gateway API: unknown issuer, wrong audience, no token → 401; a revoked gateway → 403', async (t) => {
  const h = await startControl(t);
  const stranger = await makeIssuer(h.dir, 'stranger');
  const foreign = await stranger.mint({ sub: 'sa-gw-1', aud: 'aos-control' });
  const cases: [string, Awaited<ReturnType<typeof h.gw>>, number, string, RegExp?][] = [
    ['unknown issuer', await h.gw('POST', '/v1/hello', 'gw-1', hello, { token: foreign }), 401, 'control_unauthenticated', /unknown issuer/],
    ['wrong audience', await h.gw('POST', '/v1/hello', 'gw-1', hello, { token: await h.gatewayIssuer.mint({ sub: 'sa-gw-1', aud: 'aos-admin' }) }), 401, 'control_unauthenticated', /audience/],
    ['not a JWT', await h.gw('POST', '/v1/hello', 'gw-1', hello, { token: 'garbage' }), 401, 'control_unauthenticated'],
    ['a people token', await h.gw('POST', '/v1/hello', 'gw-1', hello, { token: await h.peopleIssuer.mint({ sub: 'x', aud: 'aos-control' }) }), 401, 'control_unauthenticated'],
  ];
  for (const [name, res, status, code, message] of cases) {
    t.equal(res.status, status, `${name}: ${status}`);
    t.equal(res.body.error.code, code, name);
    if (message) t.match(res.body.error.message, message, name);
  }
  const none = await fetch(`${h.cp.addresses.gateways}/v1/hello`, { method: 'POST', headers: { 'aos-gateway-id': 'gw-1' }, body: '{}' });
  t.equal(none.status, 401, 'no token: 401');
  t.match(none.headers.get('www-authenticate'), /^Bearer/);

  const ok = await h.gw('POST', '/v1/hello', 'gw-1', hello);
  t.equal(ok.status, 200, 'a trusted credential says hello');
  t.match(ok.body, { snapshotVersion: 1, auditSeq: 0, auditHash: '0'.repeat(64) });
  const other = await h.gw('POST', '/v1/hello', 'gw-1', hello, { sub: 'sa-someone-else' });
  t.same([other.status, other.body.error.code], [403, 'control_forbidden'], 'an id stays bound to its first credential');
  t.same((await h.gw('POST', '/v1/acks', 'gw-new', { version: 1, ok: true })).status, 409, 'acks before hello: 409');

  const revoke = await h.api('POST', '/api/gateways/gw-1/revoke', ADMIN_TOKEN, { reason: 'pod compromised' });
  t.equal(revoke.status, 200);
  t.ok(revoke.body.gateway.revokedAt);
  for (const [method, path, body] of [
    ['POST', '/v1/hello', hello],
    ['POST', '/v1/acks', { version: 1, ok: true }],
    ['GET', '/v1/snapshots', undefined],
  ] as const) {
    const res = await h.gw(method, path, 'gw-1', body);
    t.same([res.status, res.body.error.code], [403, 'control_gateway_revoked'], `${method} ${path} after revoke: 403`);
  }
  const again = await h.api('POST', '/api/gateways/gw-1/revoke', ADMIN_TOKEN, { reason: 'twice' });
  t.equal(again.status, 409, 'revoking twice: 409');
});

t.test("people's API: 401 without a valid token, roles checked per route, the static admin token", async (t) => {
  const h = await startControl(t);
  t.equal((await h.api('GET', '/api/agents', null)).status, 401, 'no token');
  t.equal((await h.api('GET', '/api/agents', 'not-a-token')).status, 401, 'garbage token');
  const stranger = await makeIssuer(h.dir, 'stranger');
  t.equal((await h.api('GET', '/api/agents', await stranger.mint({ sub: 'eve', aud: 'aos-admin', roles: ['admin'] }))).status, 401, 'unknown issuer');
  const noRole = await h.api('GET', '/api/agents', { sub: 'bob', roles: ['reader'] });
  t.same([noRole.status, noRole.body.error.code], [403, 'control_forbidden'], 'a token without a control plane role');

  const viewer = { sub: 'vera', roles: ['viewer'] };
  const operator = { sub: 'otto', roles: ['operator'] };
  const approver = { sub: 'april', roles: ['approver'] };
  const admin = { sub: 'ada', roles: ['admin'] };
  const table: [string, string, unknown, { sub: string; roles: string[] }, number][] = [
    ['GET', '/api/agents', undefined, viewer, 200],
    ['POST', '/api/agents/agent-0/suspend', { reason: 'r' }, viewer, 403],
    ['POST', '/api/agents/agent-0/suspend', { reason: 'r' }, operator, 200],
    ['POST', '/api/agents/agent-0/resume', { reason: 'r' }, operator, 200],
    ['POST', '/api/kills', { scope: 'all', reason: 'r' }, viewer, 403],
    ['PUT', '/api/budgets/org|usd|daily', { limit: 10, reason: 'r' }, operator, 403],
    ['PUT', '/api/budgets/org|usd|daily', { limit: 10, reason: 'r' }, approver, 403],
    ['PUT', '/api/budgets/org|usd|daily', { limit: 10, reason: 'r' }, admin, 200],
    ['PUT', '/api/agents/new-1', { team: 't', template: 'standard' }, operator, 403],
    ['PUT', '/api/agents/new-1', { team: 't', template: 'standard' }, admin, 200],
    ['POST', '/api/gateways/x/revoke', { reason: 'r' }, approver, 403],
    ['POST', '/api/templates/standard/versions', { template: {}, reason: 'r' }, approver, 403],
    ['GET', '/api/actions', undefined, viewer, 200],
  ];
  for (const [method, path, body, who, status] of table) {
    const res = await h.api(method, path, who, body);
    t.equal(res.status, status, `${who.roles[0]} ${method} ${path}: ${status}${res.status !== status ? ` (${JSON.stringify(res.body)})` : ''}`);
  }
  t.equal((await h.api('PUT', '/api/budgets/team:x|usd|daily', ADMIN_TOKEN, { limit: 5, reason: 'static token' })).status, 200, 'the static admin token');
  const [newest] = (await h.api('GET', '/api/actions?limit=1', viewer)).body.actions;
  t.match(newest, { actor: 'admin-token', action: 'budget.set', target: 'team:x|usd|daily', reason: 'static token', detail: { limit: 5 } });
});

t.test('bad input: clear JSON errors with stable codes', async (t) => {
  const h = await startControl(t);
  const admin = { sub: 'ada', roles: ['admin'] };
  const cases: [string, string, unknown, number, string][] = [
    ['POST', '/api/agents/agent-0/suspend', {}, 400, 'control_bad_request'],
    ['POST', '/api/kills', { scope: 'galaxy', reason: 'r' }, 400, 'control_bad_request'],
    ['POST', '/api/kills', { scope: 'agent', reason: 'r' }, 400, 'control_bad_request'],
    ['DELETE', '/api/kills/nope', { reason: 'r' }, 404, 'control_not_found'],
    ['PUT', '/api/budgets/org|usd|weekly', { limit: 1, reason: 'r' }, 400, 'control_bad_request'],
    ['PUT', '/api/budgets/org|usd|daily', { limit: -1, reason: 'r' }, 400, 'control_bad_request'],
    ['PUT', '/api/agents/a-9', { team: 't', template: 'missing' }, 422, 'control_invalid'],
    ['POST', '/api/templates/standard/versions', { template: { models: 'gpt' }, reason: 'r' }, 422, 'control_invalid'],
    ['POST', '/api/templates/standard/versions', { template: 'a: [', reason: 'r' }, 422, 'control_invalid'],
    ['GET', '/api/templates/standard/versions/9', undefined, 404, 'control_not_found'],
    ['POST', '/api/approvals/nope/approve', { reason: 'r' }, 404, 'control_not_found'],
    ['GET', '/api/audit?decision=maybe', undefined, 400, 'control_bad_request'],
    ['GET', '/api/nothing', undefined, 404, 'control_not_found'],
    ['DELETE', '/api/agents', undefined, 405, 'control_method_not_allowed'],
  ];
  for (const [method, path, body, status, code] of cases) {
    const res = await h.api(method, path, admin, body);
    t.same([res.status, res.body?.error?.code], [status, code], `${method} ${path}`);
    t.type(res.body?.error?.message, 'string');
  }
  const notJson = await fetch(`${h.cp.addresses.people}/api/kills`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: '{nope' });
  t.same([notJson.status, ((await notJson.json()) as { error: { code: string } }).error.code], [400, 'control_bad_request'], 'not JSON');
});

t.test('the approvals queue: listed, decided once by an approver, each decision an action', async (t) => {
  const h = await startControl(t);
  const queued = await h.cp.store().requestApproval({ agentId: 'agent-0', request: { model: 'gpt-5', reason: 'policy asked for approval' } });
  const list = await h.api('GET', '/api/approvals?status=pending', { sub: 'vera', roles: ['viewer'] });
  t.match(list.body.approvals, [{ id: queued.id, agentId: 'agent-0', status: 'pending', request: { model: 'gpt-5' } }]);
  t.equal((await h.api('POST', `/api/approvals/${queued.id}/approve`, { sub: 'otto', roles: ['operator'] }, { reason: 'ok' })).status, 403, 'an operator cannot decide');
  const approved = await h.api('POST', `/api/approvals/${queued.id}/approve`, { sub: 'april', roles: ['approver'] }, { reason: 'expected spend' });
  t.match(approved.body.approval, { status: 'approved', decidedBy: 'april', reason: 'expected spend' });
  const again = await h.api('POST', `/api/approvals/${queued.id}/deny`, { sub: 'april', roles: ['approver'] }, { reason: 'changed my mind' });
  t.same([again.status, again.body.error.code], [409, 'control_conflict'], 'decided once');
  t.same((await h.api('GET', '/api/approvals?status=pending', ADMIN_TOKEN)).body.approvals, []);
  const [action] = (await h.api('GET', '/api/actions?limit=1', ADMIN_TOKEN)).body.actions;
  t.match(action, { actor: 'april', action: 'approval.approve', target: queued.id, reason: 'expected spend' });
});
