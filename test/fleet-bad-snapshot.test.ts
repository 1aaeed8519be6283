/**
 * A control plane that sends a snapshot failing validation: the gateway does not apply it, keeps
 * serving from its last good one, and says why in the ack, its log, `/readyz` and a metric. The
 * control plane here is a small stand-in speaking the wire contract (test/fleet-control.ts), since
 * `aos control` itself only makes valid snapshots.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { kill, startTestControlPlane } from './fleet-control.js';
import { chat, FLEET_REGISTRY, fleetStatus, metric, startGatewayProcess, testIssuer, until, writeFleetConfig } from './fleet-gateways.js';

t.test('a snapshot that fails validation is not applied; the ack says why', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'aos-fleet-bad-'));
  const upstream = await startSampleUpstream();
  const cp = await startTestControlPlane(FLEET_REGISTRY);
  const issuer = await testIssuer(root);
  const gw = await startGatewayProcess(writeFleetConfig(root, upstream.url, [cp.url], issuer.keyFile));
  t.teardown(async () => {
    gw.child.kill('SIGKILL');
    await cp.stop();
    await upstream.close();
    rmSync(root, { recursive: true, force: true });
  });
  const writer = await issuer.token('writer');
  const good = cp.publish({ kills: [kill('k1', 'team', 'data')] });
  await until('the good snapshot applied', async () => (await fleetStatus(gw)).snapshotVersion === good.version);

  const bad = cp.publishRaw({ ...good, kills: [], registry: { templates: { standard: { version: 1 } }, agents: [{ id: 'writer', team: 'content', template: 'missing' }] } });
  await until('the bad snapshot acked', () => cp.acks.some((a) => a.version === bad));
  t.match(
    cp.acks.find((a) => a.version === bad),
    { ok: false, error: /agents\[0\]\.template: expected one of the templates \(standard\), got "missing"/ },
    'the ack refuses it and says why',
  );
  const st = await fleetStatus(gw);
  t.equal(st.snapshotVersion, good.version, 'the last good snapshot is still in force');
  t.match(st.lastError, new RegExp(`snapshot ${bad}: .*missing`), '/readyz says why');
  t.match(gw.output(), /"msg":"fleet: snapshot rejected; the last good one keeps serving".*missing/, 'so does the log');
  t.equal(await metric(gw, 'aos_fleet_snapshots_rejected_total'), 1, 'aos_fleet_snapshots_rejected_total');
  t.equal((await chat(gw, writer)).status, 200, 'the last good registry serves');
  t.equal((await chat(gw, await issuer.token('analyst'))).code, 'aos_agent_killed', 'and its kills stay in force');

  const shapeless = cp.publishRaw({ registry: FLEET_REGISTRY });
  await until('the second bad one acked', () => cp.acks.some((a) => a.version === shapeless));
  t.match(
    cp.acks.find((a) => a.version === shapeless),
    { ok: false, error: /suspensions: expected a list.*kills: expected a list/ },
    'a snapshot without its parts',
  );

  const next = cp.publish({ kills: [] });
  await until('a good snapshot after them applies', async () => (await fleetStatus(gw)).snapshotVersion === next.version);
  t.equal((await fleetStatus(gw)).lastError, null, 'and clears the error');
  t.equal((await chat(gw, await issuer.token('analyst'))).status, 200);
});
