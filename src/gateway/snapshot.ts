import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { type DelegationKeyConfig, readDelegationKeys } from '../identity/delegation-keys.js';
import { type AgentRegistry, loadRegistry } from '../identity/registry.js';
import { loadPrices, type PriceTable } from '../metering/prices.js';
import { packageRoot } from '../package-root.js';

/**
 * Everything the gateway runs on, loaded and validated together: the config file, the agent
 * registry, the price table and the credentials they name. A snapshot is never changed; a reload
 * loads a new one and the services are rebuilt from what differs. It is also what a control plane
 * will push.
 */
export interface Snapshot extends LoadedConfig {
  /** The folder relative paths in the config are resolved against. */
  readonly dir: string;
  /** The agent registry (null when identity is off and no registry file exists). */
  readonly registry: AgentRegistry | null;
  /** The price table (null when metering is off). */
  readonly prices: PriceTable | null;
  /** The files the snapshot was read from, to watch for changes. */
  readonly files: readonly string[];
  /** Budget limit overrides a control plane sets (they replace the local ones); null: the local ones. */
  readonly budgetOverrides: ReadonlyMap<string, number> | null;
  /** The keys `identity.delegation` names, read; null when it is absent. */
  readonly delegationKeys: DelegationKeyConfig | null;
}

export function loadSnapshot(configFile: string, env: NodeJS.ProcessEnv = process.env): Snapshot {
  const loaded = loadConfig(resolve(configFile), env);
  const dir = dirname(loaded.file);
  const { identity, metering } = loaded.config;
  const registryFile = resolve(dir, identity.registry);
  // Without identity the registry is optional: it then only names templates for the policy.
  const registry = identity.mode === 'off' && !existsSync(registryFile) ? null : loadRegistry(registryFile, env);
  const prices = metering.mode === 'off' ? null : loadPrices(metering.prices === undefined ? resolve(packageRoot, 'config', 'prices.yaml') : resolve(dir, metering.prices), env);
  const files = [loaded.file, registryFile, ...(prices === null ? [] : [prices.file])];
  const delegationKeys = readDelegationKeys(loaded.config.identity, loaded.file);
  return Object.freeze({ ...loaded, dir, registry, prices, files, budgetOverrides: null, delegationKeys });
}

/**
 * The parts of a snapshot a stateful service is built from (pools, caches, stores, bundles); a reload
 * rebuilds the services whose parts changed. The pipeline itself is recomposed on every reload.
 */
export type Part = 'listen' | 'identity' | 'policy' | 'registry' | 'metering' | 'routing' | 'audit' | 'otel' | 'log';

/** Which parts differ between two snapshots (deep comparison of values, not of their text). */
export function changedParts(a: Snapshot, b: Snapshot): Set<Part> {
  const x = a.config;
  const y = b.config;
  const out = new Set<Part>();
  const same = (p: Part, u: unknown, v: unknown) => {
    if (!isDeepStrictEqual(u, v)) out.add(p);
  };
  same('listen', [x.listen, x.admin, x.limits, x.dataDir], [y.listen, y.admin, y.limits, y.dataDir]);
  same('identity', x.identity, y.identity);
  same('policy', x.policy, y.policy);
  same('registry', registryView(a.registry), registryView(b.registry));
  same('metering', x.metering, y.metering);
  same(
    'routing',
    [x.providers, x.routes, x.upstream, x.tools, x.limits.maxBodyBytes, [...a.credentials], [...a.toolCredentials], [...a.providerAuth]],
    [y.providers, y.routes, y.upstream, y.tools, y.limits.maxBodyBytes, [...b.credentials], [...b.toolCredentials], [...b.providerAuth]],
  );
  same('audit', x.audit, y.audit);
  same('otel', x.otel, y.otel);
  same('log', x.log, y.log);
  return out;
}

function registryView(r: AgentRegistry | null): unknown {
  // Budget overrides are not a part: the budget rules follow the snapshot in force by themselves.
  return r === null ? null : [[...r.templates], [...r.agents], r.budgets.org, [...r.budgets.teams]];
}
