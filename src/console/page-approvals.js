// Approvals: the calls waiting for a person (what exactly was asked: tool, operation, the redacted
// arguments, findings, the agent), approve or deny with a reason; and the decided ones.
import { useState } from 'preact/hooks';
import { api, calls } from './api.js';
import { Ago, Badge, can, ErrorNote, html, Json, Loading, ReasonForm, useGet, useInterval } from './ui.js';

const KIND = { approved: 'ok', used: 'ok', denied: 'bad', expired: 'warn', pending: 'warn' };

function Pending({ a, session, onDone }) {
  const r = a.request ?? {};
  const findings = r.findings ?? [];
  return html`<article class="card" aria-labelledby=${`ap-${a.id}`}>
    <h3 id=${`ap-${a.id}`}>${r.method ?? ''} ${r.tool ? `${r.tool}.${r.operation ?? ''}` : (r.path ?? a.id)}</h3>
    <dl class="facts">
      <div><dt>Agent</dt><dd>${a.agentId ? html`<a href=${`#/agents/${encodeURIComponent(a.agentId)}`}>${a.agentId}</a>` : '–'}</dd></div>
      <div><dt>Kind</dt><dd>${r.kind ?? '–'}</dd></div>
      <div><dt>Path</dt><dd>${r.path ?? '–'}</dd></div>
      <div><dt>Gateway</dt><dd>${a.gateway ?? '–'}</dd></div>
      <div><dt>Asked</dt><dd><${Ago} time=${a.createdAt} /></dd></div>
      <div><dt>Decide before</dt><dd>${a.expiresAt ?? '–'}</dd></div>
      <div><dt>Approval id</dt><dd><code>${a.id}</code></dd></div>
    </dl>
    <h4>Findings</h4>
    ${findings.length === 0 ? html`<p class="muted">none</p>` : html`<ul>${findings.map((f) => html`<li>${f.detector} (${f.severity}) at ${f.path}</li>`)}</ul>`}
    <h4>What was asked (redacted)</h4>
    <${Json} value=${r.arguments ?? r} />
    ${
      can(session, 'approver')
        ? html`<${ReasonForm} id=${`decide-${a.id}`} label=${`Decide approval ${a.id}`} onDone=${onDone} actions=${[
            { label: 'Approve', done: 'Approved.', act: (reason) => api('POST', `/api/approvals/${encodeURIComponent(a.id)}/approve`, { reason }) },
            { label: 'Deny', danger: true, done: 'Denied.', act: (reason) => api('POST', `/api/approvals/${encodeURIComponent(a.id)}/deny`, { reason }) },
          ]} />`
        : html`<p class="muted">Deciding needs the approver role.</p>`
    }
  </article>`;
}

export function ApprovalsPage({ session }) {
  const [tick, setTick] = useState(0);
  const refresh = () => setTick((n) => n + 1);
  useInterval(refresh, 3000);
  const { data, error } = useGet(calls.approvals().approvals, tick);
  if (data === null) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} />`;
  const pending = data.approvals.filter((a) => a.status === 'pending');
  const decided = data.approvals.filter((a) => a.status !== 'pending').reverse();
  return html`<h1>Approvals</h1>
    <h2>Pending <span class="muted">(${pending.length})</span></h2>
    ${pending.length === 0 ? html`<p class="muted">Nothing waits for a decision.</p>` : pending.map((a) => html`<${Pending} key=${a.id} a=${a} session=${session} onDone=${refresh} />`)}
    <h2>History</h2>
    <table>
      <caption class="sr-only">Decided approvals, newest first</caption>
      <thead><tr><th scope="col">Asked</th><th scope="col">Agent</th><th scope="col">What</th><th scope="col">Status</th><th scope="col">By</th><th scope="col">Reason</th><th scope="col">Decided</th></tr></thead>
      <tbody>
        ${decided.slice(0, 200).map(
          (a) => html`<tr>
            <td><${Ago} time=${a.createdAt} /></td><td>${a.agentId ?? '–'}</td>
            <td>${a.request?.method ?? ''} ${a.request?.tool ? `${a.request.tool}.${a.request.operation ?? ''}` : (a.request?.path ?? '')}</td>
            <td><${Badge} kind=${KIND[a.status] ?? 'warn'}>${a.status}<//></td><td>${a.decidedBy ?? '–'}</td><td>${a.reason ?? '–'}</td><td><${Ago} time=${a.decidedAt} /></td>
          </tr>`,
        )}
      </tbody>
    </table>`;
}
