/**
 * Group writes before forwarding. The records a call needs durable before it is forwarded (its
 * budget reservation, its audit intent) are queued instead of written one `write(2)` per call; at
 * the end of the event-loop turn every queue is flushed once, then the calls decided in that turn
 * go on together. Nothing is forwarded before its records reached the kernel (a `kill -9` loses
 * none of them); under load one write per file per turn replaces one per call.
 */
export interface WriteBarrier {
  /** Queues a flush for the end of this turn (each source queues its own flush once per turn). */
  defer(flush: () => void): void;
  /** What a call decided in this turn waits for before it is forwarded; null when nothing is queued. */
  ready(): Promise<void> | null;
}

export function createWriteBarrier(onError: (err: unknown) => void): WriteBarrier {
  let flushes: (() => void)[] = [];
  let turn: Promise<void> | null = null;
  let resolve: () => void = () => {};
  let reject: (err: unknown) => void = () => {};
  const run = () => {
    const fns = flushes;
    const [ok, fail] = [resolve, reject];
    flushes = [];
    turn = null;
    let error: unknown = null;
    for (const fn of fns) {
      try {
        fn();
      } catch (err) {
        error ??= err;
      }
    }
    if (error === null) return ok();
    onError(error);
    fail(error);
  };
  return {
    defer(fn) {
      flushes.push(fn);
      if (turn !== null) return;
      turn = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A turn nobody waits on (settlements only) must not fail the process: onError reports it.
      turn.catch(() => {});
      setImmediate(run);
    },
    ready: () => turn,
  };
}
