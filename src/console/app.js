// The console: sign-in, the navigation, and a hash router over the pages (#/fleet, #/agents/…).
import { render } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, route, setSession } from './api.js';
import { loadUplot } from './chart.js';
import { AgentPage, AgentsPage } from './page-agents.js';
import { ApprovalsPage } from './page-approvals.js';
import { AuditPage } from './page-audit.js';
import { FleetPage } from './page-fleet.js';
import { TemplatesPage } from './page-templates.js';
import { html } from './ui.js';

const PAGES = [
  ['fleet', 'Fleet'],
  ['agents', 'Agents'],
  ['approvals', 'Approvals'],
  ['audit', 'Audit'],
  ['templates', 'Templates'],
];

// Asked by api.js before this module evaluates; this takes its answer.
const firstSession = api('GET', '/console/session');
// Not signed in is an answer, taken by App's first effect (which may run after it came).
firstSession.catch(() => {});
// The OpenID provider's name when the control plane signs in with one (console.oidc), else null.
const OIDC = document.querySelector('meta[name="aos-oidc"]')?.getAttribute('content') ?? null;

function SignIn({ onSession }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    try {
      onSession(await api('POST', '/console/session', { token }));
    } catch (err) {
      setError(err.message);
    }
  };
  return html`<main class="signin" id="main">
    <h1>AOS control</h1>
    ${
      OIDC === null
        ? null
        : html`<p><a class="button" href="/console/oidc/login">Sign in with ${OIDC}</a></p>
            <p class="muted">Or with a token:</p>`
    }
    <form onSubmit=${submit}>
      <label for="token">Admin token or JWT</label>
      <input id="token" type="password" autocomplete="current-password" required value=${token} onInput=${(e) => setToken(e.currentTarget.value)} />
      <button type="submit">Sign in</button>
      ${error === null ? null : html`<p class="error" role="alert">${error}</p>`}
      <p class="muted">The token stays on the control plane: the browser keeps only an HttpOnly session cookie.</p>
    </form>
  </main>`;
}

/** The pages that draw charts: uPlot is loaded as they open, not after their data has come. */
const charts = (where) => where.page === 'fleet' || (where.page === 'agents' && where.arg !== null);
if (charts(route())) loadUplot();

function Page({ session, where }) {
  if (charts(where)) loadUplot();
  switch (where.page) {
    case 'fleet':
      return html`<${FleetPage} session=${session} />`;
    case 'agents':
      return where.arg === null ? html`<${AgentsPage} session=${session} />` : html`<${AgentPage} session=${session} id=${where.arg} />`;
    case 'approvals':
      return html`<${ApprovalsPage} session=${session} />`;
    case 'audit':
      return html`<${AuditPage} session=${session} query=${where.query} />`;
    case 'templates':
      return html`<${TemplatesPage} session=${session} name=${where.arg} />`;
    default:
      return html`<p>No page ${where.page}.</p>`;
  }
}

function App() {
  const [session, setState] = useState(undefined);
  const [where, setWhere] = useState(route());
  const main = useRef(null);
  const use = (s) => {
    setSession(s);
    setState(s);
  };
  // A layout effect: the session's answer (usually in already) is taken before the first paint,
  // not a frame later, so the page and its first calls follow at once.
  useLayoutEffect(() => {
    firstSession.then(use, () => use(null));
    const onHash = () => setWhere(route());
    const onOut = () => use(null);
    window.addEventListener('hashchange', onHash);
    window.addEventListener('aos:signed-out', onOut);
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener('aos:signed-out', onOut);
    };
  }, []);
  // Keyboard and screen reader users land on the new page's content, not the top of the nav.
  useEffect(() => {
    document.title = `${PAGES.find(([p]) => p === where.page)?.[1] ?? 'AOS'} · AOS control`;
    main.current?.focus();
  }, [where.page, where.arg]);
  if (session === undefined) return html`<p class="boot">Loading…</p>`;
  if (session === null) return html`<${SignIn} onSession=${use} />`;
  const signOut = async () => {
    const out = await api('DELETE', '/console/session').catch(() => null);
    // Signed in with the identity provider and told to sign out there too: off to its sign-out page.
    if (typeof out?.logoutUrl === 'string') location.assign(out.logoutUrl);
    else use(null);
  };
  return html`<a class="skip" href="#main" onClick=${(e) => {
    e.preventDefault();
    main.current.focus();
  }}>Skip to content</a>
    <header>
      <span class="brand">AOS control</span>
      <nav aria-label="Main">
        <ul>
          ${PAGES.map(([p, label]) => html`<li><a href=${`#/${p}`} aria-current=${where.page === p ? 'page' : undefined}>${label}</a></li>`)}
        </ul>
      </nav>
      <span class="who">${session.actor} (${session.role})</span>
      <button type="button" class="link" onClick=${signOut}>Sign out</button>
    </header>
    <main id="main" tabindex="-1" ref=${main}><${Page} session=${session} where=${where} /></main>`;
}

render(html`<${App} />`, document.getElementById('root'));
