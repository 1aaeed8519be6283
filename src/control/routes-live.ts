/**
 * People's API: `GET /api/live`, the fleet as it changes, for open consoles: a `text/event-stream`
 * whose `fleet` events carry the gateways, their counts, the pending approvals and the last
 * minute's calls. One summary is read from the store per tick and sent to every open stream; the
 * ticker runs only while a stream is open.
 */
import type { ServerResponse } from 'node:http';
import { countGateways } from './metrics.js';
import { gatewayViewOf, type PeopleApiDeps, type Route } from './routes.js';

export interface LiveOptions extends PeopleApiDeps {
  /** How often the summary is pushed (console.liveMs). */
  liveMs: number;
}

export function liveRoutes({ store, hub, log, liveMs }: LiveOptions): Route[] {
  const streams = new Set<ServerResponse>();
  const view = gatewayViewOf(hub);
  let timer: NodeJS.Timeout | null = null;
  let busy = false;

  async function summary() {
    const now = Date.now();
    const [gateways, pending, [minute]] = await Promise.all([store.gateways(), store.approvals('pending'), store.auditStats({ sinceMs: now - 60_000, untilMs: now }, {})]);
    const counts = countGateways(gateways, hub.version(), hub.live);
    return {
      version: hub.version(),
      at: new Date(now).toISOString(),
      gateways: gateways.map(view),
      counts: { ...counts.gateways, outOfSync: counts.outOfSync },
      pendingApprovals: pending.length,
      lastMinute: { calls: minute?.calls ?? 0, denied: minute?.denied ?? 0, errors: minute?.errors ?? 0, spendUsd: minute?.spendUsd ?? 0 },
    };
  }

  const send = (res: ServerResponse, text: string) => {
    if (!res.destroyed) res.write(text);
  };

  async function tick(only?: ServerResponse): Promise<void> {
    if (busy && only === undefined) return;
    busy = true;
    try {
      const text = `event: fleet\ndata: ${JSON.stringify(await summary())}\n\n`;
      if (only !== undefined) send(only, text);
      else for (const res of streams) send(res, text);
    } catch (err) {
      log.warn('live fleet summary failed (the next tick retries)', { err });
    } finally {
      busy = false;
    }
  }

  return [
    {
      method: 'GET',
      path: /^\/api\/live$/,
      role: 'viewer',
      async handle({ res }) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
        res.write(`retry: ${Math.max(1000, liveMs)}\n\n`);
        streams.add(res);
        res.on('close', () => {
          streams.delete(res);
          if (streams.size === 0 && timer !== null) {
            clearInterval(timer);
            timer = null;
          }
        });
        if (timer === null) {
          timer = setInterval(() => void tick(), liveMs);
          timer.unref();
        }
        await tick(res);
        return null;
      },
    },
  ];
}
