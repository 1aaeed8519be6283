/**
 * Every committed configuration works as shipped: each gateway config under config/ and examples/
 * loads through the real loader, and a gateway started with it (listeners on port 0, data in a
 * temporary directory, nothing else changed) reports ready on its admin listener. Agent registries
 * and price tables load through their own loaders. A new YAML file there is covered without
 * editing this test; one it cannot classify fails it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { createControlPlane } from '../src/control/server.js';
import { loadRegistry } from '../src/identity/registry.js';
import { loadInjectConfig } from '../src/k8s/config.js';
import { createLogger } from '../src/log.js';
import { createGateway } from '../src/main.js';
import { loadPrices } from '../src/metering/prices.js';
import { packageRoot } from '../src/package-root.js';

const FOLDERS = ['config', 'examples'];

function yamlFiles(dir: string): string[] {
  const found: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(entry.name)) found.push(path);
  }
  return found.sort();
}

type Kind = 'gateway config' | 'agent registry' | 'price table' | 'control plane config' | 'injector config';

/** What a YAML file is, from its top-level keys. */
function kindOf(file: string): Kind | null {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown> | null;
  if (doc === null || typeof doc !== 'object') return null;
  if ('routes' in doc || 'providers' in doc) return 'gateway config';
  if ('templates' in doc || 'agents' in doc) return 'agent registry';
  if ('models' in doc || 'prices' in doc) return 'price table';
  if ('store' in doc || 'seed' in doc) return 'control plane config';
  if ('sidecar' in doc) return 'injector config';
  return null;
}

const files = FOLDERS.flatMap((f) => yamlFiles(join(packageRoot, f)));
const byKind = (k: Kind) => files.filter((f) => kindOf(f) === k);
const name = (f: string) => relative(packageRoot, f);

t.test('the committed YAML files are all known kinds, the default config among them', async (t) => {
  t.same(files.filter((f) => kindOf(f) === null).map(name), [], 'every file is a gateway config, an agent registry or a price table');
  t.ok(byKind('gateway config').map(name).includes('config/aos.yaml'), 'config/aos.yaml is a gateway config');
  t.ok(byKind('agent registry').map(name).includes('config/agents.yaml'), 'config/agents.yaml is an agent registry');
  t.ok(byKind('price table').map(name).includes('config/prices.yaml'), 'config/prices.yaml is a price table');
});

for (const file of byKind('agent registry')) {
  t.test(`${name(file)} loads as an agent registry`, async (t) => {
    const registry = loadRegistry(file, {});
    t.ok(registry, 'loaded');
  });
}

for (const file of byKind('price table')) {
  t.test(`${name(file)} loads as a price table`, async (t) => {
    const prices = loadPrices(file, {});
    t.ok(prices, 'loaded');
  });
}

for (const file of byKind('injector config')) {
  t.test(`${name(file)} loads as an injector config`, async (t) => {
    const config = loadInjectConfig(file, {});
    t.equal(config.sidecar.mode, 'native', 'native sidecar by default');
  });
}

for (const file of byKind('control plane config')) {
  t.test(`${name(file)} loads and a control plane started with it answers`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-committed-'));
    const env = { AOS_CONTROL_GATEWAYS_PORT: '0', AOS_CONTROL_PEOPLE_PORT: '0', AOS_CONTROL_DATA_DIR: join(dir, 'control'), AOS_DATA_DIR: join(dir, 'data') };
    const cp = createControlPlane({ configFile: file, env, log: createLogger('silent') });
    t.teardown(async () => {
      await cp.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    await cp.start();
    const health = await fetch(`${cp.addresses.people}/healthz`);
    t.equal(health.status, 200, 'the people listener answers');
    t.equal((await fetch(`${cp.addresses.gateways}/healthz`)).status, 200, 'the gateway listener answers');
    t.ok((await cp.hub().snapshot()).version >= 1, 'a snapshot from the seed');
  });
}

for (const file of byKind('gateway config')) {
  t.test(`${name(file)} loads and a gateway started with it is ready`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'aos-committed-'));
    let stop = async () => {};
    t.teardown(async () => {
      // Nothing else keeps the process alive here (no upstream server): stop() itself must.
      try {
        await stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    // Only what a deployment sets anyway: where to listen and where the data goes.
    const env = { AOS_LISTEN_HOST: '127.0.0.1', AOS_LISTEN_PORT: '0', AOS_ADMIN_HOST: '127.0.0.1', AOS_ADMIN_PORT: '0', AOS_DATA_DIR: join(dir, 'data') };
    const loaded = loadConfig(file, env);
    t.equal(loaded.config.listen.port, 0, 'the listen port comes from AOS_LISTEN_PORT');
    t.equal(loaded.config.admin.port, 0, 'the admin port comes from AOS_ADMIN_PORT');
    t.equal(resolve(loaded.config.dataDir), join(dir, 'data'), 'the data directory comes from AOS_DATA_DIR');
    if (loaded.config.identity.mode !== 'off') {
      t.ok(loadRegistry(resolve(dirname(file), loaded.config.identity.registry), env), `its registry ${loaded.config.identity.registry} loads`);
    }

    const logs: string[] = [];
    const gateway = createGateway({ configFile: file, env, log: createLogger('info', (l) => logs.push(l)), watchConfig: false });
    stop = () => gateway.stop(500);
    await gateway.start();
    const ready = await fetch(`${gateway.addresses.admin}/readyz`);
    const body = (await ready.json()) as { status: string };
    t.equal(ready.status, 200, `/readyz answers 200 (${JSON.stringify(body)})`);
    t.equal(body.status, 'ready');
    t.equal((await fetch(`${gateway.addresses.admin}/healthz`)).status, 200, '/healthz answers 200');
    const proxy = new URL(gateway.addresses.proxy);
    t.not(proxy.port, '0', 'the proxy listener has a port');
    const accepted = await new Promise<boolean>((r) => {
      const s = connect(Number(proxy.port), proxy.hostname, () => {
        s.end();
        r(true);
      });
      s.on('error', () => r(false));
    });
    t.ok(accepted, 'the proxy listener accepts connections');
    t.same(
      logs.filter((l) => /"level":"error"/.test(l)),
      [],
      'no error logged at start',
    );
  });
}
