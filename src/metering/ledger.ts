import type { LineState, ReserveLine, ReserveOutcome } from './store.js';

interface Counter {
  spent: number;
  reserved: number;
  until: number;
}

interface Held {
  keys: string[];
  amounts: number[];
  expiresAt: number;
}

/**
 * Budget counters and reservations in memory: the core of the SQLite store and the local
 * fallback of the Redis store. Single-threaded, so every operation is atomic.
 */
export class Ledger {
  readonly counters = new Map<string, Counter>();
  readonly held = new Map<string, Held>();
  readonly overrides = new Map<string, number>();
  /** Limits are multiplied by this (the Redis store's local fallback keeps a share of each). */
  constructor(private readonly fraction = 1) {}

  private counter(key: string, until: number): Counter {
    let c = this.counters.get(key);
    if (c === undefined) {
      c = { spent: 0, reserved: 0, until };
      this.counters.set(key, c);
    }
    return c;
  }

  limitOf(line: Pick<ReserveLine, 'limitId' | 'limit'>): number {
    const l = this.overrides.get(line.limitId) ?? line.limit;
    return l < 0 || this.fraction === 1 ? l : Math.floor(l * this.fraction);
  }

  state(line: Pick<ReserveLine, 'key' | 'limitId' | 'limit'>): LineState {
    const c = this.counters.get(line.key);
    return { spent: c?.spent ?? 0, reserved: c?.reserved ?? 0, limit: this.limitOf(line) };
  }

  /** Checks every line, then reserves on all of them, or on none. */
  reserve(id: string, lines: readonly ReserveLine[], expiresAt: number): ReserveOutcome {
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const limit = this.limitOf(line);
      if (limit < 0) continue;
      const c = this.counters.get(line.key);
      const spent = c?.spent ?? 0;
      const reserved = c?.reserved ?? 0;
      if (spent + reserved + line.amount > limit) return { ok: false, index: i, state: { spent, reserved, limit }, reason: 'limit' };
    }
    const keys = new Array<string>(lines.length);
    const amounts = new Array<number>(lines.length);
    const states = new Array<LineState>(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const c = this.counter(line.key, line.until);
      c.reserved += line.amount;
      // A counter kept a while after its last use (a workflow's) lives on with each reservation.
      if (line.until > c.until) c.until = line.until;
      keys[i] = line.key;
      amounts[i] = line.amount;
      states[i] = { spent: c.spent, reserved: c.reserved, limit: this.limitOf(line) };
    }
    this.held.set(id, { keys, amounts, expiresAt });
    return { ok: true, id, states };
  }

  /** Records a reservation without checking (log replay, and reserve() once checked). */
  apply(id: string, keys: string[], amounts: number[], until: number[], expiresAt: number): void {
    for (let i = 0; i < keys.length; i++) this.counter(keys[i], until[i]).reserved += amounts[i];
    this.held.set(id, { keys, amounts, expiresAt });
  }

  settle(id: string, keys: readonly string[], actual: readonly number[], until: readonly number[]): void {
    this.unhold(id);
    for (let i = 0; i < keys.length; i++) if (actual[i] !== 0) this.counter(keys[i], until[i]).spent += actual[i];
  }

  /** settle() with the reservation's own lines (what the stores do per call). */
  settleLines(id: string, lines: readonly ReserveLine[], actual: readonly number[]): void {
    this.unhold(id);
    for (let i = 0; i < lines.length; i++) if (actual[i] !== 0) this.counter(lines[i].key, lines[i].until).spent += actual[i];
  }

  private unhold(id: string): void {
    const h = this.held.get(id);
    if (h === undefined) return;
    this.held.delete(id);
    for (let i = 0; i < h.keys.length; i++) {
      const c = this.counters.get(h.keys[i]);
      if (c !== undefined) c.reserved = Math.max(0, c.reserved - h.amounts[i]);
    }
  }

  /** Releases one reservation without spending (it expired). */
  release(id: string): void {
    const h = this.held.get(id);
    if (h === undefined) return;
    this.settle(id, [], [], []);
  }

  /** Reservations past their expiry, oldest first. */
  expired(now: number): string[] {
    const out: string[] = [];
    for (const [id, h] of this.held) if (h.expiresAt <= now) out.push(id);
    return out;
  }

  /** Forgets counters whose period is over (nothing reserved on them). */
  prune(now: number): string[] {
    const gone: string[] = [];
    for (const [key, c] of this.counters) {
      if (c.until <= now && c.reserved === 0) {
        this.counters.delete(key);
        gone.push(key);
      }
    }
    return gone;
  }
}
