/**
 * Verified tokens remembered by their exact text, so a token seen before costs a Map lookup
 * instead of a signature check. Bounded (the oldest entry goes first) and honouring each token's
 * validity window: an entry is never returned before its `nbf` or at or after its `exp`.
 */
export interface TokenCache<V> {
  /** The value remembered for `token`, if it is still within its validity window at `now`. */
  get(token: string, now: number): V | undefined;
  set(token: string, value: V, validFrom: number, expiresAt: number): void;
  clear(): void;
  readonly size: number;
}

interface Entry<V> {
  readonly value: V;
  readonly validFrom: number;
  readonly expiresAt: number;
}

export function createTokenCache<V>(capacity: number): TokenCache<V> {
  const entries = new Map<string, Entry<V>>();
  return {
    get(token, now) {
      const entry = entries.get(token);
      if (entry === undefined) return undefined;
      if (now >= entry.expiresAt) {
        entries.delete(token);
        return undefined;
      }
      return now >= entry.validFrom ? entry.value : undefined;
    },
    set(token, value, validFrom, expiresAt) {
      if (capacity <= 0) return;
      // Insertion order is eviction order: a Map iterates oldest first, so no list to maintain.
      if (!entries.has(token) && entries.size >= capacity) entries.delete(entries.keys().next().value as string);
      entries.set(token, { value, validFrom, expiresAt });
    },
    clear() {
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
