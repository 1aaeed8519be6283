/**
 * The web console end to end, in a real browser: Playwright drives Debian's chromium against a real
 * control plane (`aos control`, SQLite) with a real gateway under it (in this process) and an agent's
 * traffic through it. Signs in, sees the fleet live, suspends an agent and sees its next call refused,
 * approves a pending call and sees it go through, opens an audit event and verifies the chains, rolls
 * a template back. Every page is screenshotted under .out/screenshots/ (git-ignored). No CSP
 * violation or script error is allowed on any page.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import t from 'tap';
import { stringify } from 'yaml';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { createLogger } from '../src/log.js';
import { createGateway } from '../src/main.js';
import { ADMIN_TOKEN, makeIssuer, startControl } from './control-fixtures.js';
import { fleetGatewayDir, startAosControl, testIssuer, until } from './fleet-gateways.js';
import { freePort } from './helpers.js';
import { startIdp } from './oidc-idp.js';
import { chromiumBrowser } from './tools.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const SHOTS = fileURLToPath(new URL('../.out/screenshots/', import.meta.url));
const SEED = {
  templates: {
    desk: { version: 1, models: ['*'], tools: ['tickets'], maxTokens: 256 },
    writing: { version: 1, models: ['*'], maxTokens: 256, budget: { daily_usd: 5 } },
  },
  budgets: { org: { monthly_usd: 1000 }, teams: { content: { daily_usd: 20 } } },
  agents: [
    { id: 'desk', team: 'support', template: 'desk' },
    { id: 'writer', team: 'content', template: 'writing' },
    { id: 'editor', team: 'content', template: 'writing' },
  ],
};

const browserTool = chromiumBrowser();

t.test('the console in chromium: fleet, suspend, approve, audit, roll back', browserTool.options, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'aos-console-'));
  mkdirSync(SHOTS, { recursive: true });
  const tickets = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"deleted":true}'));
  await new Promise<void>((r) => tickets.listen(0, '127.0.0.1', () => r()));
  const upstream = await startSampleUpstream();
  writeFileSync(join(root, 'console-seed.yaml'), stringify(SEED));
  const people = await makeIssuer(root, 'idp');
  const control = await startAosControl(root, { seed: { registry: 'console-seed.yaml' }, people: { issuers: [{ issuer: people.issuer, keyFiles: [people.keyFile] }] }, console: { liveMs: 300 } });
  const agents = await testIssuer(root);
  const tools = {
    tickets: { kind: 'http', baseUrl: `http://127.0.0.1:${(tickets.address() as AddressInfo).port}`, operations: { remove: { method: 'DELETE', path: '/tickets/{id}', sensitive: true } } },
  };
  const { file } = await fleetGatewayDir(root, 'gw-console', upstream.url, control, agents.keyFile, { tools, policy: { mode: 'enforce', bundle: { file: BUNDLE } } });
  const gateway = createGateway({ configFile: file, log: createLogger('silent'), watchConfig: false });
  await gateway.start();
  const browser = await chromium.launch({ executablePath: browserTool.path, args: ['--no-sandbox'] });
  t.teardown(async () => {
    await browser.close();
    await gateway.stop(500);
    await control.stop();
    await upstream.close();
    tickets.close();
    rmSync(root, { recursive: true, force: true });
  });
  await until('the fleet registry in force', () => gateway.registry()?.agents.has('writer') === true);

  const chat = async (agent: string) => {
    const r = await fetch(`${gateway.addresses.proxy}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await agents.token(agent)}` },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }),
    });
    const body = (await r.json()) as { error?: { code?: string } };
    return { status: r.status, code: body.error?.code ?? null };
  };
  const ticket = async (id: number) => {
    const r = await fetch(`${gateway.addresses.proxy}/tools/tickets/tickets/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${await agents.token('desk')}` } });
    await r.text();
    return { status: r.status, code: r.headers.get('x-aos-error-code'), approval: r.headers.get('x-aos-approval-id') };
  };
  for (let i = 0; i < 6; i++) t.equal((await chat(i % 2 ? 'writer' : 'editor')).status, 200, 'traffic');
  await until('the audit shipped', async () => (await control.api('GET', '/api/audit?limit=10')).events.length >= 6);

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(10_000);
  t.teardown(async () => {
    if (!t.passing()) await page.screenshot({ path: join(SHOTS, 'failed.png'), fullPage: true }).catch(() => {});
  });
  const problems: string[] = [];
  let signedIn = false;
  page.on('response', (r) => {
    // Before signing in, the page asks who is signed in and the first page's data (asked while the
    // modules load, before it knows): 401 is the expected answer.
    if (r.status() >= 400 && !(r.status() === 401 && !signedIn)) problems.push(`${r.status()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !/the server responded with a status of 401/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  const base = control.people;

  // Sign in
  await page.goto(`${base}/console/`);
  await page.getByLabel('Admin token or JWT').fill(ADMIN_TOKEN);
  await page.screenshot({ path: join(SHOTS, 'signin.png') });
  signedIn = true;
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Fleet' }).waitFor();
  const cookies = await page.context().cookies();
  t.match(cookies, [{ name: 'aos_session', httpOnly: true, sameSite: 'Strict' }], 'an HttpOnly SameSite=Strict session cookie');
  t.equal(await page.evaluate(() => document.cookie), '', 'not readable by scripts');

  // Fleet: the gateway, live; the charts drawn
  const gatewayId = (await control.api('GET', '/api/gateways')).gateways[0].id;
  const gatewayRow = page.getByRole('row', { name: new RegExp(gatewayId) });
  await gatewayRow.getByText('connected').waitFor();
  await page.getByText('live', { exact: true }).waitFor();
  t.equal(await page.locator('.chart canvas').count(), 3, 'three uPlot charts');
  await page.getByRole('rowheader', { name: 'team content (today)' }).waitFor();
  await page.screenshot({ path: join(SHOTS, 'fleet.png'), fullPage: true });

  // Agents: search, open one, suspend it; its next call is refused
  await page.getByRole('link', { name: 'Agents' }).click();
  await page.getByLabel('Search').fill('writer');
  await page.getByText('1 of 3 agents').waitFor();
  await page.screenshot({ path: join(SHOTS, 'agents.png'), fullPage: true });
  await page.getByRole('link', { name: 'writer' }).click();
  await page.getByRole('heading', { name: 'Agent writer' }).waitFor();
  t.equal((await chat('writer')).status, 200, 'writer calls before');
  await page.getByLabel('Reason').fill('runaway loop at 2 a.m.');
  await page.getByRole('button', { name: 'Suspend' }).click();
  await page.getByText('Suspended: its next call is refused on every gateway.').waitFor();
  await page.getByText('suspended by admin-token: runaway loop at 2 a.m.').waitFor();
  await until('the suspension on the gateway', async () => (await chat('writer')).code === 'aos_agent_suspended');
  t.pass('the suspended agent is refused');
  t.equal((await chat('editor')).status, 200, 'the others still call');
  await page.screenshot({ path: join(SHOTS, 'agent.png'), fullPage: true });

  // Approvals: a sensitive call waits; approved in the console, the retry goes through
  const asked = await ticket(7);
  t.equal(asked.code, 'aos_approval_pending');
  await page.getByRole('link', { name: 'Approvals' }).click();
  const card = page.getByRole('article', { name: /DELETE tickets\.remove/ });
  await card.waitFor();
  await card.getByText('desk', { exact: true }).waitFor();
  await page.screenshot({ path: join(SHOTS, 'approvals.png'), fullPage: true });
  await card.getByLabel('Reason').fill('ticket 7 is a duplicate');
  await card.getByRole('button', { name: 'Approve' }).click();
  await page.getByRole('cell', { name: 'ticket 7 is a duplicate' }).waitFor();
  t.equal((await ticket(7)).status, 200, 'approved: the retry completes');
  const decided = await control.api('GET', `/api/approvals?status=used`);
  t.match(decided.approvals, [{ id: asked.approval, decidedBy: 'admin-token', reason: 'ticket 7 is a duplicate' }]);

  // Audit: the calls, one event opened, every chain verified
  // The gateway audits a suspended agent's refusal as that agent's call: the agent filter finds it.
  await until('the refusal shipped', async () =>
    (await control.api('GET', '/api/audit?agent=writer&decision=deny')).events.some((e: { error_code: string }) => e.error_code === 'aos_agent_suspended'),
  );
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByLabel('Decision').selectOption('deny');
  await page.getByRole('button', { name: 'Search' }).click();
  const refusal = page.getByRole('row', { name: /aos_agent_suspended/ });
  await refusal.getByRole('button', { name: /^open event / }).click();
  await page.getByRole('heading', { name: /^Event / }).waitFor();
  t.ok(await page.getByRole('definition').filter({ hasText: 'aos_agent_suspended' }).isVisible(), 'the event: refused as suspended');
  await page.getByRole('button', { name: "Verify every gateway's chain" }).click();
  await page.getByText('Every chain verifies').waitFor();
  const csvLink = page.getByRole('link', { name: 'CSV' });
  t.match(await csvLink.getAttribute('href'), /\/api\/audit\/export\?.*decision=deny.*format=csv/);
  await page.screenshot({ path: join(SHOTS, 'audit.png'), fullPage: true });

  // Templates: a version 2 proposed and approved by two people; rolled back to 1 in the console
  const v1 = await control.api('GET', '/api/templates/writing/versions/1');
  await control.api('POST', '/api/templates/writing/versions', { template: { ...v1.template, maxTokens: 64 }, reason: 'halve the output cap' });
  const alice = await people.mint({ sub: 'alice', aud: 'aos-admin', roles: ['approver'] });
  const approved = await fetch(`${base}/api/templates/writing/versions/2/approve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
    body: '{"reason":"reviewed"}',
  });
  t.equal(approved.status, 200);
  await page.getByRole('link', { name: 'Templates' }).click();
  await page.getByRole('link', { name: 'writing' }).click();
  await page.getByRole('heading', { name: 'Template writing' }).waitFor();
  await page.getByLabel('From', { exact: true }).selectOption('1');
  await page.getByLabel('To', { exact: true }).selectOption('2');
  await page.locator('.diff .add', { hasText: 'maxTokens: 64' }).waitFor();
  await page.screenshot({ path: join(SHOTS, 'templates.png'), fullPage: true });
  const rollback = page.getByRole('form', { name: 'Roll writing back to version 1' });
  await rollback.getByLabel('Reason').fill('agents truncate');
  await rollback.getByRole('button', { name: 'Roll back to v1' }).click();
  await page.getByRole('row', { name: /^1 active/ }).waitFor();
  const templates = await control.api('GET', '/api/templates');
  t.match(
    templates.templates.find((x: { name: string }) => x.name === 'writing'),
    { active: 1, latest: 2 },
    'version 1 active again',
  );

  // Sign out: the session is gone
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Admin token or JWT').waitFor();
  t.same(await page.context().cookies(), [], 'cookie cleared');
  t.same(problems, [], 'no script error or CSP violation on any page');
});

t.test('signing in with an OpenID provider in chromium: its pages, back signed in, the session kept across a restart, sign-out', browserTool.options, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'aos-console-oidc-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(SHOTS, { recursive: true });
  const port = await freePort();
  const secret = 'the console client secret 0123456789';
  const idp = await startIdp(t, {
    clients: [
      {
        client_id: 'aos-console',
        client_secret: secret,
        redirect_uris: [`http://127.0.0.1:${port}/console/oidc/callback`],
        post_logout_redirect_uris: [`http://127.0.0.1:${port}/console/`],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    accounts: { alice: ['aos-approvers'], nobody: [] },
  });
  const dir = join(root, 'control');
  mkdirSync(dir);
  const issuers = { gateway: await makeIssuer(dir, 'gw-issuer'), people: await makeIssuer(dir, 'idp') };
  const options = {
    dir,
    issuers,
    config: {
      listen: { gateways: { host: '127.0.0.1', port: 0 }, people: { host: '127.0.0.1', port } },
      console: {
        oidc: {
          issuer: idp.issuer,
          clientId: 'aos-console',
          clientSecretEnv: 'AOS_OIDC_SECRET',
          rolesClaim: 'groups',
          roleMap: { 'aos-approvers': 'approver' },
          name: 'Example IdP',
          signOutAtProvider: true,
        },
      },
    },
    env: { AOS_OIDC_SECRET: secret },
  };
  let control = await startControl(t, options);
  const browser = await chromium.launch({ executablePath: browserTool.path, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  const base = `http://127.0.0.1:${port}`;
  // The provider's pages are not ours (they ask for web fonts and a favicon it has not).
  page.on('console', (m) => {
    if (m.type() === 'error' && m.location().url.startsWith(base) && !/the server responded with a status of (401|403)/.test(m.text())) problems.push(`${m.location().url}: ${m.text()}`);
  });

  await page.goto(`${base}/console/`);
  const button = page.getByRole('link', { name: 'Sign in with Example IdP' });
  await button.waitFor();
  t.ok(await page.getByLabel('Admin token or JWT').isVisible(), 'the token form too');
  await page.screenshot({ path: join(SHOTS, 'signin-oidc.png') });
  await button.click();
  // The provider's own pages (oidc-provider's development login and consent).
  await page.waitForURL((u) => u.origin === idp.issuer);
  await page.locator('input[name="login"]').fill('alice');
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Fleet' }).waitFor();
  t.equal(new URL(page.url()).pathname, '/console/', 'back on the console');
  await page.getByText('alice@example.com (approver)').waitFor();
  // Cookies are per host, not per port: the provider's (on 127.0.0.1 too) are left out.
  const ours = async () => (await page.context().cookies(base)).filter((c) => c.name.startsWith('aos_'));
  t.match(await ours(), [{ name: 'aos_session', httpOnly: true, sameSite: 'Strict' }], 'the session cookie; the login cookie is gone');
  t.equal((await ours()).length, 1);
  await page.screenshot({ path: join(SHOTS, 'fleet-oidc.png') });

  // The control plane restarts on the same data (from a page without a live stream): reloaded,
  // the page is still signed in.
  await page.getByRole('link', { name: 'Approvals' }).click();
  await page.getByRole('heading', { name: 'Approvals' }).waitFor();
  await control.cp.stop();
  control = await startControl(t, options);
  await page.reload();
  await page.getByText('alice@example.com (approver)').waitFor();
  await page.getByRole('heading', { name: 'Approvals' }).waitFor();
  t.pass('still signed in after the restart');

  // Sign-out ends the session here, then at the provider (signOutAtProvider), and comes back.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL((u) => u.origin === idp.issuer);
  t.same(await ours(), [], 'signed out of the console');
  await page.getByRole('button', { name: 'Yes, sign me out' }).click();
  await page.getByRole('link', { name: 'Sign in with Example IdP' }).waitFor();
  t.equal(page.url(), `${base}/console/`, 'back on the console');

  // Someone the provider knows but who has no role here: a clear refusal, no session. The
  // provider asks who signs in (alice's session there ended with the sign-out).
  await page.getByRole('link', { name: 'Sign in with Example IdP' }).click();
  await page.locator('input[name="login"]').fill('nobody');
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL((u) => u.pathname === '/console/oidc/callback');
  await page.getByRole('heading', { name: 'Sign-in refused' }).waitFor();
  t.match(await page.getByRole('alert').textContent(), /control_forbidden: nobody@example\.com signed in, but carries no control plane role/);
  await page.screenshot({ path: join(SHOTS, 'signin-refused.png') });
  await page.getByRole('link', { name: 'Back to the sign-in page' }).click();
  await page.getByRole('link', { name: 'Sign in with Example IdP' }).waitFor();
  t.same(await ours(), [], 'no session');
  t.same(problems, [], 'no script error or CSP violation');
});
