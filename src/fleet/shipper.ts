import type { AuditStore, StoredRow } from '../audit/store.js';
import type { ControlPlaneConfig } from '../config/schema.js';
import { type AuditBatchResult, GATEWAY_PATHS, type HelloResponse } from '../control/protocol.js';
import type { Logger } from '../log.js';
import { type ControlClient, ControlPlaneError, RawJson } from './client.js';
import type { FleetMetrics } from './metrics.js';

/**
 * Audit shipping: the committed records of audit.db after the control plane's cursor, in chain
 * order, in batches, on a timer (off the request path: nothing is done per call). The cursor comes
 * from the control plane (hello's `auditSeq`, each batch's `acked`, a 409's `expected`), so shipping
 * resumes where it holds records after any restart, crash or failover. Memory: one batch.
 */
export interface Shipper {
  /** The control plane's view after a hello: resume after its last record. */
  resume(hello: HelloResponse): void;
  /** Records committed and not yet acknowledged (0 before the first hello). */
  backlog(): number;
  /** Why shipping stopped, when it did (a chain that does not match the control plane's). */
  problem(): string | null;
  /** Ships everything committed, up to `timeoutMs`; resolves with what is left. */
  drain(timeoutMs: number): Promise<number>;
  stop(): void;
}

export function createShipper(opts: { client: ControlClient; config: ControlPlaneConfig['audit']; store: AuditStore; log: Logger; metrics: FleetMetrics }): Shipper {
  const { client, config, store, log, metrics } = opts;
  let cursor: number | null = null;
  let problem: string | null = null;
  let busy: Promise<void> | null = null;
  let failedAt = 0;
  let stopped = false;

  const headSeq = () => store.chain().head_seq;
  const shipBatch = async (): Promise<boolean> => {
    const from = cursor!;
    const rows = [...store.rows({ afterSeq: from, limit: config.batchSize })];
    if (rows.length === 0) return false;
    if (rows[0].seq !== from + 1) {
      problem = `local records after seq ${from} were deleted by retention before they were shipped (next local seq ${rows[0].seq})`;
      log.error(`fleet: audit shipping stopped: ${problem}`);
      return false;
    }
    try {
      const result = await client.post<AuditBatchResult>(GATEWAY_PATHS.audit, batchOf(rows), Math.max(config.intervalMs, 10_000));
      if (cursor === from) cursor = result.acked;
      metrics.shipped(Math.max(0, result.acked - from));
      metrics.acked(result.acked);
      return result.acked > from;
    } catch (err) {
      const expected = expectedOf(err);
      if (expected !== null) {
        log.warn('fleet: the control plane expects audit records from another seq; resending from there', { sent: from + 1, expected });
        cursor = expected - 1;
        return true;
      }
      if (err instanceof ControlPlaneError && err.status === 422) {
        // The control plane holds another chain for this id, or a record does not verify: resending cannot fix it.
        problem = `the control plane refused the audit chain: ${err.message}`;
        log.error(`fleet: audit shipping stopped: ${problem}`);
        return false;
      }
      if (Date.now() - failedAt > 10_000) log.warn('fleet: audit batch not delivered; retrying', { error: (err as Error).message });
      failedAt = Date.now();
      return false;
    }
  };
  const tick = (): Promise<void> => {
    if (busy !== null) return busy;
    if (cursor === null || problem !== null || stopped) return Promise.resolve();
    busy = (async () => {
      try {
        while (!stopped && (await shipBatch()));
      } finally {
        busy = null;
      }
    })();
    return busy;
  };
  const timer = setInterval(() => void tick(), config.intervalMs);
  timer.unref();

  return {
    resume(hello) {
      if (stopped) return;
      const head = store.chain();
      if (hello.auditSeq > head.head_seq) {
        problem = `the control plane holds audit records up to seq ${hello.auditSeq} for gateway ${client.id}, this data folder only up to ${head.head_seq}: two gateways share an id, or the data folder was replaced`;
      } else if (hello.auditSeq > 0) {
        const row = [...store.rows({ afterSeq: hello.auditSeq - 1, limit: 1 })][0];
        if (row !== undefined && row.seq === hello.auditSeq && row.hash !== hello.auditHash)
          problem = `the control plane's audit record ${hello.auditSeq} of gateway ${client.id} is not this data folder's`;
      }
      if (problem !== null) {
        log.error(`fleet: audit shipping stopped: ${problem}`);
        return;
      }
      cursor = hello.auditSeq;
      metrics.acked(cursor);
      void tick();
    },
    backlog: () => (cursor === null ? 0 : Math.max(0, headSeq() - cursor)),
    problem: () => problem,
    async drain(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline && problem === null) {
        if (cursor !== null) {
          await tick();
          if (headSeq() <= cursor) return 0;
        }
        await new Promise((r) => setTimeout(r, Math.min(100, config.intervalMs)));
      }
      return cursor === null ? headSeq() : Math.max(0, headSeq() - cursor);
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** A 409's `expected`: the seq the control plane wants next. */
function expectedOf(err: unknown): number | null {
  if (!(err instanceof ControlPlaneError) || err.status !== 409) return null;
  const body = err.body as { expected?: unknown; error?: { expected?: unknown } } | null;
  const v = body?.expected ?? body?.error?.expected;
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : null;
}

/**
 * An audit batch's JSON, `{"records": [...]}`, made from the stored bodies as they are: each is the
 * event's canonical JSON object, to which the record's seq and chain links are appended. Parsing
 * and serializing every event again would cost the request thread a few milliseconds a batch.
 */
function batchOf(rows: readonly StoredRow[]): RawJson {
  let out = '{"records":[';
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    out += `${i === 0 ? '' : ','}${r.body.slice(0, -1)},"seq":${r.seq},"prev_hash":"${r.prev_hash}","hash":"${r.hash}"}`;
  }
  return new RawJson(`${out}]}`);
}
