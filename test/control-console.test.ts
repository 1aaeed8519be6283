/**
 * The web console's server side (src/control/console.ts, sessions.ts, web-guard.ts, routes-live.ts
 * and the console's aggregates in routes-audit.ts), against a real control plane on loopback: the
 * static files and their headers, sign-in to a cookie, CSRF, Host and Origin checks, roles through
 * a session, sign-out, the live stream, time series, totals and the CSV export.
 * The pages themselves are driven in a real browser by console-browser.test.ts.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import { CONTROL_MIGRATIONS } from '../src/control/sql.js';
import { openDatabase } from '../src/store/database.js';
import { sampleEvent } from './audit-events.js';
import { ADMIN_TOKEN, chain, makeIssuer, raw, startControl, tempDir } from './control-fixtures.js';
import { POSTGRES, startPostgres } from './postgres-server.js';

const hello = { version: '0.1.0', labels: {}, snapshotVersion: 0, policyRevision: null };

t.test('static files: the page, its bundle and a strict CSP', async (t) => {
  const h = await startControl(t);
  const base = h.cp.addresses.people;
  const page = await raw(base, 'GET', '/console/');
  t.equal(page.status, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  const csp = String(page.headers['content-security-policy']);
  t.match(csp, /default-src 'none'/);
  t.match(csp, /frame-ancestors 'none'/);
  t.match(csp, /script-src 'self'(;|$)/, 'scripts from this origin only: no hash, no inline script');
  t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'no inline script or style allowed');
  t.equal(page.headers['x-frame-options'], 'DENY');
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  t.equal(page.headers['referrer-policy'], 'no-referrer');
  t.notMatch(page.text, /<script(?![^>]*\bsrc=)|<style|style=/, 'no inline script or style');
  t.notMatch(page.text, 'aos-oidc', 'no OpenID provider configured: the sign-in page offers the token alone');

  // index.html names the bundle's files by their content hash: cached for good (a change is a new
  // name), so a page load asks for index.html alone.
  const main = /<script type="module" src="\/console\/(main-[A-Z0-9]{8}\.js)"><\/script>/.exec(page.text)?.[1];
  const styles = /<link rel="stylesheet" href="\/console\/(styles-[A-Z0-9]{8}\.css)">/.exec(page.text)?.[1];
  t.ok(main && styles, 'one script, one stylesheet');
  for (const [path, type] of [
    [`/console/${main}`, /^text\/javascript/],
    [`/console/${styles}`, /^text\/css/],
  ] as const) {
    const r = await raw(base, 'GET', path);
    t.same([r.status, r.headers['cache-control']], [200, 'public, max-age=31536000, immutable'], path);
    t.match(r.headers['content-type'], type, path);
    t.equal(r.headers['content-security-policy'], csp, `${path}: the same headers`);
  }
  const uplot = /import\("\.\/(uPlot\.esm-[A-Z0-9]{8}\.js)"\)/.exec((await raw(base, 'GET', `/console/${main}`)).text)?.[1];
  t.equal((await raw(base, 'GET', `/console/${uplot}`)).status, 200, 'uPlot, loaded by the first chart');
  t.equal(page.headers['cache-control'], 'no-cache', 'index.html is revalidated');
  const again = await raw(base, 'GET', '/console/', { 'if-none-match': String(page.headers.etag) });
  t.equal(again.status, 304, 'revalidated by ETag');
  t.equal((await raw(base, 'GET', '/console/favicon.svg')).headers['cache-control'], 'no-cache', 'a name without a hash: revalidated');
  t.equal((await raw(base, 'GET', '/console')).headers.location, '/console/');
  t.equal((await raw(base, 'GET', '/console/nope.js')).json.error.code, 'control_not_found');
  t.equal((await raw(base, 'GET', '/console/app.js')).json.error.code, 'control_not_found', 'the sources are not served: the bundle is');
  t.equal((await raw(base, 'GET', '/console/../package.json')).status, 404, 'nothing outside the console folder');
  t.equal((await raw(base, 'POST', `/console/${main}`)).json.error.code, 'control_method_not_allowed');
});

t.test('DNS rebinding: another Host is refused on the console and on cookie requests', async (t) => {
  const h = await startControl(t);
  const base = h.cp.addresses.people;
  const port = new URL(base).port;
  for (const host of [`evil.example:${port}`, 'attacker.test']) {
    const r = await raw(base, 'GET', '/console/', { host });
    t.same([r.status, r.json.error.code], [403, 'control_host_not_allowed'], host);
  }
  t.equal((await raw(base, 'GET', '/console/', { host: `localhost:${port}` })).status, 200, 'localhost');
  t.equal((await raw(base, 'GET', '/console/', { host: `[::1]:${port}` })).status, 200, '[::1]');
  // The bearer API (CLI, scripts) is not a browser's and is left as it was.
  t.equal((await raw(base, 'GET', '/api/agents', { host: 'elsewhere.test', authorization: `Bearer ${ADMIN_TOKEN}` })).status, 200);
  const r = await raw(base, 'GET', '/api/agents', { host: 'evil.example', cookie: 'aos_session=whatever' });
  t.equal(r.json.error.code, 'control_host_not_allowed', 'a cookie request names the console host');
});

t.test('sign-in, the session cookie, CSRF on every change, roles, sign-out', async (t) => {
  const h = await startControl(t);
  const base = h.cp.addresses.people;
  const origin = base;

  const noOrigin = await raw(base, 'POST', '/console/session', {}, { token: ADMIN_TOKEN });
  t.same([noOrigin.status, noOrigin.json.error.code], [403, 'control_csrf'], 'sign-in needs the console origin (login CSRF)');
  const otherOrigin = await raw(base, 'POST', '/console/session', { origin: 'http://evil.example' }, { token: ADMIN_TOKEN });
  t.equal(otherOrigin.json.error.code, 'control_csrf');
  const wrong = await raw(base, 'POST', '/console/session', { origin }, { token: 'not-the-token-at-all' });
  t.same([wrong.status, wrong.json.error.code], [401, 'control_unauthenticated']);
  t.equal(wrong.headers['set-cookie'], undefined);
  t.equal((await raw(base, 'POST', '/console/session', { origin }, {})).json.error.code, 'control_bad_request');

  const signed = await raw(base, 'POST', '/console/session', { origin }, { token: ADMIN_TOKEN });
  t.equal(signed.status, 200);
  t.match(signed.json, { actor: 'admin-token', role: 'admin', csrf: /^[A-Za-z0-9_-]{43}$/ });
  const setCookie = String(signed.headers['set-cookie']);
  t.match(setCookie, /^aos_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/, 'HttpOnly, SameSite=Strict; not Secure on a loopback listener');
  t.notMatch(setCookie, ADMIN_TOKEN, 'the token never goes back to the browser');
  const cookie = setCookie.split(';')[0];
  const csrf = signed.json.csrf as string;

  t.same((await raw(base, 'GET', '/console/session', { cookie })).json, signed.json, 'whoami');
  t.equal((await raw(base, 'GET', '/console/session')).status, 401);
  t.equal((await raw(base, 'GET', '/api/agents', { cookie })).status, 200, 'a read with the cookie');
  t.equal((await raw(base, 'GET', '/api/agents', { cookie: 'aos_session=forged' })).json.error.code, 'control_unauthenticated');

  const suspend = (headers: Record<string, string>) => raw(base, 'POST', '/api/agents/agent-1/suspend', headers, { reason: 'runaway' });
  t.equal((await suspend({ cookie })).json.error.code, 'control_csrf', 'no CSRF token');
  t.equal((await suspend({ cookie, origin, 'x-aos-csrf': 'x'.repeat(43) })).json.error.code, 'control_csrf', 'a wrong CSRF token');
  t.equal((await suspend({ cookie, 'x-aos-csrf': csrf })).json.error.code, 'control_csrf', 'no Origin');
  t.equal((await suspend({ cookie, origin: 'http://evil.example', 'x-aos-csrf': csrf })).json.error.code, 'control_csrf', 'another Origin');
  const ok = await suspend({ cookie, origin, 'x-aos-csrf': csrf });
  t.equal(ok.status, 200, ok.text);
  const actions = await h.api('GET', '/api/actions?limit=1', ADMIN_TOKEN);
  t.match(actions.body.actions[0], { actor: 'admin-token', action: 'agent.suspend', target: 'agent-1', reason: 'runaway' }, 'recorded as the person who signed in');

  const agent = await raw(base, 'GET', '/api/agents/agent-1', { cookie });
  t.match(agent.json.agent, { id: 'agent-1', status: 'suspended', version: 1, suspension: { reason: 'runaway' }, counters: { calls: 0 } }, "an agent's page has its status and counters");

  // A viewer's JWT: a session with the viewer role, no longer than the token.
  const jwt = await h.peopleIssuer.mint({ sub: 'vera', aud: 'aos-admin', roles: ['viewer'] }, 120);
  const viewer = await raw(base, 'POST', '/console/session', { origin }, { token: jwt });
  t.match(viewer.json, { actor: 'vera', role: 'viewer' });
  t.ok(Date.parse(viewer.json.expiresAt) <= Date.now() + 121_000, 'ends with the token');
  t.match(String(viewer.headers['set-cookie']), /Max-Age=1[01]\d;/);
  const vCookie = String(viewer.headers['set-cookie']).split(';')[0];
  const refused = await raw(base, 'POST', '/api/agents/agent-0/suspend', { cookie: vCookie, origin, 'x-aos-csrf': viewer.json.csrf }, { reason: 'x' });
  t.same([refused.status, refused.json.error.code], [403, 'control_forbidden'], 'roles hold through a session');
  t.equal((await raw(base, 'POST', '/api/agents/agent-0/suspend', { cookie: vCookie, origin, 'x-aos-csrf': csrf }, { reason: 'x' })).json.error.code, 'control_csrf', "another session's token");

  t.equal((await raw(base, 'DELETE', '/console/session', { cookie, origin })).json.error.code, 'control_csrf', 'sign-out needs the token too');
  const out = await raw(base, 'DELETE', '/console/session', { cookie, origin, 'x-aos-csrf': csrf });
  t.equal(out.status, 200);
  t.match(String(out.headers['set-cookie']), /^aos_session=; Path=\/; Max-Age=0;/);
  t.equal((await raw(base, 'GET', '/api/agents', { cookie })).json.error.code, 'control_unauthenticated', 'the session is gone');
});

t.test('secureCookie: Secure and the __Host- prefix off loopback or when asked', async (t) => {
  const h = await startControl(t, { config: { console: { secureCookie: 'always' } } });
  const signed = await raw(h.cp.addresses.people, 'POST', '/console/session', { origin: h.cp.addresses.people }, { token: ADMIN_TOKEN });
  t.match(String(signed.headers['set-cookie']), /^__Host-aos_session=[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/);
});

t.test('console disabled: nothing under /console, no cookie read', async (t) => {
  const h = await startControl(t, { config: { console: { enabled: false } } });
  t.equal((await raw(h.cp.addresses.people, 'GET', '/console/')).json.error.code, 'control_not_found');
  t.equal((await raw(h.cp.addresses.people, 'GET', '/api/agents', { cookie: 'aos_session=x' })).json.error.code, 'control_unauthenticated');
});

t.test('aggregates: series, totals by team, CSV export, the live stream', async (t) => {
  const h = await startControl(t, { config: { console: { liveMs: 100 } } });
  const now = Date.now();
  const start = Math.floor((now - 50 * 60_000) / 60_000) * 60_000;
  // 30 calls, one a minute from 50 minutes ago: every 5th denied, every 3rd failed, $0.25 each allowed one.
  const ev = (i: number) => {
    const e = sampleEvent(i, start + (i - 1) * 60_000 + 1000);
    return { ...e, cost_usd: e.decision === 'deny' ? 0 : 0.25, ...(i % 3 === 0 && e.decision !== 'deny' ? { outcome: 'failed' as const, status: 502 } : {}), tool: i === 1 ? '=HYPERLINK("x")' : null };
  };
  await h.gw('POST', '/v1/hello', 'gw-1', hello);
  t.equal((await h.gw('POST', '/v1/audit', 'gw-1', { records: chain(30, { event: ev }) })).status, 200);
  await h.gw('POST', '/v1/hello', 'gw-2', hello);
  t.equal((await h.gw('POST', '/v1/audit', 'gw-2', { records: chain(3, { event: (i) => ({ ...sampleEvent(i, now - 5000 - i), team: 'green', cost_usd: 1 }) }) })).status, 200);

  const series = await h.api('GET', `/api/audit/series?since=${new Date(start).toISOString()}&bucket=60&gateway=gw-1`, ADMIN_TOKEN);
  t.equal(series.status, 200, JSON.stringify(series.body));
  t.equal(series.body.bucketSeconds, 60);
  const points = series.body.points as { t: number; calls: number; denied: number; errors: number; spendUsd: number }[];
  t.ok(points.length >= 50 && points.length <= 52, `${points.length} one-minute buckets, zeros included`);
  t.same(points[0], { t: start, calls: 1, denied: 0, errors: 0, spendUsd: 0.25 });
  t.same(
    points.reduce((a, p) => ({ calls: a.calls + p.calls, denied: a.denied + p.denied, errors: a.errors + p.errors, spendUsd: a.spendUsd + p.spendUsd }), {
      calls: 0,
      denied: 0,
      errors: 0,
      spendUsd: 0,
    }),
    { calls: 30, denied: 6, errors: 8, spendUsd: 6 },
  );
  const auto = await h.api('GET', '/api/audit/series?since=7d', ADMIN_TOKEN);
  t.equal(auto.body.bucketSeconds, 3600, 'a week: hourly buckets');
  t.equal((await h.api('GET', '/api/audit/series?since=30d&bucket=10', ADMIN_TOKEN)).body.error.code, 'control_bad_request', 'too many buckets');
  t.equal((await h.api('GET', '/api/audit/series?since=1h&until=2h', ADMIN_TOKEN)).body.error.code, 'control_bad_request', 'since after until');
  t.equal((await h.api('GET', '/api/audit/series?agent=agent-1', { sub: 'v', roles: ['viewer'] })).status, 200, 'viewer');

  const byTeam = await h.api('GET', '/api/audit/summary?by=team', ADMIN_TOKEN);
  t.same(byTeam.body.total, { calls: 33, denied: 6, errors: 8, spendUsd: 9 });
  t.same(
    byTeam.body.rows.map((r: { key: string; spendUsd: number }) => [r.key, r.spendUsd]),
    [
      ['blue', 3],
      ['red', 3],
      ['green', 3],
    ],
    'by spend, then calls, then name',
  );
  t.same((await h.api('GET', '/api/audit/summary?by=gateway&since=10m', ADMIN_TOKEN)).body.rows, [{ key: 'gw-2', calls: 3, denied: 0, errors: 0, spendUsd: 3 }]);
  t.equal((await h.api('GET', '/api/audit/summary?by=model', ADMIN_TOKEN)).body.error.code, 'control_bad_request');

  const csv = await fetch(`${h.cp.addresses.people}/api/audit/export?gateway=gw-1&format=csv&limit=5`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  t.match(csv.headers.get('content-type'), /^text\/csv/);
  t.match(csv.headers.get('content-disposition'), 'aos-audit.csv');
  const lines = (await csv.text()).trimEnd().split('\r\n');
  t.equal(lines.length, 6, 'a header and 5 rows');
  t.match(lines[0], /^id,time,gateway,seq,agent_id,team,/);
  t.match(lines[1], `,gw-1,1,agent-1,red,`);
  t.match(lines[1], `"'=HYPERLINK(""x"")"`, 'a formula is neutralized and quoted');
  t.equal((await h.api('GET', '/api/audit/export?format=xml', ADMIN_TOKEN)).body.error.code, 'control_bad_request');

  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const live = await fetch(`${h.cp.addresses.people}/api/live`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: abort.signal });
  t.equal(live.headers.get('content-type'), 'text/event-stream');
  const reader = live.body!.getReader();
  const events: string[] = [];
  let buf = '';
  while (events.length < 2) {
    const { value } = await reader.read();
    buf += Buffer.from(value!).toString('utf8');
    const parts = buf.split('\n\n');
    buf = parts.pop()!;
    for (const p of parts) if (p.startsWith('event: fleet')) events.push(p.slice(p.indexOf('data: ') + 6));
  }
  const summary = JSON.parse(events[0]);
  t.match(summary, { version: Number, counts: { connected: 0, disconnected: 2 }, pendingApprovals: 0, lastMinute: { calls: 3, spendUsd: 3 } }, 'at once, then every liveMs');
  t.same(
    summary.gateways.map((g: { id: string }) => g.id),
    ['gw-1', 'gw-2'],
  );
  abort.abort();
});

/** Signs in with the admin token; the cookie (`name=value`) and the CSRF token. */
async function signIn(base: string): Promise<{ cookie: string; csrf: string }> {
  const r = await raw(base, 'POST', '/console/session', { origin: base }, { token: ADMIN_TOKEN });
  if (r.status !== 200) throw new Error(`sign-in: ${r.status} ${r.text}`);
  return { cookie: String(r.headers['set-cookie']).split(';')[0], csrf: r.json.csrf };
}

t.test('sessions survive a restart: kept in the store under a hash of the cookie, never the cookie', async (t) => {
  const dir = tempDir(t);
  const issuers = { gateway: await makeIssuer(dir, 'gw-issuer'), people: await makeIssuer(dir, 'idp') };
  const first = await startControl(t, { dir, issuers });
  const { cookie, csrf } = await signIn(first.cp.addresses.people);
  const value = cookie.split('=')[1];
  await first.cp.stop();

  // What the store holds: the hash of the cookie, not the cookie.
  const db = openDatabase(join(dir, 'data'), 'control.db', CONTROL_MIGRATIONS);
  const rows = db.prepare('SELECT * FROM console_sessions').all() as Record<string, unknown>[];
  db.close();
  t.equal(rows.length, 1);
  t.equal(rows[0].key_hash, createHash('sha256').update(value).digest('base64url'));
  t.notMatch(JSON.stringify(rows), value, 'the cookie value is nowhere in the store');

  const second = await startControl(t, { dir, issuers });
  const base = second.cp.addresses.people;
  t.match((await raw(base, 'GET', '/console/session', { cookie })).json, { actor: 'admin-token', role: 'admin', csrf }, 'still signed in after the restart');
  const change = await raw(base, 'POST', '/api/agents/agent-1/suspend', { cookie, origin: base, 'x-aos-csrf': csrf }, { reason: 'after a restart' });
  t.equal(change.status, 200, 'a change with the same CSRF token');
  t.equal((await raw(base, 'DELETE', '/console/session', { cookie, origin: base, 'x-aos-csrf': csrf })).status, 200);
  t.equal((await raw(base, 'GET', '/console/session', { cookie })).status, 401, 'revoked at sign-out');
});

t.test('idle sessions end (console.idleMinutes)', async (t) => {
  // The clock is real: an idle timeout of one minute, the session's last use moved back in the store.
  const h = await startControl(t, { config: { console: { idleMinutes: 1 } } });
  const base = h.cp.addresses.people;
  const { cookie } = await signIn(base);
  t.equal((await raw(base, 'GET', '/api/agents', { cookie })).status, 200);
  const db = openDatabase(join(h.dir, 'data'), 'control.db', CONTROL_MIGRATIONS);
  db.prepare('UPDATE console_sessions SET last_ms = last_ms - 61000').run();
  db.close();
  const r = await raw(base, 'GET', '/api/agents', { cookie });
  t.same([r.status, r.json.error.code], [401, 'control_unauthenticated'], 'unused for longer than the idle timeout');
});

t.test('two replicas sharing PostgreSQL accept the same cookie; sign-out on one ends it on both', POSTGRES.options, async (t) => {
  const pg = await startPostgres(t);
  const url = await pg.database('console');
  const dir = tempDir(t);
  const issuers = { gateway: await makeIssuer(dir, 'gw-issuer'), people: await makeIssuer(dir, 'idp') };
  const config = { store: { kind: 'postgres' } };
  const env = { AOS_CONTROL_DATABASE_URL: url };
  const a = await startControl(t, { dir, issuers, config, env });
  const b = await startControl(t, { dir, issuers, config, env });
  const { cookie, csrf } = await signIn(a.cp.addresses.people);
  const onB = b.cp.addresses.people;
  t.match((await raw(onB, 'GET', '/console/session', { cookie })).json, { actor: 'admin-token', csrf }, 'B knows the session made on A');
  const change = await raw(onB, 'POST', '/api/agents/agent-1/suspend', { cookie, origin: onB, 'x-aos-csrf': csrf }, { reason: 'from replica B' });
  t.equal(change.status, 200, 'and takes a change with its CSRF token');
  t.equal((await raw(onB, 'DELETE', '/console/session', { cookie, origin: onB, 'x-aos-csrf': csrf })).status, 200, 'signed out on B');
  t.equal((await raw(a.cp.addresses.people, 'GET', '/api/agents', { cookie })).json.error.code, 'control_unauthenticated', 'ended on A too');
});
