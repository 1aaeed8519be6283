/**
 * Metering and budgets end to end, through a real gateway in front of the sample upstream, with the
 * official SDKs: usage and cost charged, budgets enforced (429 insufficient_quota), rate limits
 * with Retry-After, soft thresholds, reservations released on every outcome, the policy seeing the
 * budget, the admin API, and OpenAI streams that look to the client exactly as without the gateway.
 */
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import type { BudgetView } from '../src/metering/admin.js';
import { costOf, loadPrices, worstCase } from '../src/metering/prices.js';
import { toNano } from '../src/metering/store.js';
import { countTokens, MESSAGE_OVERHEAD } from '../src/metering/tokens.js';
import { type Harness, startHarness } from './helpers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const PRICES = loadPrices(fileURLToPath(new URL('../config/prices.yaml', import.meta.url)));
const MINI = PRICES.price('gpt-4o-mini')!;

const registry = (budget: string, extra = '') => `
templates:
  standard: { version: 1, providers: [openai, anthropic], models: ["*"], maxTokens: 256, budget: ${budget} }
agents:
  - { id: writer, team: content, template: standard }
  - { id: other, team: content, template: standard }
${extra}`;

/** What the budget admin API answers: the budgets, or an error. */
interface AdminBody {
  budgets: BudgetView[];
  error: { message: string };
}

async function meteredHarness(t: Test, budget = '{ daily_usd: 20 }', opts: { extra?: string; config?: Record<string, unknown>; files?: Record<string, string> } = {}) {
  const h = await startHarness(t, { identity: { mode: 'required', registry: 'agents.yaml' }, ...opts.config }, { files: { 'agents.yaml': registry(budget, opts.extra), ...opts.files } });
  const token = (agent: string) => h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
  const adminToken = await h.gateway.signer()!.mint({ subject: 'finance', audience: 'aos-admin', roles: ['admin'], ttlSec: 600 });
  const adminApi = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${h.admin}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as AdminBody };
  };
  const budget_ = async (scope: string, key = 'daily_usd') => (await h.gateway.budgets()!.show(scope)).budgets.find((b) => b.key === key)!;
  const openai = async (agent: string) => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: await token(agent), maxRetries: 0, timeout: 10_000 });
  return Object.assign(h, { token, adminApi, budget: budget_, openai });
}

const open = async (h: Harness) => (await h.gateway.budgets()) && 0;
void open;

/** Waits until finishers ran (they run when the response closes, just after the client saw its end). */
const settled = async (h: Harness & { budget: (s: string) => Promise<{ reserved: number }> }, scope: string) => {
  for (let i = 0; i < 100; i++) {
    if ((await h.budget(scope)).reserved === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** Rate limits count per UTC minute: a test that needs several calls in one minute starts away from its end. */
const awayFromMinuteEnd = async () => {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 5_000) await new Promise((r) => setTimeout(r, left + 50));
};

t.test('a call is charged its real cost, from the usage the provider reported', async (t) => {
  const h = await meteredHarness(t);
  const client = await h.openai('writer');
  const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] });
  await settled(h, 'agent:writer');
  const cost = costOf({ inputTokens: r.usage!.prompt_tokens, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: r.usage!.completion_tokens, reasoningTokens: 0, estimated: false }, MINI);
  const b = await h.budget('agent:writer');
  t.equal(Math.round(b.spent * 1e9), toNano(cost), 'spent = the cost of the reported usage');
  t.equal(b.reserved, 0);
  t.equal(Math.round((await h.budget('agent:other')).spent * 1e9), 0, 'another agent is not charged');
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_budget_spend_usd_total\{team="content",agent=""\} [0-9.e-]+/);
  t.match(metrics, new RegExp(`aos_tokens_total\\{team="content",type="input"\\} ${r.usage!.prompt_tokens}`));
  t.match(metrics, /aos_budget_remaining_usd\{scope="agent:writer",window="daily"\} 19\.99/);
});

t.test('a hard budget: 429 aos_budget_exceeded with type insufficient_quota, in both dialects', async (t) => {
  const h = await meteredHarness(t, '{ daily_usd: 0.0005 }');
  const client = await h.openai('writer');
  // Worst case of this call: its prompt plus the template's 256 output tokens at gpt-4o-mini prices (~$0.00016).
  for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  // Now a big one that cannot fit.
  const err = await client.chat.completions.create({ model: 'gpt-4o', max_tokens: 4000, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
  t.type(err, OpenAI.RateLimitError);
  t.equal((err as InstanceType<typeof OpenAI.APIError>).type, 'insufficient_quota');
  t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'aos_budget_exceeded');
  t.match((err as Error).message, /daily budget of (agent:writer|team:content|org) would be exceeded \(limit \$0\.0005/);
  const anthropic = new Anthropic({ baseURL: `${h.url}/anthropic`, apiKey: await h.token('writer'), maxRetries: 0 });
  const aerr = await anthropic.messages.create({ model: 'claude-opus-4-1', max_tokens: 4000, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
  t.type(aerr, Anthropic.RateLimitError);
  t.match((aerr as Error).message, /aos_budget_exceeded/);
  t.equal(h.upstream.received.length, 3, 'refused calls never reach the provider');
});

t.test('200 parallel calls against a budget that fits 50: never overspent, every allowed call accounted', async (t) => {
  const prompt = 'count me in';
  // max_tokens as much as the sample answers (4 pieces): the worst case is close to the real cost.
  const worst = toNano(worstCase(countTokens(prompt) + MESSAGE_OVERHEAD, 4, MINI));
  const limitUsd = (50 * worst + 0.5) / 1e9;
  const h = await meteredHarness(t, `{ daily_usd: ${limitUsd} }`);
  const client = await h.openai('writer');
  const results = await Promise.all(
    Array.from({ length: 200 }, () =>
      client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 4, messages: [{ role: 'user', content: prompt }] }).then(
        (r) => r,
        (e: unknown) => e,
      ),
    ),
  );
  const ok = results.filter((r): r is OpenAI.ChatCompletion => !(r instanceof Error));
  const refused = results.filter((r) => r instanceof OpenAI.RateLimitError);
  t.equal(ok.length + refused.length, 200, 'every call either served or refused with 429');
  t.ok(ok.length >= 50 && ok.length < 60, `the 50 that fit were served, and the few that the real cost left room for (${ok.length})`);
  t.ok(refused.every((e) => (e as InstanceType<typeof OpenAI.APIError>).code === 'aos_budget_exceeded'));
  await settled(h, 'agent:writer');
  const b = await h.budget('agent:writer');
  const expected = ok.reduce(
    (sum, r) =>
      sum + toNano(costOf({ inputTokens: r.usage!.prompt_tokens, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: r.usage!.completion_tokens, reasoningTokens: 0, estimated: false }, MINI)),
    0,
  );
  t.equal(Math.round(b.spent * 1e9), expected, 'spent is exactly the sum of the served calls');
  t.ok(b.spent <= limitUsd, 'never over the limit');
  t.equal(b.reserved, 0, 'no reservation left');
  t.equal(h.upstream.received.length, ok.length, 'the provider saw exactly the served calls');
});

t.test('rate limits: requests and tokens per minute, 429 aos_rate_limited with Retry-After', async (t) => {
  await awayFromMinuteEnd();
  const h = await meteredHarness(t, '{ requests_per_minute: 3 }');
  const key = await h.token('writer');
  const call = () =>
    fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
  for (let i = 0; i < 3; i++) t.equal((await call()).status, 200);
  const res = await call();
  t.equal(res.status, 429);
  t.equal(res.headers.get('x-aos-error-code'), 'aos_rate_limited');
  const after = Number(res.headers.get('retry-after'));
  t.ok(after >= 1 && after <= 60, `Retry-After ${after}`);
  t.equal(((await res.json()) as { error: { type: string } }).error.type, 'rate_limit_error');
  const other = await (await h.openai('other')).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
  t.ok(other.id, 'per agent: another agent is not limited');

  const ht = await meteredHarness(t, '{ tokens_per_minute: 300 }');
  const c = await ht.openai('writer');
  await c.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: 'x' }] });
  const err = await c.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 290, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
  t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'aos_rate_limited', 'prompt + max_tokens would pass the tokens per minute');
});

t.test('reservations are released on every outcome; errors cost nothing', async (t) => {
  const h = await meteredHarness(t);
  const client = await h.openai('writer');
  const before = (await h.budget('agent:writer')).spent;
  for (const model of ['fail-500', 'fail-429']) {
    const err = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    t.type(err, OpenAI.APIError, `${model}: the provider's error`);
  }
  // The provider goes away: 502 before any response.
  const down = await meteredHarness(t);
  await down.upstream.close();
  const derr = await (await down.openai('writer')).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
  t.equal((derr as InstanceType<typeof OpenAI.APIError>).status, 502);
  await settled(down, 'agent:writer');
  t.same([(await down.budget('agent:writer')).spent, (await down.budget('agent:writer')).reserved], [0, 0], 'upstream unreachable: released, nothing spent');
  await settled(h, 'agent:writer');
  const b = await h.budget('agent:writer');
  t.equal(b.spent, before, 'provider errors are not charged');
  t.equal(b.reserved, 0);
  const every = (await h.gateway.budgets()!.show()).budgets;
  t.ok(every.length > 0, `${every.length} budgets shown`);
  t.same(
    every.filter((v) => v.reserved !== 0).map((v) => `${v.scope} ${v.key}: ${v.reserved} reserved`),
    [],
    'no budget holds a reservation',
  );
});

t.test('a stream cut short is charged for what was streamed (tokenizer count, estimated)', async (t) => {
  const h = await meteredHarness(t);
  for (const dialect of ['openai', 'anthropic'] as const) {
    const key = await h.token('writer');
    const ac = new AbortController();
    const body =
      dialect === 'openai'
        ? { model: 'slow-stream', stream: true, messages: [{ role: 'user', content: 'alpha beta gamma delta epsilon zeta eta theta' }] }
        : { model: 'slow-stream', stream: true, max_tokens: 100, messages: [{ role: 'user', content: 'alpha beta gamma delta epsilon zeta eta theta' }] };
    const before = (await h.budget('agent:writer')).spent;
    const res = await fetch(`${h.url}${dialect === 'openai' ? '/v1/chat/completions' : '/anthropic/v1/messages'}`, {
      method: 'POST',
      signal: ac.signal,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(body),
    });
    const reader = res.body!.getReader();
    let text = '';
    while (!/alpha/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    ac.abort();
    await h.upstream.received.at(-1)!.closed;
    await settled(h, 'agent:writer');
    const b = await h.budget('agent:writer');
    t.ok(b.spent > before, `${dialect}: charged (${b.spent - before})`);
    t.equal(b.reserved, 0, `${dialect}: reservation settled`);
    // Less than the worst case: only what was streamed (and the prompt) is charged.
    const worst = worstCase(countTokens(body.messages[0].content) + MESSAGE_OVERHEAD, dialect === 'openai' ? 256 : 100, PRICES.price('slow-stream')!);
    t.ok(b.spent - before < worst, `${dialect}: below the worst case`);
  }
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_tokens_total\{team="content",type="estimated"\} [1-9]/);
});

t.test('the soft threshold flags calls and counts them', async (t) => {
  const h = await meteredHarness(t, '{ daily_usd: 0.001, soft_ratio: 0.1 }');
  const client = await h.openai('writer');
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_budget_soft_limit_total\{kind="usd"\} 1/);
});

for (const policyBudget of ['always', 'nearLimit'])
  t.test(`over a hard limit: 429 aos_budget_exceeded before the policy is asked, with the policy enforcing (policyBudget ${policyBudget})`, async (t) => {
    const h = await meteredHarness(t, '{ daily_usd: 1 }', { config: { policy: { mode: 'enforce', bundle: { file: BUNDLE } }, metering: { policyBudget } } });
    const client = await h.openai('writer');
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    // Finance lowers the limit below what is spent: the next call cannot fit, whatever the policy says.
    const spent = (await h.budget('agent:writer')).spent;
    const set = await h.adminApi('PUT', `/admin/budgets/${encodeURIComponent('agent:writer')}`, { daily_usd: spent / 2 });
    t.equal(set.status, 200);
    const received = h.upstream.received.length;
    const err = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    t.equal((err as InstanceType<typeof OpenAI.APIError>).status, 429);
    t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'aos_budget_exceeded');
    t.match((err as Error).message, /daily budget of agent:writer would be exceeded/);
    t.equal(h.upstream.received.length, received, 'nothing reached the upstream');
  });

t.test('admin API: show, set (persisted, also for limits the registry does not configure), reset; bad input refused', async (t) => {
  const h = await meteredHarness(t, '{ daily_usd: 20 }', { extra: 'budgets:\n  teams:\n    content: { monthly_usd: 500 }\n' });
  const client = await h.openai('writer');
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
  const all = await h.adminApi('GET', '/admin/budgets');
  t.equal(all.status, 200);
  t.same(all.body.budgets.map((b) => `${b.scope} ${b.key}`).sort(), ['agent:other daily_usd', 'agent:writer daily_usd', 'team:content monthly_usd']);
  const team = all.body.budgets.find((b) => b.scope === 'team:content')!;
  t.ok(team.spent > 0, 'the team budget is charged too');
  t.equal(team.limit, 500);
  t.equal(typeof team.resets_at, 'string');

  await awayFromMinuteEnd();
  const set = await h.adminApi('PUT', '/admin/budgets/org', { requests_per_minute: 1 });
  t.equal(set.status, 200);
  t.same(
    set.body.budgets.map((b) => [b.key, b.limit, b.override]),
    [['requests_per_minute', 1, 1]],
  );
  const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
  const second = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
  t.notOk(first instanceof Error, 'one request this minute');
  t.equal((second as InstanceType<typeof OpenAI.APIError>).code, 'aos_rate_limited', 'an override-only limit is enforced at once');
  t.equal((await h.adminApi('PUT', '/admin/budgets/org', { requests_per_minute: null })).status, 200);

  const reset = await h.adminApi('POST', `/admin/budgets/${encodeURIComponent('agent:writer')}/reset`, {});
  t.equal(reset.status, 200);
  t.equal(reset.body.budgets[0].spent, 0);

  for (const [path, body, msg] of [
    ['/admin/budgets/nobody', { daily_usd: 1 }, /a budget scope is org, agent:<id> or team:<name>/],
    ['/admin/budgets/org', { daily_eur: 1 }, /unknown budget key "daily_eur"/],
    ['/admin/budgets/org', { daily_usd: -1 }, /expected a number ≥ 0/],
    ['/admin/budgets/org', { requests_per_minute: 1.5 }, /an integer/],
    ['/admin/budgets/org', {}, /nothing to set/],
  ] as const) {
    const r = await h.adminApi('PUT', path, body);
    t.equal(r.status, 400, path);
    t.match(r.body.error.message, msg);
  }
  const anon = await fetch(`${h.admin}/admin/budgets`);
  t.equal(anon.status, 401, 'the admin token is required');
});

t.test('an unknown model is denied when the price table says so', async (t) => {
  const prices = 'models:\n  "gpt-4o-mini*": { input: 0.15, output: 0.6 }\nunknown: { action: deny }\n';
  const h = await meteredHarness(t, '{ daily_usd: 20 }', { config: { metering: { prices: 'prices.yaml' } }, files: { 'prices.yaml': prices } });
  const client = await h.openai('writer');
  const err = await client.chat.completions.create({ model: 'mystery-model', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
  t.equal((err as InstanceType<typeof OpenAI.APIError>).status, 403);
  t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'aos_model_unpriced');
  t.ok(await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }));
  // A broken price table is rejected on reload, with where and why; the last good one keeps serving.
  const { writeFileSync } = await import('node:fs');
  writeFileSync(`${h.dir}/prices.yaml`, 'models:\n  "gpt-4o-mini*": { input: cheap, output: 0.6 }\n');
  const reload = await h.gateway.reload();
  t.notOk(reload.ok);
  t.match(!reload.ok && reload.error.message, /prices\.yaml:2:\d+: models\.gpt-4o-mini\*\.input: expected number, got "cheap"/);
  t.ok(await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }));
});
