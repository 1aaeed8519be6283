import { GatewayError } from '../errors.js';

/** The request about to be sent upstream, as a credential that signs it sees it. */
export interface OutgoingRequest {
  readonly method: string;
  /** The upstream's host (and port when not the scheme's default), as the Host header carries it. */
  readonly host: string;
  /** Path and query string, as sent. */
  readonly path: string;
  /** The headers about to be sent, flat [name, value, …], names lower-case. */
  readonly headers: readonly string[];
  readonly body: Buffer | null;
}

/**
 * A credential the gateway makes per request instead of a static key: a token it obtained (OAuth2
 * client credentials, a Google service account) or a signature (AWS SigV4). Built once per config;
 * the hot path takes a cached token without a promise.
 */
export interface UpstreamAuth {
  /** Headers of the agent's request never forwarded, because this credential sets or signs them. */
  readonly drops: ReadonlySet<string>;
  /** The credential headers for one request, flat [name, value, …]; a promise only while a token is fetched. Rejects with a GatewayError. */
  headers(request: OutgoingRequest): readonly string[] | Promise<readonly string[]>;
  close(): void;
}

/** A token (or another temporary credential: AWS keys from STS) and when it stops being valid (ms since the epoch). */
export interface Token<V = string> {
  readonly value: V;
  readonly expiresAt: number;
}

export interface TokenCache<V = string> {
  /** The current value, or a promise while the first one (or one replacing an expired one) is fetched. */
  get(): V | Promise<V>;
  close(): void;
}

export interface TokenCacheOptions<V = string> {
  /** Whose token, for messages: the provider's name. */
  name: string;
  fetch(): Promise<Token<V>>;
  /** Refresh this long before expiry (default 5 minutes, or a fifth of a short token's lifetime). */
  refreshBeforeMs?: number;
  now?: () => number;
}

/**
 * A bearer token kept until shortly before it expires. One fetch at a time (single flight): every
 * call that needs a token while it is fetched waits for the same fetch. A token in its refresh
 * window is still used while a background fetch replaces it; a failed background fetch is retried by
 * the next call. Only a call with no valid token waits.
 */
export function createTokenCache<V = string>(opts: TokenCacheOptions<V>): TokenCache<V> {
  const now = opts.now ?? Date.now;
  let token: Token<V> | null = null;
  let refreshAt = 0;
  let pending: Promise<V> | null = null;
  let closed = false;
  const fetchOnce = (): Promise<V> => {
    if (pending !== null) return pending;
    const started = now();
    pending = opts.fetch().then(
      (t) => {
        pending = null;
        if (closed) return t.value;
        token = t;
        const life = Math.max(0, t.expiresAt - started);
        refreshAt = t.expiresAt - Math.min(opts.refreshBeforeMs ?? 300_000, life / 5);
        return t.value;
      },
      (err: unknown) => {
        pending = null;
        throw new GatewayError('aos_upstream_error', `could not obtain a credential for provider ${opts.name}: ${(err as Error).message ?? String(err)}`, { cause: err });
      },
    );
    return pending;
  };
  return {
    get() {
      const t = now();
      if (token !== null && t < token.expiresAt) {
        if (t >= refreshAt && pending === null) fetchOnce().catch(() => {});
        return token.value;
      }
      return fetchOnce();
    },
    close() {
      closed = true;
      token = null;
    },
  };
}

/** A bearer token in `authorization`, from a token cache. */
export function bearerAuth(cache: TokenCache, drops: readonly string[] = []): UpstreamAuth {
  const set = new Set(drops);
  return {
    drops: set,
    headers() {
      const v = cache.get();
      return typeof v === 'string' ? ['authorization', `Bearer ${v}`] : v.then((s) => ['authorization', `Bearer ${s}`]);
    },
    close: () => cache.close(),
  };
}
