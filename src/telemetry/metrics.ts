import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { FastHistogram, type HistogramSeries, Tallies } from './fast-metrics.js';

/** Latency buckets in seconds, fine at the low end where gateway overhead lives. */
const OVERHEAD_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];
const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface Metrics {
  readonly registry: Registry;
  /** Observes one finished request's latency split (it is counted by aos_calls_total). Labels are bounded by config. */
  observe(route: string, overheadSeconds: number, upstreamSeconds: number | null): void;
  upstreamError(provider: string, code: string): void;
  readonly inflight: Gauge;
  readonly configReloads: Counter<'result'>;
  readonly policy: PolicyMetrics;
  readonly metering: MeteringMetrics;
  readonly guardrails: GuardrailMetrics;
  readonly cache: CacheMetrics;
  readonly mcp: McpMetrics;
}

/** MCP (src/tools/). Labels are fixed sets. */
export interface McpMetrics {
  /** A list request of a 2026-07-28 agent to a 2026-07-28 server: served from the gateway's list cache (`hit`) or asked of the server (`miss`). */
  listCache(list: 'tools' | 'prompts' | 'resources', result: 'hit' | 'miss'): void;
}

/** The response cache (src/coordination/). Labels: a scope kind, a bypass reason, an eviction reason: all bounded. */
export interface CacheMetrics {
  hit(scope: string, inputTokens: number, outputTokens: number, savedUsd: number): void;
  miss(scope: string): void;
  /** A cacheable call that was not looked up: `no_store`, `no_cache`, `redacted`, `off` (x-aos-cache: off or the template). */
  bypass(reason: string): void;
  stored(): void;
  evicted(reason: 'size' | 'expired', n: number): void;
}

/** Guardrails (src/guardrails/). Labels: detector ids are the built-in ones and the configured profiles' own, so they stay bounded. */
export interface GuardrailMetrics {
  /** One finding and what came of it: the call `denied`, the value `redacted`, `allowed` as it was, or `recorded` in a response. */
  finding(detector: string, action: 'denied' | 'redacted' | 'allowed' | 'recorded'): void;
  /** Text left unscanned: past the profile's size bound, or a body that is not JSON. */
  unscanned(reason: 'size' | 'not_json'): void;
}

/** Metering and budgets (src/metering/). Labels: team and scope come from the registry, so they stay bounded. */
export interface MeteringMetrics {
  /** A call was charged: its cost and tokens, by team (and agent, when configured). */
  charged(team: string, agent: string | null, costUsd: number, input: number, cachedInput: number, output: number, estimated: boolean): void;
  /** A call was refused: budget, rate, unpriced or unavailable. */
  denied(reason: 'budget' | 'rate' | 'unpriced' | 'unavailable'): void;
  /** A call crossed a soft threshold. */
  softLimit(kind: string): void;
  /** The budget store's reachability (the alarm: 0 while Redis is away). */
  storeUp(store: string, up: boolean): void;
  /** A call decided by the local fallback limit while Redis was away. */
  fallback(): void;
  /** A call admitted against this gateway's budget leases (Redis store), without a round trip. */
  leased(): void;
  /** Sets where `aos_budget_remaining_usd` reads from (called on every build). */
  remaining(source: (() => { scope: string; window: string; remainingUsd: number; limitUsd: number }[]) | null): void;
}

export interface PolicyMetrics {
  /** One decision: its outcome and how long evaluation took (input serialization included). */
  decided(outcome: 'allow' | 'deny' | 'error', seconds: number): void;
  /** A bundle went live: its revision (label) and load time. */
  loaded(revision: string, atMs: number): void;
  loadFailed(source: 'file' | 'directory' | 'url'): void;
}

/** Charges of one team (and agent) not yet added to the counters. */
interface Charges {
  readonly team: string;
  readonly agent: string;
  spend: number;
  input: number;
  output: number;
  cached: number | undefined;
  estimated: number | undefined;
}

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Observed on every call: histograms bound per route once, no label hashing per observation.
  const overhead = new FastHistogram('aos_gateway_overhead_seconds', 'Time the gateway itself adds to a request (total minus upstream)', 'route', OVERHEAD_BUCKETS, registry);
  const upstream = new FastHistogram('aos_upstream_duration_seconds', 'Upstream time from dispatch to the end of its response', 'route', UPSTREAM_BUCKETS, registry);
  const upstreamErrors = new Counter({ name: 'aos_upstream_errors_total', help: 'Upstream failures by provider and error code', labelNames: ['provider', 'code'] as const, registers: [registry] });
  const inflight = new Gauge({ name: 'aos_requests_inflight', help: 'Requests being served now', registers: [registry] });
  const configReloads = new Counter({ name: 'aos_config_reloads_total', help: 'Configuration reloads by result', labelNames: ['result'] as const, registers: [registry] });
  const policyEval = new FastHistogram(
    'aos_policy_evaluation_seconds',
    'Policy evaluation time per decision, input serialization included',
    null,
    [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.001, 0.01],
    registry,
  ).of();
  const decisionTallies = new Tallies();
  const policyDecisions = new Counter({
    name: 'aos_policy_decisions_total',
    help: 'Policy decisions by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
    collect: () => decisionTallies.fold(),
  });
  const policyRevision = new Gauge({ name: 'aos_policy_bundle_info', help: 'The policy bundle revision in force (value 1)', labelNames: ['revision'] as const, registers: [registry] });
  let loadedAtMs = 0;
  new Gauge({
    name: 'aos_policy_bundle_age_seconds',
    help: 'Seconds since the policy bundle in force was loaded',
    registers: [registry],
    collect() {
      if (loadedAtMs > 0) this.set((Date.now() - loadedAtMs) / 1000);
    },
  });
  const policyLoadFailures = new Counter({
    name: 'aos_policy_load_failures_total',
    help: 'Policy bundles rejected (invalid, unsigned, tampered, unreachable)',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  // Charges are summed in plain numbers per call (a prom-client inc hashes its labels every time)
  // and added to the two counters when they are collected: a scrape sees every charge.
  const charges = new Map<string, Charges>();
  const _spend = new Counter({
    name: 'aos_budget_spend_usd_total',
    help: 'Cost of metered calls in USD, by team (and agent when metering.agentMetrics is on)',
    labelNames: ['team', 'agent'] as const,
    registers: [registry],
    collect() {
      for (const c of charges.values()) {
        this.inc({ team: c.team, agent: c.agent }, c.spend);
        c.spend = 0;
      }
    },
  });
  const _tokens = new Counter({
    name: 'aos_tokens_total',
    help: 'Tokens of metered calls by team and type (input includes cached_input; estimated: counted by the gateway, the provider reported none)',
    labelNames: ['team', 'type'] as const,
    registers: [registry],
    collect() {
      for (const c of charges.values()) {
        this.inc({ team: c.team, type: 'input' }, c.input);
        this.inc({ team: c.team, type: 'output' }, c.output);
        // cached_input and estimated appear once a call had some (as when counted one by one).
        if (c.cached !== undefined) this.inc({ team: c.team, type: 'cached_input' }, c.cached);
        if (c.estimated !== undefined) this.inc({ team: c.team, type: 'estimated' }, c.estimated);
        c.input = c.output = 0;
        if (c.cached !== undefined) c.cached = 0;
        if (c.estimated !== undefined) c.estimated = 0;
      }
    },
  });
  const budgetDenials = new Counter({
    name: 'aos_budget_denials_total',
    help: 'Calls refused by metering: budget, rate, unpriced, unavailable',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const softLimits = new Counter({ name: 'aos_budget_soft_limit_total', help: 'Calls that crossed a soft budget threshold, by kind of limit', labelNames: ['kind'] as const, registers: [registry] });
  const storeUp = new Gauge({
    name: 'aos_budget_store_up',
    help: 'Whether the budget store is reachable (1) or not (0: alarm; calls fail closed or use the local fallback)',
    labelNames: ['store'] as const,
    registers: [registry],
  });
  const fallbacks = new Counter({ name: 'aos_budget_fallback_total', help: 'Calls decided against the local fallback limit while Redis was unreachable', registers: [registry] });
  const leaseTallies = new Tallies();
  const leased = leaseTallies.of(
    new Counter({
      name: 'aos_budget_leased_total',
      help: "Calls admitted against this gateway's budget leases (Redis store), without a round trip to Redis",
      registers: [registry],
      collect: () => leaseTallies.fold(),
    }),
  );
  let remainingSource: (() => { scope: string; window: string; remainingUsd: number; limitUsd: number }[]) | null = null;
  new Gauge({
    name: 'aos_budget_remaining_usd',
    help: 'USD left in each configured budget for its current window (limit minus spent and reserved)',
    labelNames: ['scope', 'window'] as const,
    registers: [registry],
    collect() {
      this.reset();
      if (remainingSource !== null) for (const r of remainingSource()) this.labels(r.scope, r.window).set(r.remainingUsd);
    },
  });
  // Bound children per team (and agent): the hot path pays a Map lookup, not label hashing.
  const metering: MeteringMetrics = {
    charged(team, agent, costUsd, input, cachedInput, output, estimated) {
      const key = agent === null ? team : `${team}\u0000${agent}`;
      let c = charges.get(key);
      if (c === undefined) {
        c = { team, agent: agent ?? '', spend: 0, input: 0, output: 0, cached: undefined, estimated: undefined };
        charges.set(key, c);
      }
      c.spend += costUsd;
      c.input += input;
      if (cachedInput > 0) c.cached = (c.cached ?? 0) + cachedInput;
      c.output += output;
      if (estimated) c.estimated = (c.estimated ?? 0) + input + output;
    },
    denied: (reason) => budgetDenials.labels(reason).inc(),
    softLimit: (kind) => softLimits.labels(kind).inc(),
    storeUp: (store, up) => storeUp.labels(store).set(up ? 1 : 0),
    fallback: () => fallbacks.inc(),
    leased: () => {
      leased.n += 1;
    },
    remaining(source) {
      remainingSource = source;
    },
  };
  const decisionChildren = {
    allow: decisionTallies.of(policyDecisions.labels('allow')),
    deny: decisionTallies.of(policyDecisions.labels('deny')),
    error: decisionTallies.of(policyDecisions.labels('error')),
  };
  const policy: PolicyMetrics = {
    decided(outcome, seconds) {
      decisionChildren[outcome].n += 1;
      policyEval.observe(seconds);
    },
    loaded(revision, atMs) {
      policyRevision.reset();
      policyRevision.labels(revision).set(1);
      loadedAtMs = atMs;
    },
    loadFailed(source) {
      policyLoadFailures.labels(source).inc();
    },
  };

  const findings = new Counter({
    name: 'aos_guardrail_findings_total',
    help: 'Guardrail findings by detector and what came of them',
    labelNames: ['detector', 'action'] as const,
    registers: [registry],
  });
  const unscanned = new Counter({
    name: 'aos_guardrail_unscanned_total',
    help: 'Requests or responses with text the guardrails did not scan, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const guardrails: GuardrailMetrics = {
    finding: (detector, action) => findings.labels(detector, action).inc(),
    unscanned: (reason) => unscanned.labels(reason).inc(),
  };

  const cacheHits = new Counter({ name: 'aos_cache_hits_total', help: 'Model calls answered from the response cache, by scope', labelNames: ['scope'] as const, registers: [registry] });
  const cacheMisses = new Counter({ name: 'aos_cache_misses_total', help: 'Cacheable model calls not found in the response cache, by scope', labelNames: ['scope'] as const, registers: [registry] });
  const cacheBypass = new Counter({ name: 'aos_cache_bypass_total', help: 'Cacheable model calls that skipped the cache lookup, by reason', labelNames: ['reason'] as const, registers: [registry] });
  const cacheStores = new Counter({ name: 'aos_cache_stores_total', help: 'Responses stored in the response cache', registers: [registry] });
  const cacheEvictions = new Counter({
    name: 'aos_cache_evictions_total',
    help: 'Response cache entries evicted (size bound) or dropped (expired)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const cacheSavedTokens = new Counter({ name: 'aos_cache_saved_tokens_total', help: 'Provider tokens not spent thanks to cache hits, by kind', labelNames: ['kind'] as const, registers: [registry] });
  const cacheSavedUsd = new Counter({ name: 'aos_cache_saved_usd_total', help: 'Cost not charged thanks to cache hits, in USD', registers: [registry] });
  const cache: CacheMetrics = {
    hit(scope, inputTokens, outputTokens, savedUsd) {
      cacheHits.labels(scope).inc();
      if (inputTokens > 0) cacheSavedTokens.labels('input').inc(inputTokens);
      if (outputTokens > 0) cacheSavedTokens.labels('output').inc(outputTokens);
      if (savedUsd > 0) cacheSavedUsd.inc(savedUsd);
    },
    miss(scope) {
      cacheMisses.labels(scope).inc();
    },
    bypass(reason) {
      cacheBypass.labels(reason).inc();
    },
    stored() {
      cacheStores.inc();
    },
    evicted(reason, n) {
      cacheEvictions.labels(reason).inc(n);
    },
  };

  // Series cached per route: the hot path pays one Map lookup.
  const children = new Map<string, { overhead: HistogramSeries; upstream: HistogramSeries }>();
  const forRoute = (route: string) => {
    let c = children.get(route);
    if (c === undefined) {
      c = { overhead: overhead.of(route), upstream: upstream.of(route) };
      children.set(route, c);
    }
    return c;
  };

  const listCache = new Counter({
    name: 'aos_mcp_list_cache_total',
    help: 'MCP list requests (2026-07-28 agent and server) served from the list cache (hit) or asked of the server (miss), by list',
    labelNames: ['list', 'result'] as const,
    registers: [registry],
  });
  const mcp: McpMetrics = { listCache: (list, result) => listCache.labels(list, result).inc() };

  return {
    registry,
    inflight,
    mcp,
    configReloads,
    policy,
    metering,
    guardrails,
    cache,
    observe(route, overheadSeconds, upstreamSeconds) {
      const c = forRoute(route);
      c.overhead.observe(overheadSeconds);
      if (upstreamSeconds !== null) c.upstream.observe(upstreamSeconds);
    },
    upstreamError(provider, code) {
      upstreamErrors.labels(provider, code).inc();
    },
  };
}
