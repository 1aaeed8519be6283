/**
 * The fleet's policy bundle: a control plane that names one (`policy.bundleUrl`) makes its gateways
 * load it in place of their own bundle source; one that cannot be loaded is refused with the
 * snapshot (acked with the reason), and the gateway keeps deciding with the policy it runs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { chat, fleetGatewayDir, type Json, startAosControl, startGatewayProcess, testIssuer, until } from './fleet-gateways.js';
import { refusedPort } from './helpers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));

t.test("a control plane's policy bundle replaces the gateway's source; one that cannot load is refused", async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'aos-fleet-policy-'));
  const upstream = await startSampleUpstream();
  const fetched: string[] = [];
  const bundles = createServer((req, res) => {
    fetched.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/gzip', etag: '"b1"' }).end(readFileSync(BUNDLE));
  });
  await new Promise<void>((r) => bundles.listen(0, '127.0.0.1', () => r()));
  const served = `http://127.0.0.1:${(bundles.address() as AddressInfo).port}/fleet/bundle.tar.gz`;
  const dead = `http://127.0.0.1:${await refusedPort()}/fleet/bundle.tar.gz`;
  const issuer = await testIssuer(root);
  const good = await startAosControl(mkdtempSync(join(root, 'cp-good-')), { policy: { bundleUrl: served } });
  const down = await startAosControl(mkdtempSync(join(root, 'cp-down-')), { policy: { bundleUrl: dead } });
  const policy = { policy: { mode: 'enforce', bundle: { file: BUNDLE } } };
  const gwGood = await startGatewayProcess((await fleetGatewayDir(root, 'gw-good', upstream.url, good, issuer.keyFile, policy)).file);
  const gwDown = await startGatewayProcess((await fleetGatewayDir(root, 'gw-down', upstream.url, down, issuer.keyFile, policy)).file);
  t.teardown(async () => {
    gwGood.child.kill('SIGKILL');
    gwDown.child.kill('SIGKILL');
    await good.stop();
    await down.stop();
    bundles.close();
    await upstream.close();
    rmSync(root, { recursive: true, force: true });
  });

  const gatewaysOf = async (cp: typeof good): Promise<Json[]> => (await cp.api('GET', '/api/gateways')).gateways;
  await until('the good snapshot acked', async () => (await gatewaysOf(good)).some((g) => g.snapshotVersion > 0 && g.snapshotError === null));
  t.ok(
    fetched.some((u) => u === '/fleet/bundle.tar.gz'),
    "the gateway fetched the fleet's bundle",
  );
  t.equal((await chat(gwGood, await issuer.token('agent-0'))).status, 200, 'and decides calls with it');
  t.match(gwGood.output(), /"msg":"policy bundle loaded","source":"http:\/\/127\.0\.0\.1:\d+\/fleet\/bundle\.tar\.gz"/, 'from the fleet URL');

  await until('the unloadable snapshot acked', async () => (await gatewaysOf(down)).some((g) => g.snapshotError !== null));
  const [refused] = await gatewaysOf(down);
  t.match(refused.snapshotError, /policy bundle http:\/\/127\.0\.0\.1:\d+\/fleet\/bundle\.tar\.gz could not be loaded.*the running policy keeps serving/, 'refused, with the reason');
  t.equal((await chat(gwDown, await issuer.token('local-only'))).status, 200, 'the gateway keeps deciding with its own bundle and registry');
  t.equal((await chat(gwDown, await issuer.token('agent-0'))).code, 'aos_agent_unknown', 'none of the refused snapshot is in force');
});
