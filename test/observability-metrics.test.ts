/** /metrics on the admin listener, parsed by a real Prometheus exposition-format parser: call, denial and audit metrics, bounded labels. */
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { type MetricFamily, parsePrometheus } from './audit-events.js';
import { startHarness } from './helpers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
unknownAgents: { action: deny }
templates:
  standard: { version: 1, providers: [openai], models: ["gpt-4o*"] }
agents:
  - { id: writer, team: content, template: standard }
  - { id: idle, team: content, template: standard }
`;

t.test('call, denial and audit metrics; label cardinality stays bounded under hostile variety', async (t) => {
  const h = await startHarness(t, { identity: { mode: 'required', registry: 'agents.yaml' }, policy: { mode: 'enforce', bundle: { file: BUNDLE } } }, { files: { 'agents.yaml': REGISTRY } });
  const mint = (sub: string) => h.gateway.signer()!.mint({ subject: sub, audience: 'aos-gateway', ttlSec: 600 });
  const writer = await mint('writer');
  const call = (token: string | null, path: string, body: unknown) =>
    fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) }, body: JSON.stringify(body) }).then(
      (r) => r.arrayBuffer().then(() => r.status),
    );
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push(await call(writer, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] }));
  for (let i = 0; i < 3; i++) statuses.push(await call(writer, '/v1/chat/completions', { model: `o${i}-forbidden`, messages: [] }));
  // Variety an attacker controls: paths, agent ids, models. None may become a label value.
  for (let i = 0; i < 60; i++) statuses.push(await call(writer, `/v1/random-${i}-${Math.random().toString(36).slice(2)}`, {}));
  for (let i = 0; i < 30; i++) statuses.push(await call(await mint(`stranger-${i}`), '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] }));
  for (let i = 0; i < 10; i++) statuses.push(await call(null, '/v1/chat/completions', { model: `m-${i}` }));
  h.gateway.suspensions().suspend('idle', 'test', 'test');
  await h.gateway.audit()!.flush();

  const families = parsePrometheus(await (await fetch(`${h.admin}/metrics`)).text());
  const fam = (name: string): MetricFamily => {
    const f = families.find((x) => x.name === name);
    if (f === undefined) throw new Error(`no metric ${name}`);
    return f;
  };
  const sum = (name: string, match: Record<string, string> = {}) =>
    fam(name)
      .metrics.filter((m) => Object.entries(match).every(([k, v]) => m.labels?.[k] === v))
      .reduce((a, m) => a + Number(m.value), 0);

  t.equal(sum('aos_calls_total'), statuses.length, 'every call counted once');
  t.equal(sum('aos_calls_total', { route: 'openai/chat.completions', decision: 'allow', status: '200' }), 5);
  t.equal(sum('aos_calls_total', { route: 'unmatched', decision: 'deny', status: '404' }), 60);
  t.equal(sum('aos_denials_total', { reason: 'aos_policy_denied' }), 3);
  t.equal(sum('aos_denials_total', { reason: 'aos_route_not_found' }), 60);
  t.equal(sum('aos_denials_total', { reason: 'aos_agent_unknown' }), 30);
  t.equal(sum('aos_denials_total', { reason: 'aos_unauthenticated' }), 10);
  t.equal(sum('aos_audit_events_total'), statuses.length, 'every event committed');
  t.equal(sum('aos_audit_queue_depth'), 0, 'nothing waiting after a flush');
  const lag = fam('aos_audit_commit_lag_seconds');
  t.equal(lag.type, 'HISTOGRAM');
  t.ok(Number(lag.metrics[0].count) >= 1, 'commit lag observed');
  t.equal(sum('aos_agents_suspended'), 1);
  t.ok(
    families.some((f) => f.name === 'aos_otel_dropped_total'),
    'OTel drops exported even when OTel is off (at 0)',
  );

  const SERIES_CAP = 20;
  for (const f of families.filter((x) => x.name.startsWith('aos_'))) {
    t.match(f.name, /^aos_[a-z]+(_[a-z]+)*$/, `${f.name}: named aos_<noun>_<unit>`);
    t.ok(f.metrics.length <= SERIES_CAP, `${f.name}: ${f.metrics.length} series`);
    for (const m of f.metrics) {
      for (const v of Object.values(m.labels ?? {})) t.notMatch(v, /random-|stranger-|^m-\d/, `${f.name}: no attacker-chosen label value`);
    }
  }
});

t.test('the Grafana dashboard queries only metrics the gateway exports', async (t) => {
  const { readFileSync } = await import('node:fs');
  const dashboard = JSON.parse(readFileSync(new URL('../helm/dashboards/aos-gateway.json', import.meta.url), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
  const h = await startHarness(t, { policy: { mode: 'enforce', bundle: { file: BUNDLE } } });
  await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-4o-mini","messages":[]}' });
  const exported = new Set(parsePrometheus(await (await fetch(`${h.admin}/metrics`)).text()).map((f) => f.name));
  const used = new Set<string>();
  for (const p of dashboard.panels)
    for (const target of p.targets ?? []) for (const m of target.expr.replace(/"[^"]*"/g, '').matchAll(/\baos_[a-z_]+/g)) used.add(m[0].replace(/_(bucket|sum|count)$/, ''));
  t.ok(used.size >= 15, `${used.size} metrics used`);
  // A panel for a metric nothing exports yet shows "no data" forever: it lands with the metric.
  for (const name of used) t.ok(exported.has(name), `${name} is exported`);
});
