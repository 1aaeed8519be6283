import type { OutgoingHttpHeaders } from 'node:http';
import type { CacheConfig, CacheScope } from '../config/schema.js';
import type { Agent, AgentRegistry } from '../identity/registry.js';
import type { CallContext, Outcome, Stage } from '../pipeline/context.js';
import type { CacheMetrics } from '../telemetry/metrics.js';
import { type ResponseTap, tapAfter, tapData, tapEnd } from '../upstream/tap.js';
import { cacheKey } from './cache-key.js';
import type { CacheEntry, CacheStore } from './cache-store.js';

export interface CacheStageOptions {
  config: CacheConfig;
  store: CacheStore;
  registry: AgentRegistry | null;
  metrics: CacheMetrics;
}

/** What the calls of one agent do with the cache, resolved once per agent (its template's settings over the gateway's). */
interface AgentPlan {
  readonly on: boolean;
  readonly scope: CacheScope;
  /** The scope's key part: `team:payments`, `agent:a1`, `org`; entries of two scopes never share a key. */
  readonly scopeKey: string;
  readonly ttlMs: number;
}

const scopeKeyOf = (scope: CacheScope, agent: Agent | null): string => {
  if (scope === 'org') return 'org';
  if (agent === null) return `${scope}:-`;
  return `${scope}:${scope === 'agent' ? agent.id : scope === 'team' ? agent.team : agent.template}`;
};

/**
 * The response cache stage (docs/coordination.md), last before forwarding on model routes: after the
 * policy (a denied call, a suspended agent, a call waiting for an approval never gets here) and
 * after the budget reservation (a hit takes a rate-limit slot and is charged `chargeFraction` of
 * its cost when it settles). Only calls deterministic by their request are cached: temperature 0,
 * or `x-aos-cache: on`. A hit is answered here, through the call's response taps (metering reads the
 * stored usage, the audit record hashes what the client got), and nothing is forwarded; a miss
 * forwards with a tap that keeps the upstream's bytes, stored when a 200 answer ended whole.
 */
export function createCacheStage(opts: CacheStageOptions): Stage {
  const { config, store, registry, metrics } = opts;
  const planOf = (agent: Agent | null): AgentPlan => {
    const t = agent === null ? undefined : registry?.templates.get(agent.template)?.cache;
    const scope = t?.scope ?? config.scope;
    return { on: t?.mode !== 'off', scope, scopeKey: scopeKeyOf(scope, agent), ttlMs: (t?.ttlSeconds ?? config.ttlSeconds) * 1000 };
  };
  const anonymous = planOf(null);
  // Agents are resolved once per token (identity caches them), so the agent object is the key.
  const plans = new WeakMap<Agent, AgentPlan>();
  const plan = (agent: Agent | null): AgentPlan => {
    if (agent === null) return anonymous;
    let p = plans.get(agent);
    if (p === undefined) {
      p = planOf(agent);
      plans.set(agent, p);
    }
    return p;
  };

  const answer = (ctx: CallContext, p: AgentPlan, e: CacheEntry, body: Buffer, contentType: string): void => {
    ctx.cacheHit = { chargeFraction: config.chargeFraction };
    ctx.flag('cache_hit');
    ctx.streaming = contentType.startsWith('text/event-stream');
    // The decided hooks (audit intent, span): the call is decided, answered by the gateway.
    ctx.forwarding();
    const headers: OutgoingHttpHeaders = { 'content-type': contentType, 'x-aos-request-id': ctx.id, 'x-aos-cache': 'hit' };
    const taps = ctx.taps;
    let out: Buffer = body;
    if (taps !== null) {
      for (const t of taps) t.onStart?.(200, headers);
      const data = tapData(taps, body);
      const tail = tapEnd(taps);
      out = data === null ? (tail ?? Buffer.alloc(0)) : tail === null ? data : Buffer.concat([data, tail]);
    }
    if (!ctx.streaming) headers['content-length'] = out.length;
    ctx.answered = true;
    metrics.hit(p.scope, e.inputTokens, e.outputTokens, e.costUsd * (1 - config.chargeFraction));
    ctx.res.writeHead(200, headers);
    ctx.res.end(out);
    if (taps !== null) tapAfter(taps);
  };

  const miss = (ctx: CallContext, p: AgentPlan, key: string, lookedUp: boolean): void => {
    if (lookedUp) metrics.miss(p.scope);
    if (!ctx.res.headersSent) ctx.res.setHeader('x-aos-cache', 'miss');
    const capture = new CaptureTap(config.maxEntryBytes);
    ctx.tapFirst(capture);
    ctx.onFinish((outcome: Outcome) => {
      const e = capture.entry(ctx, outcome);
      if (e === null) return;
      const done = store.set(key, e, p.ttlMs);
      metrics.stored();
      if (done instanceof Promise) done.catch(() => {});
    });
  };

  /** The stored answer in the form the call asked for: a plain call takes JSON; a stream takes stored events, or JSON replayed as events. */
  const replayOf = (ctx: CallContext, e: CacheEntry): { body: Buffer; contentType: string } | null => {
    const stream = ctx.call!.stream;
    if (stream === (e.kind === 'sse')) return { body: e.body, contentType: e.contentType };
    // A stored stream cannot answer a plain call: forwarded, and its JSON answer replaces the entry.
    if (!stream) return null;
    const route = ctx.route!;
    try {
      const replay = route.upstream.dialect.replayStream?.(route.operation, JSON.parse(e.body.toString('utf8')), ctx.json as Record<string, unknown>) ?? null;
      return replay === null ? null : { body: Buffer.from(replay), contentType: 'text/event-stream; charset=utf-8' };
    } catch {
      return null;
    }
  };

  const lookedUp = (ctx: CallContext, p: AgentPlan, key: string, e: CacheEntry | null): void => {
    const r = e === null ? null : replayOf(ctx, e);
    if (r !== null) {
      answer(ctx, p, e!, r.body, r.contentType);
      return;
    }
    miss(ctx, p, key, true);
  };

  return function cacheStage(ctx) {
    const call = ctx.call;
    if (call === null || call.kind !== 'model' || call.undecided === true) return;
    const body = ctx.json;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
    const h = ctx.req.headers;
    const opt = h['x-aos-cache'];
    if (opt !== 'on' && (opt === 'off' || (body as Record<string, unknown>).temperature !== 0)) {
      if (opt === 'off') metrics.bypass('off');
      return;
    }
    const p = plan(ctx.agent);
    if (!p.on) {
      metrics.bypass('off');
      return;
    }
    const cc = h['cache-control'];
    if (cc?.includes('no-store')) {
      metrics.bypass('no_store');
      return;
    }
    // A call whose request was redacted is answered with the agent's values put back: never shared.
    if (ctx.flags?.includes('redacted')) {
      metrics.bypass('redacted');
      return;
    }
    const route = ctx.route!;
    const key = cacheKey(p.scopeKey, `${route.upstream.name}\n${route.upstream.dialect.name}`, route.operation.name, body as Record<string, unknown>);
    // no-cache: not answered from the cache, but the fresh answer is stored.
    if (cc?.includes('no-cache')) {
      metrics.bypass('no_cache');
      miss(ctx, p, key, false);
      return;
    }
    const got = store.get(key);
    if (got instanceof Promise) return got.then((e) => lookedUp(ctx, p, key, e));
    lookedUp(ctx, p, key, got);
  };
}

/** Keeps the upstream's bytes of a forwarded call (first of the taps: before any rewrites), up to a bound. */
class CaptureTap implements ResponseTap {
  status = 0;
  contentType = '';
  chunks: Buffer[] | null = [];
  bytes = 0;
  ended = false;
  constructor(readonly max: number) {}
  onStart(status: number, headers: OutgoingHttpHeaders): void {
    this.status = status;
    const t = headers['content-type'];
    this.contentType = typeof t === 'string' ? t : '';
    if (status !== 200 || headers['content-encoding'] !== undefined) this.chunks = null;
  }
  onData(chunk: Buffer): Buffer {
    const c = this.chunks;
    if (c !== null) {
      this.bytes += chunk.length;
      if (this.bytes > this.max) this.chunks = null;
      else c.push(chunk);
    }
    return chunk;
  }
  onEnd(): null {
    this.ended = true;
    return null;
  }
  onAbort(): void {
    this.chunks = null;
  }
  /** The entry to store: a 200 JSON body or event stream that ended whole, within the bound; else null. */
  entry(ctx: CallContext, outcome: Outcome): CacheEntry | null {
    if (this.chunks === null || !this.ended || outcome.status !== 200 || ctx.errorCode !== null) return null;
    if (ctx.flags?.includes('stream_unreadable') || ctx.flags?.includes('redacted')) return null;
    const sse = this.contentType.startsWith('text/event-stream');
    if (!sse && !this.contentType.includes('json')) return null;
    const u = ctx.usage;
    return {
      kind: sse ? 'sse' : 'json',
      contentType: this.contentType,
      body: this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks),
      inputTokens: u?.inputTokens ?? 0,
      outputTokens: u?.outputTokens ?? 0,
      costUsd: ctx.costUsd ?? 0,
    };
  }
}
