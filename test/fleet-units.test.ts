/**
 * The fleet's parts one by one: the gate (which kill or suspension covers an agent, what it cuts),
 * snapshot validation, the gateway id and labels, the credential file read again when it rotates,
 * and audit shipping resending from a control plane's `expected`.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { GENESIS_HASH } from '../src/audit/canonical.js';
import { openAuditStore } from '../src/audit/store.js';
import type { ControlPlaneConfig } from '../src/config/schema.js';
import { createControlClient } from '../src/fleet/client.js';
import { createFleetOverlay } from '../src/fleet/gate.js';
import { gatewayIdOf, labelsOf } from '../src/fleet/identity.js';
import { createFleetMetrics } from '../src/fleet/metrics.js';
import { createShipper } from '../src/fleet/shipper.js';
import { validateSnapshot } from '../src/fleet/snapshot.js';
import { startSync } from '../src/fleet/sync.js';
import type { Agent } from '../src/identity/registry.js';
import { createLogger } from '../src/log.js';
import { sampleEvent } from './audit-events.js';
import { kill } from './fleet-control.js';
import { FLEET_REGISTRY, startAosControl } from './fleet-gateways.js';
import { refusedPort } from './helpers.js';

const agent = (id: string, team: string, template: string): Agent => ({ id, team, template, templateVersion: 1, owner: null, roles: [], labels: {}, unregistered: false });
const writer = agent('writer', 'content', 'standard');
const pinned = agent('old', 'ops', 'standard@2');
const analyst = agent('analyst', 'data', 'batch');
const cpCount = (jsonLines: string) => jsonLines.split('\n').filter((l) => l !== '').length;
const suspension = (agentId: string) => ({ agentId, reason: 'r', actor: 'a', at: '2026-01-01T00:00:00Z' });

t.test('the gate: what a kill or a suspension covers', async (t) => {
  const cases = [
    { name: 'nothing', suspensions: [], kills: [], refused: [null, null, null] },
    { name: 'a suspension', suspensions: [suspension('writer')], kills: [], refused: ['aos_agent_suspended', null, null] },
    { name: 'an agent kill', suspensions: [], kills: [kill('k', 'agent', 'analyst')], refused: [null, null, 'aos_agent_killed'] },
    { name: 'a team kill', suspensions: [], kills: [kill('k', 'team', 'content')], refused: ['aos_agent_killed', null, null] },
    { name: 'a template kill covers pinned versions', suspensions: [], kills: [kill('k', 'template', 'standard')], refused: ['aos_agent_killed', 'aos_agent_killed', null] },
    { name: 'kill all', suspensions: [], kills: [kill('k', 'all', null)], refused: ['aos_agent_killed', 'aos_agent_killed', 'aos_agent_killed'] },
  ];
  for (const c of cases) {
    const gate = createFleetOverlay('cut');
    gate.set(c.suspensions, c.kills);
    t.same(
      [writer, pinned, analyst].map((a) => gate.refusal(a)?.code ?? null),
      c.refused,
      c.name,
    );
  }
  const gate = createFleetOverlay('cut');
  gate.set([], [kill('k9', 'team', 'content')]);
  t.match(gate.refusal(writer)?.message, /kill switch k9 \(team content\): test k9/, 'the refusal names the kill switch and its reason');
});

t.test('the gate cuts the live calls newly covered, unless they may finish', async (t) => {
  const cuts: string[] = [];
  const call = (a: Agent) => {
    const finishers: ((o: unknown, c: unknown) => void)[] = [];
    const ctx = { agent: a, cut: (e: { code: string }) => cuts.push(`${a.id}:${e.code}`), onFinish: (f: (o: unknown, c: unknown) => void) => finishers.push(f) };
    return {
      ctx,
      end: () => {
        for (const f of finishers) f({}, ctx);
      },
    };
  };
  for (const [onSuspend, expected] of [
    ['cut', ['writer:aos_agent_suspended', 'analyst:aos_agent_killed']],
    ['finish', ['analyst:aos_agent_killed']],
  ] as const) {
    cuts.length = 0;
    const gate = createFleetOverlay(onSuspend);
    const calls = [writer, analyst, pinned].map((a) => {
      const c = call(a);
      gate.track(c.ctx as never, a);
      return c;
    });
    t.equal(gate.live(), 3);
    calls[2].end();
    t.equal(gate.live(), 2, 'a finished call is no longer tracked');
    gate.set([suspension('writer')], [kill('k1', 'team', 'data'), kill('k2', 'template', 'standard', 'finish')]);
    t.same(cuts, expected, `suspensions ${onSuspend}: cut what is covered with live: cut`);
    gate.set([suspension('writer')], [kill('k1', 'team', 'data'), kill('k2', 'template', 'standard', 'finish')]);
    t.equal(cuts.length, expected.length, 'the same snapshot again cuts nothing more');
    gate.set([suspension('writer')], [kill('k1', 'team', 'data'), kill('k3', 'team', 'content')]);
    t.same(cuts.slice(expected.length), onSuspend === 'finish' ? ['writer:aos_agent_killed'] : [], 'a cutting kill over a suspension that let calls finish cuts them');
  }
});

t.test('snapshot validation says what is wrong', async (t) => {
  const good = { version: 3, at: 'x', registry: FLEET_REGISTRY, suspensions: [], kills: [], budgetOverrides: { 'agent:writer|usd|daily': 5 }, policy: null };
  const valid = validateSnapshot(good);
  t.same([...valid.registry.agents.keys()], ['writer', 'editor', 'analyst']);
  t.equal(valid.budgetOverrides.get('agent:writer|usd|daily'), 5);
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['version', { version: 0 }, /version: expected a positive integer/],
    ['kills', { kills: [{ id: 'k', scope: 'planet', value: 'x', live: 'cut' }] }, /kills: expected a list/],
    ['suspensions', { suspensions: [{ reason: 'no agent' }] }, /suspensions: expected a list/],
    ['overrides', { budgetOverrides: { x: -1 } }, /budgetOverrides/],
    ['registry schema', { registry: { templates: {}, agents: [] } }, /snapshot 3 registry.*templates/],
    ['registry checks', { registry: { ...FLEET_REGISTRY, agents: [{ id: 'a', team: 't', template: 'nope' }] } }, /agents\[0\]\.template: expected one of the templates/],
  ];
  for (const [name, change, error] of cases) t.throws(() => validateSnapshot({ ...good, ...change }), error, name);
  t.equal(validateSnapshot({ ...good, version: 4, kills: [kill('k', 'all', null)] }, valid).registry, valid.registry, 'the same registry again is reused, not rebuilt');
  const changed = validateSnapshot({ ...good, version: 5, registry: { ...FLEET_REGISTRY, agents: [] } }, valid);
  t.not(changed.registry, valid.registry, 'a changed one is rebuilt');
  t.equal(changed.registry.agents.size, 0);
});

t.test('gateway id: configured, else made once and kept in dataDir; labels from the pod environment', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-fleet-id-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = { labels: { zone: 'eu-1' } } as unknown as ControlPlaneConfig;
  const id = gatewayIdOf(config, join(dir, 'data'));
  t.match(id, /^[0-9a-f-]{36}$/);
  t.equal(gatewayIdOf(config, join(dir, 'data')), id, 'the same id at the next start');
  t.equal(readFileSync(join(dir, 'data', 'gateway-id'), 'utf8').trim(), id);
  t.equal(gatewayIdOf({ ...config, gatewayId: 'pod-7' }, join(dir, 'data')), 'pod-7', 'configured');
  t.same(labelsOf(config, { POD_NAME: 'agent-0', POD_NAMESPACE: 'agents' }), { pod: 'agent-0', namespace: 'agents', zone: 'eu-1' });
});

t.test('the credential file is read again when it is replaced (a rotated projected token)', async (t) => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(String(req.headers.authorization));
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const dir = mkdtempSync(join(tmpdir(), 'aos-fleet-token-'));
  t.teardown(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'token'), 'first\n');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = { urls: [url], tokenFile: 'token', connectTimeoutMs: 1000 } as ControlPlaneConfig;
  const client = createControlClient(config, 'gw-1', dir, {});
  await client.post('/v1/hello', {});
  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(join(dir, 'token.new'), 'second\n');
  renameSync(join(dir, 'token.new'), join(dir, 'token'));
  await client.post('/v1/hello', {});
  t.same(seen, ['Bearer first', 'Bearer second']);
  const fromEnv = createControlClient({ ...config, tokenFile: undefined, tokenEnv: 'CP_TOKEN' }, 'gw-1', dir, { CP_TOKEN: 'env-token' });
  await fromEnv.post('/v1/hello', {});
  t.equal(seen.at(-1), 'Bearer env-token');
});

t.test('shipping resends from the seq aos control expects (409), and each record is stored once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-fleet-ship-'));
  const control = await startAosControl(dir);
  t.teardown(async () => {
    await control.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const store = openAuditStore(dir);
  const records = store.append(Array.from({ length: 30 }, (_, i) => sampleEvent(i)));
  const config = { urls: [control.url], tokenEnv: 'T', connectTimeoutMs: 1000 } as ControlPlaneConfig;
  const client = createControlClient(config, 'gw-ship', dir, { T: await control.gatewayToken('sa-ship') });
  const metrics = createFleetMetrics(new Registry(), { lastSyncMs: () => null, backlog: () => 0 });
  const log = createLogger('error', () => {});
  const shipper = createShipper({ client, config: { batchSize: 8, intervalMs: 10_000, drainTimeoutMs: 0 }, store, log, metrics });
  await client.post('/v1/hello', { id: 'gw-ship', version: 'test', labels: {}, snapshotVersion: 0, policyRevision: null });
  // The control plane holds 1…5; a stale hello says 12 (its record 12 is this store's): 409, resend from 6.
  await client.post('/v1/audit', { records: records.slice(0, 5) });
  shipper.resume({ snapshotVersion: 0, auditSeq: 12, auditHash: records[11].hash });
  t.equal(await shipper.drain(5000), 0, 'drained');
  const exported: string = await control.api('GET', '/api/audit/export?gateway=gw-ship');
  t.same(
    exported
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).seq),
    records.map((r) => r.seq),
    'every record once, in order',
  );
  t.match(await control.api('GET', '/api/audit/verify?gateway=gw-ship'), { ok: true });
  shipper.resume({ snapshotVersion: 0, auditSeq: 30, auditHash: GENESIS_HASH });
  t.match(shipper.problem(), /not this data folder's/, "a control plane whose record differs from this store's stops shipping");
  shipper.stop();
  store.close();

  // Another data folder under the same id, resumed from a stale cursor: the control plane refuses its chain (422).
  const other = openAuditStore(join(dir, 'other'));
  other.append(Array.from({ length: 3 }, (_, i) => sampleEvent(i + 100)));
  const stale = createShipper({ client, config: { batchSize: 8, intervalMs: 10_000, drainTimeoutMs: 0 }, store: other, log, metrics });
  stale.resume({ snapshotVersion: 0, auditSeq: 0, auditHash: GENESIS_HASH });
  await stale.drain(2000);
  t.match(stale.problem(), /refused the audit chain: .*422/, 'a chain the control plane refuses stops shipping instead of retrying forever');
  t.equal(cpCount(await control.api('GET', '/api/audit/export?gateway=gw-ship')), 30, 'and the control plane kept its own');
  stale.stop();
  other.close();
});

t.test('the sync fails over from a URL that does not answer to one that does, and applies what it gets', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-fleet-failover-'));
  const control = await startAosControl(dir);
  t.teardown(async () => {
    await control.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const dead = `http://127.0.0.1:${await refusedPort()}`;
  const config = { urls: [dead, dead, control.url], tokenEnv: 'T', connectTimeoutMs: 500, backoffMaxMs: 200 } as ControlPlaneConfig;
  const client = createControlClient(config, 'gw-failover', dir, { T: await control.gatewayToken('sa-failover') });
  const logs: string[] = [];
  const received: number[] = [];
  let up = false;
  const sync = startSync({
    client,
    config,
    log: createLogger('info', (l) => logs.push(l)),
    hello: () => ({ id: 'gw-failover', version: 'test', labels: {}, snapshotVersion: 0, policyRevision: null }),
    onHello() {},
    version: () => received.at(-1) ?? 0,
    async apply(data) {
      const version = JSON.parse(data).version as number;
      received.push(version);
      return { version, ok: true };
    },
    onConnected: (u) => {
      up = u;
    },
    onHeard() {},
  });
  t.teardown(() => sync.stop());
  const deadline = Date.now() + 10_000;
  while (!(up && received.length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.ok(up, 'connected');
  t.equal(client.url(), control.url, 'to the URL that answers');
  t.ok(received[0] >= 1, `snapshot ${received[0]} received`);
  const acked = async () => (await control.api('GET', '/api/gateways')).gateways.some((g: { id: string; snapshotVersion: number }) => g.id === 'gw-failover' && g.snapshotVersion === received[0]);
  const until = Date.now() + 5000;
  while (!(await acked()) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.ok(await acked(), 'and acked it');
});
