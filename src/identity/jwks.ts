/**
 * One issuer's verification keys: static keys from files plus a JWKS fetched from the issuer (a
 * configured URL, or the jwks_uri of its OIDC discovery document), kept in memory.
 *
 * The request path never waits on the network for a key it already has. The set is fetched at
 * start, refreshed in the background, and refreshed early when a token names an unknown `kid` —
 * at most once per `refreshMinSec`, and a request waits for that refresh at most `timeoutMs`. A
 * failed fetch or a garbage answer keeps the last good set. Signing keys are matched by jose's
 * createLocalJWKSet over this in-memory set; headers such as `jku`, `x5u`, `x5c` or `jwk` are
 * never consulted, so a token cannot bring its own key.
 */
import { createLocalJWKSet, errors, type FlattenedJWSInput, type JWK, type JWSHeaderParameters } from 'jose';
import { type Dispatcher, request } from 'undici';
import { AosError, JwksError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkedPublicJwk } from './key-files.js';

export interface KeySourceOptions {
  issuer: string;
  /** Keys from files: always trusted, never replaced by a fetch. */
  staticKeys: JWK[];
  /** The JWKS endpoint; null with `discovery` on means: read jwks_uri from the issuer. */
  jwksUrl: string | null;
  discovery: boolean;
  cacheSec: number;
  refreshMinSec: number;
  timeoutMs: number;
  log: Logger;
  now: () => number;
  /** Called when a fetch drops a key that was trusted before, so verifications made with it can be forgotten. */
  onKeysRemoved?: () => void;
  /** How to reach the issuer: extra trusted CAs and a bearer token (in-cluster Kubernetes API server). */
  fetch?: FetchOptions;
}

export interface FetchOptions {
  dispatcher?: Dispatcher;
  /** Read before every fetch: projected tokens rotate on disk. */
  bearer?: () => string | null;
}

export interface KeySourceStatus {
  issuer: string;
  keys: number;
  lastRefresh: string | null;
  lastError: string | null;
}

export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

export interface KeySource {
  /** Key resolver for jose's jwtVerify. */
  readonly getKey: KeyResolver;
  /** Settles when the first fetch is done or `timeoutMs` passed; never rejects. */
  readonly ready: Promise<void>;
  status(): KeySourceStatus;
  close(): void;
}

/** A fetch may take longer than a request is allowed to wait for it: a slow issuer still gets its answer in. */
const FETCH_TIMEOUT_MS = 10_000;
const MAX_DOCUMENT_BYTES = 1024 * 1024;
const RETRY_MIN_MS = 1_000;

type LocalSet = ReturnType<typeof createLocalJWKSet>;

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createKeySource(options: KeySourceOptions): KeySource {
  const { issuer, staticKeys, log, now } = options;
  const remote = options.jwksUrl !== null || options.discovery;
  // Keys without a `kid` (PEM files, typically) also serve tokens that carry one: Kubernetes
  // tokens name their key, the public key file an operator copied does not.
  const kidless = staticKeys.filter((k) => k.kid === undefined);
  const kidlessSet = kidless.length > 0 ? createLocalJWKSet({ keys: kidless }) : null;

  let remoteKeys: JWK[] = [];
  let current: LocalSet = createLocalJWKSet({ keys: staticKeys });
  let jwksUrl = options.jwksUrl;
  let lastRefresh: number | null = remote ? null : now();
  let lastError: string | null = null;
  let lastFetchStart: number | null = null;
  let failures = 0;
  let inflight: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  const aborts = new Set<AbortController>();

  function install(keys: JWK[]): void {
    const before = new Set(remoteKeys.map((k) => JSON.stringify(k)));
    const after = new Set(keys.map((k) => JSON.stringify(k)));
    if (before.size === after.size && [...after].every((k) => before.has(k))) return;
    remoteKeys = keys;
    current = createLocalJWKSet({ keys: [...staticKeys, ...keys] });
    log.info('issuer keys updated', { issuer, keys: staticKeys.length + keys.length });
    if ([...before].some((k) => !after.has(k))) options.onKeysRemoved?.();
  }

  function fetchNow(reason: string): Promise<void> {
    if (inflight !== null) return inflight;
    lastFetchStart = now();
    const abort = new AbortController();
    aborts.add(abort);
    const deadline = setTimeout(() => abort.abort(new JwksError('AOS_ERR_JWKS_FETCH', `no answer within ${FETCH_TIMEOUT_MS} ms`)), FETCH_TIMEOUT_MS).unref();
    inflight = fetchKeys(abort.signal)
      .then((keys) => {
        install(keys);
        lastRefresh = now();
        lastError = null;
        failures = 0;
      })
      .catch((err: unknown) => {
        if (closed) return;
        failures++;
        lastError = describe(err);
        // The first failure is worth a warning; a long outage should not flood the log.
        (failures === 1 ? log.warn : log.debug)('cannot refresh issuer keys; the last good keys stay in use', {
          issuer,
          reason,
          error: lastError,
          keys: staticKeys.length + remoteKeys.length,
        });
      })
      .finally(() => {
        clearTimeout(deadline);
        aborts.delete(abort);
        inflight = null;
        schedule();
      });
    return inflight;
  }

  function schedule(): void {
    if (closed) return;
    if (timer !== null) clearTimeout(timer);
    // After a failure, try again soon (doubling up to the cache period) rather than wait it out.
    const delay = failures === 0 ? options.cacheSec * 1000 : Math.min(options.cacheSec * 1000, RETRY_MIN_MS * 2 ** Math.min(failures - 1, 16));
    timer = setTimeout(() => void fetchNow('scheduled'), delay).unref();
  }

  async function fetchKeys(signal: AbortSignal): Promise<JWK[]> {
    if (jwksUrl === null) {
      const doc = await getJson(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, signal, options.fetch);
      if (!isObject(doc) || typeof doc.jwks_uri !== 'string' || !/^https?:\/\//.test(doc.jwks_uri)) throw new JwksError('AOS_ERR_JWKS_INVALID', 'discovery document has no http(s) jwks_uri');
      // OpenID Connect Discovery: the document must name the issuer it was fetched for.
      if (doc.issuer !== issuer) throw new JwksError('AOS_ERR_JWKS_INVALID', 'discovery document names a different issuer');
      jwksUrl = doc.jwks_uri;
    }
    try {
      return parseJwks(await getJson(jwksUrl, signal, options.fetch));
    } catch (err) {
      // A discovered URL may have moved: look it up again on the next attempt.
      if (options.jwksUrl === null) jwksUrl = null;
      throw err;
    }
  }

  /** Waits for the refresh an unknown `kid` asks for, within the rate bound and the wait limit. */
  async function refreshForUnknownKid(): Promise<void> {
    if (closed) return;
    let pending = inflight;
    if (pending === null) {
      if (lastFetchStart !== null && now() - lastFetchStart < options.refreshMinSec * 1000) return;
      pending = fetchNow('unknown kid');
    }
    await waitAtMost(pending, options.timeoutMs);
  }

  // The common case, a known kid, is one call into the local set: no extra await on the way.
  const getKey: KeyResolver = (header, token) =>
    current(header, token).catch((err: unknown) => {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      return unknownKey(header, token);
    });

  async function unknownKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    if (remote) {
      const before = current;
      await refreshForUnknownKid();
      if (current !== before) {
        try {
          return await current(header, token);
        } catch (err) {
          if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
        }
      }
    }
    if (kidlessSet !== null && header.kid !== undefined) return kidlessSet({ ...header, kid: undefined }, token);
    throw new errors.JWKSNoMatchingKey();
  }

  const ready = remote ? waitAtMost(fetchNow('start'), options.timeoutMs) : Promise.resolve();

  return {
    getKey,
    ready,
    status: () => ({
      issuer,
      keys: staticKeys.length + remoteKeys.length,
      lastRefresh: lastRefresh === null ? null : new Date(lastRefresh).toISOString(),
      lastError,
    }),
    close() {
      closed = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      for (const abort of aborts) abort.abort(new Error('closed'));
    },
  };
}

/** The usable public signing keys of a JWKS document; throws a JwksError when there are none. */
export function parseJwks(doc: unknown): JWK[] {
  if (!isObject(doc) || !Array.isArray(doc.keys)) throw new JwksError('AOS_ERR_JWKS_INVALID', 'not a JWKS document (no "keys" array)');
  const keys: JWK[] = [];
  for (const key of doc.keys) {
    if (!isObject(key) || (key.use !== undefined && key.use !== 'sig')) continue;
    try {
      keys.push(checkedPublicJwk(key as JWK));
    } catch {
      // One bad member (an encryption key, a symmetric key, a typo) does not spoil the others.
    }
  }
  if (keys.length === 0) throw new JwksError('AOS_ERR_JWKS_INVALID', 'the JWKS has no usable public signing key');
  return keys;
}

async function getJson(url: string, signal: AbortSignal, via: FetchOptions = {}): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = via.bearer?.();
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await request(url, { method: 'GET', signal, headers, dispatcher: via.dispatcher });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new JwksError('AOS_ERR_JWKS_FETCH', `${url} answered HTTP ${res.statusCode}`);
  }
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of res.body) {
    size += chunk.length;
    if (size > MAX_DOCUMENT_BYTES) {
      res.body.destroy();
      throw new JwksError('AOS_ERR_JWKS_FETCH', `${url} answered more than ${MAX_DOCUMENT_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new JwksError('AOS_ERR_JWKS_FETCH', `${url} did not answer JSON`);
  }
}

function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms).unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The error's message, with a network error's code (ECONNREFUSED, UND_ERR_*) when it does not name it; our own codes are for code, not for people. */
function describe(err: unknown): string {
  if (err instanceof AosError) return err.message;
  const e = err as { message?: string; code?: string; cause?: { message?: string } };
  const message = e?.message ?? String(err);
  return e?.code && !message.includes(e.code) ? `${message} (${e.code})` : message;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
