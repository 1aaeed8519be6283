import { GatewayError } from '../errors.js';
import { type BudgetRule, type BudgetRules, type Kind, lineOf, periodOf, type Window } from './budgets.js';
import { type BudgetStore, NANO, toNano } from './store.js';

/** Budget keys as in config/agents.yaml, and the limit each one sets. */
export const BUDGET_KEYS: Readonly<Record<string, [Kind, Window]>> = {
  hourly_usd: ['usd', 'hourly'],
  daily_usd: ['usd', 'daily'],
  monthly_usd: ['usd', 'monthly'],
  tool_calls_hourly: ['tool_calls', 'hourly'],
  tool_calls_daily: ['tool_calls', 'daily'],
  tool_calls_monthly: ['tool_calls', 'monthly'],
  requests_per_minute: ['requests', 'minute'],
  tokens_per_minute: ['tokens', 'minute'],
};

const SCOPE = /^(?:org|agent:.+|team:.+)$/;

export interface BudgetView {
  scope: string;
  key: string;
  kind: Kind;
  window: Window;
  period: string;
  resets_at: string;
  /** In USD for usd budgets, else calls/tokens. */
  limit: number;
  configured: number | null;
  override: number | null;
  spent: number;
  reserved: number;
  remaining: number;
}

/** What the admin API and `aos budget` do: show, set (persisted overrides), reset. */
export interface BudgetAdmin {
  show(scope?: string): Promise<{ store: string; healthy: boolean; budgets: BudgetView[] }>;
  set(scope: string, values: Record<string, unknown>): Promise<void>;
  reset(scope: string, window?: string): Promise<number>;
}

export function createBudgetAdmin(store: BudgetStore, rules: () => BudgetRules, onChange: () => Promise<void> | void, now: () => number = Date.now): BudgetAdmin {
  const scopeOf = (scope: unknown): string => {
    if (typeof scope !== 'string' || !SCOPE.test(scope)) throw new GatewayError('aos_bad_request', `a budget scope is org, agent:<id> or team:<name>, got ${JSON.stringify(scope)}`);
    return scope;
  };
  /** Configured rules plus those that exist only as overrides. */
  const known = async (): Promise<{ rules: BudgetRule[]; overrides: Map<string, number> }> => {
    const overrides = await store.limits();
    const list = rules().all();
    const ids = new Set(list.map((r) => r.limitId));
    for (const [limitId, value] of overrides) {
      if (ids.has(limitId)) continue;
      const [scope, kind, window] = limitId.split('|') as [string, Kind, Window];
      list.push({ scope, kind, window, limit: value, soft: 1, limitId, overrideOnly: true });
    }
    return { rules: list, overrides };
  };
  return {
    async show(scope) {
      const { rules: list, overrides } = await known();
      const chosen = list.filter((r) => scope === undefined || r.scope === scope);
      const t = now();
      const lines = chosen.map((r) => lineOf(r, periodOf(r.window, t), 0));
      const states = await store.read(lines);
      const unit = (r: BudgetRule, v: number) => (r.kind === 'usd' ? v / NANO : v);
      return {
        store: store.kind,
        healthy: store.healthy(),
        budgets: chosen.map((r, i) => {
          const p = periodOf(r.window, t);
          const s = states[i];
          const configured =
            rules()
              .all()
              .find((x) => x.limitId === r.limitId && !x.overrideOnly)?.limit ?? null;
          return {
            scope: r.scope,
            key: Object.entries(BUDGET_KEYS).find(([, [k, w]]) => k === r.kind && w === r.window)![0],
            kind: r.kind,
            window: r.window,
            period: p.id,
            resets_at: new Date(p.end).toISOString(),
            limit: unit(r, s.limit),
            configured: configured === null ? null : unit(r, configured),
            override: overrides.has(r.limitId) ? unit(r, overrides.get(r.limitId)!) : null,
            spent: unit(r, s.spent),
            reserved: unit(r, s.reserved),
            remaining: s.limit < 0 ? -1 : unit(r, Math.max(0, s.limit - s.spent - s.reserved)),
          };
        }),
      };
    },
    async set(scope, values) {
      scopeOf(scope);
      const entries = Object.entries(values);
      if (entries.length === 0) throw new GatewayError('aos_bad_request', `nothing to set: give one or more of ${Object.keys(BUDGET_KEYS).join(', ')}`);
      for (const [key, value] of entries) {
        if (!(key in BUDGET_KEYS)) throw new GatewayError('aos_bad_request', `unknown budget key "${key}" (expected one of ${Object.keys(BUDGET_KEYS).join(', ')})`);
        if (value !== null && (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!key.endsWith('_usd') && !Number.isInteger(value)))) {
          throw new GatewayError('aos_bad_request', `${key}: expected a number ≥ 0${key.endsWith('_usd') ? '' : ' (an integer)'} or null to remove the override, got ${JSON.stringify(value)}`);
        }
      }
      for (const [key, value] of entries) {
        const [kind, window] = BUDGET_KEYS[key];
        await store.setLimit(`${scope}|${kind}|${window}`, value === null ? null : kind === 'usd' ? toNano(value as number) : (value as number));
      }
      await onChange();
    },
    async reset(scope, window) {
      scopeOf(scope);
      const { rules: list } = await known();
      const t = now();
      const keys = list.filter((r) => r.scope === scope && (window === undefined || r.window === window)).map((r) => lineOf(r, periodOf(r.window, t), 0).key);
      await store.reset(keys);
      return keys.length;
    },
  };
}
