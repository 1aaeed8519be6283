/**
 * Usage extraction, dialect by dialect: recorded provider responses and SSE streams (shapes as the
 * providers send them) go through the response tap with the real dialect readers, whole and split
 * at every byte, and come out as one normalized usage ("input" includes cached tokens everywhere).
 */
import t from 'tap';
import { costOf, loadPrices, worstCase } from '../src/metering/prices.js';
import { countTokens } from '../src/metering/tokens.js';
import { UsageTap } from '../src/metering/usage-tap.js';
import { anthropicDialect } from '../src/providers/anthropic.js';
import type { WireDialect } from '../src/providers/dialect.js';
import { openaiDialect } from '../src/providers/openai.js';

const sse = (events: unknown[], named = false) =>
  events.map((e) => (e === '[DONE]' ? 'data: [DONE]\n\n' : named ? `event: ${(e as { type: string }).type}\ndata: ${JSON.stringify(e)}\n\n` : `data: ${JSON.stringify(e)}\n\n`)).join('');

const chunk = (delta: object, extra: object = {}) => ({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, delta, finish_reason: null }], ...extra });

interface Case {
  name: string;
  dialect: WireDialect;
  path: string;
  stream: boolean;
  body: string;
  injected?: boolean;
  usage: { inputTokens: number; cachedInputTokens: number; cacheWriteTokens: number; outputTokens: number; reasoningTokens: number } | null;
  toolCalls: string[] | null;
  /** What the client receives, when it differs from the body. */
  out?: string;
}

const CASES: Case[] = [
  {
    name: 'openai chat JSON: cached and reasoning details, tool calls',
    dialect: openaiDialect,
    path: '/chat/completions',
    stream: false,
    body: JSON.stringify({
      id: 'x',
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 't1', type: 'function', function: { name: 'get_weather', arguments: '{}' } },
              { id: 't2', type: 'function', function: { name: 'search', arguments: '{}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 1200, completion_tokens: 300, total_tokens: 1500, prompt_tokens_details: { cached_tokens: 1024 }, completion_tokens_details: { reasoning_tokens: 256 } },
    }),
    usage: { inputTokens: 1200, cachedInputTokens: 1024, cacheWriteTokens: 0, outputTokens: 300, reasoningTokens: 256 },
    toolCalls: ['get_weather', 'search'],
  },
  {
    name: 'openai chat stream, the client asked for usage: passed on whole',
    dialect: openaiDialect,
    path: '/chat/completions',
    stream: true,
    body: sse([
      chunk({ role: 'assistant', content: '' }, { usage: null }),
      chunk({ content: 'Hi' }, { usage: null }),
      {
        id: 'c',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [],
        usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11, prompt_tokens_details: { cached_tokens: 0 } },
      },
      '[DONE]',
    ]),
    usage: { inputTokens: 9, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 2, reasoningTokens: 0 },
    toolCalls: null,
  },
  {
    name: 'openai chat stream, usage asked for by the gateway: the usage chunk and the usage:null fields are removed',
    dialect: openaiDialect,
    path: '/chat/completions',
    stream: true,
    injected: true,
    body: sse([
      chunk({ role: 'assistant', content: '' }, { usage: null }),
      chunk({ tool_calls: [{ index: 0, id: 't', type: 'function', function: { name: 'lookup', arguments: '' } }] }, { usage: null }),
      chunk({ content: 'é😀' }, { usage: null }),
      { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } },
      '[DONE]',
    ]),
    out: sse([
      chunk({ role: 'assistant', content: '' }),
      chunk({ tool_calls: [{ index: 0, id: 't', type: 'function', function: { name: 'lookup', arguments: '' } }] }),
      chunk({ content: 'é😀' }),
      '[DONE]',
    ]),
    usage: { inputTokens: 9, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 3, reasoningTokens: 0 },
    toolCalls: ['lookup'],
  },
  {
    name: 'openai responses JSON: function_call items, input/output details',
    dialect: openaiDialect,
    path: '/responses',
    stream: false,
    body: JSON.stringify({
      id: 'r',
      object: 'response',
      status: 'completed',
      output: [
        { type: 'reasoning', id: 'rs' },
        { type: 'function_call', id: 'fc', call_id: 'c1', name: 'create_ticket', arguments: '{}' },
      ],
      usage: { input_tokens: 500, input_tokens_details: { cached_tokens: 100 }, output_tokens: 80, output_tokens_details: { reasoning_tokens: 40 }, total_tokens: 580 },
    }),
    usage: { inputTokens: 500, cachedInputTokens: 100, cacheWriteTokens: 0, outputTokens: 80, reasoningTokens: 40 },
    toolCalls: ['create_ticket'],
  },
  {
    name: 'openai responses stream: usage in response.completed',
    dialect: openaiDialect,
    path: '/responses',
    stream: true,
    body: sse(
      [
        { type: 'response.created', sequence_number: 0, response: { id: 'r', status: 'in_progress', usage: null } },
        { type: 'response.output_item.added', sequence_number: 1, output_index: 0, item: { type: 'function_call', name: 'lookup', arguments: '' } },
        { type: 'response.function_call_arguments.delta', sequence_number: 2, delta: '{"q":1}' },
        { type: 'response.output_text.delta', sequence_number: 3, delta: 'hello' },
        {
          type: 'response.completed',
          sequence_number: 4,
          response: { id: 'r', status: 'completed', usage: { input_tokens: 20, input_tokens_details: { cached_tokens: 0 }, output_tokens: 7, output_tokens_details: { reasoning_tokens: 0 } } },
        },
      ],
      true,
    ),
    usage: { inputTokens: 20, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 7, reasoningTokens: 0 },
    toolCalls: ['lookup'],
  },
  {
    name: 'openai embeddings',
    dialect: openaiDialect,
    path: '/embeddings',
    stream: false,
    body: JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1] }], model: 'text-embedding-3-small', usage: { prompt_tokens: 8, total_tokens: 8 } }),
    usage: { inputTokens: 8, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0 },
    toolCalls: null,
  },
  {
    name: 'anthropic JSON: input excludes cache tokens, normalized to include them; tool_use blocks',
    dialect: anthropicDialect,
    path: '/v1/messages',
    stream: false,
    body: JSON.stringify({
      id: 'm',
      type: 'message',
      role: 'assistant',
      content: [
        { type: 'text', text: 'ok' },
        { type: 'tool_use', id: 'tu', name: 'get_weather', input: {} },
      ],
      usage: { input_tokens: 50, cache_creation_input_tokens: 2000, cache_read_input_tokens: 3000, output_tokens: 120 },
    }),
    usage: { inputTokens: 5050, cachedInputTokens: 3000, cacheWriteTokens: 2000, outputTokens: 120, reasoningTokens: 0 },
    toolCalls: ['get_weather'],
  },
  {
    name: 'anthropic stream: message_start input, message_delta running totals (the last one, not the sum)',
    dialect: anthropicDialect,
    path: '/v1/messages',
    stream: true,
    body: sse(
      [
        { type: 'message_start', message: { id: 'm', usage: { input_tokens: 40, cache_creation_input_tokens: 0, cache_read_input_tokens: 1000, output_tokens: 1 } } },
        { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'tu', name: 'search', input: {} } },
        { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"q":' } },
        { type: 'message_delta', delta: { stop_reason: null }, usage: { output_tokens: 10 } },
        { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 25 } },
        { type: 'message_stop' },
      ],
      true,
    ),
    usage: { inputTokens: 1040, cachedInputTokens: 1000, cacheWriteTokens: 0, outputTokens: 25, reasoningTokens: 0 },
    toolCalls: ['search'],
  },
  {
    name: 'a provider error body: no usage, passed on untouched',
    dialect: openaiDialect,
    path: '/chat/completions',
    stream: false,
    body: JSON.stringify({ error: { message: 'nope', type: 'server_error' } }),
    usage: null,
    toolCalls: null,
  },
];

function run(c: Case, pieces: readonly Buffer[], status = c.usage === null ? 500 : 200) {
  const op = c.dialect.operations.get(c.path)!;
  const tap = new UsageTap(c.dialect.metering!, op, c.injected ?? false);
  tap.onStart(status, { 'content-type': c.stream ? 'text/event-stream' : 'application/json' });
  const out: Buffer[] = [];
  for (const p of pieces) {
    const o = tap.onData(p);
    if (o !== null) out.push(o);
  }
  const tail = tap.onEnd();
  if (tail !== null) out.push(tail);
  tap.afterEnd();
  return { tap, out: Buffer.concat(out).toString('utf8') };
}

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const whole = Buffer.from(c.body);
    const bytes = [...whole].map((b) => Buffer.from([b]));
    for (const [how, pieces] of [
      ['whole', [whole]],
      ['byte by byte', bytes],
    ] as const) {
      const { tap, out } = run(c, pieces);
      t.same(tap.state.usage === null ? null : { ...tap.state.usage, estimated: undefined }, c.usage === null ? null : { ...c.usage, estimated: undefined }, `${how}: usage`);
      if (c.usage !== null) t.equal(tap.state.usage!.estimated, false);
      t.same(tap.state.toolCalls, c.toolCalls, `${how}: tool calls`);
      t.equal(out, c.out ?? c.body, `${how}: what the client receives`);
    }
  });
}

t.test('prices: exact and prefix matches (longest wins), unknown models priced or denied, cost of a usage', async (t) => {
  const p = loadPrices(new URL('../config/prices.yaml', import.meta.url).pathname);
  t.same(p.price('gpt-4o-mini-2024-07-18'), { input: 0.15, cachedInput: 0.075, cacheWrite: 0.15, output: 0.6, audioInput: 0.15, cachedAudioInput: 0.075, audioOutput: 0.6 });
  t.equal(p.price('gpt-4o-2024-11-20')!.input, 2.5, 'gpt-4o* does not take gpt-4o-mini*');
  t.ok(p.listed('claude-sonnet-4-5'));
  t.notOk(p.listed('my-local-model'));
  t.same(p.price('my-local-model'), { input: 15, cachedInput: 15, cacheWrite: 15, output: 75, audioInput: 15, cachedAudioInput: 15, audioOutput: 75 }, 'priced by the unknown default');
  const sonnet = p.price('claude-sonnet-4-5')!;
  const cost = costOf({ inputTokens: 5050, cachedInputTokens: 3000, cacheWriteTokens: 2000, outputTokens: 120, reasoningTokens: 0, estimated: false }, sonnet);
  t.equal(Math.round(cost * 1e9), Math.round((50 * 3 + 3000 * 0.3 + 2000 * 3.75 + 120 * 15) * 1000));
  t.ok(worstCase(1000, 100, sonnet) >= (1000 * 3 + 100 * 15) / 1e6, 'the worst case prices every input token at the dearest input rate');
});

t.test('the tokenizer counts real tokens, not characters', async (t) => {
  t.equal(countTokens(''), 0);
  t.equal(countTokens('hello world'), 2);
  t.ok(countTokens('The quick brown fox jumps over the lazy dog. '.repeat(20)) < 250);
});
