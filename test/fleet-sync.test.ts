/**
 * Three real gateway processes under one control plane: suspensions and kill switches reach all of
 * them within a second and cut a live stream; a bad snapshot is refused (and says why); with the
 * control plane down they serve from the last snapshot, from disk after a restart, and resync when
 * it is back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import t from 'tap';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { kill, startTestControlPlane } from './fleet-control.js';
import { chat, FLEET_REGISTRY, fleetStatus, type GatewayProcess, metric, startGatewayProcess, testIssuer, until, writeFleetConfig } from './fleet-gateways.js';

t.test('a fleet of three gateways follows the control plane, and keeps serving without it', async (t) => {
  const upstream = await startSampleUpstream();
  const cp = await startTestControlPlane(FLEET_REGISTRY);
  const root = mkdtempSync(join(tmpdir(), 'aos-fleet-'));
  const issuer = await testIssuer(root);
  const files = [0, 1, 2].map((i) => writeFleetConfig(mkdtempSync(join(root, `gw${i}-`)), upstream.url, [cp.url], issuer.keyFile));
  const gws: GatewayProcess[] = await Promise.all(files.map((f) => startGatewayProcess(f)));
  t.teardown(async () => {
    for (const g of gws) g.child.kill('SIGKILL');
    await cp.stop();
    await upstream.close();
    rmSync(root, { recursive: true, force: true });
  });
  const writer = await issuer.token('writer');
  const editor = await issuer.token('editor');
  const analyst = await issuer.token('analyst');
  const applied = (v: number) => Promise.all(gws.map(async (g) => (await fleetStatus(g)).snapshotVersion >= v)).then((all) => all.every(Boolean));

  await until('every gateway on snapshot 1', () => applied(1));
  for (const g of gws) t.equal((await chat(g, writer)).status, 200, 'an agent of the fleet registry is served');
  t.equal((await chat(gws[0], await issuer.token('local-only'))).code, 'aos_agent_unknown', "the gateway's own agents.yaml is not in force");
  t.equal(await metric(gws[0], 'aos_fleet_connected'), 1, 'aos_fleet_connected 1');

  // A live stream of the writer on gateway 0, a few chunks in.
  const streamed = fetch(`${gws[0].url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${writer}` },
    body: JSON.stringify({ model: 'slow-stream', stream: true, messages: [{ role: 'user', content: 'a long answer '.repeat(20) }] }),
  });
  const res = await streamed;
  const reader = res.body!.getReader();
  let text = new TextDecoder().decode((await reader.read()).value);

  await t.test('a kill switch and a suspension reach every gateway within a second', async (t) => {
    const start = performance.now();
    const s = cp.publish({ kills: [kill('k1', 'agent', 'writer')], suspensions: [{ agentId: 'editor', reason: 'review', actor: 'tester', at: new Date().toISOString() }] });
    const reached: number[] = [];
    await Promise.all(
      gws.map(async (g) => {
        await until('the kill applied', async () => (await fleetStatus(g)).snapshotVersion >= s.version, 5000);
        reached.push(performance.now() - start);
      }),
    );
    const worst = Math.max(...reached);
    t.comment(`kill + suspension applied on 3 gateways in ${reached.map((ms) => `${ms.toFixed(0)} ms`).join(', ')}`);
    t.ok(worst < 1000, `all three within 1 s (slowest ${worst.toFixed(0)} ms)`);
    for (const g of gws) {
      t.equal((await chat(g, writer)).code, 'aos_agent_killed', 'the killed agent is refused');
      t.equal((await chat(g, editor)).code, 'aos_agent_suspended', 'the suspended agent is refused');
      t.equal((await chat(g, analyst)).status, 200, 'other agents are served');
    }
  });

  await t.test('the live stream of the killed agent was cut with an OpenAI-shaped error event', async (t) => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const last = text.trim().split('\n\n').at(-1)!;
    t.match(last, /^data: \{"error":/, 'the stream ends with an error event');
    t.equal(JSON.parse(last.slice(6)).error.code, 'aos_agent_killed');
    t.notMatch(text, /\[DONE\]/, 'not as if it had completed');
    const id = res.headers.get('x-aos-request-id');
    const gateway = (await fleetStatus(gws[0])).gateway;
    await until('its audit event shipped', () => (cp.audit.get(gateway) ?? []).some((r) => r.id === id));
    const event = cp.audit.get(gateway)!.find((r) => r.id === id)!;
    t.match(event, { agent_id: 'writer', decision: 'allow', outcome: 'failed', error_code: 'aos_agent_killed', stream: true }, 'its audit event says it was cut by the kill');
  });

  await t.test('lifting the kill and the suspension restores the agents', async (t) => {
    const s = cp.publish({ kills: [], suspensions: [] });
    await until('lifted everywhere', () => applied(s.version));
    for (const g of gws) {
      t.equal((await chat(g, writer)).status, 200);
      t.equal((await chat(g, editor)).status, 200);
    }
    const okAcks = cp.acks.filter((a) => a.version === s.version && a.ok);
    t.equal(new Set(okAcks.map((a) => a.gateway)).size, 3, 'every gateway acked the version');
  });

  await t.test('a snapshot that fails validation is not applied; the ack says why', async (t) => {
    const good = cp.snapshot();
    const version = cp.publishRaw({ ...good, registry: { templates: { standard: { version: 1 } }, agents: [{ id: 'writer', team: 'content', template: 'missing' }] } });
    await until('three acks of the bad snapshot', () => cp.acks.filter((a) => a.version === version).length === 3);
    for (const a of cp.acks.filter((a) => a.version === version)) {
      t.equal(a.ok, false, `gateway ${a.gateway.slice(0, 8)} refused it`);
      t.match(a.error, /agents\[0\]\.template: expected one of the templates \(standard\), got "missing"/, 'and said why');
    }
    for (const g of gws) {
      const st = await fleetStatus(g);
      t.equal(st.snapshotVersion, good.version, 'the last good snapshot is still in force');
      t.match(st.lastError, /missing/, '/readyz says why');
      t.equal((await chat(g, analyst)).status, 200, 'and serving');
      t.equal(await metric(g, 'aos_fleet_snapshots_rejected_total'), 1);
    }
  });

  await t.test('control plane down: the gateways serve from their last snapshot, from disk after a restart, and resync', async (t) => {
    const s = cp.publish({ kills: [kill('k2', 'team', 'data', 'finish')] });
    await until('the team kill applied', () => applied(s.version));
    await cp.stop();
    await until('disconnected', async () => (await metric(gws[1], 'aos_fleet_connected')) === 0);
    for (const g of gws) {
      t.equal((await chat(g, writer)).status, 200, 'served while the control plane is down');
      t.equal((await chat(g, analyst)).code, 'aos_agent_killed', 'the kill in force stays in force');
    }
    gws[1].child.kill('SIGTERM');
    await gws[1].exited;
    gws[1] = await startGatewayProcess(files[1]);
    t.equal((await fleetStatus(gws[1])).snapshotVersion, s.version, 'restarted: the last good snapshot from dataDir is in force');
    t.equal((await chat(gws[1], writer)).status, 200, 'its registry serves');
    t.equal((await chat(gws[1], analyst)).code, 'aos_agent_killed', 'its kills refuse');

    await cp.start();
    const back = cp.publish({ kills: [] });
    await until('every gateway resynced', () => applied(back.version), 15_000);
    for (const g of gws) t.equal((await chat(g, analyst)).status, 200, 'resynced');
  });
});
