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
import { type AuditBatchResult, GATEWAY_PATHS, type HelloRequest, type HelloResponse } from './protocol.js';
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
    }
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://control');
    handle(req, res, url).catch((err: unknown) => sendError(res, err, log));
  };
}
