// Fleet: the gateways and the last minute, live (server-sent events from /api/live); calls, spend
// and denials over the last hour (uPlot); spend against the team and org budgets.
import { useEffect, useState } from 'preact/hooks';
import { calls } from './api.js';
import { Chart } from './chart.js';
import { Ago, Badge, ErrorNote, html, Loading, num, pct, usd, useGet, useInterval } from './ui.js';

function useLive() {
  const [live, setLive] = useState({ summary: null, connected: false });
  useEffect(() => {
    const source = new EventSource('/api/live');
    source.addEventListener('fleet', (e) => setLive({ summary: JSON.parse(e.data), connected: true }));
    source.onerror = () => setLive((l) => ({ ...l, connected: false }));
    return () => source.close();
  }, []);
  return live;
}

function Tiles({ s }) {
  const m = s.lastMinute;
  const tiles = [
    ['Gateways connected', `${s.counts.connected} / ${s.counts.connected + s.counts.disconnected}`],
    ['Out of sync', num(s.counts.outOfSync)],
    ['Calls/s (last minute)', (m.calls / 60).toFixed(2)],
    ['Error rate', pct(m.errors, m.calls)],
    ['Denied (last minute)', num(m.denied)],
    ['Spend (last minute)', usd(m.spendUsd)],
    ['Pending approvals', num(s.pendingApprovals)],
    ['Fleet version', num(s.version)],
  ];
  return html`<dl class="tiles">${tiles.map(([k, v]) => html`<div><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>`;
}

function Gateways({ s }) {
  if (s.gateways.length === 0) return html`<p class="muted">No gateway has said hello yet.</p>`;
  return html`<table>
    <caption>Gateways</caption>
    <thead><tr><th scope="col">Gateway</th><th scope="col">State</th><th scope="col">Version</th><th scope="col">Snapshot applied</th><th scope="col">Policy</th><th scope="col">Audit seq</th><th scope="col">Last seen</th></tr></thead>
    <tbody>
      ${s.gateways.map(
        (g) => html`<tr>
          <th scope="row">${g.id}</th>
          <td>${g.revokedAt ? html`<${Badge} kind="bad">revoked<//>` : g.connected ? html`<${Badge} kind="ok">connected<//>` : html`<${Badge} kind="warn">disconnected<//>`}</td>
          <td>${g.version}</td>
          <td>${g.snapshotVersion}${g.snapshotVersion < s.version ? html` <${Badge} kind="warn">behind ${s.version}<//>` : ''}${g.snapshotError ? html` <${Badge} kind="bad" title=${g.snapshotError}>refused<//>` : ''}</td>
          <td>${g.policyRevision ?? '–'}</td>
          <td>${num(g.auditSeq)}</td>
          <td><${Ago} time=${g.lastSeen} /></td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

function Budgets() {
  const [tick, setTick] = useState(0);
  useInterval(() => setTick((n) => n + 1), 15_000);
  const paths = calls.fleet();
  const budgets = useGet(paths.budgets, tick);
  const today = useGet(paths.today, tick);
  const month = useGet(paths.month, tick);
  if (budgets.data === null || today.data === null || month.data === null) return html`<${ErrorNote} error=${budgets.error ?? today.error ?? month.error} />`;
  const { base, overrides } = budgets.data;
  const limit = (id, fallback) => overrides[id] ?? fallback ?? null;
  const spent = new Map(today.data.rows.map((r) => [r.key, r.spendUsd]));
  const teams = new Set([...Object.keys(base?.teams ?? {}), ...spent.keys()].filter((t) => t !== null));
  const rows = [
    ['org (this month)', month.data.total.spendUsd, limit('org|usd|monthly', base?.org?.monthly_usd)],
    ...[...teams].sort().map((t) => [`team ${t} (today)`, spent.get(t) ?? 0, limit(`team:${t}|usd|daily`, base?.teams?.[t]?.daily_usd)]),
  ];
  return html`<table>
    <caption>Spend against budgets</caption>
    <thead><tr><th scope="col">Scope</th><th scope="col">Spent</th><th scope="col">Budget</th><th scope="col">Used</th></tr></thead>
    <tbody>
      ${rows.map(
        ([label, s, l]) => html`<tr>
          <th scope="row">${label}</th><td>${usd(s)}</td><td>${l === null ? 'none' : usd(l)}</td>
          <td>${l === null ? '–' : html`<progress max=${l} value=${Math.min(s, l)} aria-label=${`${label}: ${pct(s, l)} of the budget`}></progress> ${pct(s, l)}`}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

function Charts() {
  const [tick, setTick] = useState(0);
  useInterval(() => setTick((n) => n + 1), 10_000);
  const series = useGet(calls.fleet().series, tick);
  if (series.data === null) return series.error ? html`<${ErrorNote} error=${series.error} />` : html`<${Loading} />`;
  const points = series.data.points;
  return html`<div class="charts">
    <${Chart} title="Calls per bucket" points=${points} series=${[{ key: 'calls', label: 'calls' }, { key: 'errors', label: 'errors' }]} format=${num} />
    <${Chart} title="Spend" points=${points} series=${[{ key: 'spendUsd', label: 'spend' }]} format=${usd} />
    <${Chart} title="Denials" points=${points} series=${[{ key: 'denied', label: 'denied' }]} format=${num} />
  </div>`;
}

export function FleetPage() {
  const { summary, connected } = useLive();
  return html`<h1>Fleet</h1>
    <p class="muted" role="status">${connected ? html`<${Badge} kind="ok">live<//> updated <${Ago} time=${summary?.at} />` : 'connecting to the live stream…'}</p>
    ${summary === null ? html`<${Loading} />` : html`<${Tiles} s=${summary} />`}
    <h2>Last hour</h2>
    <${Charts} />
    <${Budgets} />
    ${summary === null ? null : html`<${Gateways} s=${summary} />`}`;
}
