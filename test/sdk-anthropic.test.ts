/**
 * The official Anthropic SDK against the gateway, both majors: 0.x sends the agent's key as
 * x-api-key, 1.x as Authorization: Bearer. Mounted under /anthropic and at the root.
 */

import Anthropic from '@anthropic-ai/sdk';
import AnthropicV1 from 'anthropic-sdk-v1';
import t, { type Test } from 'tap';
import { type Harness, PROVIDER_KEY, startHarness } from './helpers.js';

const AGENT_KEY = 'agent-key-anthropic-sdk';

/** Both SDK majors share the surface used here; each keeps its own error classes (statics of the client). */
const SDKS = [
  { name: '@anthropic-ai/sdk 0.x', Client: Anthropic },
  { name: '@anthropic-ai/sdk 1.x', Client: AnthropicV1 as unknown as typeof Anthropic },
];
const MOUNTS = [
  { name: 'under /anthropic', base: (h: Harness) => `${h.url}/anthropic` },
  { name: 'at the root', base: (h: Harness) => h.url },
];

type ApiError = InstanceType<typeof Anthropic.APIError>;

const user = (text: string) => [{ role: 'user' as const, content: text }];

/** Every upstream request carried the provider key as x-api-key and nothing of the agent's key. */
function checkCredentials(t: Test, h: Harness, paths: RegExp) {
  const seen = h.upstream.received.filter((r) => paths.test(r.path));
  t.ok(seen.length > 0, 'the upstream was called');
  for (const r of seen) {
    t.equal(r.headers['x-api-key'], PROVIDER_KEY, `${r.method} ${r.path}: x-api-key is the provider key`);
    t.equal(r.headers.authorization, undefined, `${r.method} ${r.path}: no Authorization header`);
    t.notOk(JSON.stringify(r.headers).includes(AGENT_KEY), `${r.method} ${r.path}: the agent key is nowhere`);
  }
}

for (const sdk of SDKS) {
  for (const mount of MOUNTS) {
    t.test(`${sdk.name} ${mount.name}`, async (t) => {
      const h = await startHarness(t);
      const client = new sdk.Client({ baseURL: mount.base(h), apiKey: AGENT_KEY, maxRetries: 0, timeout: 10_000 });

      t.test('messages', async (t) => {
        const msg = await client.messages.create({ model: 'claude-sample', max_tokens: 64, messages: user('hello there') });
        t.equal(msg.type, 'message');
        t.same(msg.content, [{ type: 'text', text: 'Echo: hello there' }]);
        t.equal(msg.stop_reason, 'end_turn');
        t.equal(msg.usage.output_tokens, 3);
      });

      t.test('messages.stream + finalMessage', async (t) => {
        const stream = client.messages.stream({ model: 'claude-sample', max_tokens: 64, messages: user('one two three') });
        let text = '';
        stream.on('text', (delta) => (text += delta));
        const final = await stream.finalMessage();
        t.equal(text, 'Echo: one two three');
        t.equal(final.content.length, 1);
        t.match(final.content[0], { type: 'text', text: 'Echo: one two three' });
        t.equal(final.stop_reason, 'end_turn');
        t.equal(final.usage.output_tokens, 4);
      });

      t.test('messages.create with stream: true', async (t) => {
        const stream = await client.messages.create({ model: 'claude-sample', max_tokens: 64, stream: true, messages: user('raw') });
        const types: string[] = [];
        for await (const event of stream) types.push(event.type);
        t.equal(types[0], 'message_start');
        t.equal(types.at(-1), 'message_stop');
      });

      t.test('count_tokens', async (t) => {
        const res = await client.messages.countTokens({ model: 'claude-sample', messages: user('count these four words') });
        t.same(res, { input_tokens: 7 });
      });

      t.test('models.list', async (t) => {
        const ids: string[] = [];
        for await (const m of client.models.list()) ids.push(m.id);
        t.same(ids, ['claude-sample']);
      });

      t.test('provider errors reach the SDK unchanged', async (t) => {
        const e429 = (await client.messages.create({ model: 'fail-429', max_tokens: 8, messages: user('x') }).catch((e: unknown) => e)) as ApiError;
        t.type(e429, sdk.Client.RateLimitError);
        t.equal(e429.status, 429);
        t.same(e429.error, { type: 'error', error: { type: 'rate_limit_error', message: 'sample upstream says 429' } });
        t.equal(e429.headers?.get('retry-after'), '1');
        t.equal(e429.headers?.get('x-aos-error-code'), null, 'not a gateway error');

        const e500 = (await client.messages.create({ model: 'fail-500', max_tokens: 8, messages: user('x') }).catch((e: unknown) => e)) as ApiError;
        t.type(e500, sdk.Client.InternalServerError);
        t.equal(e500.status, 500);
        t.same(e500.error, { type: 'error', error: { type: 'api_error', message: 'sample upstream says 500' } });

        // A stream whose request fails: the status arrives before any event.
        const stream = client.messages.stream({ model: 'fail-429', max_tokens: 8, messages: user('x') });
        const s429 = (await stream.finalMessage().catch((e: unknown) => e)) as ApiError;
        t.type(s429, sdk.Client.RateLimitError);
        t.equal(s429.headers?.get('retry-after'), '1');
      });

      t.test('gateway errors are Anthropic-shaped', async (t) => {
        const res = (await client.get('/v1/nowhere').catch((e: unknown) => e)) as ApiError;
        t.type(res, sdk.Client.NotFoundError);
        t.match(res.error, { error: { code: 'aos_route_not_found' } });
        t.match(res.error, { type: 'error', error: { type: 'not_found_error' } });
      });

      t.test('credentials', async (t) => {
        checkCredentials(t, h, /./);
      });
    });
  }
}

// With OpenAI mounted at /v1 and Anthropic at the root, both dialects have GET /v1/models. The
// request says which dialect it speaks (anthropic-version, sent by every Anthropic SDK), and the
// router follows it: the Anthropic SDK reaches Anthropic with the Anthropic credential.
t.test('root mount: Anthropic requests under /v1 shared with the OpenAI mount', async (t) => {
  const h = await startHarness(t);
  const client = new Anthropic({ baseURL: h.url, apiKey: AGENT_KEY, maxRetries: 0 });
  const ids: string[] = [];
  for await (const m of client.models.list()) ids.push(m.id);
  t.same(ids, ['claude-sample'], 'the Anthropic model list, through the Anthropic mount');
  t.match(
    h.upstream.received.find((r) => r.path === '/v1/models'),
    { method: 'GET', headers: { 'anthropic-version': String } },
    'the upstream was asked in the Anthropic dialect',
  );
  checkCredentials(t, h, /./);
  const res = (await client.get('/v1/messages/batches').catch((e: unknown) => e)) as ApiError;
  t.match(res.error, { type: 'error', error: { type: 'not_found_error', code: 'aos_route_not_found' } });
});
