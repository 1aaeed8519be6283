import type { LineState, ReserveLine } from './store.js';

/**
 * Budget leases: the Redis store's way to decide a counter's calls without a round trip each.
 *
 * A gateway that calls on a counter asks Redis, at its next sync, for a lease on it: an amount
 * reserved in Redis under the gateway's lease id, like a call's reservation. Calls whose every line
 * has room in its lease are then reserved and settled here, in memory. Every sync interval one
 * script pushes what they spent (it comes out of the lease) and sizes anew the leases that need it:
 * twice the interval's demand, or WARM_CALLS of the counter's largest call if more; at most `share`
 * of the room left; none once the room is below LEASE_HEADROOM_CALLS of that call. A counter not
 * called for `idleMs` gives its lease back. So the fleet never admits past a limit: every admitted
 * call is covered in Redis, by its own reservation or by its gateway's lease.
 *
 * A sync that may shrink a lease (to give room back: its counter is idle, its lease too large, or
 * its limit near) pauses the counter's admissions until Redis answers, and Redis keeps at least
 * what is in flight on it; any other sync lets admissions go on, and Redis keeps at least the whole
 * lease. Either way the lease always covers what the gateway has admitted against it.
 */

/** The least room a lease asks for: this many of the counter's largest calls (an agent calling now and then keeps one). */
const WARM_CALLS = 4;
/** A lease is granted only while the limit has room for this many of the counter's largest calls: near a limit, each call is decided by Redis. */
export const LEASE_HEADROOM_CALLS = 64;

/** One counter as this gateway knows it between syncs. */
export interface LeaseCounter {
  /** The last line reserved on it (its limit id, configured limit and end of interest). */
  line: ReserveLine;
  /** Held in Redis under this gateway's lease id, as of the last sync. */
  grant: number;
  /** Reserved by calls admitted against the lease and not settled yet. */
  inflight: number;
  /** Settled here since the last sync: pushed by the next one. */
  spent: number;
  /** Being pushed by the sync on its way. */
  pushing: number;
  /** Reserved on the counter in this interval (leased or not), and the calls. */
  demand: number;
  calls: number;
  /** The largest call seen on it since it was last idle. */
  largest: number;
  /** When it was last called (as of a sync) and its lease last renewed, epoch ms. */
  usedAt: number;
  renewedAt: number;
  /** A sync that may shrink the lease is on its way: no call is admitted against it until it is back. */
  paused: boolean;
  /** Taken ahead for the next period of a counter in use (no call yet): the limit of that counter; else null. */
  ahead: number | null;
}

/** The next period's line of a counter's line, and when that period starts (null: none is taken ahead). */
export type NextPeriod = (line: ReserveLine) => { line: ReserveLine; startsAt: number } | null;

/** How long before its period starts a counter in use gets the lease of its next period. */
const AHEAD_MS = 2_000;

interface Held {
  readonly lines: readonly ReserveLine[];
  readonly exp: number;
}

/**
 * What one sync sends for a counter: key, limit id, configured limit, spend to push, in flight,
 * wanted room, least room, TTL (s), and 1 when the lease must not shrink (admissions go on).
 */
export type SyncEntry = [string, string, number, number, number, number, number, number, 0 | 1];

export class Leases {
  readonly counters = new Map<string, LeaseCounter>();
  /** Calls admitted here and not settled: their lines and expiry. */
  readonly held = new Map<string, Held>();

  /**
   * @param view this gateway's view of the counters in Redis (the store's), as of its last round trip
   * @param idleMs a counter not called for this long gives its lease back
   * @param renewMs a lease is renewed at least this often (its expiry in Redis is pushed back)
   * @param nextOf the next period of a line whose counters roll over often (per-minute limits): its
   *   lease is taken ahead, so the first calls of the new period need no round trip either
   */
  constructor(
    private readonly view: Map<string, LineState>,
    private readonly idleMs: number,
    private readonly renewMs: number,
    private readonly nextOf: NextPeriod = () => null,
  ) {}

  private counter(l: ReserveLine): LeaseCounter {
    let c = this.counters.get(l.key);
    if (c === undefined) {
      c = { line: l, grant: 0, inflight: 0, spent: 0, pushing: 0, demand: 0, calls: 0, largest: 0, usedAt: 0, renewedAt: 0, paused: false, ahead: null };
      this.counters.set(l.key, c);
    } else c.line = l;
    return c;
  }

  /**
   * Counts the call's demand on each counter, then admits it here when every line with a limit has
   * room in its lease. Returns the lines' states, or null: the call goes to Redis.
   */
  admit(id: string, lines: readonly ReserveLine[], exp: number): LineState[] | null {
    let ok = true;
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i];
      const c = this.counter(l);
      c.demand += l.amount;
      c.calls++;
      if (l.amount > c.largest) c.largest = l.amount;
      if (!ok) continue;
      const v = this.view.get(l.key);
      if (v === undefined || (v.limit >= 0 && (c.paused || c.grant - c.inflight - c.spent - c.pushing < l.amount))) ok = false;
    }
    if (!ok) return null;
    const states = new Array<LineState>(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const c = this.counters.get(lines[i].key)!;
      c.inflight += lines[i].amount;
      states[i] = this.state(this.view.get(lines[i].key)!, c);
    }
    this.held.set(id, { lines, exp });
    return states;
  }

  /** Ends a call admitted here: its amounts leave the lease's in-flight, what it spent waits for the next sync. */
  settle(id: string, lines: readonly ReserveLine[], actual: readonly number[]): void {
    this.release(id);
    for (let i = 0; i < lines.length; i++) {
      if (actual[i] !== 0) this.counter(lines[i]).spent += actual[i];
    }
  }

  private release(id: string): void {
    const h = this.held.get(id);
    if (h === undefined) return;
    this.held.delete(id);
    for (const l of h.lines) {
      const c = this.counters.get(l.key);
      if (c !== undefined) c.inflight = Math.max(0, c.inflight - l.amount);
    }
  }

  /** The view of a counter with this gateway's lease replaced by what it holds against it. */
  state(v: LineState, c: LeaseCounter): LineState {
    return { spent: v.spent + c.spent + c.pushing, reserved: Math.max(0, v.reserved - c.grant + c.inflight), limit: v.limit };
  }

  /** A counter's view adjusted for its lease (peek); the view itself when there is none. */
  adjusted(key: string, v: LineState): LineState {
    const c = this.counters.get(key);
    return c === undefined || (c.grant === 0 && c.inflight === 0 && c.spent === 0 && c.pushing === 0) ? v : this.state(v, c);
  }

  /**
   * Starts a sync: releases calls past their expiry, forgets idle counters, and returns the
   * counters to send and their entries: spend to push, a lease to take, top up, shrink, renew or
   * give back. `returning`: every lease goes back (the store is closing).
   */
  begin(now: number, ttlOf: (line: ReserveLine) => number, returning = false): { counters: LeaseCounter[]; entries: SyncEntry[] } {
    for (const [id, h] of this.held) if (h.exp <= now) this.release(id);
    const counters: LeaseCounter[] = [];
    const entries: SyncEntry[] = [];
    for (const [key, c] of this.counters) {
      if (c.calls > 0) c.usedAt = now;
      const idle = returning || now - c.usedAt >= this.idleMs;
      const v = this.view.get(key);
      const limit = v === undefined ? (c.ahead ?? -1) : v.limit;
      // An unlimited counter needs no lease, only its spend pushed.
      const want = idle || limit < 0 ? 0 : Math.max(2 * c.demand, WARM_CALLS * c.largest);
      if (want > 0 && c.calls > 0) this.takeAhead(c, limit, want, now);
      const room = c.grant - c.inflight - c.spent;
      const send = c.spent > 0 || (want > 0 && (room < want / 2 || room > 2 * want)) || (c.grant > 0 && (want === 0 || now - c.renewedAt >= this.renewMs));
      c.demand = c.calls = 0;
      if (!send) {
        if (idle && c.grant === 0 && c.inflight === 0) this.counters.delete(key);
        continue;
      }
      // Room goes back when the counter is idle, its lease more than twice what it wants, or its limit near (as of the last answer).
      const near = v !== undefined && v.limit >= 0 && v.limit - v.spent - v.reserved + c.grant < LEASE_HEADROOM_CALLS * c.largest;
      const shrink = c.grant > 0 && (want === 0 || room > 2 * want || near);
      c.paused = shrink;
      if (idle) c.largest = 0;
      const l = c.line;
      entries.push([key, l.limitId, l.limit, c.spent, c.inflight, near ? 0 : want, LEASE_HEADROOM_CALLS * c.largest, ttlOf(l), shrink ? 0 : 1]);
      counters.push(c);
      c.pushing = c.spent;
      c.spent = 0;
    }
    return { counters, entries };
  }

  /** Near the end of its period, a counter in use gets a counter for the next one, with the same demand (begin() visits it next). */
  private takeAhead(c: LeaseCounter, limit: number, want: number, now: number): void {
    const next = this.nextOf(c.line);
    if (next === null || next.startsAt - now > AHEAD_MS || this.counters.has(next.line.key)) return;
    const n = this.counter(next.line);
    n.demand = want / 2;
    n.largest = c.largest;
    n.usedAt = now;
    n.ahead = limit;
  }

  /** The sync's reply, four numbers per counter: spent, reserved (leases included), limit, this gateway's new lease. */
  end(counters: readonly LeaseCounter[], reply: readonly number[], now: number): void {
    for (let i = 0; i < counters.length; i++) {
      const c = counters[i];
      c.pushing = 0;
      c.paused = false;
      c.ahead = null;
      c.grant = reply[4 * i + 3];
      c.renewedAt = now;
      this.view.set(c.line.key, { spent: reply[4 * i], reserved: reply[4 * i + 1], limit: reply[4 * i + 2] });
    }
  }

  /**
   * The sync failed or timed out (Redis may or may not have applied it): the spend is pushed again
   * by the next one, and no call is admitted against a lease until one succeeds.
   */
  fail(counters: readonly LeaseCounter[]): void {
    for (const c of counters) {
      c.spent += c.pushing;
      c.pushing = 0;
      c.paused = false;
      c.grant = 0;
    }
  }

  /** Whether any of these counters has spend not pushed yet. */
  unpushed(keys: readonly string[]): boolean {
    for (const k of keys) {
      const c = this.counters.get(k);
      if (c !== undefined && (c.spent > 0 || c.pushing > 0)) return true;
    }
    return false;
  }
}
