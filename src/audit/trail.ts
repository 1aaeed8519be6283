import { performance } from 'node:perf_hooks';
import type { AuditConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { CallMetrics } from '../telemetry/call-metrics.js';
import type { AuditEvent, AuditRecord } from './event.js';
import { openJournal, recoverJournal, type Journal, type RecoveredLine } from './journal.js';
import { openAuditStore, type AuditStore } from './store.js';

/**
 * The audit writer. Durability in two steps, with one event row per call in the hash chain:
 * 1. before a call is forwarded, `intent()` appends its event (as decided) to the intent journal
 *    with one write(2): once that returns the record survives the process being killed;
 * 2. when the call ends, `complete()` queues the finished event, and group commits (every
 *    `flushMs`, or at once when `batchSize` are waiting) append the queue to the SQLite chain in one
 *    transaction, after which the journal lines are released.
 * At start, journal lines of a previous run without a stored event become events: an intent as
 * `interrupted` (the call may have reached its upstream; its outcome is unknown), a final event
 * (a refused call) as it was.
 */
export interface AuditTrail {
  readonly store: AuditStore;
  /** Journals a decided call before it is forwarded; returns its journal segment. */
  intent(event: AuditEvent): number;
  /** Queues the complete event of a call whose intent was journaled in `segment`. */
  complete(event: AuditEvent, segment: number): void;
  /** Journals and queues the event of a call that was never forwarded (refused, aborted). */
  final(event: AuditEvent): void;
  /** Commits what is queued now. */
  flush(): void;
  depth(): number;
  /** Runs retention now; returns how many events were deleted. */
  prune(): number;
  /** Flushes and closes (journal segments are deleted when everything was committed). */
  close(): void;
}

export interface AuditTrailOptions {
  dataDir: string;
  config: AuditConfig;
  log: Logger;
  metrics: CallMetrics;
  /** Committed records, e.g. for export as OTel log records. */
  onCommitted?: (records: readonly AuditRecord[]) => void;
  now?: () => number;
}

export function createAuditTrail(opts: AuditTrailOptions): AuditTrail {
  const { config, log, metrics } = opts;
  const now = opts.now ?? Date.now;
  const store = openAuditStore(opts.dataDir, config.file);
  const base = config.file;

  const recovered = recoverJournal(opts.dataDir, base, (lines) => recover(store, lines, log, metrics));
  if (recovered > 0) log.info('audit journal replayed', { lines: recovered });
  const journal: Journal = openJournal(opts.dataDir, base);

  let events: AuditEvent[] = [];
  let segments: number[] = [];
  let oldest = 0;
  let timer: NodeJS.Timeout | null = null;
  let immediate: NodeJS.Immediate | null = null;
  let closed = false;

  const flush = () => {
    if (timer !== null) clearTimeout(timer), (timer = null);
    if (immediate !== null) clearImmediate(immediate), (immediate = null);
    if (events.length === 0) return;
    const batch = events;
    const segs = segments;
    const since = oldest;
    events = [];
    segments = [];
    let records: AuditRecord[];
    try {
      records = store.append(batch);
    } catch (err) {
      metrics.writeFailed();
      log.error('audit commit failed; retrying (the intent journal keeps the calls)', { err, events: batch.length });
      // Put them back in front; they stay in the journal until committed.
      events = batch.concat(events);
      segments = segs.concat(segments);
      oldest = since;
      if (!closed) {
        timer = setTimeout(flush, Math.max(config.flushMs, 250));
        timer.unref();
      }
      return;
    }
    journal.committed(segs);
    metrics.committed(records.length, (performance.now() - since) / 1000);
    if (opts.onCommitted !== undefined) {
      try {
        opts.onCommitted(records);
      } catch (err) {
        log.error('audit export hook failed', { err });
      }
    }
  };

  const enqueue = (event: AuditEvent, segment: number) => {
    if (events.length === 0) oldest = performance.now();
    events.push(event);
    segments.push(segment);
    if (events.length >= config.maxQueue) return flush();
    if (events.length >= config.batchSize) {
      immediate ??= setImmediate(flush);
    } else if (timer === null) {
      timer = setTimeout(flush, config.flushMs);
    }
  };

  const prune = () => {
    const r = config.retention;
    if (r.maxAgeDays === 0 && r.maxSizeMb === 0) return 0;
    try {
      const n = store.prune({
        beforeMs: r.maxAgeDays > 0 ? now() - r.maxAgeDays * 86_400_000 : undefined,
        maxBytes: r.maxSizeMb > 0 ? r.maxSizeMb * 1024 * 1024 : undefined,
      });
      if (n > 0) log.info('audit retention deleted old events', { events: n });
      return n;
    } catch (err) {
      log.error('audit retention failed', { err });
      return 0;
    }
  };
  prune();
  const retention = setInterval(prune, config.retention.intervalSec * 1000);
  retention.unref();
  metrics.setQueueDepth(() => events.length);

  return {
    store,
    intent: (event) => journal.append('I', event),
    complete: enqueue,
    final(event) {
      enqueue(event, journal.append('F', event));
    },
    flush,
    depth: () => events.length,
    prune,
    close() {
      if (closed) return;
      clearInterval(retention);
      flush();
      closed = true;
      journal.close();
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
