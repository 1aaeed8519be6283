/**
 * OpenAI streams without `stream_options.include_usage`: the gateway asks the provider for usage
 * and removes it again, so the client receives exactly the bytes it would have received without
 * the gateway's request (compared raw and through the official SDK), while the call is charged
 * from the provider's own usage.
 */

import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { type Harness, startHarness } from './helpers.js';

const REGISTRY = `
templates:
  standard: { version: 1, models: ["*"], maxTokens: 256, budget: { daily_usd: 20 } }
agents:
  - { id: writer, team: content, template: standard }
`;
const normalize = (s: string) =>
  s
    .replace(/chatcmpl-sample\d+/g, 'ID')
    .replace(/msg_sample\d+/g, 'ID')
    .replace(/"created":\d+/g, '"created":0');

async function pair(t: Test) {
  const files = { files: { 'agents.yaml': REGISTRY } };
  const on = await startHarness(t, { identity: { mode: 'required', registry: 'agents.yaml' } }, files);
  const off = await startHarness(t, { identity: { mode: 'required', registry: 'agents.yaml' }, metering: { mode: 'off' } }, files);
  const token = (h: Harness) => h.gateway.signer()!.mint({ subject: 'writer', audience: 'aos-gateway', ttlSec: 600 });
  return { on, off, token };
}

const raw = async (h: Harness, token: string, path: string, body: unknown) => {
  const res = await fetch(`${h.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
  });
  return { headers: res.headers, text: Buffer.from(await res.arrayBuffer()).toString('utf8') };
};

t.test('raw bytes: identical with and without the gateway asking for usage; charged from the provider usage', async (t) => {
  const { on, off, token } = await pair(t);
  const [ton, toff] = [await token(on), await token(off)];
  for (const body of [
    { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'one two three' }] },
    { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: false }, messages: [{ role: 'user', content: 'one two three' }] },
    { model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'the client asked' }] },
    { model: 'malformed-sse', stream: true, messages: [{ role: 'user', content: 'x' }] },
  ]) {
    const a = await raw(on, ton, '/v1/chat/completions', body);
    const b = await raw(off, toff, '/v1/chat/completions', body);
    t.equal(normalize(a.text), normalize(b.text), `same bytes: ${JSON.stringify(body.stream_options ?? {})} ${body.model}`);
    t.equal(a.headers.get('content-type'), b.headers.get('content-type'));
    const asked = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    t.equal(/"usage":\{/.test(a.text), asked, asked ? 'usage when the client asked' : 'no usage chunk');
    if (!asked) t.notMatch(a.text, /"usage":null/, 'no usage:null field the client did not ask for');
    const upstream = JSON.parse(on.upstream.received.at(-1)!.body);
    t.same(upstream.stream_options?.include_usage, true, 'the provider was asked for usage');
  }
  const show = await on.gateway.budgets()!.show('agent:writer');
  t.ok(show.budgets[0].spent > 0);
  const metrics = await (await fetch(`${on.admin}/metrics`)).text();
  t.notMatch(metrics, /aos_tokens_total\{team="content",type="estimated"\} [1-9]/, 'exact usage, never estimated');
});

t.test('the official OpenAI SDK sees the same chunks with and without the injected usage request', async (t) => {
  const { on, off, token } = await pair(t);
  const collect = async (h: Harness) => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: await token(h), maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'alpha beta gamma' }] });
    const chunks: unknown[] = [];
    for await (const c of stream) chunks.push(c);
    return normalize(JSON.stringify(chunks));
  };
  const a = await collect(on);
  t.equal(a, await collect(off));
  t.notMatch(a, /usage/, 'no usage field at all, as without the gateway');
});

t.test('anthropic and responses streams pass unchanged and are charged from their own usage events', async (t) => {
  const { on, off, token } = await pair(t);
  const collect = async (h: Harness) => {
    const client = new Anthropic({ baseURL: `${h.url}/anthropic`, apiKey: await token(h), maxRetries: 0 });
    const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] });
    const events: unknown[] = [];
    for await (const e of stream) events.push(e);
    return normalize(JSON.stringify(events));
  };
  t.equal(await collect(on), await collect(off));
  const ton = await token(on);
  const r = await raw(on, ton, '/v1/responses', { model: 'gpt-4o-mini', stream: true, input: 'hi there' });
  t.match(r.text, /response\.completed/);
  const spent = (await on.gateway.budgets()!.show('agent:writer')).budgets[0].spent;
  t.ok(spent > 0);
});
