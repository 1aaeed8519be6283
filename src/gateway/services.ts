import { resolve } from 'node:path';
import { type Approvals, createApprovals } from '../approvals/service.js';
import { type Capture, createCallRecorder } from '../audit/recorder.js';
import { createRedactor, type Redactor } from '../audit/redact.js';
import { type AuditStore, openAuditStore } from '../audit/store.js';
import { type AuditTrail, createAuditTrail } from '../audit/trail.js';
import { createA2aStages } from '../coordination/a2a.js';
import { type A2aRegistry, closeA2aRegistry, createA2aRegistry } from '../coordination/a2a-registry.js';
import { createCacheStage } from '../coordination/cache-stage.js';
import type { CacheStore } from '../coordination/cache-store.js';
import { createDelegationKeys, createDelegationStage, type DelegationKeys } from '../coordination/delegation.js';
import type { MemoryService } from '../coordination/memory.js';
import { createMemoryStages } from '../coordination/memory-stages.js';
import { createRedisCache } from '../coordination/redis-cache.js';
import { createSqliteCache } from '../coordination/sqlite-cache.js';
import { createWorkflowStage } from '../coordination/workflow.js';
import type { ControlClient } from '../fleet/client.js';
import { BUILTIN_PROFILES, createScanner, createScanners } from '../guardrails/scanner.js';
import { createGuardrailStage } from '../guardrails/stage.js';
import { authenticate, type FleetGate } from '../identity/authenticate.js';
import { delegationKeySet } from '../identity/delegation-keys.js';
import { loadLocalSigner } from '../identity/local-key.js';
import type { AgentRegistry } from '../identity/registry.js';
import { createSuspensionStore, type SuspensionStore } from '../identity/suspensions.js';
import type { LocalSigner, TokenVerifier } from '../identity/types.js';
import { createVerifier } from '../identity/verifier.js';
import { createWorkloadToken, type WorkloadToken } from '../identity/workload-token.js';
import type { Logger } from '../log.js';
import { type BudgetAdmin, createBudgetAdmin } from '../metering/admin.js';
import { type BudgetRules, createBudgetRules, lineOf, periodOf } from '../metering/budgets.js';
import { createRedisStore } from '../metering/redis-store.js';
import { createSqliteStore } from '../metering/sqlite-store.js';
import { createMeteringStages } from '../metering/stages.js';
import { type BudgetStore, NANO, toNano } from '../metering/store.js';
import { composePipeline } from '../pipeline/compose.js';
import type { Stage } from '../pipeline/context.js';
import type { Pipeline, Relay } from '../pipeline/run.js';
import { decide } from '../policy/decide.js';
import { createPolicyManager, type PolicyManager } from '../policy/manager.js';
import type { PolicyRegistryData } from '../policy/types.js';
import { createRouter } from '../routing/router.js';
import { type Db, openDatabase } from '../store/database.js';
import type { WriteBarrier } from '../store/write-barrier.js';
import { type CallMetrics, createCallMetricsStage } from '../telemetry/call-metrics.js';
import type { Metrics } from '../telemetry/metrics.js';
import { createOtel, type Otel } from '../telemetry/otel.js';
import { closeToolRegistry, createToolRegistry, type ToolRegistry } from '../tools/registry.js';
import { createToolStages } from '../tools/stages.js';
import { closeUpstreams, createUpstreams, type Upstream } from '../upstream/upstreams.js';
import type { Snapshot } from './snapshot.js';

/** What every service is built with, besides a snapshot. */
export interface ServiceDeps {
  log: Logger;
  metrics: Metrics;
  calls: CallMetrics;
  /** Budget reservations and audit intents of a turn's calls, written together before they are forwarded. */
  barrier: WriteBarrier | null;
  /** Under a control plane: its suspensions and kill switches (src/fleet/); null standalone. */
  fleet?: FleetGate | null;
  /** Under a control plane: its gateway API (approvals are kept there); null standalone. */
  control?: ControlClient | null;
  /** Relays WebSocket sessions (the Realtime API); null: upgrades are refused. */
  relay?: Relay | null;
}

/** The budget store a metering config names: Redis for a fleet, else SQLite in the data folder. */
export async function openBudgetStore(s: Snapshot, log: Logger, metrics: Metrics | null = null, barrier: WriteBarrier | null = null): Promise<BudgetStore> {
  const m = s.config.metering;
  if (m.store === 'redis') {
    return createRedisStore({ ...m.redis, log, onHealth: (up) => metrics?.metering.storeUp('redis', up), onFallback: () => metrics?.metering.fallback(), onLeased: () => metrics?.metering.leased() });
  }
  metrics?.metering.storeUp('sqlite', true);
  return createSqliteStore({ dataDir: resolve(s.config.dataDir), snapshotIntervalMs: m.snapshotIntervalMs, barrier });
}

/** The response cache's store (opened once at start; null when the cache is off): Redis for a fleet, else dataDir/cache.db. */
export function openCacheStore(s: Snapshot, deps: ServiceDeps): CacheStore | null {
  const c = s.config.cache;
  if (c.mode === 'off') return null;
  if (c.store === 'redis') return createRedisCache({ ...c.redis, log: deps.log });
  return createSqliteCache({ dataDir: resolve(s.config.dataDir), maxTotalBytes: c.maxTotalBytes, onEvict: (reason, n) => deps.metrics.cache.evicted(reason, n) });
}

/** The audit store of a snapshot's data folder, for reading (the CLI and the admin API). */
export function openAuditReader(s: Snapshot): AuditStore {
  return openAuditStore(resolve(s.config.dataDir), s.config.audit.file, { readonly: true });
}

/** Budget rules as the registry and the persisted overrides set them, or a control plane's overrides (USD or counts) when it sets them. */
export function budgetRulesOf(s: Snapshot, overrides: ReadonlyMap<string, number>): BudgetRules {
  if (s.budgetOverrides === null) return createBudgetRules(s.registry, s.config.metering.softThreshold, overrides as Map<string, number>);
  const fleet = new Map<string, number>();
  for (const [limitId, v] of s.budgetOverrides) fleet.set(limitId, limitId.split('|')[1] === 'usd' ? toNano(v) : v);
  return createBudgetRules(s.registry, s.config.metering.softThreshold, fleet, true);
}

/** The registry's templates as the policy sees them under `data.registry`. */
export function policyRegistryData(registry: AgentRegistry | null): PolicyRegistryData {
  const templates: PolicyRegistryData['templates'] = {};
  for (const t of registry?.templates.values() ?? []) {
    templates[t.name] = { version: t.version, providers: t.providers, models: t.models, tools: t.tools, agents: t.agents, max_tokens: t.maxTokens, guardrails: t.guardrails };
  }
  return { templates };
}

/** The token verifier, the local signer and, in sidecar mode, the workload's token; close() ends them. */
export interface Identity {
  readonly signer: LocalSigner | null;
  /** Signs and verifies A2A delegation tokens (identity.delegation's keys, else the local key); null without identity.delegation when no agent takes A2A hand-offs at start. */
  readonly delegation: DelegationKeys | null;
  readonly verifier: TokenVerifier;
  readonly workload: WorkloadToken | null;
  close(): void;
}

export async function createIdentity(s: Snapshot, log: Logger): Promise<Identity> {
  const { identity, dataDir } = s.config;
  const signer = identity.localIssuer.enabled ? await loadLocalSigner(resolve(dataDir), identity.localIssuer.issuer) : null;
  const verifier = await createVerifier(identity, { dataDir: resolve(dataDir), configDir: s.dir, log, localSigner: signer });
  const w = identity.workloadToken;
  const workload = w === undefined ? null : createWorkloadToken({ file: resolve(s.dir, w.file), verifier, reloadCheckMs: w.reloadCheckMs, log });
  // Delegations are signed with identity.delegation's key, else the local key (loaded for them even when the local issuer is off).
  const fleet = s.delegationKeys;
  const a2a = s.registry !== null && s.registry.a2a.size > 0;
  const needsLocal = fleet === null ? a2a : fleet.signing === null;
  const key = signer ?? (needsLocal ? await loadLocalSigner(resolve(dataDir), identity.localIssuer.issuer) : null);
  const keys = delegationKeySet(fleet, key, identity.localIssuer.issuer);
  const delegation = keys === null || s.registry === null ? null : createDelegationKeys(keys, s.registry.delegation.ttlSeconds);
  return {
    signer,
    delegation,
    verifier,
    workload,
    close() {
      workload?.close();
      verifier.close();
    },
  };
}

/** The policy manager (null when policy is off), started: a new source loads off to the side. */
export async function createPolicy(s: Snapshot, deps: ServiceDeps): Promise<PolicyManager | null> {
  if (s.config.policy.mode === 'off') return null;
  const manager = createPolicyManager({ config: s.config.policy, configDir: s.dir, log: deps.log, metrics: deps.metrics.policy, registry: policyRegistryData(s.registry) });
  try {
    await manager.start();
  } catch (err) {
    manager.close();
    throw err;
  }
  return manager;
}

/** Upstream pools of the providers, and the tool registry (null without a `tools:` section). */
export interface Routing {
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly tools: ToolRegistry | null;
  /** Agents that take A2A hand-offs (null when none has an endpoint). */
  readonly a2a: A2aRegistry | null;
}

export function createRouting(s: Snapshot, previous: Routing | null): Routing {
  const tools = Object.keys(s.config.tools).length === 0 ? null : createToolRegistry(s.config, s.toolCredentials, previous?.tools ?? null);
  return { upstreams: createUpstreams(s.config, s.credentials, s.providerAuth), tools, a2a: createA2aRegistry(s.registry, s.config.upstream) };
}

/** In-flight requests finish on the pools they started with: close() waits for them. */
export async function closeRouting(r: Routing | null): Promise<void> {
  if (r === null) return;
  await Promise.all([closeUpstreams(r.upstreams.values()), closeToolRegistry(r.tools), closeA2aRegistry(r.a2a)]);
}

/**
 * The audit trail and OTel export, built once at start (their config applies on restart). What they
 * read per call (a template's capture opt-in, the credentials to redact) follows the snapshot in force.
 */
export interface Recording {
  readonly trail: AuditTrail | null;
  readonly otel: Otel | null;
  readonly stage: Stage | null;
  close(timeoutMs: number): Promise<void>;
}

export function createRecording(s: Snapshot, deps: ServiceDeps, current: () => Snapshot): Recording {
  const { audit, otel: otelConfig, dataDir } = s.config;
  // With audit on, spans and audit log records are made from committed events by the audit writer
  // thread (the request thread only assigns span ids); without it, spans are made here.
  const auditOn = audit.mode !== 'off';
  const exporting = otelConfig.endpoint !== undefined && (otelConfig.traces || otelConfig.logs);
  const otel = auditOn ? null : createOtel({ ...otelConfig, logs: false }, { onDrop: (signal, reason, n) => deps.calls.otelDropped(signal, reason, n) });
  const trail = auditOn ? createAuditTrail({ dataDir: resolve(dataDir), config: audit, log: deps.log, metrics: deps.calls, otel: exporting ? otelConfig : null, barrier: deps.barrier }) : null;
  let seen: Snapshot | null = null;
  let captures = new Map<string, Capture>();
  let redactor: Redactor = createRedactor([]);
  const follow = () => {
    const now = current();
    if (now === seen) return;
    seen = now;
    captures = new Map();
    for (const t of now.registry?.templates.values() ?? []) if (t.audit.capture.request || t.audit.capture.response) captures.set(t.name, t.audit.capture);
    // The standard profile's detectors, over the whole captured text (not bounded like a call's scan).
    const standard = { ...BUILTIN_PROFILES.standard, ...now.config.guardrails.profiles.standard, maxScanBytes: Number.MAX_SAFE_INTEGER };
    redactor = createRedactor(now.credentials.values(), createScanner('standard', standard));
  };
  const stage = createCallRecorder({
    trail,
    tracer: otel?.tracer ?? null,
    spansFromEvents: auditOn && exporting && otelConfig.traces,
    hashBodies: audit.hashBodies,
    capture(template) {
      follow();
      return captures.get(template) ?? null;
    },
    redact(text) {
      follow();
      return redactor(text);
    },
  });
  return {
    trail,
    otel,
    stage,
    async close(timeoutMs) {
      await trail?.close();
      // Bounded: a down or slow collector does not hold the shutdown.
      if (otel !== null) await Promise.race([otel.shutdown(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    },
  };
}

/**
 * Budgets: the store (opened once), the persisted overrides (set on any gateway of the fleet or by
 * the CLI, picked up within seconds) and the rules they make with the snapshot's registry.
 */
export interface Budgets {
  readonly store: BudgetStore;
  readonly admin: BudgetAdmin;
  rules(): BudgetRules;
  close(): Promise<void>;
}

export async function createBudgets(s: Snapshot, deps: ServiceDeps, current: () => Snapshot, onChange: () => void): Promise<Budgets> {
  const store = await openBudgetStore(s, deps.log, deps.metrics, deps.barrier);
  let overrides = new Map<string, number>();
  // The rules of the snapshot in force with the overrides in force, rebuilt when either changes.
  let memo = { snapshot: s, overrides, rules: budgetRulesOf(s, overrides) };
  const refresh = async () => {
    const next = await store.limits().catch(() => overrides);
    if (sameEntries(next, overrides)) return;
    overrides = next;
    onChange();
  };
  await refresh();
  const timer = setInterval(() => void refresh(), 5_000);
  timer.unref();
  const budgets: Budgets = {
    store,
    admin: createBudgetAdmin(
      store,
      () => budgets.rules(),
      () => refresh(),
    ),
    rules() {
      const snapshot = current();
      if (memo.snapshot !== snapshot || memo.overrides !== overrides) memo = { snapshot, overrides, rules: budgetRulesOf(snapshot, overrides) };
      return memo.rules;
    },
    async close() {
      clearInterval(timer);
      await store.close();
    },
  };
  deps.metrics.metering.remaining(() => remainingUsd(budgets));
  return budgets;
}

function sameEntries(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** `aos_budget_remaining_usd`: what is left of every USD budget in its current period. */
function remainingUsd(b: Budgets) {
  const t = Date.now();
  return b
    .rules()
    .all()
    .filter((r) => r.kind === 'usd')
    .map((r) => {
      const s = b.store.peek(lineOf(r, periodOf(r.window, t), 0));
      return { scope: r.scope, window: r.window, remainingUsd: s.limit < 0 ? 0 : Math.max(0, s.limit - s.spent - s.reserved) / NANO, limitUsd: s.limit / NANO };
    });
}

/** The local store (suspensions) in the data folder. */
export function openLocalStore(s: Snapshot, options?: Parameters<typeof createSuspensionStore>[1]): { db: Db; suspensions: SuspensionStore } {
  const db = openDatabase(resolve(s.config.dataDir));
  return { db, suspensions: createSuspensionStore(db, options) };
}

/**
 * Human approvals, built once at start: the gateway's own store in dataDir, or its control plane's.
 * What they read per call (a template's approval settings, the credentials to redact) follows the
 * snapshot in force.
 */
export function openApprovals(s: Snapshot, deps: ServiceDeps, current: () => Snapshot): Approvals {
  let seen: Snapshot | null = null;
  let credentials: readonly string[] = [];
  return createApprovals({
    dataDir: resolve(s.config.dataDir),
    config: s.config.approvals,
    registry: () => current().registry,
    credentials() {
      const now = current();
      if (now !== seen) {
        seen = now;
        credentials = [...now.credentials.values(), ...now.toolCredentials.values()];
      }
      return credentials;
    },
    log: deps.log,
    registryMetrics: deps.metrics.registry,
    control: deps.control ?? null,
  });
}

/** Everything a pipeline is composed from. */
export interface PipelineServices {
  snapshot: Snapshot;
  identity: Identity;
  suspensions: SuspensionStore;
  policy: PolicyManager | null;
  routing: Routing;
  budgets: Budgets | null;
  recording: Recording;
  approvals: Approvals | null;
  /** The response cache's store; null: no cache stage. */
  cache: CacheStore | null;
  /** Shared memory (opened once at start); null: `memory.mode: off`. */
  memory?: MemoryService | null;
}

/** The pipeline of one snapshot with the services in force: stages turned off by config are absent. */
export function buildPipeline(p: PipelineServices, deps: ServiceDeps): Pipeline {
  const { config, registry, prices } = p.snapshot;
  const { log, metrics } = deps;
  const manager = p.policy;
  const mem = p.memory == null || config.memory.mode === 'off' ? null : p.memory;
  const m = config.metering;
  const meter =
    m.mode === 'enforce' && p.budgets !== null && prices !== null
      ? createMeteringStages({ config: m, store: p.budgets.store, prices, rules: p.budgets.rules(), registry, metrics: metrics.metering, log })
      : null;
  if (m.mode === 'enforce' && meter === null) log.warn('metering was turned on by a reload: it takes effect on restart');
  const tools =
    p.routing.tools === null
      ? null
      : createToolStages({
          evaluate: manager === null ? null : (input) => manager.current()?.evaluate(input) ?? null,
          maxListBytes: config.limits.maxBodyBytes,
          metrics: metrics.mcp,
          config,
          log,
        });
  const a2a =
    p.routing.a2a === null || registry === null
      ? null
      : createA2aStages({ registry, keys: p.identity.delegation, evaluate: manager === null ? null : (input) => manager.current()?.evaluate(input) ?? null, log });
  return composePipeline(
    config,
    createRouter(config.routes, p.routing.upstreams, p.routing.tools, p.routing.a2a, mem === null ? null : mem.match),
    {
      metrics: createCallMetricsStage(metrics, deps.calls),
      record: p.recording.stage,
      identity:
        config.identity.mode === 'required' ? authenticate({ verifier: p.identity.verifier, registry: registry!, suspensions: p.suspensions, fleet: deps.fleet, workload: p.identity.workload }) : null,
      policy: manager === null ? null : decide({ engine: () => manager.current(), metrics: metrics.policy, approve: p.approvals?.gate ?? null }),
      guardrails: config.guardrails.mode === 'off' ? null : createGuardrailStage({ scanners: createScanners(config.guardrails), registry, metrics: metrics.guardrails }),
      meterEstimate: meter?.estimate ?? null,
      meterReserve: meter?.reserve ?? null,
      cache: p.cache === null || config.cache.mode === 'off' ? null : createCacheStage({ config: config.cache, store: p.cache, registry, metrics: metrics.cache }),
      workflow: createWorkflowStage(config.workflows),
      tools,
      // A gateway of a fleet reads the delegations other gateways signed even when it hands work to no agent itself.
      delegation: a2a === null && config.identity.delegation === undefined ? null : createDelegationStage(() => p.identity.delegation),
      a2a,
      memory: mem === null ? null : createMemoryStages({ config: config.memory, store: mem.store, metrics: mem.metrics, barrier: deps.barrier }),
    },
    { retries: config.upstream.retries, log, upstreamError: metrics.upstreamError },
    deps.barrier,
    deps.relay ?? null,
  );
}
