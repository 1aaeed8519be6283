import { Pool } from 'undici';
import type { ProviderAuth } from '../config/provider-auth.js';
import type { GatewayConfig } from '../config/schema.js';
import type { UpstreamAuth } from '../providers/auth.js';
import type { WireDialect } from '../providers/dialect.js';
import { createProviderAuth, dialects } from '../providers/index.js';

/** A configured provider or tool, ready to forward to: its pool, dialect and the credential to inject. */
export interface Upstream {
  readonly name: string;
  readonly dialect: WireDialect;
  readonly origin: string;
  /** Path of the base URL, without trailing slash: `/v1` for https://api.openai.com/v1 (an MCP URL keeps it as given). */
  readonly basePath: string;
  readonly pool: Pool;
  /** The Host header the upstream expects (what a signature covers). */
  readonly host: string;
  /** Lower-case header name and value of the injected credential, or null when none is configured. */
  readonly auth: readonly [string, string] | null;
  /** A credential made per request (a fetched token, a signature), or null: see providers/auth.ts. */
  readonly authorize: UpstreamAuth | null;
  /** Upstream model names (Azure deployments, Bedrock ARNs) to model names; null when the provider has no `deployments`. */
  readonly deployments: ReadonlyMap<string, string> | null;
  /** Extra headers as a flat [name, value, ...] list. */
  readonly headers: readonly string[];
  /** Until the response headers, and between two chunks of the body (0: none); kept by the forwarder (deadlines.ts), not undici. */
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
}

/** What one upstream is, whether a provider or a tool of the registry. */
export interface UpstreamSpec {
  readonly baseUrl: string;
  readonly dialect: WireDialect;
  /** The header the credential goes in; the dialect's when absent. */
  readonly authHeader?: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  /** The credential to inject, if any. */
  readonly credential: string | undefined;
  /** Override the `upstream:` section's timeouts for this upstream. */
  readonly headersTimeoutMs?: number | undefined;
  readonly bodyTimeoutMs?: number | undefined;
  /** Keep the base URL's path as given (an MCP endpoint) instead of stripping trailing slashes. */
  readonly keepTrailingSlash?: boolean;
  readonly authorize?: UpstreamAuth | null;
  readonly deployments?: Readonly<Record<string, string>> | undefined;
}

export function createUpstream(name: string, spec: UpstreamSpec, u: GatewayConfig['upstream']): Upstream {
  const url = new URL(spec.baseUrl);
  const authHeader = (spec.authHeader ?? spec.dialect.authHeader).toLowerCase();
  const key = spec.credential;
  // The forwarder keeps these two itself (deadlines.ts); the pool's are for the other requests made on it (MCP streams, cards, schemas).
  const headersTimeoutMs = spec.headersTimeoutMs ?? u.headersTimeoutMs;
  const bodyTimeoutMs = spec.bodyTimeoutMs ?? u.bodyTimeoutMs;
  return {
    name,
    dialect: spec.dialect,
    origin: url.origin,
    host: url.host,
    basePath: spec.keepTrailingSlash === true ? url.pathname : url.pathname.replace(/\/+$/, ''),
    pool: new Pool(url.origin, {
      connections: u.connections,
      connectTimeout: u.connectTimeoutMs,
      headersTimeout: headersTimeoutMs,
      bodyTimeout: bodyTimeoutMs,
      keepAliveTimeout: u.keepAliveTimeoutMs,
      pipelining: 1,
    }),
    auth: key ? [authHeader, authHeader === 'authorization' ? `Bearer ${key}` : key] : null,
    authorize: spec.authorize ?? null,
    deployments: spec.deployments === undefined ? null : new Map(Object.entries(spec.deployments)),
    headers: Object.entries(spec.headers).flatMap(([k, v]) => [k.toLowerCase(), v]),
    headersTimeoutMs,
    bodyTimeoutMs,
  };
}

/** The upstreams of the configured providers, by name. */
export function createUpstreams(config: GatewayConfig, credentials: ReadonlyMap<string, string>, auths: ReadonlyMap<string, ProviderAuth> = new Map()): Map<string, Upstream> {
  const out = new Map<string, Upstream>();
  for (const [name, p] of Object.entries(config.providers)) {
    const auth = auths.get(name);
    const spec = {
      baseUrl: p.baseUrl,
      dialect: dialects[p.dialect],
      authHeader: p.authHeader,
      headers: p.headers,
      credential: credentials.get(name),
      authorize: auth === undefined ? null : createProviderAuth(name, auth),
      deployments: p.deployments,
    };
    out.set(name, createUpstream(name, spec, config.upstream));
  }
  return out;
}

export async function closeUpstreams(upstreams: Iterable<Upstream>): Promise<void> {
  await Promise.allSettled(
    [...upstreams].map((u) => {
      u.authorize?.close();
      return u.pool.close();
    }),
  );
}
