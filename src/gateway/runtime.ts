import type { LocalApprovalStore } from '../approvals/local-store.js';
import type { Approvals } from '../approvals/service.js';
import type { AuditTrail } from '../audit/trail.js';
import type { CacheStore } from '../coordination/cache-store.js';
import { type MemoryService, openMemory } from '../coordination/memory.js';
import type { SuspensionStore } from '../identity/suspensions.js';
import type { LocalSigner, TokenVerifier } from '../identity/types.js';
import type { WorkloadToken } from '../identity/workload-token.js';
import type { BudgetAdmin } from '../metering/admin.js';
import type { Pipeline } from '../pipeline/run.js';
import type { PolicyManager } from '../policy/manager.js';
import type { Db } from '../store/database.js';
import {
  type Budgets,
  buildPipeline,
  closeRouting,
  createBudgets,
  createIdentity,
  createPolicy,
  createRecording,
  createRouting,
  type Identity,
  openApprovals,
  openCacheStore,
  openLocalStore,
  policyRegistryData,
  type Recording,
  type Routing,
  type ServiceDeps,
} from './services.js';
import { changedParts, type Part, type Snapshot } from './snapshot.js';

/**
 * The services of the snapshot in force and the pipeline composed from them. A new snapshot
 * rebuilds the services whose parts changed (off to the side: a failure keeps the running ones),
 * then swaps them and the pipeline at once.
 */
export interface Runtime {
  start(): Promise<void>;
  apply(next: Snapshot): Promise<{ ok: true } | { ok: false; error: Error }>;
  /** Counts and logs a snapshot that could not be loaded; the running one keeps serving. */
  rejected(error: Error): { ok: false; error: Error };
  close(): Promise<void>;
  pipeline(): Pipeline;
  snapshot(): Snapshot;
  notReady(): string | null;
  policy(): PolicyManager | null;
  verifier(): TokenVerifier | null;
  /** Sidecar mode: the workload's token (null otherwise). */
  workload(): WorkloadToken | null;
  signer(): LocalSigner | null;
  suspensions(): SuspensionStore;
  audit(): AuditTrail | null;
  budgets(): BudgetAdmin | null;
  /** The gateway's own approvals queue (null under a control plane, which keeps it). */
  approvals(): LocalApprovalStore | null;
}

/** Parts whose change takes effect on restart only (listeners, stores, audit and export). */
const ON_RESTART: readonly Part[] = ['listen', 'audit', 'otel'];

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createRuntime(first: Snapshot, deps: ServiceDeps): Runtime {
  const { log, metrics } = deps;
  let snapshot = first;
  let store: { db: Db; suspensions: SuspensionStore } | null = null;
  let identity: Identity | null = null;
  let policy: PolicyManager | null = null;
  let routing: Routing | null = null;
  let budgets: Budgets | null = null;
  let recording: Recording | null = null;
  let approvals: Approvals | null = null;
  let cache: CacheStore | null = null;
  let memory: MemoryService | null = null;
  let pipeline: Pipeline | null = null;

  const compose = () => {
    pipeline = buildPipeline({ snapshot, identity: identity!, suspensions: store!.suspensions, policy, routing: routing!, budgets, recording: recording!, approvals, cache, memory }, deps);
  };

  /** Builds what the next snapshot changes; nothing running is touched until all of it is built. */
  const prepare = async (next: Snapshot, parts: Set<Part>) => {
    const built: { identity?: typeof identity; policy?: PolicyManager | null } = {};
    try {
      if (parts.has('identity')) built.identity = await createIdentity(next, log);
      if (parts.has('policy')) {
        built.policy = await createPolicy(next, deps);
        // A new bundle source that has nothing to serve yet (a URL down) would deny every call: keep the running one.
        if (built.policy !== null && built.policy.current() === null && policy?.current() != null) {
          const st = built.policy.status();
          throw new Error(`the policy bundle ${st.source} could not be loaded (${st.lastError ?? 'no answer'}); the running policy keeps serving`);
        }
      } else if (parts.has('registry')) await policy?.setRegistry(policyRegistryData(next.registry));
      return built;
    } catch (err) {
      built.identity?.close();
      built.policy?.close();
      throw err;
    }
  };

  return {
    async start() {
      store = openLocalStore(snapshot);
      const suspensions = store.suspensions;
      deps.calls.setSuspended(() => suspensions.list().length);
      recording = createRecording(snapshot, deps, () => snapshot);
      approvals = openApprovals(snapshot, deps, () => snapshot);
      cache = openCacheStore(snapshot, deps);
      memory = openMemory(snapshot.config, log, metrics.registry);
      if (snapshot.config.metering.mode === 'enforce')
        budgets = await createBudgets(
          snapshot,
          deps,
          () => snapshot,
          () => pipeline !== null && compose(),
        );
      identity = await createIdentity(snapshot, log);
      policy = await createPolicy(snapshot, deps);
      routing = createRouting(snapshot, null);
      compose();
    },
    async apply(next) {
      const parts = changedParts(snapshot, next);
      let built: Awaited<ReturnType<typeof prepare>>;
      try {
        built = await prepare(next, parts);
      } catch (err) {
        return this.rejected(err as Error);
      }
      snapshot = next;
      if (built.identity !== undefined) {
        identity?.close();
        identity = built.identity;
      }
      if (built.policy !== undefined) {
        policy?.close();
        policy = built.policy;
      }
      if (parts.has('routing')) {
        const old = routing;
        routing = createRouting(next, old);
        void closeRouting(old);
      }
      compose();
      log.setLevel(next.config.log.level);
      if (ON_RESTART.some((p) => parts.has(p))) log.warn('listen, admin, limits, dataDir, audit and otel changes take effect on restart');
      metrics.configReloads.labels('ok').inc();
      log.info('config reloaded', { file: next.file });
      return { ok: true };
    },
    rejected(error) {
      metrics.configReloads.labels('error').inc();
      log.error('config reload rejected; the last good config keeps serving', { error: error.message });
      return { ok: false, error };
    },
    async close() {
      await closeRouting(routing);
      identity?.close();
      policy?.close();
      await recording?.close(Math.min(snapshot.config.otel.exportTimeoutMs, 2000));
      store?.suspensions.close();
      approvals?.close();
      await budgets?.close();
      await cache?.close();
      await memory?.close();
      store?.db.close();
    },
    pipeline: () => pipeline!,
    snapshot: () => snapshot,
    notReady: () => (pipeline === null ? 'starting' : policy !== null && policy.current() === null ? 'no policy bundle loaded' : null),
    policy: () => policy,
    verifier: () => identity?.verifier ?? null,
    workload: () => identity?.workload ?? null,
    signer: () => identity?.signer ?? null,
    suspensions: () => store!.suspensions,
    audit: () => recording?.trail ?? null,
    budgets: () => budgets?.admin ?? null,
    approvals: () => approvals?.local ?? null,
  };
}
