// Shared pieces of the pages: the htm binding, formatting, a data hook, and small accessible widgets.
import htm from 'htm';
import { h } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { get } from './api.js';

export const html = htm.bind(h);

export const ROLES = ['viewer', 'operator', 'approver', 'admin'];
/** True when the signed-in role includes `role`. */
export const can = (session, role) => ROLES.indexOf(session.role) >= ROLES.indexOf(role);

export const usd = (n) => (n === null || n === undefined ? '–' : n >= 100 ? `$${n.toFixed(0)}` : n >= 1 ? `$${n.toFixed(2)}` : `$${n.toFixed(4)}`);
// One formatter for every number (toLocaleString builds one per call: it showed in the Agents page's render).
const NUM = new Intl.NumberFormat('en');
export const num = (n) => (n === null || n === undefined ? '–' : NUM.format(n));
export const pct = (a, b) => (b === 0 ? '0%' : `${((100 * a) / b).toFixed(1)}%`);

/** "12 s ago", "3 min ago", or the date, with the full time in the title. */
export function Ago({ time }) {
  if (time === null || time === undefined) return html`<span>–</span>`;
  const ms = Date.now() - Date.parse(time);
  const text =
    ms < 60_000 ? `${Math.max(0, Math.round(ms / 1000))} s ago` : ms < 3_600_000 ? `${Math.round(ms / 60_000)} min ago` : ms < 86_400_000 ? `${Math.round(ms / 3_600_000)} h ago` : time.slice(0, 10);
  return html`<time datetime=${time} title=${time}>${text}</time>`;
}

/** GETs `path` (again when it or `tick` changes); returns { data, error, reload }. */
export function useGet(path, tick = 0) {
  const [state, setState] = useState({ data: null, error: null });
  const [n, setN] = useState(0);
  const reload = useCallback(() => setN((x) => x + 1), []);
  // A layout effect: the request leaves right after the render, not after the next paint.
  useLayoutEffect(() => {
    if (path === null) return;
    let live = true;
    get(path).then(
      (data) => live && setState({ data, error: null }),
      (error) => live && setState((s) => ({ data: s.data, error })),
    );
    return () => {
      live = false;
    };
  }, [path, n, tick]);
  return { ...state, reload };
}

/** Calls `fn` every `ms` while the page is shown. */
export function useInterval(fn, ms) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms]);
}

export function ErrorNote({ error }) {
  if (error === null || error === undefined) return null;
  return html`<p class="error" role="alert">${error.code ? `${error.code}: ` : ''}${error.message}</p>`;
}

export const Loading = () => html`<p class="muted" role="status">Loading…</p>`;

/**
 * A change that needs a reason: a reason field and one or more buttons, each calling `act(reason, value)`.
 * Says what happened (or the error) in a live region.
 */
export function ReasonForm({ id, label, actions, onDone, children }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState(null);
  const submit = async (e, action) => {
    e.preventDefault();
    if (reason.trim() === '') {
      setNote({ error: true, text: 'Say why: the reason is recorded with the change.' });
      return;
    }
    setBusy(true);
    try {
      await action.act(reason.trim());
      setNote({ error: false, text: action.done });
      setReason('');
      onDone?.();
    } catch (err) {
      setNote({ error: true, text: `${err.code ?? 'error'}: ${err.message}` });
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="reason-form" onSubmit=${(e) => submit(e, actions[0])} aria-label=${label}>
    ${children}
    <label for=${`${id}-reason`}>Reason</label>
    <input id=${`${id}-reason`} name="reason" required value=${reason} onInput=${(e) => setReason(e.currentTarget.value)} placeholder="why (recorded)" />
    ${actions.map(
      (a, i) => html`<button type=${i === 0 ? 'submit' : 'button'} class=${a.danger ? 'danger' : ''} disabled=${busy} onClick=${i === 0 ? undefined : (e) => submit(e, a)}>${a.label}</button>`,
    )}
    <span role="status" class=${note?.error ? 'error' : 'ok'}>${note?.text ?? ''}</span>
  </form>`;
}

/** A status word with a colour class (never colour alone: the word is the meaning). */
export const Badge = ({ kind, children }) => html`<span class=${`badge ${kind}`}>${children}</span>`;

export function Json({ value }) {
  return html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;
}
