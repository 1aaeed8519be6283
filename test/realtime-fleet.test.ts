/**
 * A live Realtime session under a control plane (the real one, src/control/server.ts, in this
 * process): a suspension made there closes the agent's open session with an `error` event and close
 * code 1008 (the call context's cut), a kill switch does the same, and the agent cannot open a new
 * one. Both are audited as sessions that failed with the refusal's code.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../src/log.js';
import { createGateway } from '../src/main.js';
import { fleetGatewayDir, startAosControl, testIssuer, until } from './fleet-gateways.js';
import { PROVIDER_KEY } from './helpers.js';
import { closed, openaiRealtime, opened, rawClient, startFakeRealtime, until as untilEvent } from './realtime-fixtures.js';

const MODEL = 'gpt-4o-realtime-preview';

t.test('a suspension and a kill switch close live sessions (1008, error event)', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'aos-realtime-fleet-'));
  const fake = await startFakeRealtime({ bearer: PROVIDER_KEY });
  const control = await startAosControl(root);
  const issuer = await testIssuer(root);
  // The control plane's registry: agent-0 (team platform) and agent-1 (team research) may use gpt-4o* on provider `openai`.
  const { file } = await fleetGatewayDir(root, 'gw-realtime', fake.url, control, issuer.keyFile, {
    providers: { openai: { dialect: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY } },
    routes: [{ prefix: '/v1', provider: 'openai' }],
  });
  const gateway = createGateway({ configFile: file, log: createLogger('silent'), watchConfig: false });
  await gateway.start();
  t.teardown(async () => {
    await gateway.stop(500);
    await control.stop();
    await fake.close();
    rmSync(root, { recursive: true, force: true });
  });
  await until('the fleet registry in force', () => gateway.registry()?.agents.has('agent-0') === true);
  const base = `${gateway.addresses.proxy}/v1`;
  const tokens = { a0: await issuer.token('agent-0'), a1: await issuer.token('agent-1') };

  // A suspension on the control plane closes agent-1's open session.
  const s1 = await openaiRealtime(base, tokens.a1, MODEL);
  const errors: { error?: { code?: string; message?: string } }[] = [];
  s1.on('error', (e) => errors.push(e as never));
  await untilEvent(s1, 'session.created');
  const bye1 = closed(s1.socket);
  const suspendedAt = Date.now();
  await control.api('POST', '/api/agents/agent-1/suspend', { reason: 'under review' });
  t.same(await bye1, { code: 1008, reason: 'aos_agent_suspended' });
  t.ok(Date.now() - suspendedAt < 3000, `closed within ${Date.now() - suspendedAt} ms of the suspension`);
  t.match(errors, [{ error: { code: 'aos_agent_suspended', message: /under review/ } }], 'an error event the SDK raises');

  // ... and it cannot open another.
  const again = (await opened(rawClient(`${base}/realtime?model=${MODEL}`, [], { authorization: `Bearer ${tokens.a1}` })).catch((e) => e)) as {
    status: number;
    headers: Record<string, string>;
  };
  t.match(again, { status: 403, headers: { 'x-aos-error-code': 'aos_agent_suspended' } });

  // A kill switch with live: cut closes agent-0's session the same way.
  const s0 = await openaiRealtime(base, tokens.a0, MODEL);
  s0.on('error', () => {});
  await untilEvent(s0, 'session.created');
  const bye0 = closed(s0.socket);
  await control.api('POST', '/api/kills', { scope: 'agent', value: 'agent-0', live: 'cut', reason: 'runaway loop' });
  t.same(await bye0, { code: 1008, reason: 'aos_agent_killed' });

  const trail = gateway.audit()!;
  const read = async () => {
    await trail.flush();
    return trail.store.query({});
  };
  await until('the three events', async () => (await read()).length >= 3);
  const events = await read();
  const sessions = events.filter((e) => e.status === 101);
  t.match(sessions.map((e) => [e.agent_id, e.outcome, e.error_code, e.session?.close_code]).sort(), [
    ['agent-0', 'failed', 'aos_agent_killed', 1008],
    ['agent-1', 'failed', 'aos_agent_suspended', 1008],
  ]);
  t.ok(
    events.some((e) => e.path === '/v1/realtime' && e.status === 403 && e.error_code === 'aos_agent_suspended'),
    'the refused upgrade is audited',
  );
  t.equal(fake.closes.length, 2, 'both upstream sessions were closed');
});
