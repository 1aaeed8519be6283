import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlaneConfig } from '../config/schema.js';
import { type Ack, GATEWAY_PATHS, type HelloRequest, type HelloResponse } from '../control/protocol.js';
import type { Logger } from '../log.js';
import { SseSplitter } from '../upstream/sse.js';
import type { ControlClient } from './client.js';

/** The control plane pings every 15 s: a stream silent for this long is dead (a half-open TCP connection). */
const IDLE_MS = 45_000;
/** An undelivered ack is sent again this many times at most (a newer snapshot's ack replaces it sooner). */
const ACK_ATTEMPTS = 8;

export interface SyncOptions {
  client: ControlClient;
  config: ControlPlaneConfig;
  log: Logger;
  hello(): HelloRequest;
  onHello(answer: HelloResponse): void;
  /** The version in force, to ask only for newer ones. */
  version(): number;
  /** Validates and applies a snapshot as received; resolves with the ack to send. */
  apply(data: string): Promise<Ack>;
  /** The stream opened or closed. */
  onConnected(up: boolean): void;
  /** Anything came from the control plane (a snapshot, a ping). */
  onHeard(): void;
}

/**
 * The snapshot sync: hello, then the snapshot stream from the version in force, each snapshot
 * applied and acknowledged in turn. On any failure: back off (doubling, jittered, capped) and try
 * again, moving on to the next URL when a connection could not be made. Calls never wait on this:
 * the gateway serves from what it has.
 */
export function startSync(opts: SyncOptions): { stop(): void } {
  const { client, config, log } = opts;
  const stopping = new AbortController();
  let connection: AbortController | null = null;

  // An ack that was not delivered (the control plane busy, a replica restarting) is sent again,
  // backing off, until it is or a newer one replaces it: the fleet view must not show a gateway
  // behind that applied the snapshot.
  let lastAck: Ack | null = null;
  const sendAck = (ack: Ack, attempt: number) => {
    lastAck = ack;
    client.post(GATEWAY_PATHS.acks, ack).catch((err: Error) => {
      log.warn('fleet: the ack of a snapshot was not delivered; sending it again', { version: ack.version, error: err.message });
      if (stopping.signal.aborted || lastAck !== ack || attempt >= ACK_ATTEMPTS) return;
      setTimeout(() => lastAck === ack && sendAck(ack, attempt + 1), Math.min(config.backoffMaxMs, 200 * 2 ** attempt)).unref();
    });
  };

  const readStream = async (res: Response, conn: AbortController) => {
    const reader = res.body!.getReader();
    const splitter = new SseSplitter();
    let idle = setTimeout(() => conn.abort(new Error('the stream went silent')), IDLE_MS);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        clearTimeout(idle);
        idle = setTimeout(() => conn.abort(new Error('the stream went silent')), IDLE_MS);
        opts.onHeard();
        for (const event of splitter.push(Buffer.from(value))) {
          if (event.event !== 'snapshot') continue;
          sendAck(await opts.apply(event.data), 0);
        }
      }
    } finally {
      clearTimeout(idle);
      reader.cancel().catch(() => {});
    }
  };

  const run = async () => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      const conn = new AbortController();
      connection = conn;
      let opened = false;
      try {
        const answer = await client.post<HelloResponse>(GATEWAY_PATHS.hello, opts.hello());
        if (stopping.signal.aborted) return;
        opts.onHello(answer);
        const res = await client.open(`${GATEWAY_PATHS.snapshots}?after=${opts.version()}`, conn.signal);
        opened = true;
        failures = 0;
        opts.onConnected(true);
        log.info('fleet: connected to the control plane', { url: client.url() });
        await readStream(res, conn);
        if (!stopping.signal.aborted) log.warn('fleet: the control plane closed the snapshot stream', { url: client.url() });
      } catch (err) {
        if (!stopping.signal.aborted) log.warn('fleet: control plane unreachable; serving from the last good snapshot', { url: client.url(), error: errorText(err) });
      }
      if (opened) opts.onConnected(false);
      if (stopping.signal.aborted) return;
      if (!opened) {
        failures += 1;
        client.failover();
      }
      const wait = Math.min(config.backoffMaxMs, 200 * 2 ** Math.min(failures, 10)) * (0.5 + Math.random() / 2);
      await sleep(wait, undefined, { signal: stopping.signal }).catch(() => {});
    }
  };
  void run();

  return {
    stop() {
      stopping.abort();
      connection?.abort(new Error('the gateway is stopping'));
    },
  };
}

function errorText(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message;
}
