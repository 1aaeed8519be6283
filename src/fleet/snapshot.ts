import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FleetSnapshot } from '../control/protocol.js';
import type { Snapshot } from '../gateway/snapshot.js';
import { type AgentRegistry, parseRegistry } from '../identity/registry.js';

/** A fleet snapshot that passed validation: the registry built from it, ready to apply. */
export interface ValidSnapshot {
  readonly fleet: FleetSnapshot;
  readonly registry: AgentRegistry;
  readonly budgetOverrides: ReadonlyMap<string, number>;
  /** The registry as sent: a next snapshot with the same one reuses `registry` (most are suspensions and kills only). */
  readonly registryJson: string;
}

/** The file in dataDir holding the last snapshot applied: served from at start, before (or without) the control plane. */
export const LAST_GOOD_FILE = 'fleet-snapshot.json';

/**
 * Checks a snapshot as sent: the registry with the schema and checks of agents.yaml, the rest by
 * shape. Throws an Error saying what is wrong (it goes back in the ack). A registry equal to the
 * `previous` one's is not validated again.
 */
export function validateSnapshot(value: unknown, previous: ValidSnapshot | null = null): ValidSnapshot {
  const s = value as FleetSnapshot;
  if (typeof s !== 'object' || s === null) throw new Error('a snapshot must be an object');
  if (!Number.isSafeInteger(s.version) || s.version <= 0) throw new Error(`version: expected a positive integer, got ${JSON.stringify(s.version)}`);
  const problems: string[] = [];
  if (!Array.isArray(s.suspensions) || !s.suspensions.every((x) => typeof x?.agentId === 'string')) problems.push('suspensions: expected a list of {agentId, reason, actor, at}');
  const scopes = ['agent', 'team', 'template', 'all'];
  if (
    !Array.isArray(s.kills) ||
    !s.kills.every((k) => typeof k?.id === 'string' && scopes.includes(k.scope) && (k.live === 'cut' || k.live === 'finish') && (k.scope === 'all' || typeof k.value === 'string'))
  ) {
    problems.push('kills: expected a list of {id, scope: agent|team|template|all, value, live: cut|finish, …}');
  }
  const overrides = s.budgetOverrides ?? {};
  if (typeof overrides !== 'object' || Object.values(overrides).some((v) => typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
    problems.push('budgetOverrides: expected limit ids mapped to numbers ≥ 0');
  }
  const policy = s.policy ?? null;
  if (policy !== null && (typeof policy.url !== 'string' || !/^https?:\/\/./.test(policy.url) || (policy.revision !== null && typeof policy.revision !== 'string'))) {
    problems.push('policy: expected null or {url: an http(s) URL, revision: a string or null}');
  }
  if (problems.length > 0) throw new Error(`snapshot ${s.version}: ${problems.join('; ')}`);
  const registryJson = JSON.stringify(s.registry ?? null);
  const registry = previous?.registryJson === registryJson ? previous.registry : parseRegistry(s.registry, `snapshot ${s.version} registry`);
  return { fleet: s, registry, budgetOverrides: new Map(Object.entries(overrides)), registryJson };
}

/**
 * The gateway's snapshot with the fleet's registry and budget overrides in place of its own, and
 * the fleet's policy bundle URL in place of its bundle source when it names one and the gateway's
 * policy is on. The rest of the policy config stays the gateway's: its signature verification key
 * too, so a gateway that requires signed bundles takes none unsigned from the fleet.
 */
export function withFleet(local: Snapshot, valid: ValidSnapshot): Snapshot {
  const policy = valid.fleet.policy ?? null;
  let config = local.config;
  if (policy !== null && config.policy.mode === 'enforce') config = { ...config, policy: { ...config.policy, bundle: { url: policy.url } } };
  return Object.freeze({ ...local, config, registry: valid.registry, budgetOverrides: valid.budgetOverrides });
}

/** The last good snapshot in dataDir, validated again (null when none, or when it no longer validates). */
export function readLastGood(dataDir: string): { valid: ValidSnapshot | null; error: Error | null } {
  let text: string;
  try {
    text = readFileSync(join(dataDir, LAST_GOOD_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { valid: null, error: null };
    return { valid: null, error: err as Error };
  }
  try {
    return { valid: validateSnapshot(JSON.parse(text)), error: null };
  } catch (err) {
    return { valid: null, error: err as Error };
  }
}

/** Writes it atomically (a temporary file renamed over the old one): a crash leaves the old or the new file, whole. */
export async function writeLastGood(dataDir: string, fleet: FleetSnapshot): Promise<void> {
  const file = join(dataDir, LAST_GOOD_FILE);
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(tmp, JSON.stringify(fleet), { mode: 0o600 });
  await rename(tmp, file);
}
