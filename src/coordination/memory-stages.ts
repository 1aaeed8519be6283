import type { OutgoingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { sha256Hex } from '../audit/canonical.js';
import type { MemoryConfig } from '../config/memory-schema.js';
import { ERRORS, type ErrorCode, GatewayError, renderError } from '../errors.js';
import type { CallContext, Outcome, Stage } from '../pipeline/context.js';
import type { MemoryRecord } from '../providers/dialect.js';
import { checkMcpHeaders, parseMcpMessage } from '../providers/mcp.js';
import type { ToolMatch } from '../routing/target.js';
import type { WriteBarrier } from '../store/write-barrier.js';
import { agentRevision, REV_STATELESS } from '../tools/mcp-revisions.js';
import { tapAfter, tapData, tapEnd } from '../upstream/tap.js';
import { type McpAsk, mcpAsk, toolResult } from './memory-mcp.js';
import type { MemoryMetrics } from './memory-metrics.js';
import { encodeCursor, etagOf, type MemoryOp, memoryOp } from './memory-ops.js';
import { type MemoryDoc, type MemoryStore, type Precondition, searchText } from './memory-store.js';

export interface MemoryStageOptions {
  config: MemoryConfig;
  store: MemoryStore;
  metrics: MemoryMetrics;
  /** The write barrier: a write is applied only once its audit intent is written (null: written at once). */
  barrier: WriteBarrier | null;
}

/** Shared memory's own stages, composed around the shared ones (pipeline/compose.ts). */
export interface MemoryStages {
  /** After the body is read: the operation, namespace and key checked, the call described for the guardrails and the policy. */
  describe: Stage;
  /** Last: the operation done on the store and answered (REST or the MCP tool's result). */
  answer: Stage;
}

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\b/i;
type MemoryMatch = ToolMatch & { kind: 'memory' };
/** The operations, as metric labels (an MCP call naming another tool counts as `unknown`). */
const OPS = new Set(['get', 'put', 'delete', 'list', 'search']);

/** What the describe stage found, for the answer stage (one per request). */
type Ask = { via: 'rest'; op: MemoryOp } | { via: 'mcp'; ask: McpAsk; revision: string };

/** The stored form of a document: compact JSON. */
const stored = (value: unknown): string => JSON.stringify(value);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const quoted = (etag: string) => `"${etag}"`;

/** The outcome label of a memory operation that did not reach the store (or failed in it). */
function refusedOutcome(code: string): string {
  if (code === 'client_aborted') return 'aborted';
  if (code === 'aos_memory_unavailable') return 'unavailable';
  if (code === 'aos_memory_invalid_key' || code === 'aos_payload_too_large' || code === 'aos_bad_request' || code === 'aos_unsupported_media_type' || code === 'aos_invalid_arguments')
    return 'invalid';
  const status = code in ERRORS ? ERRORS[code as ErrorCode].status : 500;
  return status >= 400 && status < 500 ? 'denied' : 'error';
}

/**
 * Shared memory's stages (docs/coordination.md#shared-memory), around the shared ones: identity,
 * body, **describe**, guardrails, policy, rate limits, **answer**. Describe checks the operation
 * (namespace, key, preconditions, TTL, size) and puts it on the call for the guardrails (a write's
 * document, as `{value}`) and the policy (`call.memory`); answer runs it on the store once the call
 * is decided, and replies: the REST API with JSON documents and ETags, the MCP server with a tool
 * result. The audit event gets the value's SHA-256 and size, never the value.
 */
export function createMemoryStages(opts: MemoryStageOptions): MemoryStages {
  const { config, store, metrics, barrier } = opts;
  const asks = new WeakMap<CallContext, Ask>();

  /** Counts the operation when the request ends, whatever came of it (`op` is named once known; null: not an operation). */
  const count = (ctx: CallContext, counted: { op: string | null }) => {
    ctx.onFinish((outcome: Outcome, c: CallContext) => {
      if (counted.op === null) return;
      const r = c.call?.memoryRecord;
      metrics.op(counted.op, r !== undefined ? r.outcome : refusedOutcome(c.errorCode ?? (outcome.status >= 400 ? 'aos_internal_error' : 'client_aborted')));
    });
  };

  /** The call as the guardrails and the policy see it. */
  const describeOp = (ctx: CallContext, op: MemoryOp, value: unknown) => {
    if (op.op === 'put') {
      const text = stored(value);
      if (Buffer.byteLength(text) > config.maxValueBytes) throw new GatewayError('aos_payload_too_large', `the document is over memory.maxValueBytes (${config.maxValueBytes} bytes)`);
      op.value = text;
      // As an object, so that a document that is one string is scanned (and redacted) too.
      ctx.json = { value };
    }
    ctx.call = {
      kind: 'memory',
      operation: `memory.${op.op}`,
      model: null,
      stream: false,
      maxTokens: null,
      tool: null,
      memory: {
        namespace: op.namespace,
        scope: op.scope,
        name: op.name,
        access: op.op === 'put' || op.op === 'delete' ? 'write' : 'read',
        key: op.key,
        prefix: op.op === 'list' ? op.prefix : null,
        bytes: op.value === null ? null : Buffer.byteLength(op.value),
        ttl_seconds: op.ttlMs === null ? null : op.ttlMs / 1000,
        // Only where it decides (a workflow namespace): a workflow id per call would defeat the decision cache elsewhere.
        workflow: op.scope === 'workflow' ? ctx.workflowId : null,
      },
    };
  };

  const describeRest = (ctx: CallContext, m: MemoryMatch) => {
    const h = ctx.req.headers;
    const method = ctx.req.method;
    const query = new URLSearchParams(ctx.query.slice(1));
    const opName = method === 'PUT' ? 'put' : method === 'DELETE' ? 'delete' : m.key !== null ? 'get' : query.has('q') ? 'search' : 'list';
    count(ctx, { op: opName });
    if (opName === 'search') ctx.route = { ...ctx.route!, name: 'memory/search' };
    const ifMatch = h['if-match'];
    const ifNoneMatch = h['if-none-match'];
    let condition: Precondition | undefined;
    if (opName === 'put' || opName === 'delete') {
      if (ifMatch !== undefined && ifNoneMatch !== undefined) throw new GatewayError('aos_bad_request', 'If-Match and If-None-Match exclude each other');
      if (ifMatch !== undefined) condition = ifMatch.trim() === '*' ? { kind: 'any' } : { kind: 'match', etag: etagOf(ifMatch, 'If-Match') };
      else if (ifNoneMatch !== undefined) {
        if (ifNoneMatch.trim() !== '*' || opName !== 'put') throw new GatewayError('aos_bad_request', 'a write takes If-None-Match: * only (create only)');
        condition = { kind: 'absent' };
      }
    }
    const ttl = h['x-aos-ttl-seconds'] ?? query.get('ttl');
    const op = memoryOp(config, {
      op: opName,
      namespace: m.namespace,
      key: m.key,
      condition,
      ifNoneMatch: opName === 'get' && ifNoneMatch !== undefined ? etagOf(ifNoneMatch, 'If-None-Match') : null,
      ttlSeconds: ttl ?? undefined,
      prefix: query.get('prefix') ?? undefined,
      cursor: query.get('cursor') ?? undefined,
      limit: query.get('limit') ?? undefined,
      query: query.get('q') ?? undefined,
    });
    let value: unknown;
    if (op.op === 'put') {
      const body = ctx.body;
      if (body === null || body.length === 0) throw new GatewayError('aos_bad_request', 'a PUT needs the document as a JSON body');
      if (body.length > config.maxValueBytes) throw new GatewayError('aos_payload_too_large', `the document is over memory.maxValueBytes (${config.maxValueBytes} bytes)`);
      const type = h['content-type'];
      if (type !== undefined && !JSON_TYPE.test(type)) throw new GatewayError('aos_unsupported_media_type', `expected content-type application/json, got ${JSON.stringify(type.slice(0, 100))}`);
      try {
        value = JSON.parse(body.toString('utf8'));
      } catch (err) {
        throw new GatewayError('aos_bad_request', `the document is not valid JSON: ${(err as Error).message}`);
      }
    }
    asks.set(ctx, { via: 'rest', op });
    describeOp(ctx, op, value);
  };

  const describeMcp = (ctx: CallContext) => {
    const counted: { op: string | null } = { op: null };
    count(ctx, counted);
    if (ctx.body === null || ctx.body.length === 0) throw new GatewayError('aos_bad_request', 'an MCP POST needs a JSON-RPC message');
    const type = ctx.req.headers['content-type'];
    if (type !== undefined && !JSON_TYPE.test(type)) throw new GatewayError('aos_unsupported_media_type', `expected content-type application/json, got ${JSON.stringify(type.slice(0, 100))}`);
    let json: unknown;
    try {
      json = JSON.parse(ctx.body.toString('utf8'));
    } catch (err) {
      throw new GatewayError('aos_bad_request', `the request body is not valid JSON: ${(err as Error).message}`);
    }
    const msg = parseMcpMessage(json);
    if (msg.type === 'request') ctx.rpcId = msg.id;
    if (msg.type === 'request' && msg.method === 'tools/call') counted.op = OPS.has(msg.params?.name as string) ? (msg.params!.name as string) : 'unknown';
    checkMcpHeaders(ctx.req.headers, msg);
    const revision = agentRevision(ctx.req.headers['mcp-protocol-version'], msg.type === 'response' ? null : msg.params);
    // The stateless revision requires Mcp-Method on every request, as on every MCP route.
    if (revision === REV_STATELESS && msg.type === 'request' && ctx.req.headers['mcp-method'] === undefined)
      throw new GatewayError('aos_bad_request', `a ${REV_STATELESS} request needs the Mcp-Method header`);
    const ask = mcpAsk(config, msg, revision);
    asks.set(ctx, { via: 'mcp', ask, revision });
    if (ask.kind !== 'op') {
      // Protocol messages (initialize, ping, tools/list) and notifications: nothing to decide.
      ctx.call = { kind: 'mcp', operation: msg.type === 'request' ? msg.method : msg.type, model: null, stream: false, maxTokens: null, tool: null, undecided: true };
      return;
    }
    ctx.route = { ...ctx.route!, name: `memory/${ask.op.op}` };
    describeOp(ctx, ask.op, ask.value);
  };

  const describe: Stage = function memoryDescribeStage(ctx) {
    const m = ctx.route!.tool as MemoryMatch;
    if (m.mcp) describeMcp(ctx);
    else describeRest(ctx, m);
  };

  /** Sends an answer through the call's response taps (the audit record hashes what the client got). */
  const reply = (ctx: CallContext, status: number, headers: OutgoingHttpHeaders, body: string | null) => {
    headers['x-aos-request-id'] = ctx.id;
    let out: Buffer | null = body === null ? null : Buffer.from(body);
    const taps = ctx.taps;
    if (taps !== null) {
      for (const t of taps) t.onStart?.(status, headers);
      const data = out === null ? null : tapData(taps, out);
      const tail = tapEnd(taps);
      out = data === null ? tail : tail === null ? data : Buffer.concat([data, tail]);
    }
    if (out !== null) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = out.length;
    }
    ctx.answered = true;
    ctx.res.writeHead(status, headers);
    ctx.res.end(out ?? undefined);
    if (taps !== null) tapAfter(taps);
  };

  /** Runs the operation on the store; the store's time is the call's "upstream" time. */
  const run = async (ctx: CallContext, op: MemoryOp): Promise<Result> => {
    // The decided hooks: the audit intent is queued and the span started; a write waits until its intent is written.
    ctx.forwarding();
    if (op.op === 'put' || op.op === 'delete') {
      const durable = barrier?.ready() ?? null;
      if (durable !== null) await durable;
    }
    // A kill switch that cut the call once it was decided: refused, as a forwarded call would be.
    if (ctx.cutBy !== null) throw ctx.cutBy;
    if (op.op === 'put' && ctx.jsonChanged) op.value = stored((ctx.json as { value: unknown }).value);
    ctx.upstreamStart = performance.now();
    try {
      return await execute(op);
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('aos_memory_unavailable', `the memory store (${store.name}) did not answer: ${(err as Error).message}`, { cause: err });
    } finally {
      ctx.upstreamEnd = performance.now();
      metrics.storeSeconds(op.op, (ctx.upstreamEnd - ctx.upstreamStart) / 1000);
    }
  };

  const execute = async (op: MemoryOp): Promise<Result> => {
    const { namespace: ns } = op;
    switch (op.op) {
      case 'get': {
        const doc = await store.get(ns, op.key!);
        if (doc === null) return notFound(op);
        metrics.bytes('read', Buffer.byteLength(doc.value));
        return { outcome: 'ok', doc, record: record(op, 'ok', doc.etag, doc.value, null) };
      }
      case 'put': {
        const value = op.value!;
        const w = await store.put(ns, op.key!, { value, text: searchText(op.key!, JSON.parse(value)), ttlMs: op.ttlMs, condition: op.condition });
        if (!w.ok) return refused(op, w.reason === 'required' ? 'precondition_required' : 'precondition_failed', w.etag);
        metrics.bytes('written', Buffer.byteLength(value));
        return { outcome: 'ok', put: { etag: w.etag, created: w.created, expiresMs: w.expiresMs, bytes: Buffer.byteLength(value) }, record: record(op, 'ok', w.etag, value, null) };
      }
      case 'delete': {
        const d = await store.delete(ns, op.key!, op.condition);
        if (!d.ok) return d.reason === 'missing' && op.condition.kind !== 'match' ? notFound(op) : refused(op, 'precondition_failed', d.etag);
        return { outcome: 'ok', record: record(op, 'ok', d.etag, null, null) };
      }
      case 'list': {
        const page = await store.list(ns, op.prefix, op.after, op.limit);
        return {
          outcome: 'ok',
          payload: {
            namespace: ns,
            items: page.items.map((i) => ({ key: i.key, etag: i.etag, bytes: i.bytes, updated_at: iso(i.updatedMs), expires_at: iso(i.expiresMs) })),
            next_cursor: page.next === null ? null : encodeCursor(page.next),
          },
          record: record(op, 'ok', null, null, page.items.length),
        };
      }
      case 'search': {
        const found = await store.search(ns, op.terms, op.limit, config.searchMaxScan);
        let bytes = 0;
        const items = found.items.map((d) => {
          bytes += Buffer.byteLength(d.value);
          return { key: d.key, etag: d.etag, updated_at: iso(d.updatedMs), expires_at: iso(d.expiresMs), value: JSON.parse(d.value) as unknown };
        });
        metrics.bytes('read', bytes);
        const r = record(op, 'ok', null, null, items.length);
        r.value_bytes = bytes;
        return { outcome: 'ok', payload: { namespace: ns, items, truncated: found.truncated }, record: r };
      }
    }
  };

  const answer: Stage = function memoryAnswerStage(ctx) {
    const ask = asks.get(ctx);
    if (ask === undefined) return;
    if (ask.via === 'mcp' && ask.ask.kind !== 'op') {
      if (ask.ask.kind === 'accepted') reply(ctx, 202, {}, null);
      else reply(ctx, 200, {}, JSON.stringify({ jsonrpc: '2.0', id: ctx.rpcId, result: ask.ask.result }));
      return;
    }
    const op = ask.via === 'rest' ? ask.op : (ask.ask as McpAsk & { kind: 'op' }).op;
    return run(ctx, op).then((r) => {
      ctx.call!.memoryRecord = r.record;
      if (ask.via === 'rest') answerRest(ctx, op, r);
      else answerMcp(ctx, op, r, ask.revision);
    });
  };

  const answerRest = (ctx: CallContext, op: MemoryOp, r: Result) => {
    if (r.outcome !== 'ok') {
      const err = new GatewayError(r.code, r.message);
      const headers: OutgoingHttpHeaders = { 'x-aos-error-code': r.code };
      if (r.etag !== null) headers.etag = quoted(r.etag);
      reply(ctx, err.status, headers, renderError(err, ctx.dialect));
      return;
    }
    if (r.doc !== undefined) {
      const d = r.doc;
      const headers: OutgoingHttpHeaders = { etag: quoted(d.etag), 'last-modified': new Date(d.updatedMs).toUTCString(), 'cache-control': 'no-store' };
      if (d.expiresMs !== null) headers['x-aos-expires-at'] = iso(d.expiresMs)!;
      if (op.ifNoneMatch !== null && (op.ifNoneMatch === d.etag || op.ifNoneMatch === '*')) reply(ctx, 304, headers, null);
      else reply(ctx, 200, headers, d.value);
      return;
    }
    if (r.put !== undefined) {
      const p = r.put;
      reply(
        ctx,
        p.created ? 201 : 200,
        { etag: quoted(p.etag) },
        JSON.stringify({ namespace: op.namespace, key: op.key, etag: p.etag, bytes: p.bytes, created: p.created, expires_at: iso(p.expiresMs) }),
      );
      return;
    }
    if (op.op === 'delete') reply(ctx, 204, {}, null);
    else reply(ctx, 200, { 'cache-control': 'no-store' }, JSON.stringify(r.payload));
  };

  const answerMcp = (ctx: CallContext, op: MemoryOp, r: Result, revision: string) => {
    let result: Record<string, unknown>;
    if (r.outcome !== 'ok') result = toolResult({ code: r.code, message: r.message, etag: r.etag }, true, revision);
    else if (r.doc !== undefined) {
      const d = r.doc;
      result = toolResult({ namespace: op.namespace, key: d.key, etag: d.etag, value: JSON.parse(d.value) as unknown, updated_at: iso(d.updatedMs), expires_at: iso(d.expiresMs) }, false, revision);
    } else if (r.put !== undefined) {
      const p = r.put;
      result = toolResult({ namespace: op.namespace, key: op.key, etag: p.etag, bytes: p.bytes, created: p.created, expires_at: iso(p.expiresMs) }, false, revision);
    } else if (op.op === 'delete') result = toolResult({ namespace: op.namespace, key: op.key, deleted: true }, false, revision);
    else result = toolResult(r.payload!, false, revision);
    reply(ctx, 200, {}, JSON.stringify({ jsonrpc: '2.0', id: ctx.rpcId, result }));
  };

  return { describe, answer };
}

type Result =
  | {
      outcome: 'ok';
      record: MemoryRecord;
      doc?: MemoryDoc;
      put?: { etag: string; created: boolean; expiresMs: number | null; bytes: number };
      payload?: Record<string, unknown>;
    }
  | { outcome: 'not_found' | 'precondition_failed' | 'precondition_required'; code: ErrorCode; message: string; etag: string | null; record: MemoryRecord };

function record(op: MemoryOp, outcome: string, etag: string | null, value: string | null, results: number | null): MemoryRecord {
  return {
    namespace: op.namespace,
    key: op.key,
    etag,
    value_sha256: value === null ? null : sha256Hex(value),
    value_bytes: value === null ? null : Buffer.byteLength(value),
    results,
    outcome,
  };
}

const where = (op: MemoryOp) => `${op.namespace}/${op.key}`;

function notFound(op: MemoryOp): Result {
  return { outcome: 'not_found', code: 'aos_memory_not_found', message: `no document at ${where(op)}`, etag: null, record: record(op, 'not_found', null, null, null) };
}

function refused(op: MemoryOp, outcome: 'precondition_failed' | 'precondition_required', etag: string | null): Result {
  const message =
    outcome === 'precondition_required'
      ? `${where(op)} exists: an update needs If-Match with its current ETag (or If-Match: * to overwrite any version)`
      : op.condition.kind === 'absent'
        ? `${where(op)} exists (If-None-Match: *)`
        : etag === null
          ? `no document at ${where(op)} to match (If-Match)`
          : `${where(op)} is at another version than If-Match says: read it again and retry`;
  return {
    outcome,
    code: outcome === 'precondition_required' ? 'aos_memory_precondition_required' : 'aos_memory_precondition_failed',
    message,
    etag,
    record: record(op, outcome, etag, null, null),
  };
}
