/**
 * Audit shipping loses nothing: a gateway killed with `kill -9` under load and restarted, and a
 * gateway stopped with SIGTERM whose data folder is then deleted. Every call the upstream received
 * is in the control plane's store for that gateway, and its chain verifies from genesis.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { chainHash, encodeEvent, GENESIS_HASH } from '../src/audit/canonical.js';
import type { AuditRecord } from '../src/audit/event.js';
import { startTestControlPlane } from './fleet-control.js';
import { FLEET_REGISTRY, fleetStatus, type GatewayProcess, metric, startGatewayProcess, testIssuer, until, writeFleetConfig } from './fleet-gateways.js';

/** The chain as the control plane holds it: seq 1…n, each linked to the one before and its hash recomputed. */
function chainProblems(records: readonly AuditRecord[]): string[] {
  const out: string[] = [];
  let prev = GENESIS_HASH;
  records.forEach((r, i) => {
    if (r.seq !== i + 1) out.push(`record ${i} has seq ${r.seq}`);
    if (r.prev_hash !== prev) out.push(`record ${r.seq} does not link to the one before`);
    if (chainHash(r.prev_hash, r.seq, encodeEvent(r)) !== r.hash) out.push(`record ${r.seq}: hash does not verify`);
    prev = r.hash;
  });
  return out;
}

/** Calls from `workers` agents in a loop until `stop()`; those the upstream received are in upstream.received. */
function load(gw: () => GatewayProcess, token: string, workers: number) {
  let stopped = false;
  const worker = async (i: number) => {
    while (!stopped) {
      const body = JSON.stringify({ model: 'gpt-4o-mini', stream: i % 2 === 1, messages: [{ role: 'user', content: `call from worker ${i}` }] });
      try {
        const r = await fetch(`${gw().url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
        await r.arrayBuffer();
      } catch {
        return; // the gateway is gone
      }
    }
  };
  const running = Array.from({ length: workers }, (_, i) => worker(i));
  return async () => {
    stopped = true;
    await Promise.all(running);
  };
}

t.test('audit shipping loses nothing through kill -9 and through a SIGTERM whose data folder is then deleted', async (t) => {
  const upstream = await startSampleUpstream();
  const cp = await startTestControlPlane(FLEET_REGISTRY);
  const root = mkdtempSync(join(tmpdir(), 'aos-fleet-audit-'));
  const issuer = await testIssuer(root);
  const token = await issuer.token('writer');
  const running: GatewayProcess[] = [];
  t.teardown(async () => {
    for (const g of running) g.child.kill('SIGKILL');
    await cp.stop();
    await upstream.close();
    rmSync(root, { recursive: true, force: true });
  });
  const receivedBy = (from: number) => upstream.received.slice(from).map((r) => String(r.headers['x-aos-request-id']));

  await t.test('kill -9 under load, then a restart', async (t) => {
    // A long group-commit interval: at the kill, many finished calls are journaled and not committed.
    const file = writeFleetConfig(mkdtempSync(join(root, 'crash-')), upstream.url, [cp.url], issuer.keyFile, { audit: { flushMs: 300, batchSize: 100_000 } });
    let gw = await startGatewayProcess(file);
    running.push(gw);
    await until('connected', async () => (await fleetStatus(gw)).connected);
    const id = (await fleetStatus(gw)).gateway;
    const from = upstream.received.length;
    const stop = load(() => gw, token, 6);
    // Some records shipped already (shipping resumes after them), many not yet committed.
    await until('150 calls upstream and a first batch shipped', () => upstream.received.length - from >= 150 && (cp.audit.get(id)?.length ?? 0) > 0);
    gw.child.kill('SIGKILL');
    await gw.exited;
    await stop();
    const received = receivedBy(from);
    const shippedBefore = cp.audit.get(id)?.length ?? 0;
    t.comment(`${received.length} calls reached the upstream; ${shippedBefore} records were shipped before the kill`);
    t.ok(shippedBefore < received.length, 'the kill left records to ship');

    gw = await startGatewayProcess(file);
    running.push(gw);
    await until('the backlog shipped', async () => (await fleetStatus(gw)).connected && (await fleetStatus(gw)).auditBacklog === 0 && (cp.audit.get(id)?.length ?? 0) > shippedBefore);
    const held = cp.audit.get(id)!;
    const ids = new Set(held.map((r) => r.id));
    t.same(
      received.filter((r) => !ids.has(r)),
      [],
      'every call the upstream received is in the control plane',
    );
    t.equal(ids.size, held.length, 'each once');
    t.ok(
      held.some((r) => r.outcome === 'interrupted'),
      'including calls recovered from the intent journal as interrupted',
    );
    t.same(chainProblems(held), [], `the chain of ${held.length} records verifies`);
    t.equal(await metric(gw, 'aos_fleet_audit_backlog'), 0, 'aos_fleet_audit_backlog 0');
    t.equal(await metric(gw, 'aos_fleet_audit_acked_seq'), held.length, 'aos_fleet_audit_acked_seq is the last seq');
  });

  await t.test('SIGTERM drains the backlog; the data folder deleted after it loses nothing', async (t) => {
    const dir = mkdtempSync(join(root, 'drain-'));
    // Shipping far slower than the calls: at SIGTERM nearly everything is still to ship.
    const file = writeFleetConfig(dir, upstream.url, [cp.url], issuer.keyFile, {
      controlPlane: { urls: [cp.url], tokenFile: 'control.token', audit: { intervalMs: 60_000, batchSize: 50 } },
    });
    const gw = await startGatewayProcess(file);
    running.push(gw);
    await until('connected', async () => (await fleetStatus(gw)).connected);
    const id = (await fleetStatus(gw)).gateway;
    const from = upstream.received.length;
    const stop = load(() => gw, token, 4);
    await until('200 calls upstream', () => upstream.received.length - from >= 200);
    await stop();
    const before = cp.audit.get(id)?.length ?? 0;
    gw.child.kill('SIGTERM');
    t.equal(await gw.exited, 0, 'the gateway exited cleanly');
    rmSync(dir, { recursive: true, force: true });
    const received = receivedBy(from);
    const held = cp.audit.get(id) ?? [];
    const ids = new Set(held.map((r) => r.id));
    t.comment(`${received.length} calls; ${before} records shipped before SIGTERM, ${held.length} after the drain`);
    t.ok(before < received.length, 'most records were still to ship at SIGTERM');
    t.same(
      received.filter((r) => !ids.has(r)),
      [],
      'every call is in the control plane',
    );
    t.same(chainProblems(held), [], 'and its chain verifies');
  });
});
