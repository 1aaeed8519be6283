/** The official OpenAI SDK (v6) against the gateway, with the sample upstream behind it. */

import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { type Harness, PROVIDER_KEY, startHarness } from './helpers.js';

const AGENT_KEY = 'agent-key-openai-sdk';

const client = (h: Harness) => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: AGENT_KEY, maxRetries: 0, timeout: 10_000 });

/** The upstream saw the provider key, never the agent's. */
function checkCredentials(t: Test, h: Harness) {
  t.ok(h.upstream.received.length > 0, 'the upstream was called');
  for (const r of h.upstream.received) {
    t.equal(r.headers.authorization, `Bearer ${PROVIDER_KEY}`, `${r.path}: provider key injected`);
    t.notOk(JSON.stringify(r.headers).includes(AGENT_KEY), `${r.path}: agent key stripped`);
  }
}

t.test('openai SDK: the happy paths', async (t) => {
  const h = await startHarness(t);
  const openai = client(h);

  t.test('chat completion', async (t) => {
    const res = await openai.chat.completions.create({ model: 'gpt-sample', messages: [{ role: 'user', content: 'hello there' }] });
    t.equal(res.object, 'chat.completion');
    t.equal(res.choices[0].message.content, 'Echo: hello there');
    t.equal(res.usage?.completion_tokens, 3);
  });

  t.test('chat completion stream', async (t) => {
    const stream = await openai.chat.completions.create({
      model: 'gpt-sample',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'one two three' }],
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    t.ok(chunks.length > 3, 'several chunks');
    t.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'Echo: one two three');
    t.equal(chunks.at(-2)?.choices[0].finish_reason, 'stop');
    t.equal(chunks.at(-1)?.usage?.total_tokens, 6 + 4, 'usage chunk passed through');
  });

  t.test('responses', async (t) => {
    const res = await openai.responses.create({ model: 'gpt-sample', input: 'what now' });
    t.equal(res.status, 'completed');
    t.equal(res.output_text, 'Echo: what now');
  });

  t.test('responses stream', async (t) => {
    const stream = openai.responses.stream({ model: 'gpt-sample', input: 'stream me' });
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    t.same(types, [
      'response.created',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    t.equal(text, 'Echo: stream me');
    const final = await stream.finalResponse();
    t.equal(final.status, 'completed');
    t.equal(final.output_text, 'Echo: stream me');
  });

  t.test('responses created with stream: true', async (t) => {
    const stream = await openai.responses.create({ model: 'gpt-sample', input: 'raw', stream: true });
    const events = [];
    for await (const event of stream) events.push(event);
    t.equal(events.at(-1)?.type, 'response.completed');
  });

  t.test('embeddings', async (t) => {
    const res = await openai.embeddings.create({ model: 'embed-sample', input: ['a', 'bb'], encoding_format: 'float' });
    t.equal(res.data.length, 2);
    t.same(res.data[1].embedding, [0.1, 0.2, 0.3, 0.02]);
    t.equal(res.usage.total_tokens, 4);
  });

  t.test('models.list', async (t) => {
    const ids: string[] = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    t.same(ids, ['gpt-sample']);
  });

  t.test('completions', async (t) => {
    const res = await openai.completions.create({ model: 'gpt-sample', prompt: 'legacy' });
    t.equal(res.choices[0].text, 'Echo: legacy');
  });

  t.test('the request id comes back', async (t) => {
    const { response } = await openai.chat.completions.create({ model: 'gpt-sample', messages: [{ role: 'user', content: 'id' }] }).withResponse();
    t.match(response.headers.get('x-aos-request-id'), /\S/);
  });

  t.test('credentials', async (t) => checkCredentials(t, h));
});

t.test('openai SDK: provider errors reach the SDK unchanged', async (t) => {
  const h = await startHarness(t);
  const openai = client(h);
  const failing = (model: string) => openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] });

  const e500 = await failing('fail-500').catch((e: unknown) => e);
  t.type(e500, OpenAI.InternalServerError);
  const err500 = e500 as InstanceType<typeof OpenAI.APIError>;
  t.equal(err500.status, 500);
  t.equal(err500.message, '500 sample upstream says 500');
  t.equal(err500.type, 'server_error');
  t.equal(err500.code, null);
  t.same(err500.error, { message: 'sample upstream says 500', type: 'server_error', param: null, code: null });
  t.equal(err500.headers?.get('x-aos-error-code'), null, 'not a gateway error');

  const e429 = await failing('fail-429').catch((e: unknown) => e);
  t.type(e429, OpenAI.RateLimitError);
  const err429 = e429 as InstanceType<typeof OpenAI.APIError>;
  t.equal(err429.status, 429);
  t.equal(err429.type, 'requests');
  t.equal(err429.code, 'rate_limit_exceeded');
  t.equal(err429.headers?.get('retry-after'), '1');
  t.equal(h.upstream.received.length, 2, 'maxRetries 0: one upstream call each');

  // The same through the streaming path: the status arrives before any stream.
  const s429 = await openai.chat.completions.create({ model: 'fail-429', stream: true, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
  t.type(s429, OpenAI.RateLimitError);
  t.equal((s429 as InstanceType<typeof OpenAI.APIError>).code, 'rate_limit_exceeded');

  const r500 = await openai.responses.create({ model: 'fail-500', input: 'x' }).catch((e: unknown) => e);
  t.type(r500, OpenAI.InternalServerError);
  checkCredentials(t, h);
});

t.test('openai SDK: gateway errors are OpenAI-shaped', async (t) => {
  const h = await startHarness(t, { upstream: { headersTimeoutMs: 300 } });
  const openai = client(h);

  const timeout = await openai.chat.completions.create({ model: 'slow-first-byte', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sample-delay-ms': '3000' } }).catch((e: unknown) => e);
  t.type(timeout, OpenAI.APIError);
  const err = timeout as InstanceType<typeof OpenAI.APIError>;
  t.equal(err.status, 504);
  t.equal(err.code, 'aos_upstream_timeout');
  t.equal(err.type, 'server_error');
  t.equal(err.headers?.get('x-aos-error-code'), 'aos_upstream_timeout');

  const notFound = await openai.get('/nowhere').catch((e: unknown) => e);
  t.type(notFound, OpenAI.NotFoundError);
  t.equal((notFound as InstanceType<typeof OpenAI.APIError>).code, 'aos_route_not_found');
});
