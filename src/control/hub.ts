/**
 * The snapshot stream. Holds the newest snapshot (built once per version) and the gateways' open
 * SSE streams; a new version is pushed whole to every stream. New versions are learned three ways:
 * a change made through this replica (`refresh()` after it commits), a PostgreSQL notification
 * from another replica, and a slow poll of the version (the fallback when a notification is lost).
 * A stream that cannot keep up is not queued snapshot after snapshot: it gets the newest on drain.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { FleetSnapshot } from './protocol.js';
import { buildSnapshot } from './snapshot.js';
import type { ControlStore, GatewayRecord } from './store.js';

interface Stream {
  gateway: string;
  res: ServerResponse;
  /** The version last written to it. */
  sent: number;
  /** Its socket buffer is full: the newest snapshot goes out on drain. */
  blocked: boolean;
}

export interface HubOptions {
  store: ControlStore;
  policy: FleetSnapshot['policy'];
  log: Logger;
  pollMs: number;
  /** `: ping` comments on idle streams, which also mark their gateways as seen. */
  pingMs?: number;
  /** Called for each snapshot written to a stream (metrics). */
  pushed?: () => void;
}

export type Hub = ReturnType<typeof createHub>;

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createHub(opts: HubOptions) {
  const { store, log } = opts;
  const streams = new Set<Stream>();
  /** Open streams per gateway (a gateway may hold more than one for a moment, while it reconnects). */
  const open = new Map<string, number>();
  const pingMs = opts.pingMs ?? 15_000;
  /** A stream on another replica counts while that replica pinged it this recently (two pings missed, and some slack). */
  const staleMs = 2 * pingMs + 5_000;
  const pushed = opts.pushed ?? (() => {});
  let current: { version: number; snapshot: FleetSnapshot; event: string } | null = null;
  let running: Promise<void> | null = null;
  let again = false;

  const write = (s: Stream) => {
    if (current === null || s.blocked || s.sent >= current.version || s.res.writableEnded) return;
    s.sent = current.version;
    pushed();
    if (!s.res.write(current.event)) {
      s.blocked = true;
      s.res.once('drain', () => {
        s.blocked = false;
        write(s);
      });
    }
  };

  const rebuild = async () => {
    const state = await store.state();
    if (current !== null && state.version <= current.version) return;
    const snapshot = buildSnapshot(state, opts.policy);
    current = { version: state.version, snapshot, event: `event: snapshot\nid: ${state.version}\ndata: ${JSON.stringify(snapshot)}\n\n` };
    log.debug('fleet snapshot', { version: state.version, streams: streams.size });
    for (const s of streams) write(s);
    await dropRevoked();
  };

  /** Streams of gateways revoked (here or on another replica) are ended. */
  const dropRevoked = async () => {
    if (streams.size === 0) return;
    const revoked = new Set((await store.gateways()).filter((g) => g.revokedAt !== null).map((g) => g.id));
    for (const s of streams) if (revoked.has(s.gateway)) end(s);
  };

  const add = (s: Stream) => {
    streams.add(s);
    open.set(s.gateway, (open.get(s.gateway) ?? 0) + 1);
  };
  const remove = (s: Stream) => {
    if (!streams.delete(s)) return;
    const n = (open.get(s.gateway) ?? 1) - 1;
    if (n > 0) open.set(s.gateway, n);
    else open.delete(s.gateway);
  };
  const end = (s: Stream) => {
    remove(s);
    s.res.end();
  };

  /** Reads the store and pushes a newer snapshot; concurrent calls collapse into one more run. */
  const refresh = (): Promise<void> => {
    if (running !== null) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await rebuild();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
  const refreshQuietly = () =>
    refresh().catch((err: unknown) => {
      log.warn('fleet snapshot refresh failed (retried on the next change or poll)', { err });
    });

  store.onAnnounce((version) => {
    if (current === null || version > current.version) void refreshQuietly();
  });
  const poll = setInterval(() => {
    store.version().then(
      (v) => {
        if (current === null || v > current.version) void refreshQuietly();
      },
      (err: unknown) => log.warn('fleet version poll failed', { err }),
    );
  }, opts.pollMs);
  poll.unref();
  const ping = setInterval(() => {
    for (const s of streams) if (!s.blocked) s.res.write(': ping\n\n');
    store.seen([...open.keys()], true).catch((err: unknown) => log.warn('could not mark gateways seen', { err }));
  }, pingMs);
  ping.unref();

  return {
    refresh,
    /** The newest snapshot (built on first use). */
    async snapshot(): Promise<FleetSnapshot> {
      if (current === null) await refresh();
      return current!.snapshot;
    },
    version: () => current?.version ?? 0,
    /** Whether a gateway is connected: a stream open here, or open on another replica that pinged it recently. */
    live: (g: GatewayRecord, now = Date.now()) => open.has(g.id) || (g.connected && now - Date.parse(g.lastSeen) < staleMs),
    /** Serves a gateway's SSE stream until it goes away: the current snapshot when newer than `after`, then each new one. */
    async subscribe(gateway: string, res: ServerResponse, after: number): Promise<void> {
      if (current === null) await refresh();
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      res.flushHeaders();
      const s: Stream = { gateway, res, sent: after, blocked: false };
      add(s);
      res.once('close', () => {
        remove(s);
        if (!open.has(gateway)) store.seen([gateway], false).catch(() => {});
      });
      await store.seen([gateway], true);
      write(s);
    },
    /** Ends a gateway's streams on this replica (it was revoked). */
    disconnect(gateway: string): void {
      for (const s of streams) if (s.gateway === gateway) end(s);
    },
    close(): void {
      clearInterval(poll);
      clearInterval(ping);
      for (const s of streams) end(s);
    },
  };
}
