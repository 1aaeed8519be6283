/** Audit shipping to the control plane: chains checked on ingest, retries stored once, gaps 409, tampering 422; fleet-wide query, export, verify; agent counters. */
import t from 'tap';
import { sampleEvent } from './audit-events.js';
import { ADMIN_TOKEN, chain, startControl } from './control-fixtures.js';

const hello = { version: '0.1.0', labels: {}, snapshotVersion: 0, policyRevision: null };

t.test('ingest: verify, duplicates once, gap 409 with expected, tampered 422', async (t) => {
  const h = await startControl(t);
  await h.gw('POST', '/v1/hello', 'gw-1', hello);
  const records = chain(12);
  t.same(await h.gw('POST', '/v1/audit', 'gw-1', { records: records.slice(0, 5) }), { status: 200, body: { acked: 5 } });
  t.same(await h.gw('POST', '/v1/audit', 'gw-1', { records: records.slice(0, 5) }), { status: 200, body: { acked: 5 } }, 'a retry is acknowledged again');
  const gap = await h.gw('POST', '/v1/audit', 'gw-1', { records: records.slice(6, 8) });
  t.same(gap.status, 409);
  t.match(gap.body, { error: { code: 'control_audit_gap' }, expected: 6, acked: 5 });
  const tampered = { ...records[5], cost_usd: 0.000001 };
  const broken = await h.gw('POST', '/v1/audit', 'gw-1', { records: [tampered, ...records.slice(6, 8)] });
  t.same(broken.status, 422);
  t.match(broken.body, { error: { code: 'control_chain_broken', message: /seq 6 does not match its hash/ }, seq: 6, acked: 5 });
  const bad = await h.gw('POST', '/v1/audit', 'gw-1', { records: [{ seq: 6 }] });
  t.same([bad.status, bad.body.error.code], [400, 'control_bad_request'], 'not a record');
  const unordered = await h.gw('POST', '/v1/audit', 'gw-1', { records: [records[6], records[5]] });
  t.same([unordered.status, unordered.body.error.code], [400, 'control_bad_request'], 'not in chain order');
  t.same(await h.gw('POST', '/v1/audit', 'gw-1', { records: records.slice(3, 12) }), { status: 200, body: { acked: 12 } }, 'overlapping resend');
  const hello2 = await h.gw('POST', '/v1/hello', 'gw-1', hello);
  t.match(hello2.body, { auditSeq: 12, auditHash: records[11].hash }, 'hello says where shipping resumes');

  const all = await h.api('GET', '/api/audit?limit=100', { sub: 'vera', roles: ['viewer'] });
  t.equal(all.body.events.length, 12, 'each record stored once');
  t.same(all.body.events[0], { gateway: 'gw-1', ...records[0] });
});

t.test('fleet-wide query, export, verify and agent counters over two gateways', async (t) => {
  const h = await startControl(t);
  for (const id of ['gw-a', 'gw-b']) await h.gw('POST', '/v1/hello', id, hello);
  const a = chain(10);
  const bChain = chain(6, { event: (i) => ({ ...sampleEvent(i), cost_usd: 0.5, outcome: 'failed', status: 502, decision: 'allow', agent_id: 'agent-1', workflow_id: 'wf-b' }) });
  t.equal((await h.gw('POST', '/v1/audit', 'gw-a', { records: a })).status, 200);
  t.equal((await h.gw('POST', '/v1/audit', 'gw-b', { records: bChain })).status, 200);

  const q = async (query: string) => (await h.api('GET', `/api/audit?${query}`, ADMIN_TOKEN)).body.events as { gateway: string; seq: number }[];
  t.equal((await q('limit=1000')).length, 16);
  t.same(
    (await q('gateway=gw-b&limit=3')).map((r) => r.seq),
    [1, 2, 3],
  );
  t.same(
    (await q('workflow=wf-b')).map((r) => r.gateway),
    Array(6).fill('gw-b'),
  );
  t.equal((await q('decision=deny')).length, 2, 'gw-a seq 5 and 10');
  t.equal((await q('team=red&gateway=gw-a')).length, 5);
  t.equal((await q(`since=${encodeURIComponent(new Date(Date.UTC(2026, 0, 1) + 8000).toISOString())}&gateway=gw-a`)).length, 3);

  const exported = await fetch(`${h.cp.addresses.people}/api/audit/export?gateway=gw-a`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  t.equal(exported.headers.get('content-type'), 'application/x-ndjson');
  const lines = (await exported.text()).trim().split('\n');
  t.same(
    lines.map((l) => JSON.parse(l)),
    a.map((r) => ({ gateway: 'gw-a', ...r })),
    'export: every record with its hashes',
  );

  const verify = await h.api('GET', '/api/audit/verify', ADMIN_TOKEN);
  t.match(verify.body, {
    ok: true,
    gateways: [
      { gateway: 'gw-a', ok: true, checked: 10 },
      { gateway: 'gw-b', ok: true, checked: 6 },
    ],
  });
  t.equal((await h.api('GET', '/api/audit/verify?gateway=nope', ADMIN_TOKEN)).status, 404);

  // Someone edits a stored record behind the control plane's back: verify names it.
  const db = (await import('better-sqlite3')).default(`${h.dir}/data/control.db`);
  db.prepare(`UPDATE audit_events SET body = replace(body, '"gpt-4o-mini"', '"gpt-5"') WHERE gateway = 'gw-a' AND seq = 4`).run();
  db.close();
  const tampered = await h.api('GET', '/api/audit/verify?gateway=gw-a', ADMIN_TOKEN);
  t.match(tampered.body, { ok: false, gateways: [{ gateway: 'gw-a', ok: false, checked: 3, broken: { seq: 4, message: /modified/ } }] });

  const agents = (await h.api('GET', '/api/agents', ADMIN_TOKEN)).body.agents as { id: string; counters: Record<string, unknown> }[];
  const byId = new Map(agents.map((x) => [x.id, x]));
  // gw-a: agent-0 has seqs 3, 6, 9; agent-1 has 1, 4, 7, 10 (10 denied); gw-b: six failed calls of agent-1 at $0.5.
  t.match(byId.get('agent-0')?.counters, { calls: 3, denied: 0, errors: 0, spendUsd: 0 });
  t.match(byId.get('agent-1')?.counters, { calls: 10, denied: 1, errors: 6, spendUsd: 3 });
  t.match(byId.get('agent-1'), { template: 'restricted', version: 1, status: 'active' });
});
