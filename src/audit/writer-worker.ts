/**
 * The audit writer thread: receives group commits of canonically encoded events from the request
 * thread, chains (SHA-256) and inserts them into audit.db in one transaction each, exports them as
 * OTel spans (with the ids the request thread sent upstream) and log records, and runs retention. Keeps SQLite's CPU and I/O off the request thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AuditConfig, OtelConfig } from '../config/schema.js';
import { yieldToRequestThread } from '../store/worker.js';
import { createOtel } from '../telemetry/otel.js';
import type { AuditEvent } from './event.js';
import { COLUMNS, type EventColumns, openAuditStore, recordsOf } from './store.js';

export interface WriterInit {
  dataDir: string;
  config: AuditConfig;
  /** OTel export from audit events: a span per call, and the event as a log record. */
  otel: OtelConfig | null;
}

/**
 * A commit crosses the thread boundary as one string and one flat array (bodies joined by newlines,
 * which canonical JSON never contains; COLUMNS values per event): cloning one string costs a copy,
 * an array of strings and tuples costs an allocation per element on both sides.
 */
export type ToWriter = { t: 'commit'; id: number; bodies: string; columns: EventColumns[number][] } | { t: 'prune'; id: number; beforeMs?: number; maxBytes?: number } | { t: 'close' };
export type FromWriter =
  | { t: 'committed'; id: number; n: number }
  | { t: 'failed'; id: number; error: string }
  | { t: 'pruned'; id: number; n: number; error?: string }
  | { t: 'dropped'; signal: 'spans' | 'logs'; reason: 'queue_full' | 'export_failed'; n: number }
  | { t: 'closed' };

yieldToRequestThread();
const init = workerData as WriterInit;
const port = parentPort!;
const send = (m: FromWriter) => port.postMessage(m);
const store = openAuditStore(init.dataDir, init.config.file);
const otel = init.otel === null ? null : createOtel(init.otel, { spansFromEvents: true, onDrop: (signal, reason, n) => send({ t: 'dropped', signal, reason, n }) });

port.on('message', (m: ToWriter) => {
  if (m.t === 'commit') {
    try {
      const bodies = m.bodies.split('\n');
      const columns = new Array<EventColumns>(bodies.length);
      for (let i = 0; i < bodies.length; i++) columns[i] = m.columns.slice(i * COLUMNS, (i + 1) * COLUMNS) as EventColumns;
      const links = store.appendEncoded(bodies, columns);
      send({ t: 'committed', id: m.id, n: bodies.length });
      if (otel !== null) {
        // Parsed only for export: the commit itself needs the bodies and their columns alone.
        const records = recordsOf(
          bodies.map((b) => JSON.parse(b) as AuditEvent),
          links,
        );
        otel.spans?.emit(records);
        otel.logs?.emit(records, bodies);
      }
    } catch (err) {
      send({ t: 'failed', id: m.id, error: (err as Error).message });
    }
  } else if (m.t === 'prune') {
    try {
      send({ t: 'pruned', id: m.id, n: store.prune({ beforeMs: m.beforeMs, maxBytes: m.maxBytes }) });
    } catch (err) {
      send({ t: 'pruned', id: m.id, n: 0, error: (err as Error).message });
    }
  } else if (m.t === 'close') {
    store.close();
    const done = () => {
      send({ t: 'closed' });
      port.close();
    };
    if (otel === null) done();
    else void Promise.race([otel.shutdown(), new Promise((r) => setTimeout(r, Math.min(init.otel!.exportTimeoutMs, 2000)))]).then(done);
  }
});
