import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Server } from 'node:http';
import { loadConfig, type LoadedConfig } from './config/load.js';
import { createLogger, type Logger } from './log.js';
import { createAdminServer } from './server/admin.js';
import { createProxyServer, listen } from './server/listeners.js';
import { createProxyHandler, createProxyState, type ProxyState } from './server/proxy.js';
import { createRouter } from './server/router.js';
import { createMetrics, type Metrics } from './telemetry/metrics.js';
import { closeUpstreams, createUpstreams, type Upstream } from './upstream/upstreams.js';

export interface GatewayOptions {
  /** Path of the YAML config file. */
  configFile: string;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /** Reload when the config file changes on disk (default true). */
  watchConfig?: boolean;
}

export interface Gateway {
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Where the listeners are, once started. */
  readonly addresses: { proxy: string; admin: string };
  start(): Promise<void>;
  /** Loads the config file again; an invalid file is rejected and the current config keeps serving. */
  reload(): { ok: true } | { ok: false; error: Error };
  /** Stops accepting, lets in-flight requests finish up to the grace period, then closes. */
  stop(graceMs?: number): Promise<void>;
  current(): LoadedConfig;
}

/** The composition root: config → upstreams → router → pipeline → listeners. */
export function createGateway(options: GatewayOptions): Gateway {
  const env = options.env ?? process.env;
  const configFile = resolve(options.configFile);
  let loaded = loadConfig(configFile, env);
  const log = options.log ?? createLogger(loaded.config.log.level);
  const metrics = createMetrics();

  const build = (l: LoadedConfig) => {
    const upstreams = createUpstreams(l.config, l.credentials);
    return { upstreams, state: createProxyState(l.config, createRouter(l.config.routes, upstreams)) };
  };
  let { upstreams, state } = build(loaded);
  let inflight = 0;
  let draining = false;
  let idle: (() => void) | null = null;

  const handler = createProxyHandler({
    state: (): ProxyState => state,
    metrics,
    log,
    draining: () => draining,
    track(delta) {
      inflight += delta;
      if (inflight === 0 && idle !== null) idle();
    },
  });
  const proxy: Server = createProxyServer(loaded.config, handler, log);
  const admin: Server = createAdminServer({
    metrics,
    notReady: () => (draining ? 'shutting down' : null),
    status: () => ({ config: loaded.file }),
  });
  const addresses = { proxy: '', admin: '' };
  let watcher: FSWatcher | null = null;

  const gateway: Gateway = {
    metrics,
    log,
    addresses,
    current: () => loaded,
    async start() {
      const p = await listen(proxy, loaded.config.listen.host, loaded.config.listen.port);
      const a = await listen(admin, loaded.config.admin.host, loaded.config.admin.port);
      addresses.proxy = `http://${hostForUrl(p.host)}:${p.port}`;
      addresses.admin = `http://${hostForUrl(a.host)}:${a.port}`;
      if (options.watchConfig !== false) watcher = watchFile(configFile, () => gateway.reload());
    },
    reload() {
      let next: LoadedConfig;
      try {
        next = loadConfig(configFile, env);
      } catch (err) {
        metrics.configReloads.labels('error').inc();
        log.error('config reload rejected; the last good config keeps serving', { error: (err as Error).message });
        return { ok: false, error: err as Error };
      }
      const old = upstreams;
      ({ upstreams, state } = build(next));
      const before = loaded.config;
      loaded = next;
      log.setLevel(next.config.log.level);
      // In-flight requests finish on the pools they started with; close() waits for them.
      void closeUpstreams(old.values());
      if (JSON.stringify([before.listen, before.admin, before.limits]) !== JSON.stringify([next.config.listen, next.config.admin, next.config.limits])) {
        log.warn('listen, admin and limits changes take effect on restart');
      }
      metrics.configReloads.labels('ok').inc();
      log.info('config reloaded', { file: configFile });
      return { ok: true };
    },
    async stop(graceMs = loaded.config.limits.shutdownGraceMs) {
      if (draining) return;
      draining = true;
      watcher?.close();
      const closed = new Promise<void>((r) => proxy.close(() => r()));
      proxy.closeIdleConnections();
      if (inflight > 0) {
        await new Promise<void>((r) => {
          const timer = setTimeout(r, graceMs);
          idle = () => {
            clearTimeout(timer);
            r();
          };
        });
      }
      proxy.closeAllConnections();
      await closed;
      await closeUpstreams(upstreams.values());
      admin.closeAllConnections();
      await new Promise<void>((r) => admin.close(() => r()));
    },
  };
  return gateway;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Watches the directory, not the file: editors and ConfigMaps replace files by rename. */
function watchFile(file: string, onChange: () => void): FSWatcher {
  let timer: NodeJS.Timeout | null = null;
  const w = watch(dirname(file), (_event, name) => {
    if (name !== null && name !== basename(file) && !name.startsWith('..')) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(onChange, 100);
    timer.unref();
  });
  w.unref();
  return w;
}

export type { Upstream };
