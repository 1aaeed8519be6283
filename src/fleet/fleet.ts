import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AuditStore } from '../audit/store.js';
import type { Ack, HelloResponse } from '../control/protocol.js';
import type { Snapshot } from '../gateway/snapshot.js';
import type { Logger } from '../log.js';
import { packageVersion } from '../package-root.js';
import type { Metrics } from '../telemetry/metrics.js';
import { type ControlClient, createControlClient } from './client.js';
import { createFleetOverlay, type FleetOverlay } from './gate.js';
import { gatewayIdOf, labelsOf } from './identity.js';
import { createFleetMetrics } from './metrics.js';
import { createShipper, type Shipper } from './shipper.js';
import { readLastGood, type ValidSnapshot, validateSnapshot, withFleet, writeLastGood } from './snapshot.js';
import { startSync } from './sync.js';

/** What the fleet needs of the running gateway. */
export interface FleetHost {
  /** The snapshot in force. */
  snapshot(): Snapshot;
  apply(next: Snapshot): Promise<{ ok: true } | { ok: false; error: Error }>;
  /** The audit store (null when audit is off: nothing to ship). */
  auditStore(): AuditStore | null;
  policyRevision(): string | null;
}

/**
 * The gateway under a control plane: the snapshot sync, the suspensions and kill switches its
 * snapshots carry (the gate the authenticate stage consults), the last good snapshot on disk, and
 * audit shipping. Fail static: the gateway serves from the snapshot it has, whatever the control
 * plane does.
 */
export interface Fleet {
  readonly id: string;
  /** The control plane's gateway API, as this gateway (its credential, its id, failover). */
  readonly client: ControlClient;
  readonly gate: FleetOverlay;
  /** A snapshot loaded from the config files, with the fleet's registry and budget overrides in force. */
  decorate(local: Snapshot): Snapshot;
  start(host: FleetHost): void;
  /** For `/readyz`: where the sync stands. */
  status(): Record<string, unknown>;
  /** Runs `fn` when no snapshot is being applied, and holds the next one until it is done (a config reload goes through here). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Ships what the audit store holds, up to the configured drain timeout, then stops. */
  stop(): Promise<void>;
}

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createFleet(first: Snapshot, opts: { env: NodeJS.ProcessEnv; log: Logger; metrics: Metrics }): Fleet {
  const config = first.config.controlPlane!;
  const { log } = opts;
  const dataDir = resolve(first.config.dataDir);
  const id = gatewayIdOf(config, dataDir);
  const gate = createFleetOverlay(config.onKill);
  const client = createControlClient(config, id, first.dir, opts.env);
  let current: ValidSnapshot | null = null;
  let connected = false;
  let lastHeard: number | null = null;
  let lastError: string | null = null;
  let shipper: Shipper | null = null;
  let sync: { stop(): void } | null = null;
  let writes: Promise<void> = Promise.resolve();
  let applying: Promise<unknown> = Promise.resolve();

  const lastGood = readLastGood(dataDir);
  if (lastGood.error !== null) log.error('fleet: the last good snapshot in dataDir is unusable; waiting for the control plane', { error: lastGood.error.message });
  if (lastGood.valid !== null) {
    current = lastGood.valid;
    gate.set(current.fleet.suspensions, current.fleet.kills);
    log.info('fleet: serving from the last good snapshot until the control plane answers', { version: current.fleet.version });
  }
  const metrics = createFleetMetrics(opts.metrics.registry, { lastSyncMs: () => lastHeard, backlog: () => shipper?.backlog() ?? 0 });
  metrics.applied(current?.fleet.version ?? 0);

  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = applying.then(fn);
    applying = next.catch(() => {});
    return next;
  };

  const refuse = (version: number, error: Error): Ack => {
    lastError = `snapshot ${version}: ${error.message}`;
    metrics.rejected();
    log.error('fleet: snapshot rejected; the last good one keeps serving', { version, error: error.message });
    return { version, ok: false, error: error.message };
  };

  const apply = async (host: FleetHost, data: string): Promise<Ack> => {
    const started = performance.now();
    let version = 0;
    let valid: ValidSnapshot;
    try {
      const parsed = JSON.parse(data) as { version?: unknown };
      if (typeof parsed?.version === 'number') version = parsed.version;
      valid = validateSnapshot(parsed, current);
    } catch (err) {
      return refuse(version, err as Error);
    }
    if (current !== null && version <= current.fleet.version) return { version, ok: true };
    // Suspensions and kills only (the common case): nothing to rebuild, the gate alone changes.
    if (current === null || !sameServices(current, valid)) {
      const result = await host.apply(withFleet(host.snapshot(), valid));
      if (!result.ok) return refuse(version, result.error);
    }
    current = valid;
    const { cut } = gate.set(valid.fleet.suspensions, valid.fleet.kills);
    lastError = null;
    metrics.applied(version);
    const ms = Math.round((performance.now() - started) * 10) / 10;
    log.info('fleet: snapshot applied', { version, ms, suspensions: valid.fleet.suspensions.length, kills: valid.fleet.kills.length, cut });
    writes = writes.then(
      () => writeLastGood(dataDir, valid.fleet),
      () => writeLastGood(dataDir, valid.fleet),
    );
    writes.catch((err: Error) => log.error('fleet: could not keep the last good snapshot in dataDir', { error: err.message }));
    return { version, ok: true };
  };

  return {
    id,
    client,
    gate,
    decorate: (local) => (current === null ? local : withFleet(local, current)),
    exclusive,
    start(host) {
      const store = host.auditStore();
      shipper = store === null ? null : createShipper({ client, config: config.audit, store, log, metrics });
      const labels = labelsOf(config, opts.env);
      sync = startSync({
        client,
        config,
        log,
        hello: () => ({ id, version: packageVersion, labels, snapshotVersion: current?.fleet.version ?? 0, policyRevision: host.policyRevision() }),
        onHello(answer: HelloResponse) {
          lastHeard = Date.now();
          const inForce = current?.fleet.version ?? 0;
          if (answer.snapshotVersion < inForce) {
            // Versions only grow in one control plane store: this one is another, or was reset.
            log.warn('fleet: the control plane has no snapshot as new as the one in force; keeping it until a newer one comes', { inForce, newest: answer.snapshotVersion });
          }
          shipper?.resume(answer);
        },
        version: () => current?.fleet.version ?? 0,
        // One at a time, in the order received, and never at once with a config reload.
        apply: (data) => exclusive(() => apply(host, data)),
        onConnected(up) {
          connected = up;
          metrics.connected(up);
        },
        onHeard() {
          lastHeard = Date.now();
        },
      });
    },
    status: () => ({
      gateway: id,
      connected,
      snapshotVersion: current?.fleet.version ?? 0,
      lastSyncSecondsAgo: lastHeard === null ? null : Math.round((Date.now() - lastHeard) / 100) / 10,
      lastError,
      auditBacklog: shipper?.backlog() ?? 0,
      auditProblem: shipper?.problem() ?? null,
    }),
    async stop() {
      if (shipper !== null) {
        const left = await shipper.drain(config.audit.drainTimeoutMs);
        if (left > 0) log.warn('fleet: audit records not shipped before shutdown; the next start ships them', { records: left });
        else log.info('fleet: audit shipped up to the last committed record');
        shipper.stop();
      }
      sync?.stop();
      await writes.catch(() => {});
    },
  };
}

/** The two snapshots make the same services (registry, budget overrides, policy): only their gate differs. */
function sameServices(a: ValidSnapshot, b: ValidSnapshot): boolean {
  if (a.registry !== b.registry || JSON.stringify(a.fleet.policy ?? null) !== JSON.stringify(b.fleet.policy ?? null)) return false;
  if (a.budgetOverrides.size !== b.budgetOverrides.size) return false;
  for (const [k, v] of a.budgetOverrides) if (b.budgetOverrides.get(k) !== v) return false;
  return true;
}
