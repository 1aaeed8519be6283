/**
 * The response cache end to end: a real gateway (identity, metering, audit) in front of the sample
 * upstream, the official OpenAI and Anthropic SDKs, streaming and not, SQLite and a real Redis
 * shared by two gateways; scopes, opt-in and no-store, TTL, what a hit is charged and audited as,
 * and that a suspended agent is never answered from the cache.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { auditEvents, type Harness, startHarness } from './helpers.js';
import { REDIS, startRedis } from './redis-server.js';

const registry = `
templates:
  standard: { version: 1, models: ["*"], maxTokens: 256 }
  solo: { version: 1, models: ["*"], maxTokens: 256, cache: { scope: agent } }
  brief: { version: 1, models: ["*"], maxTokens: 256, cache: { ttlSeconds: 1 } }
  never: { version: 1, models: ["*"], maxTokens: 256, cache: { mode: off } }
agents:
  - { id: writer, team: content, template: standard }
  - { id: editor, team: content, template: standard }
  - { id: analyst, team: finance, template: standard }
  - { id: loner, team: content, template: solo }
  - { id: loner2, team: content, template: solo }
  - { id: quick, team: ops, template: brief }
  - { id: nocache, team: content, template: never }
`;

async function cached(t: Test, cache: Record<string, unknown> = {}) {
  const h = await startHarness(t, { identity: { mode: 'required', registry: 'agents.yaml' }, cache: { mode: 'on', ...cache } }, { files: { 'agents.yaml': registry } });
  const token = (agent: string) => h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
  const openai = async (agent: string, headers: Record<string, string> = {}) =>
    new OpenAI({ baseURL: `${h.url}/v1`, apiKey: await token(agent), maxRetries: 0, timeout: 10_000, defaultHeaders: headers });
  const anthropic = async (agent: string) => new Anthropic({ baseURL: `${h.url}/anthropic`, apiKey: await token(agent), maxRetries: 0, timeout: 10_000 });
  return { h, token, openai, anthropic, upstreamCalls: () => h.upstream.received.length };
}

const ask = (content: string, extra: Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming> = {}): OpenAI.Chat.ChatCompletionCreateParamsNonStreaming => ({
  model: 'gpt-4o-mini',
  temperature: 0,
  messages: [{ role: 'user', content }],
  ...extra,
});

const metric = async (h: Harness, name: string) => {
  const text = await (await fetch(`${h.admin}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
};

t.test('openai SDK: a miss is forwarded and stored; the same request is answered by the gateway, plain and streamed', async (t) => {
  const { h, openai, upstreamCalls } = await cached(t);
  const client = await openai('writer');
  const first = await client.chat.completions.create(ask('hello cache')).withResponse();
  t.equal(first.response.headers.get('x-aos-cache'), 'miss');
  t.equal(upstreamCalls(), 1);
  const second = await client.chat.completions.create(ask('hello cache')).withResponse();
  t.equal(second.response.headers.get('x-aos-cache'), 'hit');
  t.equal(upstreamCalls(), 1, 'no upstream call');
  t.same(second.data, first.data, 'the stored answer, whole');

  // The same request streamed: the stored JSON answer replayed as chat chunks (the key ignores stream and stream_options).
  const stream = await client.chat.completions.create({ ...ask('hello cache'), stream: true, stream_options: { include_usage: true } }).withResponse();
  t.equal(stream.response.headers.get('x-aos-cache'), 'hit');
  const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
  for await (const c of stream.data) chunks.push(c);
  t.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), first.data.choices[0].message.content);
  t.equal(chunks.at(-2)?.choices[0].finish_reason, 'stop');
  t.same(chunks.at(-1)?.usage, first.data.usage, 'the usage chunk the client asked for');
  t.equal(upstreamCalls(), 1);

  // Not deterministic by its request: not cached at all.
  const warm = await client.chat.completions.create(ask('hello cache', { temperature: 0.7 })).withResponse();
  t.equal(warm.response.headers.get('x-aos-cache'), null);
  t.equal(upstreamCalls(), 2);
  // ... unless the agent opts in.
  const optIn = await openai('writer', { 'x-aos-cache': 'on' });
  await optIn.chat.completions.create(ask('warm', { temperature: 0.7 }));
  const again = await optIn.chat.completions.create(ask('warm', { temperature: 0.7 })).withResponse();
  t.equal(again.response.headers.get('x-aos-cache'), 'hit');
  t.equal(upstreamCalls(), 3);
  t.notOk(
    h.upstream.received.some((r) => r.headers['x-aos-cache'] !== undefined),
    'the opt-in header is not sent upstream',
  );

  const events = await auditEvents(h, 6);
  t.equal(events.length, 6, 'one audit event per call, hits included');
  const [miss, hit, streamed] = events;
  t.equal(miss.flags, null);
  t.ok(miss.cost_usd! > 0, 'a miss is charged');
  t.same(hit.flags, ['cache_hit']);
  t.equal(hit.cost_usd, 0, 'a hit is free (chargeFraction 0)');
  t.equal(hit.input_tokens, miss.input_tokens, 'the tokens of the answer it replayed');
  t.equal(hit.decision, 'allow');
  t.equal(hit.outcome, 'completed');
  t.equal(hit.upstream_ms, null, 'no upstream');
  t.same(streamed.flags, ['cache_hit']);
  t.equal(streamed.stream, true);

  t.match(await metric(h, 'aos_cache_hits_total'), /aos_cache_hits_total\{scope="team"\} 3/);
  t.match(await metric(h, 'aos_cache_misses_total'), /aos_cache_misses_total\{scope="team"\} 2/);
  t.match(await metric(h, 'aos_cache_stores_total'), /aos_cache_stores_total 2/);
  t.match(await metric(h, 'aos_cache_saved_tokens_total'), new RegExp(`kind="output"\\} ${2 * first.data.usage!.completion_tokens + 2}`));
  t.match(await metric(h, 'aos_cache_saved_usd_total'), /aos_cache_saved_usd_total [0-9.e-]+/);
});

t.test('anthropic SDK: a JSON answer replayed as Messages events; a stored stream replayed as it was', async (t) => {
  const { openai: _o, anthropic, upstreamCalls } = await cached(t);
  const client = await anthropic('writer');
  const params = { model: 'claude-sonnet-4-6', max_tokens: 64, temperature: 0, messages: [{ role: 'user' as const, content: 'tell me once' }] };
  const first = await client.messages.create(params).withResponse();
  t.equal(first.response.headers.get('x-aos-cache'), 'miss');
  const stream = client.messages.stream(params);
  const final = await stream.finalMessage();
  t.equal(upstreamCalls(), 1, 'the stream was answered from the cache');
  t.same(final.content, first.data.content);
  t.equal(final.stop_reason, first.data.stop_reason);
  t.equal(final.usage.output_tokens, first.data.usage.output_tokens);

  // A stream first: stored as its events, replayed to the next streaming call.
  const p2 = { ...params, messages: [{ role: 'user' as const, content: 'stream me' }] };
  const s1 = await client.messages.stream(p2).finalMessage();
  t.equal(upstreamCalls(), 2);
  const s2 = await client.messages.create({ ...p2, stream: true }).withResponse();
  t.equal(s2.response.headers.get('x-aos-cache'), 'hit');
  let text = '';
  for await (const e of s2.data) if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
  t.equal(text, (s1.content[0] as Anthropic.TextBlock).text);
  t.equal(upstreamCalls(), 2);
  // A plain call cannot be answered with a stored stream: forwarded, and its JSON answer stored.
  const plain = await client.messages.create(p2).withResponse();
  t.equal(plain.response.headers.get('x-aos-cache'), 'miss');
  t.equal(upstreamCalls(), 3);
  t.equal((await client.messages.create(p2).withResponse()).response.headers.get('x-aos-cache'), 'hit');
  t.equal(upstreamCalls(), 3);
});

t.test('scopes: a team shares, another team does not; a template narrows to the agent or turns the cache off', async (t) => {
  const { openai, upstreamCalls } = await cached(t);
  const call = async (agent: string, q: string) => (await (await openai(agent)).chat.completions.create(ask(q)).withResponse()).response.headers.get('x-aos-cache');
  t.equal(await call('writer', 'shared?'), 'miss');
  t.equal(await call('editor', 'shared?'), 'hit', 'same team');
  t.equal(await call('analyst', 'shared?'), 'miss', 'another team: never shared');
  t.equal(await call('loner', 'shared?'), 'miss', 'agent scope: its own entries');
  t.equal(await call('loner2', 'shared?'), 'miss', 'another agent of the same template');
  t.equal(await call('loner', 'shared?'), 'hit');
  t.equal(await call('nocache', 'shared?'), null, 'template cache off');
  t.equal(await call('nocache', 'shared?'), null);
  t.equal(upstreamCalls(), 6);
});

t.test('Cache-Control: no-store bypasses, no-cache refreshes; TTL expiry', async (t) => {
  const { openai, upstreamCalls } = await cached(t);
  const noStore = await openai('writer', { 'cache-control': 'no-store' });
  await noStore.chat.completions.create(ask('private'));
  t.equal((await noStore.chat.completions.create(ask('private')).withResponse()).response.headers.get('x-aos-cache'), null);
  t.equal((await (await openai('writer')).chat.completions.create(ask('private')).withResponse()).response.headers.get('x-aos-cache'), 'miss', 'nothing was stored');
  t.equal(upstreamCalls(), 3);
  const noCache = await openai('writer', { 'cache-control': 'no-cache' });
  t.equal((await noCache.chat.completions.create(ask('private')).withResponse()).response.headers.get('x-aos-cache'), 'miss', 'no-cache: not answered from the cache');
  t.equal(upstreamCalls(), 4);

  const quick = await openai('quick');
  await quick.chat.completions.create(ask('fleeting'));
  t.equal((await quick.chat.completions.create(ask('fleeting')).withResponse()).response.headers.get('x-aos-cache'), 'hit');
  await new Promise((r) => setTimeout(r, 1100));
  t.equal((await quick.chat.completions.create(ask('fleeting')).withResponse()).response.headers.get('x-aos-cache'), 'miss', 'expired after the template TTL (1 s)');
});

t.test('a suspended agent gets nothing from the cache; chargeFraction charges a share of a hit', async (t) => {
  const { h, openai, upstreamCalls } = await cached(t, { chargeFraction: 0.25 });
  const client = await openai('writer');
  await client.chat.completions.create(ask('for the record'));
  await client.chat.completions.create(ask('for the record'));
  h.gateway.suspensions().suspend('writer', 'test', 'test');
  const err = await client.chat.completions.create(ask('for the record')).catch((e: unknown) => e);
  t.match(err, { status: 403, code: 'aos_agent_suspended' });
  t.equal(upstreamCalls(), 1);
  const events = await auditEvents(h, 3);
  t.same(events[1].flags, ['cache_hit']);
  t.ok(Math.abs(events[1].cost_usd! - 0.25 * events[0].cost_usd!) < 1e-12, `a quarter of ${events[0].cost_usd}: ${events[1].cost_usd}`);
  t.equal(events[2].decision, 'deny');
});

t.test('redis: two gateways of a fleet share the entries', REDIS.options, async (t) => {
  const r = await startRedis(t);
  const cache = { store: 'redis', redis: { url: r.url, commandTimeoutMs: 500 } };
  const a = await cached(t, cache);
  const b = await cached(t, cache);
  // The store's client connects lazily: wait until gateway A stores.
  let stored = false;
  for (let i = 0; i < 50 && !stored; i++) {
    await (await a.openai('writer')).chat.completions.create(ask(`fleet ${i}`));
    const res = await (await b.openai('editor')).chat.completions.create(ask(`fleet ${i}`)).withResponse();
    stored = res.response.headers.get('x-aos-cache') === 'hit';
  }
  t.ok(stored, 'gateway B answered what gateway A stored');
  const before = b.upstreamCalls();
  const s = await (await b.openai('writer')).chat.completions.create({ ...ask('fleet streamed'), stream: true });
  for await (const _ of s);
  const again = await (await a.openai('writer')).chat.completions.create({ ...ask('fleet streamed'), stream: true }).withResponse();
  t.equal(again.response.headers.get('x-aos-cache'), 'hit', 'a stream stored by B, replayed by A');
  let text = '';
  for await (const c of again.data) text += c.choices[0]?.delta.content ?? '';
  t.equal(text, 'Echo: fleet streamed');
  t.equal(b.upstreamCalls(), before + 1);
});
