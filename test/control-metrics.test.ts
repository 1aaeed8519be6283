/**
 * The control plane's /metrics on the people listener: after a hello, a stream, a kill, acks and
 * audit batches (a duplicate, a gap, a broken record), the metrics say so; labels stay bounded.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { type MetricFamily, parsePrometheus } from './audit-events.js';
import { ADMIN_TOKEN, type ControlHarness, chain, openStream, startControl } from './control-fixtures.js';

const hello = { version: '0.1.0', labels: { pod: 'p1' }, snapshotVersion: 0, policyRevision: null };

interface Scrape {
  families: MetricFamily[];
  /** A counter's or gauge's sample whose labels include `labels`. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** A histogram's count for one listener (the parser folds labelled histograms into one, so read from the text). */
  timed(listener: string): number | undefined;
}

async function scrape(h: ControlHarness): Promise<Scrape> {
  const res = await fetch(`${h.cp.addresses.people}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics: ${res.status}`);
  const text = await res.text();
  const families = parsePrometheus(text);
  return {
    families,
    value(name, labels = {}) {
      const m = families.find((f) => f.name === name)?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
      return m?.value === undefined ? undefined : Number(m.value);
    },
    timed(listener) {
      const line = new RegExp(`^aos_control_http_request_duration_seconds_count\\{listener="${listener}"\\} (\\d+)$`, 'm').exec(text);
      return line === null ? undefined : Number(line[1]);
    },
  };
}

/** Scrapes until `pred` holds (what a closed stream changes lands a moment later), or gives the last scrape. */
async function scrapeUntil(h: ControlHarness, pred: (m: Scrape) => boolean, timeoutMs = 3000): Promise<Scrape> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await scrape(h);
    if (pred(m) || Date.now() > deadline) return m;
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('hello, stream, kill, acks and audit batches, as the metrics tell them', async (t) => {
  const h = await startControl(t);

  const open = await fetch(`${h.cp.addresses.people}/metrics`);
  t.equal(open.status, 200, 'no credential needed');
  t.match(open.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  await open.text();
  t.equal((await fetch(`${h.cp.addresses.people}/metrics`, { method: 'POST' })).status, 405);
  t.equal((await fetch(`${h.cp.addresses.gateways}/metrics`)).status, 404, 'not on the gateway listener');

  let m = await scrape(h);
  t.equal(m.value('aos_control_fleet_version'), 1, 'the seeded version');
  t.same(
    ['connected', 'disconnected', 'revoked'].map((state) => m.value('aos_control_gateways', { state })),
    [0, 0, 0],
  );
  t.equal(m.value('aos_control_store_up'), 1);
  t.ok(m.value('process_cpu_user_seconds_total') !== undefined && m.value('nodejs_heap_size_total_bytes') !== undefined, 'Node process metrics');
  t.equal(m.value('aos_control_changes_total'), undefined, 'the seed is not a person’s change');

  t.equal((await h.gw('POST', '/v1/hello', 'gw-1', hello)).status, 200);
  t.equal((await h.gw('POST', '/v1/hello', 'gw-2', hello)).status, 200);
  m = await scrape(h);
  t.same([m.value('aos_control_gateways', { state: 'connected' }), m.value('aos_control_gateways', { state: 'disconnected' })], [0, 2], 'a hello is not a stream');
  t.equal(m.value('aos_control_gateways_out_of_sync'), 0, 'only connected gateways count');

  const stream = await openStream(h, 'gw-1');
  t.teardown(() => stream.close());
  await stream.next((s) => s.version === 1);
  m = await scrape(h);
  t.same([m.value('aos_control_gateways', { state: 'connected' }), m.value('aos_control_gateways', { state: 'disconnected' })], [1, 1]);
  t.equal(m.value('aos_control_snapshot_pushes_total'), 1, 'the current snapshot on connect');
  t.equal(m.value('aos_control_gateways_out_of_sync'), 1, 'nothing acked yet');

  const kill = await h.api('POST', '/api/kills', { sub: 'otto', roles: ['operator'] }, { scope: 'team', value: 'research', live: 'cut', reason: 'runaway spend' });
  t.equal(kill.status, 201);
  const killed = await stream.next((s) => s.kills.length > 0);
  t.equal(killed.version, 2);
  m = await scrape(h);
  t.equal(m.value('aos_control_changes_total', { action: 'kill' }), 1);
  t.equal(m.value('aos_control_fleet_version'), 2);
  t.equal(m.value('aos_control_snapshot_pushes_total'), 2);

  t.equal((await h.gw('POST', '/v1/acks', 'gw-1', { version: 2, ok: true })).status, 200);
  m = await scrape(h);
  t.equal(m.value('aos_control_acks_total', { ok: 'true' }), 1);
  t.equal(m.value('aos_control_acks_total', { ok: 'false' }), 0);
  t.equal(m.value('aos_control_gateways_out_of_sync'), 0, 'acked the fleet version');
  t.equal((await h.gw('POST', '/v1/acks', 'gw-1', { version: 2, ok: false, error: 'registry: bad template' })).status, 200);
  m = await scrape(h);
  t.equal(m.value('aos_control_acks_total', { ok: 'false' }), 1);
  t.equal(m.value('aos_control_gateways_out_of_sync'), 1, 'a refusal is out of sync');

  const records = chain(8);
  t.same(await h.gw('POST', '/v1/audit', 'gw-1', { records: records.slice(0, 3) }), { status: 200, body: { acked: 3 } });
  t.same(await h.gw('POST', '/v1/audit', 'gw-1', { records: records.slice(2, 4) }), { status: 200, body: { acked: 4 } }, 'seq 3 again, then 4');
  t.equal((await h.gw('POST', '/v1/audit', 'gw-1', { records: records.slice(5, 7) })).status, 409, 'a gap');
  t.equal((await h.gw('POST', '/v1/audit', 'gw-1', { records: [{ ...records[4], cost_usd: 1 }] })).status, 422, 'a broken record');
  m = await scrape(h);
  t.equal(m.value('aos_control_audit_records_total', { result: 'stored' }), 4);
  t.equal(m.value('aos_control_audit_records_total', { result: 'duplicate' }), 1);
  t.equal(m.value('aos_control_audit_batches_refused_total', { reason: 'gap' }), 1);
  t.equal(m.value('aos_control_audit_batches_refused_total', { reason: 'broken' }), 1);

  t.equal((await h.api('POST', '/api/gateways/gw-2/revoke', ADMIN_TOKEN, { reason: 'decommissioned' })).status, 200);
  stream.close();
  await stream.ended;
  m = await scrapeUntil(h, (x) => x.value('aos_control_gateways', { state: 'connected' }) === 0);
  t.same(
    ['connected', 'disconnected', 'revoked'].map((state) => m.value('aos_control_gateways', { state })),
    [0, 1, 1],
    'the stream closed; gw-2 revoked',
  );
  t.equal(m.value('aos_control_changes_total', { action: 'gateway.revoke' }), 1);
  t.equal(m.value('aos_control_gateways_out_of_sync'), 0, 'a disconnected gateway is not counted');

  // Gateway listener: hellos, acks, batches (200), the gap and the broken batch (4xx), the stream once it ended.
  t.equal(m.value('aos_control_http_requests_total', { listener: 'gateways', status: '2xx' }), 2 + 2 + 2 + 1);
  t.equal(m.value('aos_control_http_requests_total', { listener: 'gateways', status: '4xx' }), 3, 'the gap, the broken batch, /metrics asked of the wrong listener');
  t.equal(m.timed('gateways'), 2 + 2 + 2 + 3, 'timed: all but the stream');
  t.ok((m.timed('people') ?? 0) >= 3, 'the kill, the revoke, POST /metrics, the scrapes');
  t.ok((m.value('aos_control_http_requests_total', { listener: 'people', status: '2xx' }) ?? 0) >= 2, 'the kill, the revoke, the scrapes');
  t.equal(m.value('aos_control_http_requests_total', { listener: 'people', status: '4xx' }), 1, 'POST /metrics');

  const ids = new Set(['gw-1', 'gw-2', 'agent-0', 'agent-1', 'sa-gw-1']);
  const unbounded = m.families.flatMap((f) => f.metrics.flatMap((s) => Object.values(s.labels ?? {}).filter((v) => ids.has(v))));
  t.same(unbounded, [], 'no gateway or agent id as a label value');
  t.same(
    m.families.filter((f) => f.name.startsWith('aos_')).map((f) => f.name),
    m.families.filter((f) => f.name.startsWith('aos_control_')).map((f) => f.name),
    'every aos metric is aos_control_*',
  );
});

t.test('two control planes in one process keep registries of their own', async (t) => {
  const a = await startControl(t);
  const b = await startControl(t);
  await a.api('POST', '/api/agents/agent-0/suspend', ADMIN_TOKEN, { reason: 'a only' });
  t.equal((await scrape(a)).value('aos_control_changes_total', { action: 'agent.suspend' }), 1);
  t.equal((await scrape(b)).value('aos_control_changes_total', { action: 'agent.suspend' }), undefined);
});

t.test('the metrics table of docs/control-plane.md names exactly the metrics served', async (t) => {
  const h = await startControl(t);
  const doc = readFileSync(new URL('../docs/control-plane.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\| `(aos_control_[a-z_]+)` \|/gm)].map((r) => r[1]).sort();
  const served = (await scrape(h)).families
    .map((f) => f.name)
    .filter((n) => n.startsWith('aos_control_'))
    .sort();
  t.same(documented, served);
});
