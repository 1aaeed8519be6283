/**
 * The control plane store, one test body run against both implementations: SQLite (a file in a
 * temporary folder) and PostgreSQL (a real server started for the test).
 */
import t, { type Test } from 'tap';
import { GENESIS_HASH } from '../src/audit/canonical.js';
import { CONTROL_MIGRATIONS } from '../src/control/sql.js';
import type { ControlStore } from '../src/control/store.js';
import { openPostgresStore } from '../src/control/store-postgres.js';
import { openSqliteStore } from '../src/control/store-sqlite.js';
import { checkTemplate, templateYaml } from '../src/control/templates.js';
import { createLogger } from '../src/log.js';
import { openDatabase } from '../src/store/database.js';
import { sampleEvent } from './audit-events.js';
import { chain, REGISTRY, tempDir } from './control-fixtures.js';
import { POSTGRES, startPostgres } from './postgres-server.js';

const act = (actor: string, action: string, target: string, reason = 'test') => ({ actor, action, target, reason });
const who = { issuer: 'gw-issuer', subject: 'gw-sa' };
const hello = (id: string) => ({ id, version: '0.1.0', labels: { pod: id }, snapshotVersion: 0, policyRevision: null });

async function suite(t: Test, open: () => Promise<ControlStore>) {
  const store = await open();
  t.teardown(() => store.close());

  t.test('seed imports the registry once: templates as version 1 active, agents, budgets', async (t) => {
    t.equal(await store.version(), 0);
    t.equal(await store.seed(REGISTRY, act('seed', 'seed', 'agents.yaml')), true);
    t.equal(await store.seed(REGISTRY, act('seed', 'seed', 'agents.yaml')), false, 'a second seed does nothing');
    t.equal(await store.version(), 1, 'one version bump');
    const state = await store.state();
    t.same(
      [...state.active],
      [
        ['restricted', 1],
        ['standard', 1],
      ].sort(),
    );
    t.same(
      state.templates.map((v) => [v.name, v.version, v.status, v.template.version]),
      [
        ['restricted', 1, 'active', 1],
        ['standard', 1, 'active', 1],
      ],
    );
    t.same(
      state.agents.map((a) => [a.id, a.team, a.template, a.pinned]),
      [
        ['agent-0', 'platform', 'standard', null],
        ['agent-1', 'research', 'restricted', null],
      ],
    );
    t.same(state.base?.budgets, REGISTRY.budgets);
    const [action] = await store.actions({ limit: 10 });
    t.match(action, { version: 1, actor: 'seed', action: 'seed' });
  });

  t.test('template lifecycle: draft, approved by another person, rollback', async (t) => {
    const body = checkTemplate({ ...REGISTRY.templates.standard, maxTokens: 2048 }, 2);
    const draft = await store.propose('standard', body, templateYaml(body), act('alice', 'template.propose', 'standard'));
    t.match(draft, { version: 2, status: 'draft', author: 'alice' });
    await t.rejects(store.approve('standard', 2, act('alice', 'template.approve', 'standard@2')), { code: 'control_self_review' });
    const approved = await store.approve('standard', 2, act('bob', 'template.approve', 'standard@2', 'looks good'));
    t.match(approved, { status: 'active', reviewer: 'bob', reviewReason: 'looks good' });
    await t.rejects(store.approve('standard', 2, act('carol', 'template.approve', 'standard@2')), { code: 'control_conflict' }, 'approved once');
    t.equal((await store.activeVersions()).get('standard'), 2);
    const back = await store.rollback('standard', 1, act('bob', 'template.rollback', 'standard', 'bad cap'));
    t.equal(back.status, 'active');
    t.equal((await store.activeVersions()).get('standard'), 1);
    await t.rejects(store.rollback('standard', 1, act('bob', 'template.rollback', 'standard')), { code: 'control_conflict' }, 'already active');
    const draft3 = await store.propose('standard', checkTemplate(REGISTRY.templates.standard, 3), 'x', act('alice', 'template.propose', 'standard'));
    await t.rejects(store.rollback('standard', draft3.version, act('bob', 'template.rollback', 'standard')), { code: 'control_conflict' }, 'a draft cannot be rolled back to');
    await t.rejects(store.approve('standard', 9, act('bob', 'template.approve', 'standard@9')), { code: 'control_not_found' });
  });

  t.test('agents pinned to an approved version; the snapshot state carries the pinned version', async (t) => {
    await t.rejects(
      store.putAgent({ id: 'a2', team: 't', template: 'standard', pinned: 3, owner: null, roles: [], labels: {} }, act('admin', 'agent.put', 'a2')),
      { code: 'control_invalid' },
      'a draft is not servable',
    );
    await t.rejects(store.putAgent({ id: 'a2', team: 't', template: 'nope', pinned: null, owner: null, roles: [], labels: {} }, act('admin', 'agent.put', 'a2')), { code: 'control_invalid' });
    await store.putAgent({ id: 'a2', team: 't', template: 'standard', pinned: 2, owner: null, roles: [], labels: {} }, act('admin', 'agent.put', 'a2'));
    const state = await store.state();
    t.same(
      state.templates.filter((v) => v.name === 'standard').map((v) => [v.version, v.status]),
      [
        [1, 'active'],
        [2, 'approved'],
      ],
    );
  });

  t.test('suspensions, kill switches and budget overrides bump the version and are in the state', async (t) => {
    const v0 = await store.version();
    await store.suspend('agent-0', act('op', 'agent.suspend', 'agent-0', 'leaking'));
    const kill = await store.addKill({ scope: 'team', value: 'research', live: 'cut', reason: 'incident' }, act('op', 'kill', 'team:research', 'incident'));
    await store.setBudget('team:platform|usd|daily', 50, act('admin', 'budget.set', 'team:platform|usd|daily'));
    t.equal(await store.version(), v0 + 3);
    let state = await store.state();
    t.match(state.suspensions, [{ agentId: 'agent-0', reason: 'leaking', actor: 'op' }]);
    t.match(state.kills, [{ id: kill.id, scope: 'team', value: 'research', live: 'cut' }]);
    t.same(state.overrides, { 'team:platform|usd|daily': 50 });
    t.equal(await store.resume('agent-0', act('op', 'agent.resume', 'agent-0')), true);
    await store.liftKill(kill.id, act('op', 'kill.lift', kill.id));
    await t.rejects(store.liftKill(kill.id, act('op', 'kill.lift', kill.id)), { code: 'control_not_found' });
    await store.setBudget('team:platform|usd|daily', null, act('admin', 'budget.set', 'team:platform|usd|daily'));
    state = await store.state();
    t.same([state.suspensions, state.kills, state.overrides], [[], [], {}]);
    const actions = await store.actions({ limit: 100 });
    t.equal(actions[0].version, state.version, 'the newest action carries the current version');
    t.equal(actions.length, state.version, 'every version is one action (a refused change bumps nothing)');
  });

  t.test('gateways: hello, ack, seen, revoke', async (t) => {
    const g = await store.hello(hello('gw-1'), who);
    t.match(g, { id: 'gw-1', auditSeq: 0, auditHash: GENESIS_HASH, connected: false, revokedAt: null });
    await store.ack('gw-1', 7, null);
    await store.ack('gw-1', 8, 'templates.x: bad');
    await store.seen(['gw-1'], true);
    t.match(await store.gateway('gw-1'), { snapshotVersion: 7, snapshotError: 'version 8: templates.x: bad', connected: true });
    const revoked = await store.revokeGateway('gw-1', act('admin', 'gateway.revoke', 'gw-1'));
    t.ok(revoked.revokedAt);
    await t.rejects(store.revokeGateway('nope', act('admin', 'gateway.revoke', 'nope')), { code: 'control_not_found' });
  });

  t.test('audit ingest: chain checked, duplicates stored once, gaps and broken records refused', async (t) => {
    await store.hello(hello('gw-2'), who);
    const records = chain(10);
    t.same(await store.ingest('gw-2', records.slice(0, 4)), { acked: 4, stored: 4, duplicates: 0, refused: null });
    t.same(await store.ingest('gw-2', records.slice(2, 6)), { acked: 6, stored: 2, duplicates: 2, refused: null }, 'a retry overlapping what is held');
    t.same(await store.ingest('gw-2', records.slice(7)), { acked: 6, stored: 0, duplicates: 0, refused: { kind: 'gap', expected: 7 } });
    const tampered = { ...records[6], model: 'gpt-5' };
    t.match(await store.ingest('gw-2', [tampered]), { acked: 6, stored: 0, refused: { kind: 'broken', seq: 7 } });
    const forged = chain(1, { from: 7 })[0];
    t.match(await store.ingest('gw-2', [forged]), { refused: { kind: 'broken', seq: 7, message: /does not link/ } }, 'a record of another chain');
    t.match(await store.ingest('gw-2', [{ ...records[1], hash: 'f'.repeat(64) }]), { refused: { kind: 'broken', seq: 2 } }, 'a different record at a held seq');
    t.same(await store.ingest('gw-2', records.slice(6)), { acked: 10, stored: 4, duplicates: 0, refused: null });
    t.match(await store.gateway('gw-2'), { auditSeq: 10, auditHash: records[9].hash });
    t.match(await store.verify('gw-2'), { ok: true, checked: 10, headSeq: 10, headHash: records[9].hash });
    const all = await store.audit({ gateway: 'gw-2' });
    t.same(
      all.map((r) => r.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    t.same(all[3], { gateway: 'gw-2', ...records[3] }, 'a record comes back as it was sent');
    t.same(
      (await store.audit({ agent: 'agent-1', decision: 'allow' })).map((r) => r.seq),
      [1, 4, 7],
    );
    t.same(
      (await store.audit({ workflow: 'wf-1', limit: 1, newestFirst: true })).map((r) => r.seq),
      [8],
    );
    const page1 = await store.audit({ gateway: 'gw-2', limit: 4 });
    const last = page1[3];
    const page2 = await store.audit({ gateway: 'gw-2', limit: 4, after: { timeMs: Date.parse(last.time), gateway: last.gateway, seq: last.seq } });
    t.same(
      [...page1, ...page2].map((r) => r.seq),
      [1, 2, 3, 4, 5, 6, 7, 8],
      'paged with a cursor',
    );
    const counters = await store.counters();
    t.match(counters.get('agent-1'), { calls: 4, denied: 1, errors: 0, spendUsd: 0 });
    t.match(counters.get('agent-0'), { calls: 3, denied: 0 });
    await t.rejects(store.ingest('gw-unknown', records), { code: 'control_conflict' });
  });

  t.test('audit totals: the hourly rollup and the events at the edges add up to the totals over every event', async (t) => {
    await store.hello(hello('gw-3'), who);
    // 300 events every 61 s from 00:17:05 (five hours, none aligned), some without a team, some failed, costs.
    const start = Date.UTC(2026, 1, 1, 0, 17, 5);
    const records = chain(300, {
      event: (i) => {
        const e = sampleEvent(i, start + i * 61_000);
        return { ...e, team: i % 7 === 0 ? null : e.team, status: i % 11 === 0 ? 502 : e.status, cost_usd: (i % 9) * 0.25 };
      },
    });
    for (let i = 0; i < records.length; i += 64) await store.ingest('gw-3', records.slice(i, i + 64));
    const every = await store.audit({ limit: 10_000 });
    const HOUR = 3_600_000;
    type Q = Parameters<ControlStore['auditStats']>[0];
    type O = Parameters<ControlStore['auditStats']>[1];
    // The same totals computed here from every event.
    const expected = (q: Q, o: O) => {
      const out = new Map<string, { key: string | null; t: number; calls: number; denied: number; errors: number; spendUsd: number }>();
      for (const r of every) {
        const ms = Date.parse(r.time);
        if ((q.sinceMs !== undefined && ms < q.sinceMs) || (q.untilMs !== undefined && ms >= q.untilMs)) continue;
        if ((q.gateway !== undefined && r.gateway !== q.gateway) || (q.team !== undefined && r.team !== q.team)) continue;
        const key = o.by === 'team' ? r.team : o.by === 'gateway' ? r.gateway : null;
        const bucket = o.bucketMs === undefined ? 0 : Math.floor(ms / o.bucketMs) * o.bucketMs;
        const c = out.get(`${bucket} ${key}`) ?? { key, t: bucket, calls: 0, denied: 0, errors: 0, spendUsd: 0 };
        c.calls += 1;
        if (r.decision === 'deny') c.denied += 1;
        if (r.outcome === 'failed' || r.outcome === 'interrupted' || (r.outcome === 'completed' && (r.status ?? 0) >= 400)) c.errors += 1;
        c.spendUsd += r.cost_usd ?? 0;
        out.set(`${bucket} ${key}`, c);
      }
      return [...out.values()].sort((a, b) => a.t - b.t || String(a.key).localeCompare(String(b.key)));
    };
    const rounded = (rows: { key: string | null; t: number; spendUsd: number }[]) =>
      rows.map((r) => ({ ...r, spendUsd: Math.round(r.spendUsd * 1e6) / 1e6 })).sort((a, b) => a.t - b.t || String(a.key).localeCompare(String(b.key)));
    const cases: [string, Q, O][] = [
      ['everything', {}, {}],
      ['by team, since an unaligned time', { sinceMs: start + 40 * 60_000 }, { by: 'team' }],
      ['by gateway, both ends unaligned', { sinceMs: start + 50 * 60_000, untilMs: start + 4 * HOUR + 7_000 }, { by: 'gateway' }],
      ['one gateway and team, since an hour boundary', { gateway: 'gw-3', team: 'red', sinceMs: Date.UTC(2026, 1, 1, 2) }, {}],
      ['within one hour (events only)', { sinceMs: start + 60_000, untilMs: start + 30 * 60_000 }, { by: 'team' }],
      ['hourly buckets', { gateway: 'gw-3', sinceMs: start + 1_000, untilMs: start + 5 * HOUR }, { bucketMs: HOUR, by: 'team' }],
      ['minute buckets (events only)', { gateway: 'gw-3', sinceMs: start, untilMs: start + HOUR }, { bucketMs: 60_000 }],
    ];
    for (const [name, q, o] of cases) t.same(rounded(await store.auditStats(q, o)), rounded(expected(q, o)), name);
    t.equal((await store.auditStats({ gateway: 'gw-3' }, {}))[0].calls, 300, 'every event counted once');
  });

  t.test('console sessions: stored by key, touched at most once a minute, ended by expiry, idleness or revocation', async (t) => {
    const MIN = 60_000;
    const t0 = Date.UTC(2026, 0, 1);
    const rec = (key: string, expiresMs = t0 + 60 * MIN) => ({
      key,
      actor: 'alice',
      role: 'operator' as const,
      csrf: `csrf-${key}`,
      via: 'oidc',
      createdMs: t0,
      lastMs: t0,
      expiresMs,
      idToken: key === 'k1' ? 'header.payload.signature' : null,
    });
    await store.putSession(rec('k1'), 30 * MIN);
    t.match(
      await store.session('k1', t0 + 1000, 30 * MIN),
      { key: 'k1', actor: 'alice', role: 'operator', csrf: 'csrf-k1', via: 'oidc', lastMs: t0, idToken: 'header.payload.signature' },
      'read back; last use not written within a minute',
    );
    t.equal(await store.session('nope', t0, 30 * MIN), null, 'unknown');
    t.equal((await store.session('k1', t0 + 20 * MIN, 30 * MIN))?.lastMs, t0 + 20 * MIN, 'a use after a minute is recorded');
    t.ok(await store.session('k1', t0 + 45 * MIN, 30 * MIN), 'still live: last use 25 minutes ago');
    t.equal(await store.session('k1', t0 + 60 * MIN, 30 * MIN), null, 'expired');
    t.equal(await store.session('k1', t0 + 61 * MIN, 24 * 60 * MIN), null, 'and deleted');

    await store.putSession(rec('k2'), 30 * MIN);
    t.equal(await store.session('k2', t0 + 31 * MIN, 30 * MIN), null, 'idle for longer than the timeout');
    await store.putSession(rec('k3'), 30 * MIN);
    t.equal(await store.endSession('k3'), true, 'revoked');
    t.equal(await store.endSession('k3'), false, 'once');
    t.equal(await store.session('k3', t0 + 1000, 30 * MIN), null);

    await store.putSession(rec('old', t0 + MIN), 30 * MIN);
    await store.putSession({ ...rec('new'), createdMs: t0 + 2 * MIN, lastMs: t0 + 2 * MIN }, 30 * MIN);
    t.equal(await store.session('old', t0, 24 * 60 * MIN), null, 'ended sessions are dropped when a new one is stored');
  });
}

t.test('sqlite', async (t) => {
  const dir = tempDir(t);
  await suite(t, async () => openSqliteStore(dir));
});

t.test('sqlite: the rollup migration fills the rollup from the events already held', async (t) => {
  const dir = tempDir(t);
  let store = openSqliteStore(dir);
  await store.hello(hello('gw-1'), who);
  await store.ingest('gw-1', chain(50, { event: (i) => ({ ...sampleEvent(i, Date.UTC(2026, 0, 1) + i * 150_000), cost_usd: 0.5 }) }));
  const before = await store.auditStats({}, { by: 'team', bucketMs: 3_600_000 });
  await store.close();
  // Back to the schema before the rollup: the two migrations run again on open.
  const db = openDatabase(dir, 'control.db', []);
  // (and the later ones, which run again after it)
  db.exec('DROP TABLE audit_rollup; DROP TABLE console_sessions');
  db.pragma(`user_version = ${CONTROL_MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE audit_rollup'))}`);
  db.close();
  store = openSqliteStore(dir);
  t.teardown(() => store.close());
  t.same(await store.auditStats({}, { by: 'team', bucketMs: 3_600_000 }), before);
  t.equal(
    before.reduce((n, r) => n + r.calls, 0),
    50,
  );
});

t.test('postgres', POSTGRES.options, async (t) => {
  const pg = await startPostgres(t);
  await suite(t, () => openPostgresStore(pg.url, createLogger('silent')));
});
