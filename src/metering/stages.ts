import type { MeteringConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import type { AgentRegistry } from '../identity/registry.js';
import type { Logger } from '../log.js';
import type { CallContext, Stage, Usage } from '../pipeline/context.js';
import type { MeteringMetrics } from '../telemetry/metrics.js';
import { createPeriods, lineOf, type BudgetRule, type BudgetRules } from './budgets.js';
import { costOf, worstCase, type Price, type PriceTable } from './prices.js';
import { NANO, toNano, type BudgetStore, type ReserveLine, type ReserveOutcome } from './store.js';
import { countTokens, createPromptCounter, MESSAGE_OVERHEAD } from './tokens.js';
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

const usd = (nano: number) => `$${(nano / NANO).toFixed(nano < NANO / 100 ? 6 : 2)}`;
const WINDOW_NAME = { minute: 'per-minute', hourly: 'hourly', daily: 'daily', monthly: 'monthly' } as const;

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
  const maxOutput = (ctx: CallContext): number => {
    const route = ctx.route!;
    if (route.upstream.dialect.maxTokensField(route.operation) === null) return 0; // embeddings: no output
    const template = ctx.agent === null ? undefined : registry?.templates.get(ctx.agent.template);
    return ctx.call?.maxTokens ?? template?.maxTokens ?? config.defaultMaxOutputTokens;
  };
  const countPrompt = (ctx: CallContext): number => {
    const m = meteredOp(ctx);
    if (m === null) return 0;
    const body = ctx.json as Record<string, unknown>;
    const messages = Array.isArray(body.messages) ? body.messages.length : 1;
    const texts: string[] = [];
    m.promptText(ctx.route!.operation, body, texts);
    return countTexts(texts) + MESSAGE_OVERHEAD * messages;
  };

  const estimate: Stage = function meteringEstimateStage(ctx) {
    const input = countPrompt(ctx);
    ctx.estInputTokens = meteredOp(ctx) === null ? null : input;
    const usdRules = rules.forAgent(ctx.agent).usd;
    if (usdRules.length === 0) return;
    const price = ctx.call === null ? null : prices.price(ctx.call.model);
    const est = price === null || ctx.estInputTokens === null ? 0 : toNano(worstCase(input, maxOutput(ctx), price));
    // The budget with the least headroom once this call's worst case is added: what the policy sees.
    const p = periods();
    let best: { rule: BudgetRule; spent: number; reserved: number; limit: number } | null = null;
    let headroom = Infinity;
    for (const rule of usdRules) {
      const s = store.peek(lineOf(rule, p[rule.window], 0));
      if (s.limit < 0) continue;
      const h = s.limit - s.spent - s.reserved - est;
      if (h < headroom) {
        headroom = h;
        best = { rule, ...s };
      }
    }
    if (best !== null && (!nearLimitOnly || best.spent + best.reserved + est >= best.rule.soft * best.limit)) {
      ctx.budget = {
        scope: best.rule.scope,
        limit_usd: best.limit / NANO,
        spent_usd: best.spent / NANO,
        reserved_usd: best.reserved / NANO,
        estimated_usd: est / NANO,
        window: best.rule.window,
      };
    }
  };

  const reserve: Stage = function meteringReserveStage(ctx) {
    const m = meteredOp(ctx);
    const scope = rules.forAgent(ctx.agent);
    let price: Price | null = null;
    let worst = 0;
    if (m !== null) {
      price = prices.price(ctx.call!.model);
      if (price === null) {
        metrics.denied('unpriced');
        throw new GatewayError('aos_model_unpriced', `model "${ctx.call!.model}" has no price in ${prices.file} and unknown models are denied`, { param: 'model' });
      }
      // The model and the output cap are as the policy left them (obligations applied).
      worst = worstCase(ctx.estInputTokens ?? 0, maxOutput(ctx), price);
    }
    const p = periods();
    const lines: ReserveLine[] = [];
    const used: BudgetRule[] = [];
    if (m !== null) for (const r of scope.usd) { lines.push(lineOf(r, p[r.window], toNano(worst))); used.push(r); }
    // Tool-call budgets count HTTP tool calls and MCP tools/call requests (not the rest of the protocol).
    const call = ctx.call;
    if (call !== null && (call.kind === 'tool' || (call.kind === 'mcp' && call.operation === 'tools/call'))) for (const r of scope.tools) { lines.push(lineOf(r, p[r.window], 1)); used.push(r); }
    for (const r of scope.rate) {
      if (r.kind === 'tokens' && m === null) continue;
      lines.push(lineOf(r, p[r.window], r.kind === 'requests' ? 1 : (ctx.estInputTokens ?? 0) + maxOutput(ctx)));
      used.push(r);
    }
    if (lines.length === 0 && m === null) return;
    const proceed = (out: ReserveOutcome | null) => {
      if (out !== null && !out.ok) throw refusal(ctx, out, used, lines, p.minute.end);
      if (out !== null) {
        for (let i = 0; i < lines.length; i++) {
          const s = out.states[i];
          const r = used[i];
          if (r.kind !== 'usd' && r.kind !== 'tool_calls') continue;
          if (s.limit > 0 && s.spent + s.reserved >= r.soft * s.limit) {
            ctx.flag('budget_soft_limit');
            metrics.softLimit(r.kind);
          }
        }
      }
      const id = out === null ? null : out.id;
      let done = false;
      // Once: when the response ended or was cut (so usage, cost and the settlement are in place
      // before the client sees the end), else when the request finishes (errors, aborts).
      const complete = () => {
        if (done) return;
        done = true;
        finish(ctx, tap, price, worst, id, lines, used);
      };
      let tap: UsageTap | null = null;
      if (m !== null) {
        const injected = m.requestUsage(ctx.route!.operation, ctx.json as Record<string, unknown>);
        if (injected) ctx.jsonChanged = true;
        tap = new UsageTap(m, ctx.route!.operation, injected, complete);
        ctx.tap(tap);
      }
      ctx.onFinish(complete);
    };
    if (lines.length === 0) return proceed(null);
    const out = store.reserve(lines, ttlMs);
    if (out instanceof Promise) return out.then(proceed);
    proceed(out);
  };

  const refusal = (ctx: CallContext, out: Extract<ReserveOutcome, { ok: false }>, used: BudgetRule[], lines: ReserveLine[], minuteEnd: number): GatewayError => {
    if (out.reason === 'unavailable') {
      metrics.denied('unavailable');
      return new GatewayError('aos_budget_unavailable', 'the shared budget store is unreachable and metering.redis.failMode is closed: calls are refused until it is back', { headers: { 'retry-after': '1' } });
    }
    const r = used[out.index];
    const s = out.state;
    if (r.kind === 'requests' || r.kind === 'tokens') {
      metrics.denied('rate');
      const wait = Math.max(1, Math.ceil((minuteEnd - now()) / 1000));
      return new GatewayError('aos_rate_limited', `rate limit of ${r.scope}: ${s.limit} ${r.kind} per minute (${s.spent + s.reserved} used this minute); retry in ${wait} s`, { headers: { 'retry-after': String(wait) } });
    }
    metrics.denied('budget');
    const what = r.kind === 'usd'
      ? `limit ${usd(s.limit)}, spent ${usd(s.spent)}, reserved ${usd(s.reserved)}, this call up to ${usd(lines[out.index].amount)}`
      : `limit ${s.limit} tool calls, ${s.spent + s.reserved} used`;
    void ctx;
    return new GatewayError('aos_budget_exceeded', `${WINDOW_NAME[r.window]} budget of ${r.scope} would be exceeded (${what})`);
  };

  const finish = (ctx: CallContext, tap: UsageTap | null, price: Price | null, worst: number, id: string | null, lines: ReserveLine[], used: BudgetRule[]) => {
    let usage: Usage | null = null;
    let cost = 0;
    if (tap !== null) {
      ctx.toolCalls = tap.state.toolCalls;
      if (tap.status >= 200 && tap.status < 300) {
        usage = charged(ctx, tap);
        cost = usage === null ? worst : costOf(usage, price!);
      }
      ctx.usage = usage;
      ctx.costUsd = cost;
      const agent = ctx.agent;
      if (usage !== null || cost > 0) {
        metrics.charged(agent?.team ?? 'anonymous', config.agentMetrics && agent !== null && registry?.agents.has(agent.id) ? agent.id : null, cost, usage?.inputTokens ?? 0, usage?.cachedInputTokens ?? 0, usage?.outputTokens ?? 0, usage?.estimated ?? true);
      }
    }
    if (id === null) return;
    const actual = new Array<number>(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const k = used[i].kind;
      actual[i] = k === 'usd' ? toNano(cost) : k === 'tokens' ? (usage === null ? (tap !== null && tap.status > 0 && tap.status < 300 ? lines[i].amount : 0) : usage.inputTokens + usage.outputTokens) : 1;
    }
    const done = store.settle(id, lines, actual);
    if (done instanceof Promise) done.catch((err: Error) => log.error('budget settlement failed', { id: ctx.id, error: err.message }));
  };

  /**
   * The usage to charge: the provider's, when the response came whole; for a stream cut short,
   * what was reported so far with the output counted from the streamed text (estimated). Null when
   * nothing can be known (a JSON body cut short, or one without usage): the worst case is charged.
   */
  const charged = (ctx: CallContext, tap: UsageTap): Usage | null => {
    const reported = tap.state.usage;
    const complete = tap.ended && tap.aborted === null;
    if (reported !== null && complete) return reported;
    if (!tap.streaming) return null;
    const streamed = countTokens(tap.state.text.join(''));
    const input = reported !== null && reported.inputTokens > 0 ? reported.inputTokens : ctx.estInputTokens ?? 0;
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
