import { performance } from 'node:perf_hooks';
import type { AuditConfig, OtelConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { startWorker } from '../store/worker.js';
import type { WriteBarrier } from '../store/write-barrier.js';
import type { CallMetrics } from '../telemetry/call-metrics.js';
import { encodeEvent } from './canonical.js';
import type { AuditEvent } from './event.js';
import { type Journal, openJournal, type RecoveredLine, recoverJournal } from './journal.js';
import { type AuditStore, type EventColumns, openAuditStore, pushColumns } from './store.js';
import type { FromWriter, ToWriter, WriterInit } from './writer-worker.js';

/**
 * The audit writer. Durability in two steps, with one event row per call in the hash chain:
 * 1. before a call is forwarded, `intent()` appends its event (as decided) to the intent journal
 *    with one write(2): once that returns the record survives the process being killed;
 * 2. when the call ends, `complete()` queues the finished event (encoded canonically), and group
 *    commits (every `flushMs`, or at once when `batchSize` are waiting) go to the writer thread,
 *    which chains and inserts them in one transaction; its acknowledgement releases the journal lines.
 * At start, journal lines of a previous run without a stored event become events: an intent as
 * `interrupted` (the call may have reached its upstream; its outcome is unknown), a final event
 * (a refused call) as it was.
 */
export interface AuditTrail {
  /** The request thread's connection to audit.db: reads (query, verify, admin API). */
  readonly store: AuditStore;
  /** Journals a decided call before it is forwarded; returns its journal segment. */
  intent(event: AuditEvent): number;
  /** Queues the complete event of a call whose intent was journaled in `segment`. */
  complete(event: AuditEvent, segment: number): void;
  /** Journals and queues the event of a call that was never forwarded (refused, aborted). */
  final(event: AuditEvent): void;
  /** Sends what is queued to the writer; resolves once everything queued so far is committed. */
  flush(): Promise<void>;
  /** Events queued or being committed. */
  depth(): number;
  /** Runs retention now; resolves with how many events were deleted. */
  prune(): Promise<number>;
  /** Commits what is queued and stops the writer (journal segments go once all is committed). */
  close(): Promise<void>;
}

export interface AuditTrailOptions {
  dataDir: string;
  config: AuditConfig;
  log: Logger;
  metrics: CallMetrics;
  /** Audit events are also exported as OTel log records (by the writer thread). */
  otel?: OtelConfig | null;
  /** Intent lines are then written once per event-loop turn, before the turn's calls are forwarded. */
  barrier?: WriteBarrier | null;
  now?: () => number;
}

/** A commit sent to the writer and not yet acknowledged: its events themselves are the writer's (it retries a failed one). */
interface Sent {
  n: number;
  segments: number[];
  since: number;
}

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createAuditTrail(opts: AuditTrailOptions): AuditTrail {
  const { config, log, metrics } = opts;
  const now = opts.now ?? Date.now;
  const store = openAuditStore(opts.dataDir, config.file);
  const base = config.file;

  // A previous run's journal is replayed here, before the writer starts: the chain stays in order.
  const recovered = recoverJournal(opts.dataDir, base, (lines) => recover(store, lines, log, metrics));
  if (recovered > 0) log.info('audit journal replayed', { lines: recovered });
  const journal: Journal = openJournal(opts.dataDir, base, { barrier: opts.barrier ?? null });
  const worker = startWorker(import.meta.url, 'writer-worker', { dataDir: opts.dataDir, config, otel: opts.otel ?? null } satisfies WriterInit);

  let bodies: string[] = [];
  let columns: EventColumns[number][] = [];
  let segments: number[] = [];
  let oldest = 0;
  let timer: NodeJS.Timeout | null = null;
  let nextId = 1;
  let closed = false;
  let writerDead: Error | null = null;
  /** Commits sent and not yet acknowledged, in order. */
  const inflight = new Map<number, Sent>();
  let inflightEvents = 0;
  let idle: (() => void)[] = [];
  const prunes = new Map<number, (n: number) => void>();
  let closing: (() => void) | null = null;

  const settleIdle = () => {
    if (inflight.size === 0 && bodies.length === 0) {
      const waiting = idle;
      idle = [];
      for (const w of waiting) w();
    }
  };
  worker.on('message', (m: FromWriter) => {
    if (m.t === 'committed') {
      const b = inflight.get(m.id)!;
      inflight.delete(m.id);
      inflightEvents -= b.n;
      journal.committed(b.segments);
      metrics.committed(m.n, (performance.now() - b.since) / 1000);
      settleIdle();
    } else if (m.t === 'failed') {
      metrics.writeFailed();
      // The writer retries it; its events stay in the intent journal until then.
      log.error('audit commit failed; retrying (the intent journal keeps the calls)', { error: m.error, events: m.n });
    } else if (m.t === 'pruned') {
      if (m.error !== undefined) log.error('audit retention failed', { error: m.error });
      else if (m.n > 0) log.info('audit retention deleted old events', { events: m.n });
      prunes.get(m.id)?.(m.n);
      prunes.delete(m.id);
    } else if (m.t === 'dropped') {
      metrics.otelDropped(m.signal, m.reason, m.n);
    } else if (m.t === 'closed') {
      closing?.();
    }
  });
  worker.on('error', (err) => {
    writerDead = err;
    log.error('audit writer thread failed; calls stay in the intent journal and are recovered at the next start', { err });
  });
  worker.on('exit', () => {
    closing?.();
    for (const w of idle) w();
    idle = [];
  });

  // The writer never keeps the process alive: close() commits what is left.
  worker.unref();

  const flushNow = () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    if (bodies.length === 0 || writerDead !== null) return;
    const id = nextId++;
    inflight.set(id, { n: bodies.length, segments, since: oldest });
    inflightEvents += bodies.length;
    worker.postMessage({ t: 'commit', id, bodies: bodies.join('\n'), columns } satisfies ToWriter);
    bodies = [];
    columns = [];
    segments = [];
  };

  let warnedAt = 0;
  const enqueue = (event: AuditEvent, segment: number) => {
    if (closed) return;
    // A writer that is gone or far behind: the event stays in the intent journal (never lost) and
    // is recovered at the next start; memory stays bounded.
    if (writerDead !== null || bodies.length + inflightEvents >= config.maxQueue) {
      if (Date.now() - warnedAt > 10_000) {
        warnedAt = Date.now();
        log.warn('audit writer behind: events kept in the intent journal until the next start', { queued: bodies.length + inflightEvents, writerFailed: writerDead !== null });
      }
      return;
    }
    if (bodies.length === 0) oldest = performance.now();
    bodies.push(encodeEvent(event));
    pushColumns(columns, event);
    segments.push(segment);
    if (bodies.length >= config.batchSize) flushNow();
    else if (timer === null) {
      timer = setTimeout(flushNow, config.flushMs);
      timer.unref();
    }
  };

  const prune = (): Promise<number> => {
    const r = config.retention;
    if ((r.maxAgeDays === 0 && r.maxSizeMb === 0) || writerDead !== null) return Promise.resolve(0);
    const id = nextId++;
    worker.postMessage({
      t: 'prune',
      id,
      beforeMs: r.maxAgeDays > 0 ? now() - r.maxAgeDays * 86_400_000 : undefined,
      maxBytes: r.maxSizeMb > 0 ? r.maxSizeMb * 1024 * 1024 : undefined,
    } satisfies ToWriter);
    return new Promise((resolve) => prunes.set(id, resolve));
  };
  void prune();
  const retention = setInterval(() => void prune(), config.retention.intervalSec * 1000);
  retention.unref();
  metrics.setQueueDepth(() => bodies.length + inflightEvents);

  return {
    store,
    intent: (event) => journal.intent(event),
    complete: enqueue,
    final(event) {
      enqueue(event, journal.append('F', event));
    },
    flush() {
      flushNow();
      if (inflight.size === 0 || writerDead !== null) return Promise.resolve();
      return new Promise((r) => idle.push(r));
    },
    depth: () => bodies.length + inflightEvents,
    prune,
    async close() {
      if (closed) return;
      clearInterval(retention);
      await this.flush();
      closed = true;
      const exited = new Promise<void>((r) => {
        closing = r;
      });
      // While closing, the writer (and the bounded wait for it) keep the process alive: a process
      // with nothing else to do must not exit before the last commit.
      worker.ref();
      worker.postMessage({ t: 'close' } satisfies ToWriter);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      await worker.terminate();
      journal.close(inflightEvents + bodies.length === 0);
      store.close();
    },
  };
}

/** Turns what a previous run journaled but never committed into events. */
function recover(store: AuditStore, lines: RecoveredLine[], log: Logger, metrics: CallMetrics): void {
  if (lines.length === 0) return;
  const latest = new Map<string, RecoveredLine>();
  for (const l of lines) {
    const seen = latest.get(l.event.id);
    if (seen === undefined || l.kind === 'F') latest.set(l.event.id, l);
  }
  const stored = store.existing([...latest.keys()]);
  const missing: AuditEvent[] = [];
  for (const [id, l] of latest) {
    if (stored.has(id)) continue;
    missing.push(l.kind === 'F' ? l.event : { ...l.event, outcome: 'interrupted', status: null, total_ms: null, upstream_ms: null, response_bytes: null, response_sha256: null });
  }
  missing.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 0; i < missing.length; i += 1000) store.append(missing.slice(i, i + 1000));
  if (missing.length > 0) {
    metrics.recovered(missing.length);
    log.warn('audit: recovered calls from the intent journal', { events: missing.length, interrupted: missing.filter((e) => e.outcome === 'interrupted').length });
  }
}
