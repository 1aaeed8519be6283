import { Pool } from 'undici';
import type { GatewayConfig } from '../config/schema.js';
import { dialects } from '../providers/index.js';
import type { WireDialect } from '../providers/dialect.js';

/** A configured provider, ready to forward to: its pool, dialect and the credential to inject. */
export interface Upstream {
  readonly name: string;
  readonly dialect: WireDialect;
  readonly origin: string;
  /** Path of the base URL, without trailing slash: `/v1` for https://api.openai.com/v1. */
  readonly basePath: string;
  readonly pool: Pool;
  /** Lower-case header name and value of the injected credential, or null when none is configured. */
  readonly auth: readonly [string, string] | null;
  /** Extra headers as a flat [name, value, ...] list. */
  readonly headers: readonly string[];
}

export function createUpstreams(config: GatewayConfig, credentials: ReadonlyMap<string, string>): Map<string, Upstream> {
  const out = new Map<string, Upstream>();
  const u = config.upstream;
  for (const [name, p] of Object.entries(config.providers)) {
    const url = new URL(p.baseUrl);
    const dialect = dialects[p.dialect];
    const key = credentials.get(name);
    const authHeader = (p.authHeader ?? dialect.authHeader).toLowerCase();
    out.set(name, {
      name,
      dialect,
      origin: url.origin,
      basePath: url.pathname.replace(/\/+$/, ''),
      pool: new Pool(url.origin, {
        connections: u.connections,
        connectTimeout: u.connectTimeoutMs,
        headersTimeout: u.headersTimeoutMs,
        bodyTimeout: u.bodyTimeoutMs,
        keepAliveTimeout: u.keepAliveTimeoutMs,
        pipelining: 1,
      }),
      auth: key ? [authHeader, authHeader === 'authorization' ? `Bearer ${key}` : key] : null,
      headers: Object.entries(p.headers).flatMap(([k, v]) => [k.toLowerCase(), v]),
    });
  }
  return out;
}

export async function closeUpstreams(upstreams: Iterable<Upstream>): Promise<void> {
  await Promise.allSettled([...upstreams].map((u) => u.pool.close()));
}
