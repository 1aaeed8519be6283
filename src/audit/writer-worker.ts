/**
 * The audit writer thread: receives group commits of canonically encoded events from the request
 * thread, chains (SHA-256) and inserts them into audit.db in one transaction each (commits that
 * queued up behind each other, in one together), exports them as
 * OTel spans (with the ids the request thread sent upstream) and log records (OTLP JSON written from
 * the committed events, src/telemetry/otlp-events.ts), and runs retention. Keeps SQLite's CPU and I/O off the request thread.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { AuditConfig, OtelConfig } from '../config/schema.js';
import { yieldToRequestThread } from '../store/worker.js';
import { createEventExport } from '../telemetry/otlp-events.js';
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
  /** A transaction of `n` events rolled back; this thread retries it. */
  | { t: 'failed'; n: number; error: string }
  | { t: 'pruned'; id: number; n: number; error?: string }
  | { t: 'dropped'; signal: 'spans' | 'logs'; reason: 'queue_full' | 'export_failed'; n: number }
  | { t: 'closed' };

yieldToRequestThread();
const init = workerData as WriterInit;
const port = parentPort!;
const send = (m: FromWriter) => port.postMessage(m);
const store = openAuditStore(init.dataDir, init.config.file);
const otel = init.otel === null ? null : createEventExport(init.otel, { onDrop: (signal, reason, n) => send({ t: 'dropped', signal, reason, n }) });

type Commit = Extract<ToWriter, { t: 'commit' }>;

/** Most events one transaction takes when commits queued up behind each other. */
const MAX_MERGED = 4096;
/** How long a failed transaction waits before it is tried again (its commits first, in order). */
const RETRY_MS = 250;

/**
 * Commits whose transaction failed (disk full, a lock held past busy_timeout): this thread keeps
 * them and retries, so the request thread holds no event after sending it (only its count and
 * journal segments, until acknowledged). Later commits wait behind them: the chain keeps their order.
 */
let failed: Commit[] = [];
let retryTimer: NodeJS.Timeout | null = null;

port.on('message', (m: ToWriter) => drain(m));

/** Handles `m` and whatever its handling took off the port, in order. */
function drain(m: ToWriter | undefined): void {
  let next = m;
  while (next !== undefined) {
    if (next.t !== 'commit') next = handle(next);
    else if (retryTimer !== null) {
      // A retry is due: this commit waits behind the failed ones.
      failed.push(next);
      next = undefined;
    } else next = commit([next]);
  }
}

function retryFailed(): void {
  retryTimer = null;
  const commits = failed;
  failed = [];
  drain(commit(commits));
}

/**
 * Commits `commits` and those already queued behind it in one transaction. The writer yields
 * the core to the request thread, so under load commits wait for it; taken together, the pages
 * every commit rewrites (the table's last page, the time-ordered indexes') are written once.
 * Returns the first message of another kind it took off the port, to be handled next, in order.
 */
function commit(commits: Commit[]): ToWriter | undefined {
  /** Each commit's bodies. */
  const parts = commits.map((c) => c.bodies.split('\n'));
  let total = 0;
  for (const p of parts) total += p.length;
  let other: ToWriter | undefined;
  while (total < MAX_MERGED) {
    const queued = receiveMessageOnPort(port)?.message as ToWriter | undefined;
    if (queued === undefined) break;
    if (queued.t !== 'commit') {
      other = queued;
      break;
    }
    commits.push(queued);
    parts.push(queued.bodies.split('\n'));
    total += parts[parts.length - 1].length;
  }
  try {
    const bodies = parts.length === 1 ? parts[0] : parts.flat();
    const flat = commits.length === 1 ? commits[0].columns : commits.flatMap((c) => c.columns);
    const columns = new Array<EventColumns>(bodies.length);
    for (let i = 0; i < bodies.length; i++) columns[i] = flat.slice(i * COLUMNS, (i + 1) * COLUMNS) as EventColumns;
    const links = store.appendEncoded(bodies, columns);
    for (let i = 0; i < commits.length; i++) send({ t: 'committed', id: commits[i].id, n: parts[i].length });
    if (otel?.room()) {
      // Parsed only for export: the commit itself needs the bodies and their columns alone.
      const records = recordsOf(
        bodies.map((b) => JSON.parse(b) as AuditEvent),
        links,
      );
      otel.emit(records, bodies);
    } else if (otel !== null) {
      // Every export queue is full (the writer is behind, at saturation): counted, not parsed.
      otel.refuse(bodies);
    }
  } catch (err) {
    // The transaction rolled back whole: every commit in it is retried, first, after RETRY_MS.
    send({ t: 'failed', n: total, error: (err as Error).message });
    failed = commits;
    retryTimer = setTimeout(retryFailed, RETRY_MS);
  }
  return other;
}

function handle(m: Exclude<ToWriter, Commit>): undefined {
  if (m.t === 'prune') {
    try {
      send({ t: 'pruned', id: m.id, n: store.prune({ beforeMs: m.beforeMs, maxBytes: m.maxBytes }) });
    } catch (err) {
      send({ t: 'pruned', id: m.id, n: 0, error: (err as Error).message });
    }
  } else if (m.t === 'close') {
    // Commits still failing stay in the intent journal, replayed at the next start.
    if (retryTimer !== null) clearTimeout(retryTimer);
    store.close();
    const done = () => {
      send({ t: 'closed' });
      port.close();
    };
    if (otel === null) done();
    else void Promise.race([otel.shutdown(), new Promise((r) => setTimeout(r, Math.min(init.otel!.exportTimeoutMs, 2000)))]).then(done);
  }
  return undefined;
}
