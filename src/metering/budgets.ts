import type { Agent, AgentRegistry } from '../identity/registry.js';
import { type ReserveLine, toNano } from './store.js';

export type Window = 'minute' | 'hourly' | 'daily' | 'monthly';
/** usd: spend (nano-USD); tool_calls: tool and MCP calls; requests / tokens: per-minute rate limits. */
export type Kind = 'usd' | 'tool_calls' | 'requests' | 'tokens';

/** One limit of one scope: `agent:<id>`, `team:<name>` or `org`. */
export interface BudgetRule {
  readonly scope: string;
  readonly kind: Kind;
  readonly window: Window;
  /** In store units (nano-USD, calls, tokens). */
  readonly limit: number;
  /** Share of the limit past which calls are flagged `budget_soft_limit`. */
  readonly soft: number;
  /** `<scope>|<kind>|<window>`: what `aos budget set` overrides. */
  readonly limitId: string;
  /** Set with `aos budget set` for a limit the registry does not configure. */
  readonly overrideOnly?: boolean;
}

export interface ScopeRules {
  readonly usd: readonly BudgetRule[];
  readonly tools: readonly BudgetRule[];
  readonly rate: readonly BudgetRule[];
}

/** The keys of a budget spec (config/agents.yaml: template `budget`, `budgets.org`, `budgets.teams`). */
const SPEC: readonly [string, Kind, Window][] = [
  ['hourly_usd', 'usd', 'hourly'],
  ['daily_usd', 'usd', 'daily'],
  ['monthly_usd', 'usd', 'monthly'],
  ['tool_calls_hourly', 'tool_calls', 'hourly'],
  ['tool_calls_daily', 'tool_calls', 'daily'],
  ['tool_calls_monthly', 'tool_calls', 'monthly'],
  ['requests_per_minute', 'requests', 'minute'],
  ['tokens_per_minute', 'tokens', 'minute'],
];

export function rulesOf(scope: string, spec: Readonly<Record<string, number>> | undefined, softDefault: number): BudgetRule[] {
  if (spec === undefined) return [];
  const soft = spec.soft_ratio ?? softDefault;
  const out: BudgetRule[] = [];
  for (const [key, kind, window] of SPEC) {
    const v = spec[key];
    if (v === undefined) continue;
    out.push({ scope, kind, window, limit: kind === 'usd' ? toNano(v) : v, soft, limitId: `${scope}|${kind}|${window}` });
  }
  return out;
}

export interface BudgetRules {
  /** Every rule that applies to a call of this agent (null: identity is off, only the org's apply). */
  forAgent(agent: Agent | null): ScopeRules;
  /** Every configured rule of registered agents, teams and the org (for `budget show` and metrics). */
  all(): BudgetRule[];
}

const split = (rules: BudgetRule[]): ScopeRules => ({
  usd: rules.filter((r) => r.kind === 'usd'),
  tools: rules.filter((r) => r.kind === 'tool_calls'),
  rate: rules.filter((r) => r.kind === 'requests' || r.kind === 'tokens'),
});

/**
 * Budget rules from the registry, resolved once per agent and remembered (bounded). `overrides`
 * (store units) of limits the registry does not configure become rules of their own; with
 * `replace` they also replace the configured limits (a control plane's overrides: the store's own,
 * set with `aos budget set`, are applied by the store itself).
 */
export function createBudgetRules(registry: AgentRegistry | null, softDefault: number, overrides: ReadonlyMap<string, number> = new Map(), replace = false): BudgetRules {
  // Overrides of limits the registry does not configure become rules of their own.
  const extra = new Map<string, BudgetRule[]>();
  for (const [limitId, value] of overrides) {
    const [scope, kind, window] = limitId.split('|') as [string, Kind, Window];
    if (!SPEC.some(([, k, w]) => k === kind && w === window)) continue;
    const list = extra.get(scope) ?? [];
    list.push({ scope, kind, window, limit: value, soft: softDefault, limitId, overrideOnly: true });
    extra.set(scope, list);
  }
  const withExtra = (scope: string, list: BudgetRule[]): BudgetRule[] => {
    const more = extra.get(scope);
    if (more === undefined) return list;
    const configured = replace ? list.map((r) => (overrides.has(r.limitId) ? { ...r, limit: overrides.get(r.limitId)! } : r)) : list;
    return [...configured, ...more.filter((m) => !list.some((r) => r.limitId === m.limitId))];
  };
  const org = withExtra('org', rulesOf('org', registry?.budgets.org, softDefault));
  const teams = new Map<string, BudgetRule[]>();
  for (const [team, spec] of registry?.budgets.teams ?? []) teams.set(team, rulesOf(`team:${team}`, spec, softDefault));
  for (const scope of extra.keys()) if (scope.startsWith('team:') && !teams.has(scope.slice(5))) teams.set(scope.slice(5), []);
  for (const [team, list] of teams) teams.set(team, withExtra(`team:${team}`, list));
  const anonymous = split(org);
  const cache = new Map<string, ScopeRules>();
  const resolve = (agent: Agent): ScopeRules => {
    const template = registry?.templates.get(agent.template);
    return split([...withExtra(`agent:${agent.id}`, rulesOf(`agent:${agent.id}`, template?.budget, softDefault)), ...(teams.get(agent.team) ?? []), ...org]);
  };
  return {
    forAgent(agent) {
      if (agent === null) return anonymous;
      const key = `${agent.id}\u0000${agent.team}\u0000${agent.template}`;
      let r = cache.get(key);
      if (r === undefined) {
        r = resolve(agent);
        if (cache.size >= 10_000) cache.clear();
        cache.set(key, r);
      }
      return r;
    },
    all() {
      const out: BudgetRule[] = [];
      for (const agent of registry?.agents.values() ?? []) out.push(...withExtra(`agent:${agent.id}`, rulesOf(`agent:${agent.id}`, registry?.templates.get(agent.template)?.budget, softDefault)));
      for (const [scope, more] of extra) if (scope.startsWith('agent:') && !registry?.agents.has(scope.slice(6))) out.push(...more);
      for (const r of teams.values()) out.push(...r);
      out.push(...org);
      return out;
    },
  };
}

/** The current period of a window (UTC) and when it ends. */
export interface Period {
  id: string;
  start: number;
  end: number;
}

const pad = (n: number) => (n < 10 ? `0${n}` : String(n));

export function periodOf(window: Window, now: number): Period {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  switch (window) {
    case 'minute': {
      const start = now - (now % 60_000);
      return { id: `m${start / 60_000}`, start, end: start + 60_000 };
    }
    case 'hourly': {
      const start = now - (now % 3_600_000);
      return { id: `${y}-${pad(m + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}`, start, end: start + 3_600_000 };
    }
    case 'daily': {
      const start = now - (now % 86_400_000);
      return { id: `${y}-${pad(m + 1)}-${pad(d.getUTCDate())}`, start, end: start + 86_400_000 };
    }
    case 'monthly':
      return { id: `${y}-${pad(m + 1)}`, start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
  }
}

/** Periods of every window, computed once a second at most. */
export function createPeriods(now: () => number) {
  let at = -1;
  let cached: Record<Window, Period> | null = null;
  return (t = now()): Record<Window, Period> => {
    const sec = t - (t % 1000);
    if (cached === null || sec !== at) {
      at = sec;
      cached = { minute: periodOf('minute', t), hourly: periodOf('hourly', t), daily: periodOf('daily', t), monthly: periodOf('monthly', t) };
    }
    return cached;
  };
}

/** The counter of a rule (or of a line's limit) in a period. */
export const keyOf = (rule: Pick<BudgetRule, 'limitId'>, period: Period): string => `${rule.limitId}|${period.id}`;

const MINUTE_KEY = /\|m(\d+)$/;

/**
 * The same limit's line in the next minute, for a per-minute counter's line (null for the other
 * windows), and when that minute starts: the Redis store takes its lease ahead of the turn.
 */
export function nextMinute(line: ReserveLine): { line: ReserveLine; startsAt: number } | null {
  const m = MINUTE_KEY.exec(line.key);
  if (m === null) return null;
  const period = periodOf('minute', (Number(m[1]) + 1) * 60_000);
  return { line: lineOf(line, period, 0), startsAt: period.start };
}

/** The store line of a rule (or of a line's limit) in a period (`key`: its counter, when already known). */
export function lineOf(rule: Pick<BudgetRule, 'limitId' | 'limit'>, period: Period, amount: number, key = keyOf(rule, period)): ReserveLine {
  return { key, limitId: rule.limitId, limit: rule.limit, amount, until: period.end + 3_600_000 };
}
