/**
 * The gateway API (protocol.ts GATEWAY_PATHS): hello, the snapshot stream, acks and audit
 * shipping. Every request is authenticated as a gateway first (auth.ts); all but hello need the
 * gateway to have said hello.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditRecord } from '../audit/event.js';
import type { Logger } from '../log.js';
import type { GatewayCaller } from './auth.js';
import { badRequest, ControlHttpError, conflict, notFound } from './errors.js';
import { field, readJson, sendError, sendJson } from './http.js';
import type { Hub } from './hub.js';
import type { ControlMetrics } from './metrics.js';
import { type ApprovalAcquire, type ApprovalView, type AuditBatchResult, GATEWAY_PATHS, type HelloRequest, type HelloResponse } from './protocol.js';
import type { ControlStore } from './store.js';

export interface GatewayApiOptions {
  store: ControlStore;
  hub: Hub;
  log: Logger;
  authenticate(req: IncomingMessage): Promise<GatewayCaller>;
  metrics: Pick<ControlMetrics, 'acked' | 'ingested'>;
  maxBodyBytes: number;
  /** Records per audit batch at most. */
  maxBatch?: number;
  /** Told of every approval a gateway's call created (the webhook, the metrics), and of every one used. */
  approvals?: { requested(a: ApprovalView): void; used(a: ApprovalView): void };
}

/** The longest the control plane holds an approval long poll. */
const MAX_WAIT_MS = 30_000;
const SHA256 = /^[0-9a-f]{64}$/;

function acquireOf(body: unknown): ApprovalAcquire {
  const o = field.object(body, 'approval');
  if (typeof o.requestHash !== 'string' || !SHA256.test(o.requestHash)) throw badRequest('requestHash: expected SHA-256 hex');
  const approvalId = o.approvalId ?? null;
  if (approvalId !== null && (typeof approvalId !== 'string' || approvalId.length > 200)) throw badRequest('approvalId: expected a string or null');
  const request = o.request ?? null;
  if (JSON.stringify(request).length > 16_384) throw badRequest('request: the summary is over 16 KiB');
  return {
    agentId: field.string(o, 'agentId', { max: 256 }),
    requestHash: o.requestHash,
    request,
    approvalId,
    timeoutSeconds: field.int(o.timeoutSeconds, 'timeoutSeconds', 1),
    ttlSeconds: field.int(o.ttlSeconds, 'ttlSeconds', 1),
  };
}

const HASH = /^[0-9a-f]{64}$/;

function helloOf(body: unknown, id: string): HelloRequest {
  const o = field.object(body, 'hello');
  if (o.id !== undefined && o.id !== id) throw badRequest(`id: "${String(o.id)}" differs from the ${'aos-gateway-id'} header "${id}"`);
  const policyRevision = o.policyRevision ?? null;
  if (policyRevision !== null && typeof policyRevision !== 'string') throw badRequest('policyRevision: expected a string or null');
  return {
    id,
    version: field.string(o, 'version', { max: 100 }),
    labels: field.stringMap(o.labels, 'labels'),
    snapshotVersion: field.int(o.snapshotVersion ?? 0, 'snapshotVersion'),
    policyRevision,
  };
}

/** The fields the store reads from each record; the rest is hashed as it came. */
function recordsOf(body: unknown, max: number): AuditRecord[] {
  const records = field.object(body, 'batch').records;
  if (!Array.isArray(records)) throw badRequest('records: expected an array');
  if (records.length > max) throw badRequest(`records: at most ${max} a batch, got ${records.length}`);
  let last = 0;
  return records.map((r: unknown, i) => {
    const o = field.object(r, `records[${i}]`);
    const seq = field.int(o.seq, `records[${i}].seq`, 1);
    if (seq <= last) throw badRequest(`records[${i}].seq: records must be in chain order (seq ${seq} after ${last})`);
    last = seq;
    if (typeof o.prev_hash !== 'string' || !HASH.test(o.prev_hash) || typeof o.hash !== 'string' || !HASH.test(o.hash)) throw badRequest(`records[${i}]: prev_hash and hash must be SHA-256 hex`);
    if (typeof o.id !== 'string' || typeof o.time !== 'string' || Number.isNaN(Date.parse(o.time))) throw badRequest(`records[${i}]: id and time (ISO 8601) are required`);
    if (typeof o.decision !== 'string' || typeof o.outcome !== 'string') throw badRequest(`records[${i}]: decision and outcome are required`);
    return o as unknown as AuditRecord;
  });
}

export function createGatewayApi(opts: GatewayApiOptions) {
  const { store, hub, log, metrics } = opts;
  const maxBatch = opts.maxBatch ?? 10_000;
  const known = (caller: GatewayCaller) => {
    if (caller.record === null) throw conflict(`gateway ${caller.id} has not said hello (POST ${GATEWAY_PATHS.hello} first)`);
  };

  // Long polls waiting on an approval: woken when a person decides it here, or (another replica
  // decided it) when the fleet version moves; each then reads the approval again.
  const waiters = new Map<string, Set<() => void>>();
  const wake = (id: string | null) => {
    for (const [key, set] of [...waiters]) {
      if (id !== null && key !== id) continue;
      waiters.delete(key);
      for (const fn of set) fn();
    }
  };
  store.onChange((action) => {
    if (action.action.startsWith('approval.')) wake(action.target);
  });
  store.onAnnounce(() => wake(null));

  /** The approval once it is no longer pending, or as it is after `timeoutMs` (or when the gateway hangs up). */
  async function awaitDecision(id: string, timeoutMs: number, res: ServerResponse): Promise<ApprovalView> {
    const deadline = Date.now() + Math.min(timeoutMs, MAX_WAIT_MS);
    for (;;) {
      const a = await store.approval(id);
      if (a === null) throw notFound(`no approval ${id}`);
      const left = deadline - Date.now();
      if (a.status !== 'pending' || left <= 0 || res.destroyed) return a;
      const until = Math.min(left, a.expiresAt === null ? left : Math.max(0, Date.parse(a.expiresAt) - Date.now()) + 5);
      await new Promise<void>((resolve) => {
        let set = waiters.get(id);
        if (set === undefined) {
          set = new Set();
          waiters.set(id, set);
        }
        const done = () => {
          clearTimeout(timer);
          res.off('close', done);
          waiters.get(id)?.delete(done);
          resolve();
        };
        const timer = setTimeout(done, until);
        res.once('close', done);
        set.add(done);
      });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
    const route = Object.values(GATEWAY_PATHS).find((p) => p === url.pathname);
    if (route === undefined) throw notFound(`no route ${url.pathname}`);
    const method = route === GATEWAY_PATHS.snapshots ? 'GET' : 'POST';
    if (req.method !== method) throw new ControlHttpError('control_method_not_allowed', `${route} takes ${method}`);
    const caller = await opts.authenticate(req);
    switch (route) {
      case GATEWAY_PATHS.hello: {
        const g = await store.hello(helloOf(await readJson(req, opts.maxBodyBytes), caller.id), caller);
        await hub.snapshot();
        log.info('gateway hello', { gateway: g.id, version: g.version, snapshotVersion: g.snapshotVersion });
        return sendJson(res, 200, { snapshotVersion: hub.version(), auditSeq: g.auditSeq, auditHash: g.auditHash } satisfies HelloResponse);
      }
      case GATEWAY_PATHS.snapshots: {
        known(caller);
        // An EventSource that reconnects says where it was with Last-Event-ID (the snapshot's version).
        const lastEventId = req.headers['last-event-id'];
        const after = Math.max(
          url.searchParams.has('after') ? field.int(url.searchParams.get('after'), 'after') : 0,
          typeof lastEventId === 'string' && lastEventId !== '' ? field.int(lastEventId, 'Last-Event-ID') : 0,
        );
        return hub.subscribe(caller.id, res, after);
      }
      case GATEWAY_PATHS.acks: {
        known(caller);
        const o = field.object(await readJson(req, opts.maxBodyBytes), 'ack');
        const version = field.int(o.version, 'version', 1);
        if (typeof o.ok !== 'boolean') throw badRequest('ok: expected a boolean');
        const error = o.ok ? null : field.string(o, 'error', { max: 4000 });
        await store.ack(caller.id, version, error);
        metrics.acked(error === null);
        if (error !== null) log.warn('gateway refused a snapshot', { gateway: caller.id, version, error });
        return sendJson(res, 200, { ok: true });
      }
      case GATEWAY_PATHS.audit: {
        known(caller);
        const records = recordsOf(await readJson(req, opts.maxBodyBytes), maxBatch);
        const result = await store.ingest(caller.id, records);
        metrics.ingested(result);
        const refused = result.refused;
        if (refused?.kind === 'gap') {
          throw new ControlHttpError('control_audit_gap', `records missing: expected seq ${refused.expected}`, { expected: refused.expected, acked: result.acked });
        }
        if (refused?.kind === 'broken') {
          log.error('audit chain broken on ingest', { gateway: caller.id, seq: refused.seq, message: refused.message });
          throw new ControlHttpError('control_chain_broken', refused.message, { seq: refused.seq, acked: result.acked });
        }
        return sendJson(res, 200, { acked: result.acked } satisfies AuditBatchResult);
      }
      case GATEWAY_PATHS.approvals: {
        known(caller);
        const result = await store.acquireApproval(acquireOf(await readJson(req, opts.maxBodyBytes)), caller.id);
        if (result.outcome === 'pending' && result.created) {
          log.info('approval requested', { approval: result.approval.id, agent: result.approval.agentId, gateway: caller.id });
          opts.approvals?.requested(result.approval);
        }
        if (result.outcome === 'use') opts.approvals?.used(result.approval);
        return sendJson(res, 200, result);
      }
      case GATEWAY_PATHS.approvalWait: {
        known(caller);
        const o = field.object(await readJson(req, opts.maxBodyBytes), 'wait');
        const id = field.string(o, 'id', { max: 200 });
        const approval = await awaitDecision(id, field.int(o.timeoutMs ?? MAX_WAIT_MS, 'timeoutMs', 0), res);
        if (res.destroyed) return;
        return sendJson(res, 200, { approval });
      }
    }
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://control');
    handle(req, res, url).catch((err: unknown) => sendError(res, err, log));
  };
}
