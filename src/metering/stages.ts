import type { MeteringConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { Agent, AgentRegistry } from '../identity/registry.js';
import type { Logger } from '../log.js';
import type { CallContext, SessionMeter, Stage } from '../pipeline/context.js';
import type { DialectMetering, Usage } from '../providers/dialect.js';
import type { MeteringMetrics } from '../telemetry/metrics.js';
import { type BudgetRule, type BudgetRules, createPeriods, keyOf, lineOf, type Period, type ScopeRules, type Window } from './budgets.js';
import { costOf, type Price, type PriceTable, worstCase } from './prices.js';
import { type BudgetStore, type LineState, NANO, type ReserveLine, type ReserveOutcome, toNano } from './store.js';
import { boundTokens, countTokens, createPromptCounter, loadTokenizer, MESSAGE_OVERHEAD } from './tokens.js';
import { UsageTap } from './usage-tap.js';

export interface MeteringStageOptions {
  config: MeteringConfig;
  store: BudgetStore;
  prices: PriceTable;
  rules: BudgetRules;
  registry: AgentRegistry | null;
  metrics: MeteringMetrics;
  log: Logger;
  now?: () => number;
}

export interface MeteringStages {
  /** Before the policy: counts the prompt, prices the worst case, fills `ctx.budget` for the policy input. */
  estimate: Stage;
  /** After the policy: reserves atomically (the real enforcement), taps the response, settles on finish. */
  reserve: Stage;
}

/** A prompt is bounded, not counted, while its budgets have room for this many such calls before their soft thresholds. */
const HEADROOM_CALLS = 64;

const usd = (nano: number) => `$${(nano / NANO).toFixed(nano < NANO / 100 ? 6 : 2)}`;
const WINDOW_NAME = { minute: 'per-minute', hourly: 'hourly', daily: 'daily', monthly: 'monthly', workflow: 'workflow' } as const;

/** A workflow's USD budget (`workflow:<id>`): one counter every agent in the workflow draws from, kept a while after its last call. */
interface WorkflowRule {
  readonly scope: string;
  /** usd: spend (nano-USD); handoffs: A2A hand-offs (fan-out). */
  readonly kind: 'usd' | 'handoffs';
  readonly window: 'workflow';
  readonly limit: number;
  readonly soft: number;
  readonly limitId: string;
}
/** A rule a call reserved on: a scope's window, or its workflow's budget. */
type UsedRule = BudgetRule | WorkflowRule;

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
/** The metering stages of one configuration, built once (the store lives across reloads). */
export function createMeteringStages(opts: MeteringStageOptions): MeteringStages {
  const { config, store, prices, rules, registry, metrics, log } = opts;
  const now = opts.now ?? Date.now;
  const periods = createPeriods(now);
  const ttlMs = config.reservationTtlSec * 1000;
  const nearLimitOnly = config.policyBudget === 'nearLimit';
  const countTexts = createPromptCounter();

  const meteredOp = (ctx: CallContext) => {
    const route = ctx.route!;
    const m = route.upstream.dialect.metering;
    return m !== undefined && ctx.call !== null && ctx.call.kind === 'model' && m.metered(route.operation) ? m : null;
  };
  /** The output tokens a call may produce at most: the request's cap, else the template's, else the default. */
  const outputCap = (ctx: CallContext, templateMax: number | null | undefined): number => {
    const route = ctx.route!;
    // Embeddings: no output. A session (Realtime) has no body field for it: the cap bounds each response's reservation.
    if (route.upstream.dialect.maxTokensField(route.operation) === null && route.operation.upgrade !== true) return 0;
    return ctx.call?.maxTokens ?? templateMax ?? config.defaultMaxOutputTokens;
  };
  const promptTexts = (ctx: CallContext, m: DialectMetering): { texts: string[]; messages: number } => {
    const texts: string[] = [];
    const messages = m.promptText(ctx.route!.operation, ctx.json as Record<string, unknown>, texts);
    return { texts, messages };
  };
  const countAlways = config.countTokens === 'always';
  if (countAlways) loadTokenizer();

  /**
   * Whether a budget (USD, or tokens per minute) is near enough its soft threshold for the bound to
   * matter: fewer than HEADROOM_CALLS such calls from it (a burst in flight at once would otherwise
   * hold more than its share and refuse calls that fit), or the store cannot tell yet (Redis, a
   * counter not seen before). Only then does the count need to be exact.
   */
  const nearLimit = (ap: AgentPlan, p: Record<Window, Period>, input: number, cap: number, price: Price | null): boolean => {
    const keys = keysOf(ap, p);
    const usdRules = ap.scope.usd;
    if (usdRules.length > 0 && price !== null) {
      const est = toNano(worstCase(input, cap, price));
      for (let i = 0; i < usdRules.length; i++) {
        const r = usdRules[i];
        const s = store.peek(lineOf(r, p[r.window], 0, keys.usd[i]));
        if (s.unknown === true || (s.limit >= 0 && s.spent + s.reserved + est * HEADROOM_CALLS >= r.soft * s.limit)) return true;
      }
    }
    const rate = ap.scope.rate;
    for (let i = 0; i < rate.length; i++) {
      const r = rate[i];
      if (r.kind !== 'tokens') continue;
      const s = store.peek(lineOf(r, p[r.window], 0, keys.rate[i]));
      if (s.unknown === true || (s.limit >= 0 && s.spent + s.reserved + (input + cap) * HEADROOM_CALLS >= r.soft * s.limit)) return true;
    }
    return false;
  };

  const estimate: Stage = function meteringEstimateStage(ctx) {
    const m = meteredOp(ctx);
    const ap = plan(ctx.agent);
    const price = ctx.call === null ? null : prices.price(ctx.call.model, ctx.route!.upstream.name);
    // The template's cap bounds the output (the policy obliges it), so it bounds the worst case too.
    const cap = Math.min(outputCap(ctx, ap.maxTokens), ap.maxTokens ?? Infinity);
    const p = periods();
    let input = 0;
    if (m !== null) {
      // Tokenizing costs ~25 µs per KB: an upper bound serves while every budget is far from its soft
      // threshold (it reserves a little more, then the call is settled at its real usage); the exact
      // count is taken once the bound comes near a limit, where an overestimate would refuse a call that fits.
      const { texts, messages } = promptTexts(ctx, m);
      input = boundTokens(texts) + MESSAGE_OVERHEAD * messages;
      ctx.estInputExact = countAlways || nearLimit(ap, p, input, cap, price);
      if (ctx.estInputExact) input = countTexts(texts) + MESSAGE_OVERHEAD * messages;
      ctx.estInputTokens = input;
    }
    const usdRules = ap.scope.usd;
    if (usdRules.length === 0) return;
    const est = price === null || m === null ? 0 : toNano(worstCase(input, cap, price));
    // The budget with the least headroom once this call's worst case is added: what the policy sees.
    const keys = keysOf(ap, p).usd;
    let rule: BudgetRule | null = null;
    let best: LineState | null = null;
    let headroom = Infinity;
    for (let i = 0; i < usdRules.length; i++) {
      const r = usdRules[i];
      const s = store.peek(lineOf(r, p[r.window], 0, keys[i]));
      if (s.limit < 0) continue;
      const h = s.limit - s.spent - s.reserved - est;
      if (h < headroom) {
        headroom = h;
        best = s;
        rule = r;
      }
    }
    // A worst case that cannot fit is refused here, as the reservation would refuse it (which still
    // decides atomically what concurrent calls leave): 429 whatever the policy says of budgets.
    if (best !== null && rule !== null && headroom < 0) {
      metrics.denied('budget');
      throw new GatewayError(
        'aos_budget_exceeded',
        `${WINDOW_NAME[rule.window]} budget of ${rule.scope} would be exceeded (limit ${usd(best.limit)}, spent ${usd(best.spent)}, reserved ${usd(best.reserved)}, this call up to ${usd(est)})`,
      );
    }
    if (best !== null && rule !== null && (!nearLimitOnly || best.spent + best.reserved + est >= rule.soft * best.limit)) {
      ctx.budget = {
        scope: rule.scope,
        limit_usd: best.limit / NANO,
        spent_usd: best.spent / NANO,
        reserved_usd: best.reserved / NANO,
        estimated_usd: est / NANO,
        window: rule.window,
      };
    }
  };

  /** What a call of this agent needs, resolved once per agent (the rules, the template's output cap, metric labels). */
  interface AgentPlan {
    readonly scope: ScopeRules;
    readonly maxTokens: number | null | undefined;
    /** The template's `budget.workflow_usd` (undefined: none) and soft ratio. */
    readonly workflowUsd: number | undefined;
    readonly workflowHandoffs: number | undefined;
    readonly soft: number;
    readonly team: string;
    readonly metricAgent: string | null;
    /** The counter keys of `scope`'s rules in `period` (usd, tools, rate), rebuilt when the second turns. */
    period: Record<Window, Period> | null;
    keys: { usd: string[]; tools: string[]; rate: string[] };
  }
  const workflowTtlMs = (registry?.budgets.workflowTtlSeconds ?? 86_400) * 1000;
  const planOf = (agent: Agent | null): AgentPlan => ({
    scope: rules.forAgent(agent),
    maxTokens: agent === null ? undefined : registry?.templates.get(agent.template)?.maxTokens,
    workflowUsd: agent === null ? undefined : registry?.templates.get(agent.template)?.budget.workflow_usd,
    workflowHandoffs: agent === null ? undefined : registry?.templates.get(agent.template)?.budget.workflow_handoffs,
    soft: (agent === null ? undefined : registry?.templates.get(agent.template)?.budget.soft_ratio) ?? config.softThreshold,
    team: agent?.team ?? 'anonymous',
    metricAgent: config.agentMetrics && agent !== null && registry?.agents.has(agent.id) ? agent.id : null,
    period: null,
    keys: { usd: [], tools: [], rate: [] },
  });
  const anonymousPlan = planOf(null);
  // Agents are resolved once per token (identity caches them), so the agent object is the key.
  const plans = new WeakMap<Agent, AgentPlan>();
  const plan = (agent: Agent | null): AgentPlan => {
    if (agent === null) return anonymousPlan;
    let p = plans.get(agent);
    if (p === undefined) {
      p = planOf(agent);
      plans.set(agent, p);
    }
    return p;
  };
  const keysIn = (list: readonly BudgetRule[], p: Record<Window, Period>) => list.map((r) => keyOf(r, p[r.window]));
  const keysOf = (ap: AgentPlan, p: Record<Window, Period>) => {
    if (ap.period !== p) {
      ap.keys = { usd: keysIn(ap.scope.usd, p), tools: keysIn(ap.scope.tools, p), rate: keysIn(ap.scope.rate, p) };
      ap.period = p;
    }
    return ap.keys;
  };

  const reserve: Stage = function meteringReserveStage(ctx) {
    const m = meteredOp(ctx);
    const ap = plan(ctx.agent);
    let price: Price | null = null;
    let maxOut = 0;
    if (m !== null) {
      price = prices.price(ctx.call!.model, ctx.route!.upstream.name);
      if (price === null) {
        metrics.denied('unpriced');
        throw new GatewayError('aos_model_unpriced', `model "${ctx.call!.model}" has no price in ${prices.file} and unknown models are denied`, { param: 'model' });
      }
      // The model and the output cap are as the policy left them (obligations applied).
      maxOut = outputCap(ctx, ap.maxTokens);
    }
    return tryReserve(ctx, ap, m, price, maxOut, periods());
  };

  /** Reserves every line that applies; a refusal made on the prompt's bound is tried again on its exact count. */
  const tryReserve = (ctx: CallContext, ap: AgentPlan, m: DialectMetering | null, price: Price | null, maxOut: number, p: Record<Window, Period>): void | Promise<void> => {
    const { worst, lines, used } = linesOf(ctx, ap, m, price, maxOut, p, ctx.estInputTokens ?? 0, true);
    if (lines.length === 0 && m === null) return;
    if (lines.length === 0) return proceed(ctx, ap, m, price, maxOut, worst, null, lines, used, p.minute.end);
    const out = store.reserve(lines, ttlMs);
    if (out instanceof Promise) return out.then((o) => reserved(ctx, ap, m, price, maxOut, p, worst, o, lines, used));
    return reserved(ctx, ap, m, price, maxOut, p, worst, out, lines, used);
  };

  /**
   * The lines a call reserves on: USD budgets (model calls), tool-call budgets (tool calls), rate
   * limits. `requests`: count it as a request (a session's later responses are not: the session was one).
   */
  const linesOf = (ctx: CallContext, ap: AgentPlan, m: DialectMetering | null, price: Price | null, maxOut: number, p: Record<Window, Period>, input: number, requests: boolean) => {
    const scope = ap.scope;
    const worst = m === null ? 0 : worstCase(input, maxOut, price!);
    const keys = keysOf(ap, p);
    const lines: ReserveLine[] = [];
    const used: UsedRule[] = [];
    if (m !== null) {
      const amount = toNano(worst);
      for (let i = 0; i < scope.usd.length; i++) {
        const r = scope.usd[i];
        lines.push(lineOf(r, p[r.window], amount, keys.usd[i]));
        used.push(r);
      }
      // The workflow's budget: the limit a gateway-signed delegation carries (the first agent's template), else the agent's own template's.
      const wf = ctx.workflowId;
      const limitUsd = wf === null ? null : ctx.delegation !== null ? ctx.delegation.workflowUsd : ap.workflowUsd;
      if (limitUsd != null) {
        const limitId = `workflow:${wf}|usd|workflow`;
        const rule: WorkflowRule = { scope: `workflow:${wf}`, kind: 'usd', window: 'workflow', limit: toNano(limitUsd), soft: ap.soft, limitId };
        // Its counter lives workflowTtlSeconds past the workflow's last call (each reservation pushes it on).
        lines.push({ key: `${limitId}|w`, limitId, limit: rule.limit, amount, until: now() + workflowTtlMs });
        used.push(rule);
      }
    }
    // Tool-call budgets count HTTP tool calls and MCP tools/call requests (not the rest of the protocol).
    const call = ctx.call;
    if (call !== null && (call.kind === 'tool' || (call.kind === 'mcp' && call.operation === 'tools/call'))) {
      for (let i = 0; i < scope.tools.length; i++) {
        const r = scope.tools[i];
        lines.push(lineOf(r, p[r.window], 1, keys.tools[i]));
        used.push(r);
      }
    }
    // Fan-out: a hand-off that gives another agent work counts against its workflow's hand-offs.
    if (call !== null && call.kind === 'a2a' && (call.operation === 'SendMessage' || call.operation === 'SendStreamingMessage') && ctx.workflowId !== null) {
      const limit = ctx.delegation !== null ? ctx.delegation.workflowHandoffs : ap.workflowHandoffs;
      if (limit != null) {
        const limitId = `workflow:${ctx.workflowId}|handoffs|workflow`;
        lines.push({ key: `${limitId}|w`, limitId, limit, amount: 1, until: now() + workflowTtlMs });
        used.push({ scope: `workflow:${ctx.workflowId}`, kind: 'handoffs', window: 'workflow', limit, soft: ap.soft, limitId });
      }
    }
    for (let i = 0; i < scope.rate.length; i++) {
      const r = scope.rate[i];
      if ((r.kind === 'tokens' && m === null) || (r.kind === 'requests' && !requests)) continue;
      lines.push(lineOf(r, p[r.window], r.kind === 'requests' ? 1 : input + maxOut, keys.rate[i]));
      used.push(r);
    }
    return { worst, lines, used };
  };

  const reserved = (
    ctx: CallContext,
    ap: AgentPlan,
    m: DialectMetering | null,
    price: Price | null,
    maxOut: number,
    p: Record<Window, Period>,
    worst: number,
    out: ReserveOutcome,
    lines: ReserveLine[],
    used: UsedRule[],
  ): void | Promise<void> => {
    // (Not while a Redis store is down: each try would count as a call decided by the local fallback.)
    if (!out.ok && out.reason === 'limit' && m !== null && !ctx.estInputExact && store.healthy()) {
      ctx.estInputTokens = exactInput(ctx);
      ctx.estInputExact = true;
      return tryReserve(ctx, ap, m, price, maxOut, p);
    }
    proceed(ctx, ap, m, price, maxOut, worst, out, lines, used, p.minute.end);
  };

  const proceed = (
    ctx: CallContext,
    ap: AgentPlan,
    m: DialectMetering | null,
    price: Price | null,
    maxOut: number,
    worst: number,
    out: ReserveOutcome | null,
    lines: ReserveLine[],
    used: UsedRule[],
    minuteEnd: number,
  ) => {
    if (out !== null && !out.ok) throw refusal(ctx, out, used, lines, minuteEnd);
    if (out !== null) softLimits(ctx, out.states, used);
    if (m !== null && ctx.route!.operation.upgrade === true) {
      // A WebSocket session: charged response by response, one reservation held at a time.
      const session = new SessionSettlement(ctx, ap, m, price!, maxOut, out === null ? null : out.id, lines, used);
      ctx.sessionMeter = session;
      ctx.onFinish(session.close);
      return;
    }
    const settlement = new Settlement(ctx, ap, price, worst, out === null ? null : out.id, lines, used);
    if (m !== null) {
      const injected = m.requestUsage(ctx.route!.operation, ctx.json as Record<string, unknown>);
      if (injected) ctx.jsonChanged = true;
      settlement.tap = new UsageTap(m, ctx.route!.operation, injected, settlement.complete);
      ctx.tap(settlement.tap);
    }
    ctx.onFinish(settlement.complete);
  };

  const softLimits = (ctx: CallContext, states: readonly LineState[], used: readonly UsedRule[]) => {
    for (let i = 0; i < states.length; i++) {
      const s = states[i];
      const r = used[i];
      if (r.kind !== 'usd' && r.kind !== 'tool_calls') continue;
      if (s.limit > 0 && s.spent + s.reserved >= r.soft * s.limit) {
        ctx.flag('budget_soft_limit');
        metrics.softLimit(r.kind);
      }
    }
  };

  /**
   * A WebSocket session's metering: it holds the reservation of one response at a time (the worst
   * case of the next response: the last response's input tokens, as a conversation only grows, and
   * the output cap). A response that is done is charged its reported usage, which settles the
   * reservation, and the next one is reserved: when that fails the budget has no room left and the
   * relay ends the session. The reservation still held when the session ends is released.
   */
  class SessionSettlement implements SessionMeter {
    private closed = false;
    constructor(
      private readonly ctx: CallContext,
      private readonly ap: AgentPlan,
      private readonly m: DialectMetering,
      private readonly price: Price,
      private readonly maxOut: number,
      private id: string | null,
      private lines: ReserveLine[],
      private used: UsedRule[],
    ) {}

    charge(usage: Usage): GatewayError | null | Promise<GatewayError | null> {
      const { ctx, ap, price } = this;
      const cost = costOf(usage, price);
      addUsage(ctx, usage, cost);
      metrics.charged(ap.team, ap.metricAgent, cost, usage.inputTokens, usage.cachedInputTokens, usage.outputTokens, false);
      if (this.id !== null) {
        const costNano = toNano(cost);
        const actual = this.used.map((r) => (r.kind === 'usd' ? costNano : r.kind === 'tokens' ? usage.inputTokens + usage.outputTokens : 1));
        settleQuietly(ctx, this.id, this.lines, actual);
        this.id = null;
      }
      if (this.closed) return null;
      const p = periods();
      const { lines, used } = linesOf(ctx, ap, this.m, price, this.maxOut, p, usage.inputTokens, false);
      if (lines.length === 0) return null;
      const out = store.reserve(lines, ttlMs);
      const next = (o: ReserveOutcome): GatewayError | null => {
        if (!o.ok) return refusal(ctx, o, used, lines, p.minute.end);
        // The session ended while the store answered: nothing to hold it for.
        if (this.closed) {
          settleQuietly(ctx, o.id, lines, new Array<number>(lines.length).fill(0));
          return null;
        }
        softLimits(ctx, o.states, used);
        this.id = o.id;
        this.lines = lines;
        this.used = used;
        return null;
      };
      return out instanceof Promise ? out.then(next) : next(out);
    }

    readonly close = (): void => {
      if (this.closed) return;
      this.closed = true;
      if (this.id !== null) settleQuietly(this.ctx, this.id, this.lines, new Array<number>(this.lines.length).fill(0));
      this.id = null;
    };
  }

  const settleQuietly = (ctx: CallContext, id: string, lines: readonly ReserveLine[], actual: readonly number[]) => {
    const done = store.settle(id, lines, actual);
    if (done instanceof Promise) done.catch((err: Error) => log.error('budget settlement failed', { id: ctx.id, error: err.message }));
  };

  /**
   * One call's settlement, done once: when the response ended or was cut (so usage, cost and the
   * settlement are in place before the client sees the end), else when the request finishes
   * (errors, aborts).
   */
  class Settlement {
    tap: UsageTap | null = null;
    private done = false;
    constructor(
      private readonly ctx: CallContext,
      private readonly ap: AgentPlan,
      private readonly price: Price | null,
      private readonly worst: number,
      private readonly id: string | null,
      private readonly lines: ReserveLine[],
      private readonly used: UsedRule[],
    ) {}

    readonly complete = (): void => {
      if (this.done) return;
      this.done = true;
      finish(this.ctx, this.ap, this.tap, this.price, this.worst, this.id, this.lines, this.used);
    };
  }

  const refusal = (ctx: CallContext, out: Extract<ReserveOutcome, { ok: false }>, used: UsedRule[], lines: ReserveLine[], minuteEnd: number): GatewayError => {
    if (out.reason === 'unavailable') {
      metrics.denied('unavailable');
      return new GatewayError('aos_budget_unavailable', 'the shared budget store is unreachable and metering.redis.failMode is closed: calls are refused until it is back', {
        headers: { 'retry-after': '1' },
      });
    }
    const r = used[out.index];
    const s = out.state;
    if (r.kind === 'requests' || r.kind === 'tokens') {
      metrics.denied('rate');
      const wait = Math.max(1, Math.ceil((minuteEnd - now()) / 1000));
      return new GatewayError('aos_rate_limited', `rate limit of ${r.scope}: ${s.limit} ${r.kind} per minute (${s.spent + s.reserved} used this minute); retry in ${wait} s`, {
        headers: { 'retry-after': String(wait) },
      });
    }
    metrics.denied('budget');
    const what =
      r.kind === 'usd'
        ? `limit ${usd(s.limit)}, spent ${usd(s.spent)}, reserved ${usd(s.reserved)}, this call up to ${usd(lines[out.index].amount)}`
        : r.kind === 'handoffs'
          ? `limit ${s.limit} hand-offs, ${s.spent + s.reserved} made`
          : `limit ${s.limit} tool calls, ${s.spent + s.reserved} used`;
    void ctx;
    return new GatewayError('aos_budget_exceeded', `${WINDOW_NAME[r.window]} budget of ${r.scope} would be exceeded (${what})`);
  };

  const finish = (ctx: CallContext, ap: AgentPlan, tap: UsageTap | null, price: Price | null, worst: number, id: string | null, lines: ReserveLine[], used: UsedRule[]) => {
    let usage: Usage | null = null;
    let cost = 0;
    if (tap !== null) {
      ctx.toolCalls = tap.state.toolCalls;
      if (tap.status >= 200 && tap.status < 300) {
        usage = charged(ctx, tap);
        cost = usage === null ? worst : costOf(usage, price!);
        // Answered from the response cache: the provider was not called; the configured share is charged.
        if (ctx.cacheHit !== null) cost *= ctx.cacheHit.chargeFraction;
      }
      ctx.usage = usage;
      ctx.costUsd = cost;
      // The audit event says when tokens were counted by the gateway, not reported by the provider.
      if (usage?.estimated) ctx.flag('usage_estimated');
      if (tap.unreadable !== null) {
        ctx.flag('stream_unreadable');
        log.warn('the response stream could not be decoded; its usage is estimated', { id: ctx.id, why: tap.unreadable });
      }
      if (ctx.cacheHit !== null) {
        // No provider tokens were spent (aos_cache_saved_tokens_total counts them).
        if (cost > 0) metrics.charged(ap.team, ap.metricAgent, cost, 0, 0, 0, false);
      } else if (usage !== null || cost > 0) {
        metrics.charged(ap.team, ap.metricAgent, cost, usage?.inputTokens ?? 0, usage?.cachedInputTokens ?? 0, usage?.outputTokens ?? 0, usage?.estimated ?? true);
      }
    }
    if (id === null) return;
    const actual = new Array<number>(lines.length);
    const costNano = toNano(cost);
    for (let i = 0; i < lines.length; i++) {
      const k = used[i].kind;
      actual[i] = k === 'usd' ? costNano : k === 'tokens' ? (usage === null ? (tap !== null && tap.status > 0 && tap.status < 300 ? lines[i].amount : 0) : usage.inputTokens + usage.outputTokens) : 1;
    }
    const done = store.settle(id, lines, actual);
    if (done instanceof Promise) done.catch((err: Error) => log.error('budget settlement failed', { id: ctx.id, error: err.message }));
  };

  /** The prompt's tokens counted exactly (the estimate may be a bound), for a charge made without the provider's figure. */
  const exactInput = (ctx: CallContext): number => {
    if (ctx.estInputExact || ctx.estInputTokens === null) return ctx.estInputTokens ?? 0;
    const m = meteredOp(ctx);
    if (m === null) return ctx.estInputTokens;
    const { texts, messages } = promptTexts(ctx, m);
    return countTexts(texts) + MESSAGE_OVERHEAD * messages;
  };

  /**
   * The usage to charge: the provider's, when the response came whole; for a stream cut short,
   * what was reported so far with the output counted from the streamed text (estimated). Null when
   * nothing can be known (a JSON body cut short, or one without usage): the worst case is charged.
   */
  const charged = (ctx: CallContext, tap: UsageTap): Usage | null => {
    const reported = tap.state.usage;
    const complete = tap.ended && tap.aborted === null && tap.unreadable === null;
    if (reported !== null && complete) return reported;
    if (!tap.streaming) return null;
    const streamed = countTokens(tap.state.text.join(''));
    const input = reported !== null && reported.inputTokens > 0 ? reported.inputTokens : exactInput(ctx);
    return {
      inputTokens: input,
      cachedInputTokens: reported?.cachedInputTokens ?? 0,
      cacheWriteTokens: reported?.cacheWriteTokens ?? 0,
      outputTokens: Math.max(reported?.outputTokens ?? 0, streamed),
      reasoningTokens: reported?.reasoningTokens ?? 0,
      estimated: true,
    };
  };

  return { estimate, reserve };
}

/** Adds one response of a session to the call's usage and cost (the audit event records the totals). */
function addUsage(ctx: CallContext, u: Usage, cost: number): void {
  const t = ctx.usage;
  ctx.costUsd = (ctx.costUsd ?? 0) + cost;
  if (t === null) {
    ctx.usage = {
      inputTokens: u.inputTokens,
      cachedInputTokens: u.cachedInputTokens,
      cacheWriteTokens: u.cacheWriteTokens,
      outputTokens: u.outputTokens,
      reasoningTokens: u.reasoningTokens,
      estimated: u.estimated,
      audioInputTokens: u.audioInputTokens ?? 0,
      cachedAudioInputTokens: u.cachedAudioInputTokens ?? 0,
      audioOutputTokens: u.audioOutputTokens ?? 0,
    };
    return;
  }
  t.inputTokens += u.inputTokens;
  t.cachedInputTokens += u.cachedInputTokens;
  t.cacheWriteTokens += u.cacheWriteTokens;
  t.outputTokens += u.outputTokens;
  t.reasoningTokens += u.reasoningTokens;
  t.estimated ||= u.estimated;
  t.audioInputTokens = (t.audioInputTokens ?? 0) + (u.audioInputTokens ?? 0);
  t.cachedAudioInputTokens = (t.cachedAudioInputTokens ?? 0) + (u.cachedAudioInputTokens ?? 0);
  t.audioOutputTokens = (t.audioOutputTokens ?? 0) + (u.audioOutputTokens ?? 0);
}
