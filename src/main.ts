import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Server } from 'node:http';
import { loadConfig, type LoadedConfig } from './config/load.js';
import type { IdentityConfig } from './config/schema.js';
import { authenticate } from './identity/authenticate.js';
import { loadLocalSigner } from './identity/local-key.js';
import { loadRegistry, type AgentRegistry } from './identity/registry.js';
import { createSuspensionStore, type SuspensionStore } from './identity/suspensions.js';
import type { LocalSigner, TokenVerifier } from './identity/types.js';
import { createVerifier } from './identity/verifier.js';
import { createLogger, type Logger } from './log.js';
import { createAdminServer } from './server/admin.js';
import { createProxyServer, listen } from './server/listeners.js';
import { createProxyHandler, createProxyState, type ProxyState } from './server/proxy.js';
import { decide } from './policy/decide.js';
import { createBudgetAdmin, type BudgetAdmin } from './metering/admin.js';
import { createBudgetRules, lineOf, periodOf, type BudgetRules } from './metering/budgets.js';
import { loadPrices, type PriceTable } from './metering/prices.js';
import { createRedisStore } from './metering/redis-store.js';
import { createSqliteStore } from './metering/sqlite-store.js';
import { createMeteringStages } from './metering/stages.js';
import { NANO, type BudgetStore } from './metering/store.js';
import { packageRoot } from './package-root.js';
import { createPolicyManager, type PolicyManager } from './policy/manager.js';
import type { PolicyRegistryData } from './policy/types.js';
import { createRouter } from './server/router.js';
import { openDatabase, type Db } from './store/database.js';
import { createMetrics, type Metrics } from './telemetry/metrics.js';
import { closeUpstreams, createUpstreams, type Upstream } from './upstream/upstreams.js';
import { createCallRecorder, type Capture, type CallRecorder } from './audit/recorder.js';
import { createRedactor, type Redactor } from './audit/redact.js';
import { createAuditTrail, type AuditTrail } from './audit/trail.js';
import { createCallMetrics } from './telemetry/call-metrics.js';
import { createOtel, type Otel } from './telemetry/otel.js';
import { closeToolRegistry, createToolRegistry, type ToolRegistry } from './tools/registry.js';
import { createToolStages } from './tools/stages.js';

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

/** The price table: `metering.prices` relative to the config file, else the packaged one. */
function readPrices(loaded: LoadedConfig, env: NodeJS.ProcessEnv): PriceTable | null {
  const m = loaded.config.metering;
  if (m.mode === 'off') return null;
  return loadPrices(m.prices === undefined ? resolve(packageRoot, 'config', 'prices.yaml') : resolve(dirname(loaded.file), m.prices), env);
}

/** The registry file next to the config; required when identity is on, optional otherwise. */
function readRegistry(loaded: LoadedConfig, env: NodeJS.ProcessEnv): AgentRegistry | null {
  const file = resolve(dirname(loaded.file), loaded.config.identity.registry);
  try {
    return loadRegistry(file, env);
  } catch (err) {
    if (loaded.config.identity.mode === 'off' && /cannot read the agent registry: ENOENT/.test((err as Error).message)) return null;
    throw err;
  }
}

/** The registry's templates as the policy sees them under `data.registry`. */
function policyRegistryData(registry: AgentRegistry | null): PolicyRegistryData {
  const templates: PolicyRegistryData['templates'] = {};
  for (const t of registry?.templates.values() ?? []) {
    templates[t.name] = { version: t.version, providers: t.providers, models: t.models, tools: t.tools, max_tokens: t.maxTokens, guardrails: t.guardrails };
  }
  return { templates };
}

/** The composition root: config → stores → identity → upstreams → router → pipeline → listeners. */
export function createGateway(options: GatewayOptions): Gateway {
  const env = options.env ?? process.env;
  const configFile = resolve(options.configFile);
  let loaded = loadConfig(configFile, env);
  let registry = readRegistry(loaded, env);
  let prices = readPrices(loaded, env);
  const log = options.log ?? createLogger(loaded.config.log.level);
  const metrics = createMetrics();
  const callMetrics = createCallMetrics(metrics.registry);

  let db: Db | null = null;
  let suspensions: SuspensionStore | null = null;
  let signer: LocalSigner | null = null;
  let verifier: TokenVerifier | null = null;
  let policy: PolicyManager | null = null;
  let upstreams = new Map<string, Upstream>();
  let tools: ToolRegistry | null = null;
  let state: ProxyState | null = null;
  let budgetStore: BudgetStore | null = null;
  let budgetRules: BudgetRules | null = null;
  let budgetAdmin: BudgetAdmin | null = null;
  let overrides = new Map<string, number>();
  let overridesTimer: NodeJS.Timeout | null = null;
  let inflight = 0;
  let draining = false;
  let idle: (() => void) | null = null;
  // Audit and OTel are built once at start (their config applies on restart); what they read per
  // call (capture opt-ins, credentials to redact) follows reloads.
  let trail: AuditTrail | null = null;
  let otel: Otel | null = null;
  let recorder: CallRecorder | null = null;
  let captures = new Map<string, Capture>();
  let redactor: Redactor = createRedactor([]);

  const makeVerifier = async (identity: IdentityConfig): Promise<TokenVerifier> => {
    signer = identity.localIssuer.enabled ? await loadLocalSigner(resolve(loaded.config.dataDir), identity.localIssuer.issuer) : null;
    return createVerifier(identity, { dataDir: resolve(loaded.config.dataDir), configDir: dirname(configFile), log, localSigner: signer });
  };
  const makePolicy = (l: LoadedConfig, reg: AgentRegistry | null): PolicyManager | null =>
    l.config.policy.mode === 'off'
      ? null
      : createPolicyManager({ config: l.config.policy, configDir: dirname(l.file), log, metrics: metrics.policy, registry: policyRegistryData(reg) });
  const build = () => {
    const next = createUpstreams(loaded.config, loaded.credentials);
    const identity = loaded.config.identity.mode === 'required' ? authenticate({ verifier: verifier!, registry: registry!, suspensions: suspensions! }) : null;
    const manager = policy;
    const decision = manager === null ? null : decide({ engine: () => manager.current(), metrics: metrics.policy });
    const m = loaded.config.metering;
    let meter = null;
    if (m.mode === 'enforce' && budgetStore !== null && prices !== null) {
      const rules = createBudgetRules(registry, m.softThreshold, overrides);
      budgetRules = rules;
      meter = createMeteringStages({ config: m, store: budgetStore, prices, rules, registry, metrics: metrics.metering, log });
      const store = budgetStore;
      metrics.metering.remaining(() => {
        const t = Date.now();
        return rules.all().filter((r) => r.kind === 'usd').map((r) => {
          const s = store.peek(lineOf(r, periodOf(r.window, t), 0));
          return { scope: r.scope, window: r.window, remainingUsd: s.limit < 0 ? 0 : Math.max(0, s.limit - s.spent - s.reserved) / NANO, limitUsd: s.limit / NANO };
        });
      });
    } else if (m.mode === 'enforce') {
      log.warn('metering was turned on by a reload: it takes effect on restart');
    }
    captures = new Map();
    for (const t of registry?.templates.values() ?? []) if (t.audit.capture.request || t.audit.capture.response) captures.set(t.name, t.audit.capture);
    redactor = createRedactor(loaded.credentials.values());
    // The tool registry (absent without a `tools:` section): its own pools, patterns and schemas.
    const nextTools = Object.keys(loaded.config.tools).length === 0 ? null : createToolRegistry(loaded.config, loaded.toolCredentials, tools);
    const toolStages = nextTools === null ? null : createToolStages({
      decide: decision,
      evaluate: manager === null ? null : (input) => manager.current()?.evaluate(input) ?? null,
      maxListBytes: loaded.config.limits.maxBodyBytes,
      log,
    });
    state = createProxyState(loaded.config, createRouter(loaded.config.routes, next, nextTools), {
      identity,
      policy: decision,
      meterEstimate: meter?.estimate ?? null,
      meterReserve: meter?.reserve ?? null,
      tools: toolStages,
      decided: recorder?.decided ?? null,
    });
    const old = upstreams;
    const oldTools = tools;
    upstreams = next;
    tools = nextTools;
    // In-flight requests finish on the pools they started with; close() waits for them.
    void closeUpstreams(old.values());
    void closeToolRegistry(oldTools);
  };

  const handler = createProxyHandler({
    state: (): ProxyState => state!,
    metrics,
    log,
    draining: () => draining,
    track(delta) {
      inflight += delta;
      if (inflight === 0 && idle !== null) idle();
    },
    onFinished: (ctx, status, totalMs, upstreamMs) => recorder?.finished(ctx, status, totalMs, upstreamMs),
  });
  const proxy: Server = createProxyServer(loaded.config, handler, log);
  const admin: Server = createAdminServer({
    metrics,
    log,
    notReady: () => (draining ? 'shutting down' : state === null ? 'starting' : policy !== null && policy.current() === null ? 'no policy bundle loaded' : null),
    status: () => ({ config: loaded.file, identity: loaded.config.identity.mode, policy: policy?.status().revision ?? 'off' }),
    policy: () => policy,
    verifier: () => verifier,
    identity: () => loaded.config.identity,
    registry: () => registry,
    suspensions: () => suspensions!,
    audit: () => trail?.store ?? null,
    budgets: () => budgetAdmin,
  });
  const addresses = { proxy: '', admin: '' };
  let watcher: { close(): void } | null = null;

  const gateway: Gateway = {
    metrics,
    log,
    addresses,
    current: () => loaded,
    registry: () => registry,
    signer: () => signer,
    suspensions: () => suspensions!,
    audit: () => trail,
    budgets: () => budgetAdmin,
    async start() {
      const dataDir = resolve(loaded.config.dataDir);
      db = openDatabase(dataDir);
      suspensions = createSuspensionStore(db);
      const store = suspensions;
      callMetrics.setSuspended(() => store.list().length);
      // With audit on, spans and audit log records are made from committed events by the audit
      // writer thread (the request thread only assigns span ids); without it, spans are made here.
      const auditOn = loaded.config.audit.mode !== 'off';
      const otelConfig = loaded.config.otel;
      const exporting = otelConfig.endpoint !== undefined && (otelConfig.traces || otelConfig.logs);
      otel = auditOn ? null : createOtel({ ...otelConfig, logs: false }, { onDrop: (signal, reason, n) => callMetrics.otelDropped(signal, reason, n) });
      trail = auditOn ? createAuditTrail({ dataDir, config: loaded.config.audit, log, metrics: callMetrics, otel: exporting ? otelConfig : null }) : null;
      recorder = createCallRecorder({
        trail,
        tracer: otel?.tracer ?? null,
        spansFromEvents: auditOn && exporting && otelConfig.traces,
        metrics: callMetrics,
        hashBodies: loaded.config.audit.hashBodies,
        capture: (template) => captures.get(template) ?? null,
        redact: (text) => redactor(text),
      });
      const m = loaded.config.metering;
      if (m.mode === 'enforce') {
        budgetStore = m.store === 'redis'
          ? await createRedisStore({ ...m.redis, log, onHealth: (up) => metrics.metering.storeUp('redis', up), onFallback: () => metrics.metering.fallback() })
          : createSqliteStore({ dataDir, snapshotIntervalMs: m.snapshotIntervalMs });
        if (m.store === 'sqlite') metrics.metering.storeUp('sqlite', true);
        const store = budgetStore;
        // Overrides set on any gateway of the fleet (or by the CLI) are picked up within seconds.
        const refresh = async () => {
          const next = await store.limits().catch(() => overrides);
          if (JSON.stringify([...next]) !== JSON.stringify([...overrides])) {
            overrides = next;
            if (state !== null) build();
          }
        };
        await refresh();
        overridesTimer = setInterval(() => void refresh(), 5_000);
        overridesTimer.unref();
        budgetAdmin = createBudgetAdmin(store, () => budgetRules!, () => refresh());
      }
      verifier = await makeVerifier(loaded.config.identity);
      policy = makePolicy(loaded, registry);
      await policy?.start();
      build();
      const p = await listen(proxy, loaded.config.listen.host, loaded.config.listen.port);
      const a = await listen(admin, loaded.config.admin.host, loaded.config.admin.port);
      addresses.proxy = `http://${hostForUrl(p.host)}:${p.port}`;
      addresses.admin = `http://${hostForUrl(a.host)}:${a.port}`;
      if (options.watchConfig !== false) {
        const watched = [configFile, registry?.file ?? resolve(dirname(configFile), loaded.config.identity.registry)];
        if (prices !== null) watched.push(prices.file);
        watcher = watchFiles(watched, () => void gateway.reload());
      }
    },
    async reload() {
      let next: LoadedConfig;
      let nextRegistry: AgentRegistry | null;
      let nextVerifier: TokenVerifier | null = null;
      let nextPolicy: PolicyManager | null | undefined;
      let nextPrices: PriceTable | null;
      try {
        next = loadConfig(configFile, env);
        nextRegistry = readRegistry(next, env);
        nextPrices = readPrices(next, env);
        if (JSON.stringify(next.config.identity) !== JSON.stringify(loaded.config.identity)) nextVerifier = await makeVerifier(next.config.identity);
        if (JSON.stringify(next.config.policy) !== JSON.stringify(loaded.config.policy)) {
          // A new policy source loads off to the side; a failure keeps the running one.
          nextPolicy = makePolicy(next, nextRegistry);
          await nextPolicy?.start();
        } else if (policy !== null) {
          await policy.setRegistry(policyRegistryData(nextRegistry));
        }
      } catch (err) {
        nextVerifier?.close();
        nextPolicy?.close();
        metrics.configReloads.labels('error').inc();
        log.error('config reload rejected; the last good config keeps serving', { error: (err as Error).message });
        return { ok: false, error: err as Error };
      }
      const before = loaded.config;
      loaded = next;
      registry = nextRegistry;
      prices = nextPrices;
      if (nextVerifier !== null) {
        verifier?.close();
        verifier = nextVerifier;
      }
      if (nextPolicy !== undefined) {
        policy?.close();
        policy = nextPolicy;
      }
      build();
      log.setLevel(next.config.log.level);
      if (JSON.stringify([before.listen, before.admin, before.limits, before.dataDir, before.audit, before.otel]) !== JSON.stringify([next.config.listen, next.config.admin, next.config.limits, next.config.dataDir, next.config.audit, next.config.otel])) {
        log.warn('listen, admin, limits, dataDir, audit and otel changes take effect on restart');
      }
      metrics.configReloads.labels('ok').inc();
      log.info('config reloaded', { file: configFile });
      return { ok: true };
    },
    async stop(graceMs = loaded.config.limits.shutdownGraceMs) {
      if (draining) return;
      draining = true;
      watcher?.close();
      const closed = proxy.listening ? new Promise<void>((r) => proxy.close(() => r())) : Promise.resolve();
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
      await closeToolRegistry(tools);
      admin.closeAllConnections();
      if (admin.listening) await new Promise<void>((r) => admin.close(() => r()));
      verifier?.close();
      policy?.close();
      await trail?.close();
      if (otel !== null) {
        // Bounded: a down or slow collector does not hold the shutdown.
        await Promise.race([otel.shutdown(), new Promise((r) => setTimeout(r, Math.min(loaded.config.otel.exportTimeoutMs, 2000)).unref())]);
      }
      suspensions?.close();
      if (overridesTimer !== null) clearInterval(overridesTimer);
      await budgetStore?.close();
      db?.close();
    },
  };
  return gateway;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Watches the folders, not the files: editors and ConfigMaps replace files by rename. */
function watchFiles(files: string[], onChange: () => void): { close(): void } {
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
  return { close: () => watchers.forEach((w) => w.close()) };
}

export type { Upstream };
