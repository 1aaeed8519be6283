/**
 * The budget store contract, shared by the embedded SQLite store and the Redis fleet store (one
 * test suite runs against both). Amounts are integers: USD in nano-dollars, tokens, call counts.
 */

/** One counter a call reserves against: a scope's window in its current period. */
export interface ReserveLine {
  /** The counter: `<limitId>|<period>`, e.g. `agent:demo-agent|usd|daily|2026-12-01`. */
  readonly key: string;
  /** The limit it is checked against, e.g. `agent:demo-agent|usd|daily` (overrides are set per limitId). */
  readonly limitId: string;
  /** The configured limit; an override set with `aos budget set` wins. -1: no limit (counted only). */
  readonly limit: number;
  /** What this call reserves: worst-case nano-USD, tokens, or 1 call. */
  readonly amount: number;
  /** Epoch ms after which the counter is of no interest (its period ended, plus a margin). */
  readonly until: number;
}

export interface LineState {
  spent: number;
  reserved: number;
  /** The limit in force (override or configured); -1 when none. */
  limit: number;
  /** Set by `peek` when the store has not seen this counter yet (Redis, before its first round trip on it). */
  unknown?: true;
}

export type ReserveOutcome =
  | { ok: true; id: string; states: LineState[] }
  /** Denied: which line would go over, and its state. Nothing was reserved. */
  | { ok: false; index: number; state: LineState; reason: 'limit' | 'unavailable' };

export interface BudgetStore {
  readonly kind: 'sqlite' | 'redis';
  /**
   * Reserves `amount` on every line at once, or on none when one would go over its limit
   * (spent + reserved + amount > limit). Atomic against every other gateway sharing the store.
   */
  reserve(lines: readonly ReserveLine[], ttlMs: number): ReserveOutcome | Promise<ReserveOutcome>;
  /**
   * Ends a reservation: its amounts leave `reserved`, `actual[i]` is added to line i's `spent`.
   * A reservation that already expired only adds the actual amounts. Never rejects.
   */
  settle(id: string, lines: readonly ReserveLine[], actual: readonly number[]): void | Promise<void>;
  /** This gateway's latest view of a counter, without I/O (exact for SQLite, as of the last round trip for Redis). */
  peek(line: ReserveLine): LineState;
  /** Current state of counters, read from the store. */
  read(lines: readonly Pick<ReserveLine, 'key' | 'limitId' | 'limit'>[]): Promise<LineState[]>;
  /** Sets (or with null removes) the override of a limit; persisted. */
  setLimit(limitId: string, limit: number | null): Promise<void>;
  /** Every override in force. */
  limits(): Promise<Map<string, number>>;
  /** Sets the spent amount of counters back to zero (reservations in flight stay). */
  reset(keys: readonly string[]): Promise<void>;
  /** Open reservations (for tests and `budget show`). */
  openReservations(): Promise<number>;
  /** Whether the store is reachable now (Redis); the SQLite store always is. */
  healthy(): boolean;
  close(): Promise<void>;
}

/** nano-USD per USD: integer arithmetic in both stores, no floating drift in counters. */
export const NANO = 1e9;
export const toNano = (usd: number): number => Math.ceil(usd * NANO);
