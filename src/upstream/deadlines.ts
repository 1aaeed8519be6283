import { errors } from 'undici';
import { LiveList, type LiveNode } from '../pipeline/live-list.js';

/**
 * The upstream time limits of forwarded calls: until the response headers (`headersTimeoutMs`,
 * from when the request went out on a connection) and between two chunks of the body
 * (`bodyTimeoutMs`; not while the call is paused because its client reads slowly), kept by one
 * sweep for every call in flight instead of by undici. undici keeps them with a timer per
 * connection that it replaces whenever the limit in force changes: a headers timer, a body timer
 * and a keep-alive timer per call, which its timer list holds for up to a second after they were
 * cleared. At a few thousand calls a second each of them outlived two scavenges: over half of
 * what the request thread promoted to the old generation, whose mark-compacts make the latency
 * tail (bench/RESULTS-performance.md). A limit fires between its value and its value plus
 * `SWEEP_MS`, as undici's did (its timers tick about every 500 ms), with undici's own error.
 */
export class CallDeadline {
  /** When the limit in force runs out (epoch ms). */
  private due = 0;
  /** Which limit is in force: the headers' or the body's. */
  private body = false;
  /** The client reads slowly: the upstream is paused, and its silence is not the upstream's fault. */
  private paused = false;
  private ended = false;
  /** Its place among the watched calls; null while no limit is in force. */
  private watched: LiveNode<CallDeadline> | null = null;
  constructor(
    private readonly headersMs: number,
    private readonly bodyMs: number,
    /** Ends the call with the limit's error (undici's HeadersTimeoutError or BodyTimeoutError). */
    private readonly expire: (err: Error) => void,
  ) {}

  /** The request went out on a connection: the headers are due. */
  sent(): void {
    this.body = false;
    this.set(this.headersMs);
  }

  /** The headers or a chunk of the body came: the next chunk is due. */
  received(): void {
    this.body = true;
    if (!this.paused) this.set(this.bodyMs);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.set(this.bodyMs);
  }

  /** The call is over: no limit from now on, whatever its callbacks still report. */
  end(): void {
    this.ended = true;
    this.stop();
  }

  /** The call is about to be tried again: no limit until `sent`. */
  stop(): void {
    if (this.watched === null) return;
    this.watched.remove();
    this.watched = null;
  }

  private set(ms: number): void {
    if (this.ended) return;
    // 0: no limit (an MCP stream that may stay silent).
    if (ms === 0) {
      this.stop();
      return;
    }
    this.due = Date.now() + ms;
    if (this.watched !== null) return;
    this.watched = watched.add(this);
    if (sweep === null) {
      sweep = setInterval(tick, SWEEP_MS);
      sweep.unref();
    }
  }

  /** Called by the sweep: ends the call when its limit ran out. */
  check(now: number): void {
    if (this.watched === null || this.paused || now < this.due) return;
    this.stop();
    this.expire(this.body ? new errors.BodyTimeoutError() : new errors.HeadersTimeoutError());
  }
}

/** How often the calls in flight are looked at. */
export const SWEEP_MS = 500;

/** The calls with a limit in force (a list, not a Set: see live-list.ts). */
const watched = new LiveList<CallDeadline>();
let sweep: NodeJS.Timeout | null = null;

function tick(): void {
  if (watched.size === 0) {
    clearInterval(sweep!);
    sweep = null;
    return;
  }
  const now = Date.now();
  watched.forEach((d) => {
    d.check(now);
  });
}

/** Calls being watched (tests). */
export function watchedCalls(): number {
  return watched.size;
}
