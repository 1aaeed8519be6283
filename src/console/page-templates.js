// Templates and policy: every template's versions (draft → active, approved ones to roll back to),
// a version's YAML, the diff between two versions; propose, approve and roll back with a reason.
import { useState } from 'preact/hooks';
import { api, calls, qs } from './api.js';
import { Badge, can, ErrorNote, html, Loading, ReasonForm, useGet } from './ui.js';

const KIND = { active: 'ok', approved: 'muted', draft: 'warn' };

function Diff({ name, from, to }) {
  const { data, error } = useGet(`/api/templates/${encodeURIComponent(name)}/diff${qs({ from, to })}`);
  if (data === null) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} />`;
  if (data.diff === '') return html`<p class="muted">${name}@${from} and @${to} are the same.</p>`;
  return html`<pre class="diff" aria-label=${`diff of ${name} from version ${from} to ${to}`}>${data.diff
    .split('\n')
    .map((l) => html`<span class=${l.startsWith('+') && !l.startsWith('+++') ? 'add' : l.startsWith('-') && !l.startsWith('---') ? 'del' : ''}>${l}\n</span>`)}</pre>`;
}

function Template({ t, session, onDone }) {
  const [view, setView] = useState(t.active ?? t.latest);
  const [from, setFrom] = useState(t.active ?? 1);
  const [to, setTo] = useState(t.latest);
  const shown = useGet(`/api/templates/${encodeURIComponent(t.name)}/versions/${view}`);
  const [draft, setDraft] = useState(null);
  const path = `/api/templates/${encodeURIComponent(t.name)}`;
  const versions = [...t.versions].reverse();
  return html`<h2>Template ${t.name}</h2>
    <table>
      <caption>Versions of ${t.name}</caption>
      <thead><tr><th scope="col">Version</th><th scope="col">Status</th><th scope="col">Author</th><th scope="col">Reason</th><th scope="col">Reviewer</th><th scope="col">Actions</th></tr></thead>
      <tbody>
        ${versions.map(
          (v) => html`<tr>
            <th scope="row">${v.version}</th>
            <td><${Badge} kind=${KIND[v.status]}>${v.status}<//></td>
            <td>${v.author}</td><td>${v.reason}</td><td>${v.reviewer ? `${v.reviewer}: ${v.reviewReason}` : '–'}</td>
            <td class="actions">
              <button type="button" class="link" onClick=${() => setView(v.version)} aria-label=${`show version ${v.version}`}>show</button>
              ${
                v.status === 'draft' && can(session, 'approver')
                  ? html`<${ReasonForm} id=${`approve-${t.name}-${v.version}`} label=${`Approve ${t.name} version ${v.version}`} onDone=${onDone} actions=${[
                      { label: `Approve v${v.version}`, done: 'Approved: now active.', act: (reason) => api('POST', `${path}/versions/${v.version}/approve`, { reason }) },
                    ]} />`
                  : null
              }
              ${
                v.status === 'approved' && can(session, 'admin')
                  ? html`<${ReasonForm} id=${`rollback-${t.name}-${v.version}`} label=${`Roll ${t.name} back to version ${v.version}`} onDone=${onDone} actions=${[
                      { label: `Roll back to v${v.version}`, danger: true, done: 'Rolled back.', act: (reason) => api('POST', `${path}/rollback`, { version: v.version, reason }) },
                    ]} />`
                  : null
              }
            </td>
          </tr>`,
        )}
      </tbody>
    </table>
    <h3>Version ${view}</h3>
    ${shown.data ? html`<pre class="yaml">${shown.data.yaml}</pre>` : html`<${ErrorNote} error=${shown.error} />`}
    <h3>Diff</h3>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label for="diff-from">From</label>
      <select id="diff-from" value=${from} onChange=${(e) => setFrom(Number(e.currentTarget.value))}>${versions.map((v) => html`<option value=${v.version}>${v.version}</option>`)}</select>
      <label for="diff-to">To</label>
      <select id="diff-to" value=${to} onChange=${(e) => setTo(Number(e.currentTarget.value))}>${versions.map((v) => html`<option value=${v.version}>${v.version}</option>`)}</select>
    </form>
    <${Diff} name=${t.name} from=${from} to=${to} />
    ${
      can(session, 'admin')
        ? html`<h3>Propose a new version</h3>
          ${
            draft === null
              ? html`<button type="button" onClick=${() => setDraft(shown.data?.yaml ?? '')}>Start from version ${view}</button>`
              : html`<${ReasonForm} id=${`propose-${t.name}`} label=${`Propose a version of ${t.name}`} onDone=${() => {
                  setDraft(null);
                  onDone();
                }} actions=${[{ label: 'Propose', done: 'Proposed: a draft waits for another person’s approval.', act: (reason) => api('POST', `${path}/versions`, { template: draft, reason }) }]}>
                  <label for=${`yaml-${t.name}`}>Template (YAML)</label>
                  <textarea id=${`yaml-${t.name}`} rows="14" value=${draft} onInput=${(e) => setDraft(e.currentTarget.value)}></textarea>
                <//>`
          }`
        : null
    }`;
}

export function TemplatesPage({ session, name }) {
  const [tick, setTick] = useState(0);
  const { data, error } = useGet(calls.templates().templates, tick);
  if (data === null) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} />`;
  const selected = data.templates.find((t) => t.name === name) ?? null;
  return html`<h1>Templates</h1>
    <nav aria-label="Templates"><ul class="inline">
      ${data.templates.map(
        (t) => html`<li><a href=${`#/templates/${encodeURIComponent(t.name)}`} aria-current=${t.name === name ? 'page' : undefined}>${t.name}</a>
          <span class="muted">active v${t.active ?? '–'}${t.latest !== t.active ? `, latest v${t.latest}` : ''}</span></li>`,
      )}
    </ul></nav>
    ${selected === null ? html`<p class="muted">Choose a template.</p>` : html`<${Template} key=${`${selected.name}-${tick}`} t=${selected} session=${session} onDone=${() => setTick((n) => n + 1)} />`}`;
}
