/**
 * Snapshots reach gateways: the SSE stream sends the current snapshot, then each change within a
 * second; acks and the fleet view; two replicas on one PostgreSQL see each other's changes.
 */
import t from 'tap';
import { agentRegistrySchema } from '../src/config/agents-schema.js';
import { validatorOf } from '../src/config/yaml-file.js';
import { ADMIN_TOKEN, makeIssuer, openStream, startControl, tempDir } from './control-fixtures.js';
import { POSTGRES, startPostgres } from './postgres-server.js';

const hello = (snapshotVersion = 0) => ({ version: '0.1.0', labels: { pod: 'p1', node: 'n1' }, snapshotVersion, policyRevision: 'r6' });
/** Generous: the path is a local write and an in-process push (milliseconds); CI machines are slow and shared. */
const BOUND_MS = 1000;

t.test('the stream sends the current snapshot, then suspensions, kills and templates as they happen', async (t) => {
  const h = await startControl(t);
  t.equal((await h.gw('POST', '/v1/hello', 'gw-1', hello())).status, 200);
  const stream = await openStream(h, 'gw-1');
  t.teardown(() => stream.close());
  const first = await stream.next();
  t.equal(first.version, 1, 'the seeded version');
  t.same(Object.keys(first.registry.templates).sort(), ['restricted', 'standard']);
  t.same(first.registry.budgets, { org: { monthly_usd: 5000 }, teams: { platform: { daily_usd: 100 } }, workflowTtlSeconds: 86400 });
  t.match(first.registry.agents, [
    { id: 'agent-0', template: 'standard', owner: 'ops@example.com' },
    { id: 'agent-1', template: 'restricted' },
  ]);
  t.same(first.policy, { url: 'https://bundles.example.com/aos.tar.gz', revision: 'r7' });
  t.same([first.suspensions, first.kills, first.budgetOverrides], [[], [], {}]);

  let started = Date.now();
  const suspended = await h.api('POST', '/api/agents/agent-0/suspend', { sub: 'otto', roles: ['operator'] }, { reason: 'leaking secrets' });
  t.equal(suspended.status, 200);
  const s2 = await stream.next((s) => s.suspensions.length > 0, BOUND_MS);
  t.ok(Date.now() - started < BOUND_MS, `suspension streamed in ${Date.now() - started} ms`);
  t.equal(s2.version, 2, 'the change bumped the version');
  t.match(s2.suspensions, [{ agentId: 'agent-0', reason: 'leaking secrets', actor: 'otto' }]);

  started = Date.now();
  const kill = await h.api('POST', '/api/kills', { sub: 'otto', roles: ['operator'] }, { scope: 'team', value: 'research', live: 'cut', reason: 'runaway spend' });
  t.equal(kill.status, 201);
  const s3 = await stream.next((s) => s.kills.length > 0, BOUND_MS);
  t.ok(Date.now() - started < BOUND_MS, `kill streamed in ${Date.now() - started} ms`);
  t.match(s3.kills, [{ id: kill.body.kill.id, scope: 'team', value: 'research', live: 'cut', actor: 'otto' }]);

  await h.api('PUT', '/api/budgets/agent:agent-1|usd|daily', ADMIN_TOKEN, { limit: 2.5, reason: 'trial' });
  t.same((await stream.next((s) => Object.keys(s.budgetOverrides).length > 0, BOUND_MS)).budgetOverrides, { 'agent:agent-1|usd|daily': 2.5 });

  // A new template version, and an agent pinned to the one before it.
  const proposed = await h.api(
    'POST',
    '/api/templates/standard/versions',
    { sub: 'ada', roles: ['admin'] },
    { template: { ...first.registry.templates.standard, maxTokens: 1000 }, reason: 'smaller cap' },
  );
  t.equal(proposed.status, 201);
  await h.api('POST', '/api/templates/standard/versions/2/approve', { sub: 'april', roles: ['approver'] }, { reason: 'ok' });
  await h.api('PUT', '/api/agents/agent-0', ADMIN_TOKEN, { team: 'platform', template: 'standard', version: 1, owner: 'ops@example.com', roles: ['agent'], labels: { env: 'dev' } });
  const pinned = await stream.next((s) => s.registry.agents.some((a) => a.template === 'standard@1'), BOUND_MS);
  t.equal(pinned.registry.templates.standard.maxTokens, 1000, 'the active version under its name');
  t.equal(pinned.registry.templates['standard@1'].maxTokens, 4096, 'the pinned version as <name>@<version>');
  t.equal(pinned.registry.templates['standard@1'].version, 1);
  t.equal(pinned.registry.templates.standard.version, 2);
  const valid = validatorOf(agentRegistrySchema);
  t.ok(valid(structuredClone(pinned.registry)), `the registry passes the gateway's agents.yaml schema ${JSON.stringify(valid.errors)}`);

  t.equal((await h.gw('POST', '/v1/acks', 'gw-1', { version: pinned.version, ok: true })).status, 200);
  const fleet = await h.api('GET', '/api/gateways', { sub: 'vera', roles: ['viewer'] });
  t.match(fleet.body.gateways, [{ id: 'gw-1', version: '0.1.0', labels: { pod: 'p1', node: 'n1' }, snapshotVersion: pinned.version, snapshotError: null, policyRevision: 'r6', connected: true }]);
  t.equal(fleet.body.fleetVersion, pinned.version);

  t.equal((await h.gw('POST', '/v1/acks', 'gw-1', { version: pinned.version + 1, ok: false, error: 'registry: bad template' })).status, 200);
  const refused = (await h.api('GET', '/api/gateways', ADMIN_TOKEN)).body.gateways[0];
  t.same([refused.snapshotVersion, refused.snapshotError], [pinned.version, `version ${pinned.version + 1}: registry: bad template`], 'a refusal is recorded; the applied version stays');

  stream.close();
  await stream.ended;
  const deadline = Date.now() + 2000;
  let connected = true;
  while (connected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    connected = (await h.api('GET', '/api/gateways', ADMIN_TOKEN)).body.gateways[0].connected;
  }
  t.equal(connected, false, 'a closed stream: no longer connected');
});

t.test('a stream resumes after the version it has; a revoked gateway is cut off', async (t) => {
  const h = await startControl(t);
  await h.gw('POST', '/v1/hello', 'gw-2', hello(1));
  const stream = await openStream(h, 'gw-2', 1);
  t.teardown(() => stream.close());
  await t.rejects(
    stream.next(() => true, 300),
    /no matching snapshot/,
    'nothing newer than what it has',
  );
  await h.api('POST', '/api/kills', ADMIN_TOKEN, { scope: 'all', reason: 'stop everything' });
  t.equal((await stream.next()).version, 2);
  await h.api('POST', '/api/gateways/gw-2/revoke', ADMIN_TOKEN, { reason: 'decommissioned' });
  await stream.ended;
  t.pass('the stream of the revoked gateway ended');
});

t.test('two replicas on one PostgreSQL: a kill made on A reaches a stream of B within a second', POSTGRES.options, async (t) => {
  const pg = await startPostgres(t);
  const url = await pg.database('fleet');
  const dir = tempDir(t);
  const issuers = { gateway: await makeIssuer(dir, 'gw-issuer'), people: await makeIssuer(dir, 'idp') };
  // A long poll: only LISTEN/NOTIFY can make it within the bound.
  const config = { store: { kind: 'postgres', pollMs: 60_000 } };
  const env = { AOS_CONTROL_DATABASE_URL: url };
  const a = await startControl(t, { dir, issuers, config, env });
  const b = await startControl(t, { dir, issuers, config, env });
  t.equal((await b.gw('POST', '/v1/hello', 'gw-b', hello())).status, 200);
  const stream = await openStream(b, 'gw-b');
  t.teardown(() => stream.close());
  t.equal((await stream.next()).version, 1, 'seeded once, by the first replica');

  for (let round = 0; round < 3; round++) {
    const started = Date.now();
    const kill = await a.api('POST', '/api/kills', ADMIN_TOKEN, { scope: 'agent', value: `agent-${round}`, reason: `round ${round}` });
    t.equal(kill.status, 201);
    const seen = await stream.next((s) => s.kills.some((k) => k.id === kill.body.kill.id), BOUND_MS);
    const ms = Date.now() - started;
    t.ok(ms < BOUND_MS, `round ${round}: the kill made on A reached B's gateway in ${ms} ms`);
    t.equal(seen.kills.length, round + 1);
  }
  const viaB = await b.api('GET', '/api/actions?limit=3', ADMIN_TOKEN);
  t.same(
    viaB.body.actions.map((x: { reason: string }) => x.reason),
    ['round 2', 'round 1', 'round 0'],
    'the actions made on A are listed on B',
  );
  const fleetOnA = (await a.api('GET', '/api/gateways', ADMIN_TOKEN)).body.gateways;
  t.match(fleetOnA, [{ id: 'gw-b', connected: true }], 'A sees the gateway streaming from B as connected');

  await pg.stop();
  const down = await a.api('GET', '/api/agents', ADMIN_TOKEN);
  t.same([down.status, down.body.error.code], [503, 'control_unavailable'], 'PostgreSQL down: 503, retry');
});

t.test('without notifications the version poll still delivers: two instances on one SQLite file', async (t) => {
  const dir = tempDir(t);
  const issuers = { gateway: await makeIssuer(dir, 'gw-issuer'), people: await makeIssuer(dir, 'idp') };
  const config = { store: { kind: 'sqlite', pollMs: 100 } };
  const a = await startControl(t, { dir, issuers, config });
  const b = await startControl(t, { dir, issuers, config });
  await b.gw('POST', '/v1/hello', 'gw-b', hello());
  const stream = await openStream(b, 'gw-b');
  t.teardown(() => stream.close());
  t.equal((await stream.next()).version, 1);
  const started = Date.now();
  await a.api('POST', '/api/agents/agent-1/suspend', ADMIN_TOKEN, { reason: 'made on A' });
  const seen = await stream.next((s) => s.suspensions.length === 1, BOUND_MS);
  t.ok(Date.now() - started < BOUND_MS, `polled over in ${Date.now() - started} ms`);
  t.match(seen.suspensions, [{ agentId: 'agent-1', reason: 'made on A' }]);
});
