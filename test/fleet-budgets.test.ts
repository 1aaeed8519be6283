/**
 * Budget overrides set on the control plane (`PUT /api/budgets/{limitId}`) reach a gateway's
 * budget rules with the next snapshot: a limit lowered to zero refuses the agent's calls, removing
 * the override restores the configured limit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { chat, fleetGatewayDir, fleetStatus, startAosControl, startGatewayProcess, testIssuer, until } from './fleet-gateways.js';

t.test("the control plane's budget overrides are the gateway's limits", async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'aos-fleet-budgets-'));
  const upstream = await startSampleUpstream();
  const control = await startAosControl(root);
  const issuer = await testIssuer(root);
  const { file } = await fleetGatewayDir(root, 'gw-budget', upstream.url, control, issuer.keyFile, { metering: { mode: 'enforce' } });
  const gw = await startGatewayProcess(file);
  t.teardown(async () => {
    gw.child.kill('SIGKILL');
    await control.stop();
    await upstream.close();
    rmSync(root, { recursive: true, force: true });
  });
  const agent0 = await issuer.token('agent-0');
  const agent1 = await issuer.token('agent-1');
  const applied = async () => (await fleetStatus(gw)).snapshotVersion === (await control.api('GET', '/api/gateways')).fleetVersion;
  await until('the first snapshot applied', applied);
  t.equal((await chat(gw, agent0)).status, 200, 'within the configured daily budget (20 USD)');

  const limitId = encodeURIComponent('agent:agent-0|usd|daily');
  await control.api('PUT', `/api/budgets/${limitId}`, { limit: 0, reason: 'overspend' });
  await until('the override applied', applied);
  t.match(await chat(gw, agent0), { status: 429, code: 'aos_budget_exceeded' }, "the agent's daily limit is the override now");
  t.equal((await chat(gw, agent1)).status, 200, 'other agents keep theirs');

  await control.api('PUT', `/api/budgets/${limitId}`, { limit: null, reason: 'cleared' });
  await until('the override removed', applied);
  t.equal((await chat(gw, agent0)).status, 200, 'the configured limit again');
});
