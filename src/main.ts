import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { AuditTrail } from './audit/trail.js';
import type { LoadedConfig } from './config/load.js';
import { createFleet } from './fleet/fleet.js';
import { createRuntime } from './gateway/runtime.js';
import { loadSnapshot, type Snapshot } from './gateway/snapshot.js';
import type { AgentRegistry } from './identity/registry.js';
import type { SuspensionStore } from './identity/suspensions.js';
import type { LocalSigner } from './identity/types.js';
import { createLogger, type Logger } from './log.js';
import type { BudgetAdmin } from './metering/admin.js';
import { createAdminServer } from './server/admin.js';
import { createProxyServer, listen } from './server/listeners.js';
import { createProxyHandler } from './server/proxy.js';
import { createUpgradeHandler } from './server/upgrade.js';
import { createWriteBarrier } from './store/write-barrier.js';
import { createCallMetrics } from './telemetry/call-metrics.js';
import { createMetrics, type Metrics } from './telemetry/metrics.js';
import { createRealtime } from './upstream/realtime.js';

export interface GatewayOptions {
  /** Path of the YAML config file. */
  configFile: string;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /** Reload when the config or agent registry file changes on disk (default true). */
  watchConfig?: boolean;
}

export interface Gateway {
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Where the listeners are, once started. */
  readonly addresses: { proxy: string; admin: string };
  start(): Promise<void>;
  /** Loads config and registry again; an invalid file is rejected and the current ones keep serving. */
  reload(): Promise<{ ok: true } | { ok: false; error: Error }>;
  /** Stops accepting, lets in-flight requests finish up to the grace period, then closes. */
  stop(graceMs?: number): Promise<void>;
  current(): LoadedConfig;
  /** The agent registry in force (null when identity is off and no registry file exists). */
  registry(): AgentRegistry | null;
  /** The local development signer (null when the local issuer is disabled). Valid after start(). */
  signer(): LocalSigner | null;
  suspensions(): SuspensionStore;
  /** The audit writer (null when audit is off). Valid after start(). */
  audit(): AuditTrail | null;
  /** Budgets: show, set, reset (null when metering is off). Valid after start(). */
  budgets(): BudgetAdmin | null;
}

/** The composition root: snapshot → services → pipeline → listeners. */
export function createGateway(options: GatewayOptions): Gateway {
  const env = options.env ?? process.env;
  const configFile = resolve(options.configFile);
  const local: Snapshot = loadSnapshot(configFile, env);
  const log = options.log ?? createLogger(local.config.log.level);
  const metrics = createMetrics();
  const barrier = createWriteBarrier((err) => log.error('a grouped write of budget or audit records failed', { err }));
  // Under a control plane, its last good snapshot (registry, suspensions, kills) is in force from the start.
  const fleet = local.config.controlPlane === undefined ? null : createFleet(local, { env, log, metrics });
  const first = fleet?.decorate(local) ?? local;
  const load = () => {
    const next = loadSnapshot(configFile, env);
    return fleet?.decorate(next) ?? next;
  };
  const calls = createCallMetrics(metrics.registry);
  // WebSocket sessions outlive configuration reloads: one relay for the gateway's life.
  const realtime = createRealtime({ log, registry: metrics.registry, upstreamError: metrics.upstreamError, connectTimeoutMs: first.config.upstream.connectTimeoutMs });
  const runtime = createRuntime(first, { log, metrics, calls, barrier, fleet: fleet?.gate ?? null, control: fleet?.client ?? null, relay: realtime.relay });
  // Under a control plane its suspensions are the ones in force (the local store is not consulted).
  const suspensions = fleet === null ? runtime.suspensions : () => fleet.gate.suspensions;
  const inflight = createInflight();
  const handler = createProxyHandler({ pipeline: runtime.pipeline, metrics, log, draining: inflight.draining, track: inflight.track });
  const proxy = createProxyServer(first.config, handler, log);
  proxy.on('upgrade', createUpgradeHandler(handler));
  const admin = createAdminServer({
    listen: first.config.admin,
    metrics,
    log,
    notReady: () => (inflight.draining() ? 'shutting down' : runtime.notReady()),
    status: () => ({
      config: configFile,
      identity: runtime.snapshot().config.identity.mode,
      policy: runtime.policy()?.status().revision ?? 'off',
      ...(fleet === null ? {} : { fleet: fleet.status() }),
    }),
    policy: runtime.policy,
    verifier: runtime.verifier,
    workload: runtime.workload,
    identity: () => runtime.snapshot().config.identity,
    registry: () => runtime.snapshot().registry,
    suspensions,
    audit: () => runtime.audit()?.store ?? null,
    budgets: runtime.budgets,
    approvals: runtime.approvals,
    approverRole: () => runtime.snapshot().config.approvals.approverRole,
  });
  const addresses = { proxy: '', admin: '' };
  let watcher: { close(): void } | null = null;

  const gateway: Gateway = {
    metrics,
    log,
    addresses,
    current: runtime.snapshot,
    registry: () => runtime.snapshot().registry,
    signer: runtime.signer,
    suspensions,
    audit: runtime.audit,
    budgets: runtime.budgets,
    async start() {
      await runtime.start();
      if (fleet !== null) calls.setSuspended(() => fleet.gate.suspensions.list().length);
      fleet?.start({
        snapshot: runtime.snapshot,
        apply: (next) => runtime.apply(next),
        auditStore: () => runtime.audit()?.store ?? null,
        policyRevision: () => runtime.policy()?.status().revision ?? null,
      });
      const { listen: l, admin: a } = first.config;
      addresses.proxy = urlOf(await listen(proxy, l.host, l.port));
      addresses.admin = urlOf(await listen(admin, a.host, a.port));
      if (options.watchConfig !== false) watcher = watchFiles(runtime.snapshot().files, () => void gateway.reload());
    },
    async reload() {
      const run = async () => {
        let next: Snapshot;
        try {
          next = load();
        } catch (err) {
          return runtime.rejected(err as Error);
        }
        return runtime.apply(next);
      };
      // Under a control plane, never at once with a snapshot being applied (each builds on the other's result).
      return fleet === null ? run() : fleet.exclusive(run);
    },
    async stop(graceMs = runtime.snapshot().config.limits.shutdownGraceMs) {
      if (inflight.draining()) return;
      const drained = inflight.drain(graceMs);
      // Open WebSocket sessions are told the gateway is going away (1001), then cut at the grace period.
      const sessions = realtime.close(1001, 'gateway shutting down', graceMs);
      watcher?.close();
      const closed = proxy.listening ? new Promise<void>((r) => proxy.close(() => r())) : Promise.resolve();
      proxy.closeIdleConnections();
      await Promise.all([drained, sessions]);
      proxy.closeAllConnections();
      await closed;
      if (fleet !== null) {
        // Every call's event committed, then shipped (up to the drain timeout) before the store closes.
        await runtime.audit()?.flush();
        await fleet.stop();
      }
      admin.closeAllConnections();
      if (admin.listening) await new Promise<void>((r) => admin.close(() => r()));
      await runtime.close();
    },
  };
  return gateway;
}

/** Requests in flight, for a graceful shutdown: once draining, wait for them up to a grace period. */
function createInflight() {
  let n = 0;
  let draining = false;
  let idle: (() => void) | null = null;
  return {
    draining: () => draining,
    track(delta: 1 | -1) {
      n += delta;
      if (n === 0 && idle !== null) idle();
    },
    drain(graceMs: number): Promise<void> {
      draining = true;
      if (n === 0) return Promise.resolve();
      return new Promise<void>((r) => {
        const timer = setTimeout(r, graceMs);
        idle = () => {
          clearTimeout(timer);
          r();
        };
      });
    },
  };
}

function urlOf(a: { host: string; port: number }): string {
  return `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** Watches the folders, not the files: editors and ConfigMaps replace files by rename. */
function watchFiles(files: readonly string[], onChange: () => void): { close(): void } {
  let timer: NodeJS.Timeout | null = null;
  const names = new Set(files.map((f) => basename(f)));
  const watchers = [...new Set(files.map((f) => dirname(f)))].map((dir) =>
    watch(dir, (_event, name) => {
      if (name !== null && !names.has(name) && !name.startsWith('..')) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(onChange, 100);
      timer.unref();
    }).unref(),
  );
  return {
    close: () => {
      for (const w of watchers) w.close();
    },
  };
}
