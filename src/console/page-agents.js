// Agents: search and filter the registry with each agent's counters; an agent's page with its
// template, budgets and spend, recent calls, and suspend / resume / kill with a reason.
import { useMemo, useState } from 'preact/hooks';
import { api, calls as first } from './api.js';
import { Chart } from './chart.js';
import { Ago, Badge, can, ErrorNote, html, Loading, num, ReasonForm, usd, useGet } from './ui.js';

// Rows rendered at once: search and the filters narrow the rest (1,000 rows took most of the page's time).
const SHOWN = 100;

const matches = (a, text) => {
  if (text === '') return true;
  const hay = `${a.id} ${a.team} ${a.template} ${a.owner ?? ''} ${Object.entries(a.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}`.toLowerCase();
  return text
    .toLowerCase()
    .split(/\s+/)
    .every((w) => hay.includes(w));
};

export function AgentsPage() {
  const { data, error } = useGet(first.agents().agents);
  const [text, setText] = useState('');
  const [team, setTeam] = useState('');
  const [status, setStatus] = useState('');
  const agents = data?.agents ?? [];
  const teams = useMemo(() => [...new Set(agents.map((a) => a.team))].sort(), [agents]);
  const found = useMemo(() => agents.filter((a) => (team === '' || a.team === team) && (status === '' || a.status === status) && matches(a, text.trim())), [agents, text, team, status]);
  if (data === null) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} />`;
  return html`<h1>Agents</h1>
    <form class="filters" role="search" onSubmit=${(e) => e.preventDefault()}>
      <label for="agent-search">Search</label>
      <input id="agent-search" type="search" value=${text} onInput=${(e) => setText(e.currentTarget.value)} placeholder="id, team, template, owner, label=value" />
      <label for="agent-team">Team</label>
      <select id="agent-team" value=${team} onChange=${(e) => setTeam(e.currentTarget.value)}>
        <option value="">all</option>
        ${teams.map((t) => html`<option value=${t}>${t}</option>`)}
      </select>
      <label for="agent-status">Status</label>
      <select id="agent-status" value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
        <option value="">all</option><option value="active">active</option><option value="suspended">suspended</option>
      </select>
    </form>
    <p role="status" class="muted">${num(found.length)} of ${num(agents.length)} agents${found.length > SHOWN ? `, the first ${SHOWN} shown: narrow the search` : ''}</p>
    <table>
      <caption class="sr-only">Agents</caption>
      <thead><tr><th scope="col">Agent</th><th scope="col">Team</th><th scope="col">Template</th><th scope="col">Status</th><th scope="col" class="n">Calls</th><th scope="col" class="n">Errors</th><th scope="col" class="n">Denied</th><th scope="col" class="n">Spend</th><th scope="col">Last call</th></tr></thead>
      <tbody>
        ${found.slice(0, SHOWN).map(
          (a) => html`<tr>
            <th scope="row"><a href=${`#/agents/${encodeURIComponent(a.id)}`}>${a.id}</a></th>
            <td>${a.team}</td><td>${a.template}@${a.version ?? '?'}</td>
            <td>${a.status === 'suspended' ? html`<${Badge} kind="bad">suspended<//>` : html`<${Badge} kind="ok">active<//>`}</td>
            <td class="n">${num(a.counters.calls)}</td><td class="n">${num(a.counters.errors)}</td><td class="n">${num(a.counters.denied)}</td><td class="n">${usd(a.counters.spendUsd)}</td>
            <td><${Ago} time=${a.counters.lastCall} /></td>
          </tr>`,
        )}
      </tbody>
    </table>`;
}

export function CallsTable({ events, caption, onOpen }) {
  if (events.length === 0) return html`<p class="muted">No calls.</p>`;
  return html`<table>
    <caption>${caption}</caption>
    <thead><tr><th scope="col">Time</th><th scope="col">Agent</th><th scope="col">Decision</th><th scope="col">Status</th><th scope="col">Route</th><th scope="col">Model or tool</th><th scope="col" class="n">Cost</th><th scope="col">Gateway · seq</th></tr></thead>
    <tbody>
      ${events.map(
        (e) => html`<tr>
          <td><${Ago} time=${e.time} /></td>
          <td>${e.agent_id ?? '–'}</td>
          <td>${e.decision === 'deny' ? html`<${Badge} kind="bad">deny<//>` : e.decision}/${e.outcome}${e.error_code ? html` <code>${e.error_code}</code>` : ''}</td>
          <td>${e.status ?? '–'}</td>
          <td>${e.route ?? e.path}</td>
          <td>${e.tool ?? e.model ?? '–'}</td>
          <td class="n">${usd(e.cost_usd)}</td>
          <td>${onOpen ? html`<button type="button" class="link" onClick=${() => onOpen(e)} aria-label=${`open event ${e.gateway} seq ${e.seq}`}>${e.gateway} · ${e.seq}</button>` : `${e.gateway} · ${e.seq}`}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

function Budget({ template }) {
  const b = template?.template?.budget;
  if (!b) return html`<p class="muted">The template sets no budget of its own.</p>`;
  return html`<dl class="facts">${Object.entries(b).map(([k, v]) => html`<div><dt>${k}</dt><dd>${k.endsWith('usd') ? usd(v) : v}</dd></div>`)}</dl>`;
}

export function AgentPage({ session, id }) {
  const [tick, setTick] = useState(0);
  const refresh = () => setTick((n) => n + 1);
  const paths = first.agent(id);
  const agent = useGet(paths.agent, tick);
  const calls = useGet(paths.calls, tick);
  const series = useGet(paths.series, tick);
  const kills = useGet(paths.kills, tick);
  const a = agent.data?.agent;
  const template = useGet(a ? `/api/templates/${encodeURIComponent(a.template)}/versions/${a.version}` : null);
  if (!a) return agent.error ? html`<${ErrorNote} error=${agent.error} />` : html`<${Loading} />`;
  const mine = (kills.data?.kills ?? []).filter(
    (k) => (k.scope === 'agent' && k.value === a.id) || (k.scope === 'team' && k.value === a.team) || (k.scope === 'template' && k.value === a.template) || k.scope === 'all',
  );
  const path = `/api/agents/${encodeURIComponent(a.id)}`;
  return html`<h1>Agent ${a.id}</h1>
    <p>${a.status === 'suspended' ? html`<${Badge} kind="bad">suspended<//> by ${a.suspension.actor}: ${a.suspension.reason}` : html`<${Badge} kind="ok">active<//>`}
      ${mine.length > 0 ? html` <${Badge} kind="bad">kill switch: ${mine.map((k) => k.scope).join(', ')}<//>` : ''}</p>
    <dl class="facts">
      <div><dt>Team</dt><dd>${a.team}</dd></div>
      <div><dt>Template</dt><dd><a href=${`#/templates/${encodeURIComponent(a.template)}`}>${a.template}</a> version ${a.version ?? '?'}${a.pinned === null ? ' (follows the active one)' : ' (pinned)'}</dd></div>
      <div><dt>Owner</dt><dd>${a.owner ?? '–'}</dd></div>
      <div><dt>Labels</dt><dd>${
        Object.entries(a.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ') || '–'
      }</dd></div>
      <div><dt>Calls</dt><dd>${num(a.counters.calls)}</dd></div>
      <div><dt>Errors / denied</dt><dd>${num(a.counters.errors)} / ${num(a.counters.denied)}</dd></div>
      <div><dt>Spend (all time)</dt><dd>${usd(a.counters.spendUsd)}</dd></div>
      <div><dt>Last call</dt><dd><${Ago} time=${a.counters.lastCall} /></dd></div>
    </dl>
    <h2>Budget</h2>
    <${Budget} template=${template.data} />
    ${
      can(session, 'operator')
        ? html`<h2>Act</h2>
          ${
            a.status === 'suspended'
              ? html`<${ReasonForm} id="resume" label="Resume the agent" onDone=${refresh} actions=${[{ label: 'Resume', done: 'Resumed.', act: (reason) => api('POST', `${path}/resume`, { reason }) }]} />`
              : html`<${ReasonForm} id="suspend" label="Suspend or kill the agent" onDone=${refresh} actions=${[
                  { label: 'Suspend', danger: true, done: 'Suspended: its next call is refused on every gateway.', act: (reason) => api('POST', `${path}/suspend`, { reason }) },
                  {
                    label: 'Kill (cut live calls)',
                    danger: true,
                    done: 'Killed: new calls refused, live ones cut.',
                    act: (reason) => api('POST', '/api/kills', { scope: 'agent', value: a.id, live: 'cut', reason }),
                  },
                ]} />`
          }
          ${mine
            .filter((k) => k.scope === 'agent')
            .map(
              (k) =>
                html`<${ReasonForm} id=${`lift-${k.id}`} label=${`Lift kill switch ${k.id}`} onDone=${refresh} actions=${[{ label: `Lift kill ${k.id}`, done: 'Lifted.', act: (reason) => api('DELETE', `/api/kills/${encodeURIComponent(k.id)}`, { reason }) }]} />`,
            )}`
        : null
    }
    <h2>Last 24 hours</h2>
    ${series.data ? html`<div class="charts"><${Chart} title="Calls" points=${series.data.points} series=${[{ key: 'calls', label: 'calls' }, { key: 'denied', label: 'denied' }]} format=${num} /><${Chart} title="Spend" points=${series.data.points} series=${[{ key: 'spendUsd', label: 'spend' }]} format=${usd} /></div>` : html`<${Loading} />`}
    <h2>Recent calls</h2>
    ${calls.data ? html`<${CallsTable} events=${calls.data.events} caption="The last 50 calls" />` : html`<${ErrorNote} error=${calls.error} />`}
    <p><a href=${`#/audit?agent=${encodeURIComponent(a.id)}`}>All of this agent's calls in the audit explorer</a></p>`;
}
