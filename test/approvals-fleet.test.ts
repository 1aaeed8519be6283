/**
 * Approvals under a real control plane (`aos control`, src/control/server.ts, SQLite store): a
 * gateway under it creates and consumes approvals there through the gateway API; people decide on
 * the control plane (people's API, `aos approvals … --control-plane`); a held call learns the
 * decision by long poll; the control plane's webhook tells a real local HTTP server.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { stringify } from 'yaml';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { createLogger } from '../src/log.js';
import { createGateway } from '../src/main.js';
import { ADMIN_TOKEN, aosCli } from './control-fixtures.js';
import { fleetGatewayDir, startAosControl, testIssuer, until } from './fleet-gateways.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const SEED = {
  templates: {
    desk: { version: 1, tools: ['tickets'] },
    held: { version: 1, tools: ['tickets'], approval: { mode: 'block', timeoutSeconds: 30 } },
  },
  agents: [
    { id: 'desk', team: 'support', template: 'desk' },
    { id: 'holder', team: 'support', template: 'held' },
  ],
};

async function listen(handler: (req: IncomingMessage, body: string) => unknown) {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const text = JSON.stringify(handler(req, body) ?? { ok: true });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

t.test('under a control plane: approvals live there, decisions reach the gateway by long poll', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'aos-approvals-fleet-'));
  const seen: string[] = [];
  const api = await listen((req) => {
    seen.push(`${req.method} ${req.url}`);
  });
  const hooks: Record<string, unknown>[] = [];
  const hook = await listen((_req, body) => {
    hooks.push(JSON.parse(body));
  });
  const upstream = await startSampleUpstream();
  writeFileSync(join(root, 'approvals-seed.yaml'), stringify(SEED));
  const control = await startAosControl(root, { seed: { registry: 'approvals-seed.yaml' }, approvals: { webhook: { url: `${hook.url}/slack` } } });
  const issuer = await testIssuer(root);
  const tools = { tickets: { kind: 'http', baseUrl: `${api.url}/api`, operations: { remove: { method: 'DELETE', path: '/tickets/{id}', sensitive: true } } } };
  const { file } = await fleetGatewayDir(root, 'gw-approvals', upstream.url, control, issuer.keyFile, { tools, policy: { mode: 'enforce', bundle: { file: BUNDLE } } });
  const gateway = createGateway({ configFile: file, log: createLogger('silent'), watchConfig: false });
  await gateway.start();
  t.teardown(async () => {
    await gateway.stop(500);
    await control.stop();
    await Promise.all([api.close(), hook.close(), upstream.close()]);
    rmSync(root, { recursive: true, force: true });
  });
  await until('the fleet registry in force', () => gateway.registry()?.agents.has('holder') === true);

  const call = async (agent: string, path: string, approval?: string) => {
    const res = await fetch(`${gateway.addresses.proxy}${path}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${await issuer.token(agent)}`, ...(approval === undefined ? {} : { 'x-aos-approval-id': approval }) },
    });
    await res.text();
    return { status: res.status, code: res.headers.get('x-aos-error-code'), approval: res.headers.get('x-aos-approval-id') };
  };
  const cp = (...args: string[]) => aosCli([...args, '--control-plane', control.people], { AOS_CONTROL_TOKEN: ADMIN_TOKEN });

  // async: pending at once, in the control plane's queue
  const first = await call('desk', '/tools/tickets/tickets/1');
  t.equal(first.code, 'aos_approval_pending');
  const id = first.approval!;
  const queued = await control.api('GET', '/api/approvals?status=pending');
  t.match(queued.approvals, [{ id, agentId: 'desk', status: 'pending', gateway: /.+/, request: { tool: 'tickets', operation: 'remove', method: 'DELETE' } }]);
  await until('the control plane webhook', () => hooks.length === 1);
  t.match(hooks[0], { text: new RegExp(`agent desk asks for DELETE /tools/tickets/tickets/1.*${id}`), approval: { id } });

  const listed = await cp('approvals', 'list');
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, new RegExp(`${id}\\s+pending\\s+desk`));
  const approved = await cp('approvals', 'approve', id, '--reason', 'ticket 1 is a duplicate');
  t.equal(approved.code, 0, approved.stderr);

  t.equal((await call('desk', '/tools/tickets/tickets/1')).status, 200, 'approved on the control plane: the retry goes through');
  t.equal((await call('desk', '/tools/tickets/tickets/1', id)).code, 'aos_approval_used', 'used once, fleet-wide');
  t.equal((await call('desk', '/tools/tickets/tickets/1')).code, 'aos_approval_pending', 'a replay asks again');
  t.same(seen, ['DELETE /api/tickets/1']);

  const local = await fetch(`${gateway.addresses.admin}/admin/approvals`, { headers: { authorization: `Bearer ${await issuer.admin()}` } });
  t.equal(local.status, 405, "the gateway's own queue is the control plane's");

  // block: held on the gateway, released by a decision made on the control plane
  const held = call('holder', '/tools/tickets/tickets/2');
  let heldId = '';
  await until('the held call in the queue', async () => {
    const { approvals } = await control.api('GET', '/api/approvals?status=pending');
    heldId = approvals.find((a: { agentId: string }) => a.agentId === 'holder')?.id ?? '';
    return heldId !== '';
  });
  t.same(seen, ['DELETE /api/tickets/1'], 'nothing forwarded while held');
  const decidedAt = Date.now();
  await control.api('POST', `/api/approvals/${heldId}/approve`, { reason: 'go ahead' });
  const r = await held;
  const ms = Date.now() - decidedAt;
  t.equal(r.status, 200, 'the held call went on');
  t.ok(ms < 1000, `in ${ms} ms after the decision`);
  t.same(seen, ['DELETE /api/tickets/1', 'DELETE /api/tickets/2']);

  const held2 = call('holder', '/tools/tickets/tickets/3');
  await until('the second held call', async () => (await control.api('GET', '/api/approvals?status=pending')).approvals.some((a: { agentId: string }) => a.agentId === 'holder'));
  const { approvals } = await control.api('GET', '/api/approvals?status=pending');
  await cp('approvals', 'deny', approvals.find((a: { agentId: string }) => a.agentId === 'holder').id, '--reason', 'no');
  t.equal((await held2).code, 'aos_approval_denied');

  const metrics = await (await fetch(`${control.people}/metrics`)).text();
  t.match(metrics, /aos_control_approvals_total\{outcome="used"\} 2/);
  t.match(metrics, /aos_control_approvals_total\{outcome="requested"\} 4/);
  t.match(metrics, /aos_control_approvals_pending 1/);
});
