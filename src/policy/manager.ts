/**
 * The policy bundle in force, and its replacement without a restart.
 *
 * A new bundle is fetched from the source, verified and parsed (bundle.ts), compiled and probed
 * (engine.ts `loadEngine`), all off to the side; only then is it swapped in, by one reference
 * assignment. A request takes `current()` once and keeps that engine to the end, so in-flight
 * requests finish on the policy they started with. Any failure — unreachable, unsigned, tampered,
 * invalid, not loadable — keeps the last good engine, and is reported in `status()`, the log and
 * `aos_policy_load_failures_total`.
 *
 * Loads run one at a time, in order. A change notice that arrives while a fetch waits its turn is
 * folded into it. Bytes identical to the last ones tried are not loaded again.
 */
import { createHash, createPublicKey, type JsonWebKey } from 'node:crypto';
import { resolve } from 'node:path';
import { importJWK, type JWK } from 'jose';
import type { PolicyConfig } from '../config/schema.js';
import { BundleError, PolicyConfigError, PolicySourceError } from '../errors.js';
import { readKeyFile } from '../identity/key-files.js';
import type { Logger } from '../log.js';
import type { PolicyMetrics } from '../telemetry/metrics.js';
import { ASYMMETRIC_ALGORITHMS, type BundleVerification, parseBundle } from './bundle.js';
import { type EngineLimits, loadEngine, type PolicyEngine } from './engine.js';
import { type BundleSource, createBundleSource, type SourceTiming } from './sources.js';
import type { PolicyRegistryData } from './types.js';

export interface PolicyManagerOptions {
  config: PolicyConfig;
  /** Folder of the config file: bundle paths and the verification key file are relative to it. */
  configDir: string;
  log: Logger;
  metrics: PolicyMetrics;
  /** The agent registry's templates, given to the policy as `data.registry`. */
  registry: PolicyRegistryData;
  /** How long start() waits for a URL source's first answer. Default 5 s. */
  startTimeoutMs?: number;
  /** Source timing overrides (debounce, timeouts), for tests. */
  timing?: Partial<SourceTiming>;
}

export interface PolicyStatus {
  /** Revision of the bundle in force; null while none has loaded. */
  revision: string | null;
  /** The bundle file, policies directory or URL. */
  source: string;
  /** Whether the bundle in force had its signature verified. */
  signed: boolean;
  /** When the bundle in force went live (ISO 8601). */
  loadedAt: string | null;
  /** Why the latest attempt to fetch or load a bundle failed; null when it succeeded. */
  lastError: string | null;
  lastErrorAt: string | null;
}

export interface PolicyManager {
  /** The engine in force, or null while no bundle has loaded (calls are then denied). */
  current(): PolicyEngine | null;
  status(): PolicyStatus;
  /**
   * Loads the first bundle and starts watching (file, directory) or polling (URL). A file or
   * directory whose bundle cannot be loaded rejects, with the reason. A URL is waited for at most
   * `startTimeoutMs`; when it does not answer with a good bundle by then, start() resolves anyway,
   * current() stays null and polling goes on.
   */
  start(): Promise<void>;
  /** Fetches and loads the bundle now. Never rejects: the outcome is in status(). */
  reload(): Promise<void>;
  /**
   * Reloads the bundle in force with new registry data (a config reload); rejects, keeping the old
   * registry, when the bundle does not load with it. A file source is also read again, so a SIGHUP
   * picks up a replaced bundle file even where file events are not delivered.
   */
  setRegistry(registry: PolicyRegistryData): Promise<void>;
  /** Stops watching and polling. The engine in force stays usable for requests still running. */
  close(): void;
}

/** A failure carries the error it came from (a PolicySourceError or a BundleError), when there is one. */
type Outcome = { kind: 'loaded' } | { kind: 'unchanged' } | { kind: 'failed'; error: string; cause?: unknown };

const DEFAULT_START_TIMEOUT_MS = 5_000;

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createPolicyManager(opts: PolicyManagerOptions): PolicyManager {
  const { config, log, metrics } = opts;
  const limits: EngineLimits = { maxMemoryPages: config.maxMemoryPages, maxInputBytes: config.maxInputBytes };
  const source: BundleSource = createBundleSource({ config, configDir: opts.configDir, log, timing: opts.timing });
  const where = source.location;

  let engine: PolicyEngine | null = null;
  let registry = opts.registry;
  let verification: BundleVerification | null = null;
  let loadedAt: number | null = null;
  let lastError: string | null = null;
  let lastErrorAt: number | null = null;
  /** 'fetch': the source could not be read; 'bundle': what it gave was refused. */
  let lastErrorKind: 'fetch' | 'bundle' | null = null;
  /** Digest of the last bytes tried, and whether they loaded: the same bytes are not tried twice. */
  let lastDigest: string | null = null;
  let lastDigestLoaded = false;
  let started = false;
  let closed = false;

  // One load at a time, in order.
  let queue: Promise<unknown> = Promise.resolve();
  let waiting: Promise<Outcome> | null = null;
  const serialized = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task);
    queue = run.catch(() => {});
    return run;
  };

  /** A fetch and load, queued; a request while one is already waiting its turn joins that one. */
  const refresh = (): Promise<Outcome> => {
    if (waiting !== null) return waiting;
    const run = serialized(() => {
      waiting = null;
      return attempt();
    });
    waiting = run;
    return run;
  };

  const onChange = () => {
    refresh().catch((err: unknown) => log.error('policy bundle refresh failed unexpectedly', { source: where, error: err as Error }));
  };

  async function attempt(): Promise<Outcome> {
    if (closed) return { kind: 'unchanged' };
    let buf: Buffer | null;
    try {
      buf = await source.fetch();
    } catch (err) {
      return closed ? { kind: 'unchanged' } : failed('fetch', err);
    }
    if (closed) return { kind: 'unchanged' };
    const digest = buf === null ? lastDigest : createHash('sha256').update(buf).digest('hex');
    if (buf === null || digest === lastDigest) {
      // The source answered and has nothing new: an earlier failure to reach it is over.
      if (lastErrorKind === 'fetch') clearError();
      return lastDigestLoaded || lastDigest === null ? { kind: 'unchanged' } : { kind: 'failed', error: lastError ?? 'the bundle was refused before' };
    }
    lastDigest = digest;
    lastDigestLoaded = false;
    let next: PolicyEngine;
    try {
      const bundle = await parseBundle(buf, { source: where, verification });
      try {
        next = await loadEngine(bundle, registry, limits);
      } catch (err) {
        throw new BundleError('AOS_ERR_BUNDLE_UNLOADABLE', `bundle ${bundle.revision} does not load: ${(err as Error).message}`, { cause: err });
      }
    } catch (err) {
      return failed('bundle', err);
    }
    if (closed) return { kind: 'unchanged' };
    const previous = engine?.revision ?? null;
    install(next);
    lastDigestLoaded = true;
    clearError();
    log.info('policy bundle loaded', { source: where, revision: next.revision, previous, signed: next.bundle.signed });
    return { kind: 'loaded' };
  }

  /** The swap: one assignment. Requests that already took the old engine keep it. */
  function install(next: PolicyEngine): void {
    engine = next;
    loadedAt = Date.now();
    metrics.loaded(next.revision, loadedAt);
  }

  function clearError(): void {
    lastError = null;
    lastErrorAt = null;
    lastErrorKind = null;
  }

  function failed(kind: 'fetch' | 'bundle', err: unknown): Outcome {
    const message = (err as Error).message;
    const repeated = message === lastError;
    lastError = message;
    lastErrorAt = Date.now();
    lastErrorKind = kind;
    metrics.loadFailed(source.kind);
    // A bundle server that stays down should not flood the log: the same error again is debug.
    if (repeated) log.debug('policy bundle still failing', { source: where, error: message });
    else if (engine === null) log.error('no policy bundle loaded: calls are denied until one loads', { source: where, error: message });
    else log.warn('policy bundle refused; the last good bundle keeps serving', { source: where, error: message, revision: engine.revision });
    return { kind: 'failed', error: message, cause: err };
  }

  return {
    current: () => engine,

    status: () => ({
      revision: engine?.revision ?? null,
      source: where,
      signed: engine?.bundle.signed ?? false,
      loadedAt: loadedAt === null ? null : new Date(loadedAt).toISOString(),
      lastError,
      lastErrorAt: lastErrorAt === null ? null : new Date(lastErrorAt).toISOString(),
    }),

    async start() {
      if (started) throw new Error('the policy manager is already started');
      started = true;
      if (config.verification !== undefined && source.kind === 'directory') {
        throw new PolicyConfigError(
          'policy.verification cannot be combined with policy.bundle.directory: development mode builds unsigned bundles locally; sign a bundle and use policy.bundle.file or policy.bundle.url',
        );
      }
      verification = await readVerification(config, opts.configDir);

      if (source.kind === 'url') {
        source.watch(onChange);
        const first = refresh();
        const outcome = await waitAtMost(first, opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
        if (outcome === null) log.warn('no policy bundle yet: calls are denied until one loads', { source: where, waitedMs: opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS });
        return;
      }
      const outcome = await refresh();
      if (outcome.kind === 'failed') throw startFailure(`policy bundle ${where}: ${outcome.error}`, outcome.cause);
      source.watch(onChange);
    },

    async reload() {
      await refresh();
    },

    async setRegistry(next) {
      await serialized(async () => {
        // A bundle refused before may load with other registry data: let it be tried again.
        if (!lastDigestLoaded) lastDigest = null;
        const current = engine;
        if (current === null) {
          registry = next;
          return;
        }
        let reloaded: PolicyEngine;
        try {
          reloaded = await loadEngine(current.bundle, next, limits);
        } catch (err) {
          throw new BundleError('AOS_ERR_BUNDLE_UNLOADABLE', `policy bundle ${current.revision} does not load with the new agent registry: ${(err as Error).message}`, { cause: err });
        }
        if (closed) return;
        registry = next;
        install(reloaded);
        log.info('policy data reloaded with the new agent registry', { source: where, revision: reloaded.revision });
      });
      if (source.kind === 'file') await refresh();
    },

    close() {
      closed = true;
      source.close();
    },
  };
}

/** The configured verification key, ready for parseBundle; null when none is configured. */
async function readVerification(config: PolicyConfig, configDir: string): Promise<BundleVerification | null> {
  const v = config.verification;
  if (v === undefined) return null;
  if (v.algorithm !== undefined && !ASYMMETRIC_ALGORITHMS.includes(v.algorithm)) {
    throw new PolicyConfigError(`policy.verification.algorithm "${v.algorithm}" is not supported; use one of ${ASYMMETRIC_ALGORITHMS.join(', ')}`);
  }
  const file = resolve(configDir, v.keyFile);
  const keys = readKeyFile(file);
  let jwk: JWK;
  if (keys.length === 1) {
    jwk = keys[0];
  } else {
    const named = v.keyId === undefined ? [] : keys.filter((k) => k.kid === v.keyId);
    if (named.length !== 1) {
      throw new PolicyConfigError(`policy.verification.keyFile ${file} holds ${keys.length} keys; set policy.verification.keyId to the "kid" of the one that signs bundles`);
    }
    jwk = named[0];
  }
  if (v.algorithm !== undefined) {
    try {
      await importJWK({ ...jwk, alg: v.algorithm }, v.algorithm);
    } catch (err) {
      throw new PolicyConfigError(`policy.verification.keyFile ${file}: its key cannot verify ${v.algorithm} signatures (${(err as Error).message})`, { cause: err });
    }
  }
  return {
    key: createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }),
    ...(v.keyId === undefined ? {} : { keyId: v.keyId }),
    ...(v.scope === undefined ? {} : { scope: v.scope }),
    ...(v.algorithm === undefined ? {} : { algorithm: v.algorithm }),
  };
}

/** The error start() fails with: the class and code of the failure, the message naming the source. */
function startFailure(message: string, cause: unknown): Error {
  if (cause instanceof BundleError) return new BundleError(cause.code, message, { cause });
  if (cause instanceof PolicySourceError) return new PolicySourceError(cause.code, message, { cause });
  return new Error(message, { cause });
}

function waitAtMost<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((r) => {
    timer = setTimeout(() => r(null), ms).unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
