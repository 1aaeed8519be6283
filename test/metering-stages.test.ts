/**
 * The metering stages on a call context, without the network: what they leave for the audit
 * record (usage, cost, tool calls, flags — set when the response ends, before its last bytes go
 * out), and tool-call budgets for the tool and MCP calls the tools workstream describes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfig } from '../src/config/load.js';
import { GatewayError } from '../src/errors.js';
import { loadRegistry } from '../src/identity/registry.js';
import { createLogger } from '../src/log.js';
import { createBudgetRules } from '../src/metering/budgets.js';
import { costOf, loadPrices } from '../src/metering/prices.js';
import { createSqliteStore } from '../src/metering/sqlite-store.js';
import { createMeteringStages } from '../src/metering/stages.js';
import { countTokens, MESSAGE_OVERHEAD } from '../src/metering/tokens.js';
import { CallContext } from '../src/pipeline/context.js';
import type { CallInfo } from '../src/providers/dialect.js';
import { openaiDialect } from '../src/providers/openai.js';
import type { RouteTarget } from '../src/routing/target.js';
import { createMetrics } from '../src/telemetry/metrics.js';
import { tapAfter, tapData, tapEnd } from '../src/upstream/tap.js';

const PRICES = loadPrices(new URL('../config/prices.yaml', import.meta.url).pathname);

function setup(t: Test, budget: string) {
  const dir = mkdtempSync(join(tmpdir(), 'aos-stages-'));
  writeFileSync(join(dir, 'agents.yaml'), `templates:\n  s: { version: 1, maxTokens: 100, budget: ${budget} }\nagents:\n  - { id: a1, team: t1, template: s }\n`);
  const registry = loadRegistry(join(dir, 'agents.yaml'));
  const { config } = parseConfig('providers: { openai: { dialect: openai, baseUrl: "http://127.0.0.1:1/v1" } }\nroutes: [{ prefix: /v1, provider: openai }]\n', join(dir, 'aos.yaml'), {});
  const store = createSqliteStore({ dataDir: dir, snapshotIntervalMs: 1000 });
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const stages = createMeteringStages({
    config: config.metering,
    store,
    prices: PRICES,
    rules: createBudgetRules(registry, 0.5),
    registry,
    metrics: createMetrics().metering,
    log: createLogger('silent'),
  });
  const route = {
    name: 'openai/chat.completions',
    upstream: { name: 'openai', dialect: openaiDialect },
    operation: openaiDialect.operations.get('/chat/completions')!,
    upstreamPath: '/v1/chat/completions',
  } as unknown as RouteTarget;
  const ctx = (json: Record<string, unknown>, call?: CallInfo) => {
    const c = new CallContext('r', {} as IncomingMessage, {} as ServerResponse, 0, '/v1/chat/completions', '', 'openai');
    c.route = route;
    c.agent = registry.agents.get('a1')!;
    c.json = json;
    c.call = call ?? openaiDialect.describe(route.operation, json);
    return c;
  };
  return { stages, store, ctx };
}

t.test('usage, cost, tool calls and the soft-limit flag are on the context when the response ends', async (t) => {
  const { stages, ctx } = setup(t, '{ daily_usd: 0.0001 }');
  const c = ctx({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'weather?' }] });
  stages.estimate(c);
  t.ok(c.estInputTokens! > 0, 'the prompt was counted');
  t.match(c.budget, { scope: 'agent:a1', window: 'daily', limit_usd: 0.0001, spent_usd: 0, reserved_usd: 0 }, 'near the limit: the budget is in the policy input');
  t.ok(c.budget!.estimated_usd > 0.00005, "with this call's worst case");
  await stages.reserve(c);
  t.same(c.flags, ['budget_soft_limit'], 'the worst case takes the budget past its soft threshold (0.5)');
  const body = {
    choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'x', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] } }],
    usage: { prompt_tokens: 12, completion_tokens: 7 },
  };
  for (const tap of c.taps!) tap.onStart?.(200, { 'content-type': 'application/json' });
  tapData(c.taps!, Buffer.from(JSON.stringify(body)));
  t.equal(tapEnd(c.taps!), null, 'a JSON body passes unchanged');
  t.equal(c.usage, null, 'its usage is read once the client has it, not before');
  tapAfter(c.taps!);
  t.same(c.usage, { inputTokens: 12, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 7, reasoningTokens: 0, estimated: false });
  t.equal(c.costUsd, costOf(c.usage!, PRICES.price('gpt-4o-mini')!));
  t.same(c.toolCalls, ['get_weather']);
  c.finish({ status: 200, totalMs: 1, upstreamMs: 1 });
  t.equal(c.costUsd, costOf(c.usage!, PRICES.price('gpt-4o-mini')!), 'finishing does not charge twice');
});

t.test('tool and MCP calls count against tool-call budgets (1 each), model budgets untouched', async (t) => {
  const { stages, store, ctx } = setup(t, '{ daily_usd: 1, tool_calls_daily: 2 }');
  const tool = (kind: 'tool' | 'mcp') => ctx({}, { kind, operation: 'tools/call', model: null, stream: false, maxTokens: null, tool: { name: 'search', server: 'kb', args: {} } });
  for (const kind of ['tool', 'mcp'] as const) {
    const c = tool(kind);
    stages.estimate(c);
    t.equal(c.budget, null, 'far from every threshold (policyBudget nearLimit): no budget in the policy input');
    await stages.reserve(c);
    t.equal(c.taps, null, `${kind}: no usage to read`);
    c.finish({ status: 200, totalMs: 1, upstreamMs: 1 });
  }
  const third = tool('tool');
  stages.estimate(third);
  const err = await Promise.resolve()
    .then(() => stages.reserve(third))
    .catch((e: unknown) => e);
  t.type(err, GatewayError);
  t.equal((err as GatewayError).code, 'aos_budget_exceeded');
  t.match((err as Error).message, /daily budget of agent:a1 would be exceeded \(limit 2 tool calls, 2 used\)/);
  t.equal(await store.openReservations(), 0);
  const m = ctx({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
  stages.estimate(m);
  await stages.reserve(m);
  t.ok(m.taps !== null, 'model calls still pass: the USD budget is untouched by tool calls');
  m.finish({ status: 200, totalMs: 1, upstreamMs: 1 });
});

t.test('a prompt far from every limit is bounded by its bytes; near a limit, or refused on the bound, it is counted exactly', async (t) => {
  const prompt = 'The quarterly report shows revenue growth across every region, with costs held flat. '.repeat(6);
  const exact = countTokens(prompt) + MESSAGE_OVERHEAD;
  const bound = Buffer.byteLength(prompt) + MESSAGE_OVERHEAD;
  t.ok(bound > 3 * exact, `the bound (${bound}) is well above the count (${exact}) for English text`);
  const body = () => ({ model: 'gpt-4o-mini', max_tokens: 1, messages: [{ role: 'user', content: prompt }] });

  const far = setup(t, '{ daily_usd: 100 }');
  const a = far.ctx(body());
  far.stages.estimate(a);
  t.same([a.estInputTokens, a.estInputExact], [bound, false], 'far from the limit: the bound, not tokenized');
  await far.stages.reserve(a);
  const price = PRICES.price('gpt-4o-mini')!;
  const worst = (input: number) => Math.round(costOf({ inputTokens: input, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 1, reasoningTokens: 0, estimated: false }, price) * 1e9);
  t.ok(
    far.store.peek({ key: `agent:a1|usd|daily|${new Date().toISOString().slice(0, 10)}`, limitId: 'agent:a1|usd|daily', limit: -1, amount: 0, until: 0 }).reserved >= worst(bound) - 1,
    'the reservation covers the bound',
  );

  // A limit between the exact worst case and the bound's: the bound would be refused.
  const between = ((worst(exact) + worst(bound)) / 2 / 1e9).toFixed(12);
  const near = setup(t, `{ daily_usd: ${between} }`);
  const b = near.ctx(body());
  near.stages.estimate(b);
  t.same([b.estInputTokens, b.estInputExact], [exact, true], 'near the limit: counted exactly');
  await t.resolves(Promise.resolve(near.stages.reserve(b)), 'and reserved within the limit');

  // Far at the estimate, then another call's reservation leaves room for the count but not the bound.
  const limit = Math.round(300 * worst(bound));
  const late = setup(t, `{ daily_usd: ${(limit / 1e9).toFixed(12)} }`);
  const c = late.ctx(body());
  late.stages.estimate(c);
  t.equal(c.estInputExact, false, 'far at the estimate');
  const key = `agent:a1|usd|daily|${new Date().toISOString().slice(0, 10)}`;
  const room = Math.round((worst(exact) + worst(bound)) / 2);
  const taken = late.store.reserve([{ key, limitId: 'agent:a1|usd|daily', limit, amount: limit - room, until: Date.now() + 86_400_000 }], 60_000);
  t.match(taken, { ok: true }, 'another call takes all but room for the count');
  await t.resolves(Promise.resolve(late.stages.reserve(c)), 'refused on the bound, reserved on the exact count');
  t.same([c.estInputTokens, c.estInputExact], [exact, true]);
});
