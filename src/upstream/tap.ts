import type { OutgoingHttpHeaders } from 'node:http';

/**
 * A response tap sees the upstream response on its way to the client and may rewrite it: how
 * metering reads usage from a stream, or the MCP adapter filters a `tools/list` result, without
 * buffering what it does not need. Stages add taps with `ctx.tap()`; the forwarder runs them in
 * order, each one's output being the next one's input. No taps is `ctx.taps === null`: a request
 * without taps pays one null check per chunk.
 */
export interface ResponseTap {
  /**
   * The upstream's status and the headers about to be sent to the client. `headers` may be
   * changed: a tap that changes the length of the body deletes `content-length`.
   */
  onStart?(status: number, headers: OutgoingHttpHeaders): void;
  /** A chunk of the body; returns what to pass on: the chunk itself, other bytes, or null (nothing now). */
  onData?(chunk: Buffer): Buffer | null;
  /** The body ended normally; returns bytes still to send (what the tap held back), or null. */
  onEnd?(): Buffer | null;
  /**
   * After the body ended normally and its last bytes were handed to the client: work on what was
   * read that changes nothing sent (the usage of a JSON body, the settlement), kept off the time
   * the client waits. Called once, after `onEnd`, by whoever called `onEnd` (`tapAfter`).
   */
  afterEnd?(): void;
  /** The response will not end normally: the client left, or the upstream failed after headers. */
  onAbort?(reason: 'client' | 'upstream'): void;
  /**
   * After the upstream's end: a promise when the tap keeps the client's response open for more of
   * its own (an MCP round trip the gateway completes with further requests), resolved with the last
   * bytes; null (or absent) to end it now.
   */
  hold?(): Promise<Buffer | null> | null;
}

/** The first tap's hold on the response after the upstream's end (see ResponseTap.hold), or null. */
export function tapHold(taps: readonly ResponseTap[]): Promise<Buffer | null> | null {
  for (let i = 0; i < taps.length; i++) {
    const held = taps[i].hold?.() ?? null;
    if (held !== null) return held;
  }
  return null;
}

/** Passes a chunk through every tap; null when a tap held everything back. */
export function tapData(taps: readonly ResponseTap[], chunk: Buffer): Buffer | null {
  let out: Buffer | null = chunk;
  for (let i = 0; i < taps.length && out !== null; i++) {
    const t = taps[i];
    if (t.onData !== undefined) out = t.onData(out);
  }
  return out;
}

/** Runs every tap's `afterEnd`, in order: call it once the bytes `tapEnd` returned are sent. */
export function tapAfter(taps: readonly ResponseTap[]): void {
  for (let i = 0; i < taps.length; i++) taps[i].afterEnd?.();
}

/** Ends every tap in order; what one releases at its end flows through the taps after it. */
export function tapEnd(taps: readonly ResponseTap[]): Buffer | null {
  let carried: Buffer | null = null;
  for (let i = 0; i < taps.length; i++) {
    const t = taps[i];
    if (carried !== null && t.onData !== undefined) carried = t.onData(carried);
    const tail = t.onEnd?.() ?? null;
    if (tail !== null) carried = carried === null ? tail : Buffer.concat([carried, tail]);
  }
  return carried;
}
