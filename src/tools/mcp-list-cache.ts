import { performance } from 'node:perf_hooks';

/**
 * List results (`tools/list`, `prompts/list`, `resources/list`) of one MCP server of the stateless
 * revision (2026-07-28), kept as long as the server's own hints say: `ttlMs` (how long the result
 * stays fresh) and `cacheScope` (`public`: the same for every client; `private`: for this client
 * only). A `public` result is kept once for every agent, a `private` one per agent; either is kept
 * unfiltered, and filtered for each agent by policy when served (a policy change applies at once).
 * Each page is its own entry (keyed by its cursor). A result with no hints, `ttlMs` 0 or an
 * unknown scope is not kept: the gateway's own translation of a 2025-11-25 server's lists
 * (`ttlMs: 0`) is never cached. `notifications/<list>/list_changed` from the server drops the
 * list's entries. Bounded: past `max` entries the oldest go.
 */
export type ListKind = 'tools' | 'prompts' | 'resources';

export interface ListCache {
  /** A fresh result for the agent (its private entry first, then the public one), with `ttlMs` set to what is left of it; null: ask the server. */
  get(list: ListKind, cursor: string | null, agent: string): Record<string, unknown> | null;
  /** Keeps a result as its hints say; false when they say not to (no hints, `ttlMs` ≤ 0). */
  put(list: ListKind, cursor: string | null, agent: string, result: Record<string, unknown>): boolean;
  /** The server announced that the list changed: its entries go. */
  invalidate(list: ListKind): void;
  size(): number;
}

interface Entry {
  readonly result: Record<string, unknown>;
  readonly until: number;
}

/** Longest a result is kept, whatever its `ttlMs` says: a day. */
const MAX_TTL_MS = 86_400_000;

const key = (list: ListKind, cursor: string | null, scope: string) => `${list}\u0000${cursor ?? ''}\u0000${scope}`;

export function createListCache(opts: { max?: number; now?: () => number } = {}): ListCache {
  const max = opts.max ?? 10_000;
  const now = opts.now ?? (() => performance.now());
  const entries = new Map<string, Entry>();
  const fresh = (k: string): Entry | null => {
    const e = entries.get(k);
    if (e === undefined) return null;
    if (e.until > now()) return e;
    entries.delete(k);
    return null;
  };
  return {
    get(list, cursor, agent) {
      const e = fresh(key(list, cursor, `a:${agent}`)) ?? fresh(key(list, cursor, 'public'));
      if (e === null) return null;
      // A copy: the caller filters the list per agent.
      return { ...e.result, ttlMs: Math.max(0, Math.floor(e.until - now())) };
    },
    put(list, cursor, agent, result) {
      const ttl = result.ttlMs;
      const scope = result.cacheScope;
      if (typeof ttl !== 'number' || !(ttl > 0) || (scope !== 'public' && scope !== 'private') || !Array.isArray(result[list])) return false;
      const k = key(list, cursor, scope === 'public' ? 'public' : `a:${agent}`);
      entries.delete(k);
      entries.set(k, { result, until: now() + Math.min(ttl, MAX_TTL_MS) });
      if (entries.size > max) entries.delete(entries.keys().next().value!);
      return true;
    },
    invalidate(list) {
      const prefix = `${list}\u0000`;
      for (const k of entries.keys()) if (k.startsWith(prefix)) entries.delete(k);
    },
    size: () => entries.size,
  };
}
