// Audit explorer: filter the fleet's calls (agent, team, decision, workflow, gateway, time), open
// one event, see each gateway's chain verified, export what the filters match (JSON lines, CSV).
import { useState } from 'preact/hooks';
import { auditFilters, calls, qs } from './api.js';
import { CallsTable } from './page-agents.js';
import { Badge, ErrorNote, html, Loading, num, useGet } from './ui.js';

const FIELDS = [
  ['agent', 'Agent'],
  ['team', 'Team'],
  ['workflow', 'Workflow'],
  ['gateway', 'Gateway'],
];

function Event({ e, onClose }) {
  return html`<section class="card" aria-labelledby="event-title">
    <h2 id="event-title">Event ${e.id}</h2>
    <button type="button" onClick=${onClose}>Close</button>
    <dl class="facts">
      ${Object.entries(e)
        .filter(([, v]) => v !== null && typeof v !== 'object')
        .map(([k, v]) => html`<div><dt>${k}</dt><dd>${String(v)}</dd></div>`)}
    </dl>
    <h3>Reasons, findings, approval</h3>
    <pre class="json">${JSON.stringify({ reasons: e.reasons, findings: e.findings, flags: e.flags, approval: e.approval ?? null, capture: e.capture }, null, 2)}</pre>
  </section>`;
}

function Verify() {
  const [n, setN] = useState(0);
  const { data, error } = useGet(n === 0 ? null : '/api/audit/verify', n);
  return html`<section aria-labelledby="verify-title">
    <h2 id="verify-title">Chain verification</h2>
    <button type="button" onClick=${() => setN((x) => x + 1)}>Verify every gateway's chain</button>
    <${ErrorNote} error=${error} />
    ${
      data === null
        ? null
        : html`<table>
      <caption>${data.ok ? 'Every chain verifies' : 'A chain is broken'}</caption>
      <thead><tr><th scope="col">Gateway</th><th scope="col">Status</th><th scope="col" class="n">Records checked</th><th scope="col" class="n">Head seq</th><th scope="col">Broken at</th></tr></thead>
      <tbody>${data.gateways.map(
        (g) => html`<tr><th scope="row">${g.gateway}</th><td>${g.ok ? html`<${Badge} kind="ok">verified<//>` : html`<${Badge} kind="bad">broken<//>`}</td>
          <td class="n">${num(g.checked)}</td><td class="n">${num(g.headSeq)}</td><td>${g.broken ? `seq ${g.broken.seq}: ${g.broken.message}` : '–'}</td></tr>`,
      )}</tbody>
    </table>`
    }
  </section>`;
}

export function AuditPage({ query }) {
  const initial = auditFilters(query);
  const [form, setForm] = useState(initial);
  const [filters, setFilters] = useState(initial);
  const [open, setOpen] = useState(null);
  const { data, error } = useGet(calls.audit(filters).events);
  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.value });
  const exportQs = qs(filters);
  return html`<h1>Audit</h1>
    <form class="filters" role="search" onSubmit=${(e) => {
      e.preventDefault();
      setOpen(null);
      setFilters(form);
    }}>
      ${FIELDS.map(([k, label]) => html`<label for=${`f-${k}`}>${label}</label><input id=${`f-${k}`} value=${form[k]} onInput=${set(k)} />`)}
      <label for="f-decision">Decision</label>
      <select id="f-decision" value=${form.decision} onChange=${set('decision')}><option value="">any</option><option>allow</option><option>deny</option><option>none</option></select>
      <label for="f-since">Since</label>
      <input id="f-since" value=${form.since} onInput=${set('since')} placeholder="15m, 2h, 7d or ISO time" />
      <label for="f-until">Until</label>
      <input id="f-until" value=${form.until} onInput=${set('until')} placeholder="ISO time (empty: now)" />
      <button type="submit">Search</button>
    </form>
    <p>Export what these filters match: <a href=${`/api/audit/export${exportQs}${exportQs ? '&' : '?'}format=jsonl`} download="aos-audit.jsonl">JSON lines</a> · <a href=${`/api/audit/export${exportQs}${exportQs ? '&' : '?'}format=csv`} download="aos-audit.csv">CSV</a></p>
    <${ErrorNote} error=${error} />
    ${open === null ? null : html`<${Event} e=${open} onClose=${() => setOpen(null)} />`}
    ${data === null ? html`<${Loading} />` : html`<${CallsTable} events=${data.events} caption=${`${data.events.length === 100 ? 'The newest 100' : data.events.length} matching calls`} onOpen=${setOpen} />`}
    <${Verify} />`;
}
