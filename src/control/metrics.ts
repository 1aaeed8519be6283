/**
 * The control plane's Prometheus metrics, in a registry of its own (served at `GET /metrics` on the
 * people listener). Counters are this replica's; the fleet gauges are read from the store at scrape
 * time (one query), so every replica reports the same fleet. Labels are bounded: actions are named
 * in code, never a gateway or agent id.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../log.js';
import type { GatewayRecord, IngestResult } from './store.js';

/** Control plane calls are store round trips: milliseconds, up to a long export. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type Listener = 'gateways' | 'people';
export type GatewayState = 'connected' | 'disconnected' | 'revoked';
const STATES: readonly GatewayState[] = ['connected', 'disconnected', 'revoked'];

/** What the fleet gauges show, counted at scrape time. */
export interface FleetCounts {
  version: number;
  gateways: Record<GatewayState, number>;
  /** Connected gateways whose last acked version is below `version`, or whose last ack was a refusal. */
  outOfSync: number;
}

export interface ControlMetricsOptions {
  /** Reads the fleet for the gauges; called once per scrape. */
  fleet(): Promise<FleetCounts>;
  /** Approvals waiting for a decision; read once per scrape. */
  pendingApprovals?(): Promise<number>;
  log: Logger;
}

export interface ControlMetrics {
  readonly registry: Registry;
  /** A person's change committed, by its action name (`kill`, `agent.suspend`, …). */
  changed(action: string): void;
  /** A snapshot was written to a gateway's stream. */
  pushed(): void;
  /** A gateway acknowledged a snapshot (`ok`) or refused it. */
  acked(ok: boolean): void;
  /** An audit batch was taken (in part, when refused). */
  ingested(result: IngestResult): void;
  /** An approval of a gateway's call: requested (created), approved, denied, used (let its call through); webhook failures. */
  approval(outcome: 'requested' | 'approved' | 'denied' | 'used' | 'webhook_failed'): void;
  /** The handler, counted and timed per `listener`; requests `untimed` (long-lived streams) are counted when they end, not timed. */
  serve(listener: Listener, handler: (req: IncomingMessage, res: ServerResponse) => void, untimed?: (req: IncomingMessage) => boolean): (req: IncomingMessage, res: ServerResponse) => void;
}

/** Each gateway in one state (revoked first, then connected per `live`), and how many connected ones lag. */
export function countGateways(gateways: readonly GatewayRecord[], version: number, live: (g: GatewayRecord) => boolean): FleetCounts {
  const counts: FleetCounts = { version, gateways: { connected: 0, disconnected: 0, revoked: 0 }, outOfSync: 0 };
  for (const g of gateways) {
    if (g.revokedAt !== null) counts.gateways.revoked += 1;
    else if (live(g)) {
      counts.gateways.connected += 1;
      if (g.snapshotVersion < version || g.snapshotError !== null) counts.outOfSync += 1;
    } else counts.gateways.disconnected += 1;
  }
  return counts;
}

/** `2xx`, `4xx`, …; a request whose client left before any answer counts as 499, as the gateway does. */
const statusClass = (res: ServerResponse) => `${Math.floor((res.headersSent ? res.statusCode : 499) / 100)}xx`;

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createControlMetrics(opts: ControlMetricsOptions): ControlMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // The fleet gauges share one read per scrape (prom-client collects them side by side). A store
  // that cannot be read does not fail the scrape: the gauges keep their last values and
  // aos_control_store_up says 0.
  let reading: Promise<boolean> | null = null;
  let last: FleetCounts = { version: 0, gateways: { connected: 0, disconnected: 0, revoked: 0 }, outOfSync: 0 };
  const read = (): Promise<boolean> => {
    if (reading === null) {
      reading = opts
        .fleet()
        .then(
          (counts) => {
            last = counts;
            return true;
          },
          (err: unknown) => {
            opts.log.warn('metrics: could not read the fleet from the store (the fleet gauges are stale)', { err });
            return false;
          },
        )
        .finally(() => {
          reading = null;
        });
    }
    return reading;
  };
  const fleet = async () => {
    await read();
    return last;
  };
  new Gauge({
    name: 'aos_control_store_up',
    help: 'Whether this scrape could read the fleet from the store (1) or not (0: the fleet gauges are stale)',
    registers: [registry],
    async collect() {
      this.set((await read()) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'aos_control_fleet_version',
    help: 'The fleet version: bumped by every change, the version of the snapshot gateways are sent',
    registers: [registry],
    async collect() {
      this.set((await fleet()).version);
    },
  });
  new Gauge({
    name: 'aos_control_gateways',
    help: 'Gateways known to the control plane by state: connected (a snapshot stream open on some replica), disconnected, revoked',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const { gateways } = await fleet();
      for (const state of STATES) this.labels(state).set(gateways[state]);
    },
  });
  new Gauge({
    name: 'aos_control_gateways_out_of_sync',
    help: 'Connected gateways whose last acked snapshot is older than the fleet version, or whose last ack was a refusal',
    registers: [registry],
    async collect() {
      this.set((await fleet()).outOfSync);
    },
  });

  const changes = new Counter({ name: 'aos_control_changes_total', help: "People's changes committed through this replica, by action", labelNames: ['action'] as const, registers: [registry] });
  const pushes = new Counter({ name: 'aos_control_snapshot_pushes_total', help: 'Snapshots written to gateway streams by this replica', registers: [registry] });
  const acks = new Counter({ name: 'aos_control_acks_total', help: 'Snapshot acks from gateways: applied (true) or refused (false)', labelNames: ['ok'] as const, registers: [registry] });
  const records = new Counter({
    name: 'aos_control_audit_records_total',
    help: 'Audit records received from gateways: stored, or duplicate (already held, a retry)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'aos_control_audit_batches_refused_total',
    help: 'Audit batches stopped at a record: gap (resend from the expected seq) or broken (does not verify)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const requests = new Counter({
    name: 'aos_control_http_requests_total',
    help: 'Finished HTTP requests by listener and status class (499: the client left before an answer)',
    labelNames: ['listener', 'status'] as const,
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'aos_control_http_request_duration_seconds',
    help: 'HTTP request time, arrival to the end of the answer, by listener (snapshot streams are not timed)',
    labelNames: ['listener'] as const,
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });

  const approvals = new Counter({
    name: 'aos_control_approvals_total',
    help: "Approvals of gateways' calls by outcome through this replica: requested, approved, denied, used (let its call through); webhook_failed: a webhook not told",
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  for (const o of ['requested', 'approved', 'denied', 'used']) approvals.labels(o).inc(0);
  new Gauge({
    name: 'aos_control_approvals_pending',
    help: 'Approvals waiting for a decision (read from the store at each scrape)',
    registers: [registry],
    async collect() {
      const read = opts.pendingApprovals;
      if (read === undefined) return;
      try {
        this.set(await read());
      } catch {
        // aos_control_store_up says the store could not be read; this keeps its last value
      }
    },
  });

  // The labels of a fixed set, bound once.
  const ackChildren = { true: acks.labels('true'), false: acks.labels('false') };
  const stored = records.labels('stored');
  const duplicates = records.labels('duplicate');
  const refusedBy = { gap: refusals.labels('gap'), broken: refusals.labels('broken') };
  for (const c of [stored, duplicates, ...Object.values(refusedBy), ...Object.values(ackChildren)]) c.inc(0);

  return {
    registry,
    changed: (action) => changes.labels(action).inc(),
    pushed: () => pushes.inc(),
    approval: (outcome) => approvals.labels(outcome).inc(),
    acked: (ok) => ackChildren[`${ok}`].inc(),
    ingested(result) {
      if (result.stored > 0) stored.inc(result.stored);
      if (result.duplicates > 0) duplicates.inc(result.duplicates);
      if (result.refused !== null) refusedBy[result.refused.kind].inc();
    },
    serve(listener, handler, untimed) {
      const timer = durations.labels(listener);
      return (req, res) => {
        const start = process.hrtime.bigint();
        const timed = untimed === undefined || !untimed(req);
        res.once('close', () => {
          requests.labels(listener, statusClass(res)).inc();
          if (timed) timer.observe(Number(process.hrtime.bigint() - start) / 1e9);
        });
        handler(req, res);
      };
    },
  };
}
