import { Counter, Gauge, type Registry } from 'prom-client';

/** The fleet's metrics: sync with the control plane and audit shipping. */
export interface FleetMetrics {
  connected(up: boolean): void;
  applied(version: number): void;
  rejected(): void;
  shipped(n: number): void;
  acked(seq: number): void;
}

export function createFleetMetrics(registry: Registry, sources: { lastSyncMs: () => number | null; backlog: () => number }): FleetMetrics {
  const registers = [registry];
  const connected = new Gauge({ name: 'aos_fleet_connected', help: '1 while the snapshot stream of the control plane is open', registers });
  const version = new Gauge({ name: 'aos_fleet_snapshot_version', help: 'Version of the fleet snapshot in force (0: none)', registers });
  new Gauge({
    name: 'aos_fleet_sync_age_seconds',
    help: 'Seconds since the control plane was last heard from (a snapshot or a ping); -1 before the first time',
    registers,
    collect() {
      const at = sources.lastSyncMs();
      this.set(at === null ? -1 : (Date.now() - at) / 1000);
    },
  });
  const rejected = new Counter({ name: 'aos_fleet_snapshots_rejected_total', help: 'Fleet snapshots that failed validation or could not be applied (the last good one kept serving)', registers });
  const shipped = new Counter({ name: 'aos_fleet_audit_shipped_total', help: 'Audit records acknowledged by the control plane', registers });
  new Gauge({
    name: 'aos_fleet_audit_backlog',
    help: 'Committed audit records not yet acknowledged by the control plane',
    registers,
    collect() {
      this.set(sources.backlog());
    },
  });
  const acked = new Gauge({ name: 'aos_fleet_audit_acked_seq', help: 'The last audit seq the control plane acknowledged', registers });
  const ackedAt = new Gauge({ name: 'aos_fleet_audit_last_ack_timestamp_seconds', help: 'When the control plane last acknowledged audit records (Unix time)', registers });
  connected.set(0);
  version.set(0);
  return {
    connected: (up) => connected.set(up ? 1 : 0),
    applied: (v) => version.set(v),
    rejected: () => rejected.inc(),
    shipped: (n) => shipped.inc(n),
    acked(seq) {
      acked.set(seq);
      ackedAt.set(Date.now() / 1000);
    },
  };
}
