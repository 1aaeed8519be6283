/**
 * The fleet end to end: three `aos start` processes under the real control plane (`aos control`,
 * src/control/server.ts, SQLite store; then two replicas sharing PostgreSQL, the gateways spread
 * over them). People act through its API: a kill switch and a suspension
 * reach every gateway within a second and cut a live stream; lifting restores. The control plane
 * stopped: the gateways serve from their last snapshot (from disk after a restart) and resync when
 * it is back. Audit: a gateway killed with `kill -9` under load and one stopped with SIGTERM (its
 * data folder then deleted) lose nothing: every call their upstream received is in the control
 * plane, and its chains verify.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import t, { type Test } from 'tap';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { chat, fleetGatewayDir, fleetStatus, type GatewayProcess, type Json, metric, startAosControl, startGatewayProcess, testIssuer, until, writeFleetConfig } from './fleet-gateways.js';
import { POSTGRES, startPostgres } from './postgres-server.js';

// The story runs twice (SQLite, then two replicas on PostgreSQL), about half a minute each.
t.setTimeout(180_000);

t.test('three gateways under aos control', (t) => fleet(t, null));

t.test('three gateways under two aos control replicas sharing PostgreSQL, each gateway given both URLs', POSTGRES.options, async (t) => {
  const pg = await startPostgres(t);
  return fleet(t, await pg.database('fleet'));
});

/** The whole story, against one control plane on SQLite or (postgresUrl) two replicas on PostgreSQL. */
async function fleet(t: Test, postgresUrl: string | null): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'aos-fleet-e2e-'));
  const upstream = await startSampleUpstream();
  const agents = await testIssuer(root);
  const control = await startAosControl(root, {}, postgresUrl === null ? {} : { postgresUrl, replicas: 2 });
  const { api } = control;
  const files = await Promise.all([0, 1, 2].map((i) => fleetGatewayDir(root, `gw${i}`, upstream.url, control, agents.keyFile)));
  const gws: GatewayProcess[] = await Promise.all(files.map((f) => startGatewayProcess(f.file)));
  t.teardown(async () => {
    for (const g of gws) g.child.kill('SIGKILL');
    await control.stop();
    await upstream.close();
    rmSync(root, { recursive: true, force: true });
  });
  const tokens = { a0: await agents.token('agent-0'), a1: await agents.token('agent-1') };
  const fleetVersion = async (): Promise<number> => (await api('GET', '/api/gateways')).fleetVersion;
  const allOn = async (v: number) => (await Promise.all(gws.map(async (g) => (await fleetStatus(g)).snapshotVersion >= v))).every(Boolean);

  const v1 = await fleetVersion();
  await until('every gateway on the fleet snapshot', () => allOn(v1), 15_000);
  for (const g of gws) t.equal((await chat(g, tokens.a0)).status, 200, 'an agent of the control plane registry is served');
  const ids = await Promise.all(gws.map(async (g) => (await fleetStatus(g)).gateway));

  await t.test('a kill switch and a suspension reach all three gateways within a second, and cut a live stream', async (t) => {
    const res = await fetch(`${gws[0].url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.a0}` },
      body: JSON.stringify({ model: 'slow-stream', stream: true, messages: [{ role: 'user', content: 'a long answer '.repeat(20) }] }),
    });
    const reader = res.body!.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);

    // Every change bumps the fleet version by one: the two changes below make it v0 + 2.
    const v0 = await fleetVersion();
    const start = performance.now();
    const { kill } = await api('POST', '/api/kills', { scope: 'agent', value: 'agent-0', live: 'cut', reason: 'runaway loop' });
    const killMs = performance.now() - start;
    await api('POST', '/api/agents/agent-1/suspend', { reason: 'under review' });
    const apiMs = performance.now() - start;
    const reached = await Promise.all(
      gws.map(async (g) => {
        await until('both applied', async () => (await fleetStatus(g)).snapshotVersion >= v0 + 2, 5000);
        return performance.now() - start;
      }),
    );
    t.comment(
      `kill + suspension (two API calls, answered after ${killMs.toFixed(0)} and ${apiMs.toFixed(0)} ms) in force on the 3 gateways after ${reached.map((ms) => `${ms.toFixed(0)} ms`).join(', ')}`,
    );
    for (const g of gws) {
      t.equal((await chat(g, tokens.a0)).code, 'aos_agent_killed', 'the killed agent is refused');
      t.equal((await chat(g, tokens.a1)).code, 'aos_agent_suspended', 'the suspended agent is refused');
    }
    t.ok(Math.max(...reached) < 1000, 'all three within 1 s');
    const admin = { authorization: `Bearer ${await agents.admin()}` };
    const view = (await (await fetch(`${gws[1].admin}/admin/agents/agent-1`, { headers: admin })).json()) as Json;
    t.match(view, { status: 'suspended', suspension: { reason: 'under review' } }, "a gateway's admin API shows the fleet's suspension");
    t.equal(await metric(gws[1], 'aos_agents_suspended'), 1, 'aos_agents_suspended counts it');
    const local = await fetch(`${gws[1].admin}/admin/agents/agent-0/suspend`, { method: 'POST', headers: admin, body: '{}' });
    t.equal(local.headers.get('x-aos-error-code'), 'aos_method_not_allowed', 'a local suspension is refused: the control plane decides');

    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const last = text.trim().split('\n\n').at(-1)!;
    t.equal(JSON.parse(last.replace(/^data: /, '')).error.code, 'aos_agent_killed', 'the live stream ended with an OpenAI-shaped error event');
    const id = res.headers.get('x-aos-request-id');
    await until('the cut call audited in the control plane', async () => (await api('GET', `/api/audit?gateway=${ids[0]}&agent=agent-0&limit=1000`)).events.some((e: Json) => e.id === id));
    const event = (await api('GET', `/api/audit?gateway=${ids[0]}&agent=agent-0&limit=1000`)).events.find((e: Json) => e.id === id);
    t.match(event, { outcome: 'failed', error_code: 'aos_agent_killed', stream: true });

    await api('DELETE', `/api/kills/${kill.id}?reason=fixed`);
    await api('POST', '/api/agents/agent-1/resume', { reason: 'cleared' });
    await until(
      'lifted everywhere',
      async () => (await Promise.all(gws.map(async (g) => (await chat(g, tokens.a0)).status === 200 && (await chat(g, tokens.a1)).status === 200))).every(Boolean),
      5000,
    );
    t.pass('lifting restores both agents on every gateway');
    const acked = async () => {
      const fleet = await api('GET', '/api/gateways');
      return ids.every((id) => fleet.gateways.some((g: Json) => g.id === id && g.snapshotVersion === fleet.fleetVersion && g.snapshotError === null));
    };
    await until('the control plane sees every gateway ack the newest snapshot', acked, 15_000);
    t.pass('every gateway acked the newest snapshot');
  });

  await t.test('the control plane stopped: gateways serve from their last snapshot, from disk after a restart, and resync', async (t) => {
    await api('POST', '/api/kills', { scope: 'team', value: 'research', live: 'finish', reason: 'freeze' });
    const v = await fleetVersion();
    await until('the team kill applied', () => allOn(v));
    await control.stop();
    for (const g of gws) {
      t.equal((await chat(g, tokens.a0)).status, 200, 'served');
      t.equal((await chat(g, tokens.a1)).code, 'aos_agent_killed', 'the kill in force stays in force');
    }
    gws[1].child.kill('SIGTERM');
    await gws[1].exited;
    gws[1] = await startGatewayProcess(files[1].file);
    t.equal((await fleetStatus(gws[1])).snapshotVersion, v, 'restarted without the control plane: the snapshot on disk is in force');
    t.equal((await chat(gws[1], tokens.a0)).status, 200);
    t.equal((await chat(gws[1], tokens.a1)).code, 'aos_agent_killed');

    await control.start();
    const kills = (await api('GET', '/api/kills')).kills;
    for (const k of kills) await api('DELETE', `/api/kills/${k.id}?reason=thaw`);
    const back = await fleetVersion();
    await until('every gateway resynced', () => allOn(back), 15_000);
    for (const g of gws) t.equal((await chat(g, tokens.a1)).status, 200, 'resynced: the kill lifted while it was away is lifted here');
  });

  /** Calls as agent-0 on one gateway until stop(). */
  const load = (g: () => GatewayProcess, workers: number) => {
    let stopped = false;
    const worker = async (i: number) => {
      while (!stopped) {
        const body = JSON.stringify({ model: 'gpt-4o-mini', stream: i % 2 === 1, messages: [{ role: 'user', content: `call ${i}` }] });
        try {
          await (await fetch(`${g().url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.a0}` }, body })).arrayBuffer();
        } catch {
          return;
        }
      }
    };
    const running = Array.from({ length: workers }, (_, i) => worker(i));
    return async () => {
      stopped = true;
      await Promise.all(running);
    };
  };
  const held = async (gateway: string): Promise<Set<string>> => {
    const text: string = await api('GET', `/api/audit/export?gateway=${gateway}`);
    return new Set(
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l).id),
    );
  };

  await t.test('kill -9 under load, restarted: every call the upstream received is in the control plane, chain verified', async (t) => {
    const from = upstream.received.length;
    const stop = load(() => gws[2], 6);
    await until('150 calls upstream', () => upstream.received.length - from >= 150);
    gws[2].child.kill('SIGKILL');
    await gws[2].exited;
    await stop();
    const received = upstream.received.slice(from).map((r) => String(r.headers['x-aos-request-id']));
    const before = (await held(ids[2])).size;
    gws[2] = await startGatewayProcess(files[2].file);
    await until('shipped', async () => (await fleetStatus(gws[2])).connected && (await fleetStatus(gws[2])).auditBacklog === 0, 15_000);
    const ids2 = await held(ids[2]);
    t.comment(`${received.length} calls upstream; the control plane held ${before} of gateway 2's records at the kill, ${ids2.size} after the restart`);
    t.ok(ids2.size > before, 'the restart shipped records the kill left behind (calls in flight, recovered from the journal)');
    t.same(
      received.filter((id) => !ids2.has(id)),
      [],
      'every call the upstream received is in the control plane',
    );
    t.match(await api('GET', `/api/audit/verify?gateway=${ids[2]}`), { ok: true }, 'its chain verifies in the control plane');
  });

  await t.test('SIGTERM drains; the data folder deleted after it loses nothing', async (t) => {
    // Shipping far slower than the calls (a minute between reads): at SIGTERM nearly all is still to ship.
    gws[0].child.kill('SIGTERM');
    await gws[0].exited;
    writeFleetConfig(files[0].dir, upstream.url, control.urls, agents.keyFile, {
      controlPlane: { urls: control.urls, tokenFile: 'control.token', audit: { intervalMs: 60_000, batchSize: 50 } },
    });
    writeFileSync(join(files[0].dir, 'control.token'), await control.gatewayToken('sa-gw0'));
    gws[0] = await startGatewayProcess(files[0].file);
    await until('connected', async () => (await fleetStatus(gws[0])).connected);
    const from = upstream.received.length;
    const stop = load(() => gws[0], 4);
    await until('200 calls upstream', () => upstream.received.length - from >= 200);
    await stop();
    const before = (await held(ids[0])).size;
    gws[0].child.kill('SIGTERM');
    t.equal(await gws[0].exited, 0, 'exited cleanly');
    rmSync(files[0].dir, { recursive: true, force: true });
    const received = upstream.received.slice(from).map((r) => String(r.headers['x-aos-request-id']));
    const ids0 = await held(ids[0]);
    t.ok(ids0.size - before >= 200, `${ids0.size - before} records shipped by the drain after SIGTERM`);
    t.same(
      received.filter((id) => !ids0.has(id)),
      [],
      `all ${received.length} calls are in the control plane`,
    );
    t.match(await api('GET', `/api/audit/verify?gateway=${ids[0]}`), { ok: true }, 'its chain verifies');
  });
}
