/** Policy end to end: the committed default bundle deciding real SDK calls through the gateway. */
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { type Harness, startHarness } from './helpers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const REGISTRY = `
templates:
  standard: { version: 2, providers: [openai, anthropic], models: ["gpt-4o*", "claude-*"], maxTokens: 256 }
  embeddings-only: { version: 1, providers: [openai], models: ["text-embedding-*"] }
agents:
  - { id: writer, team: content, template: standard }
  - { id: indexer, team: search, template: embeddings-only }
`;

async function policyHarness(t: Test, policy: Record<string, unknown> = { bundle: { file: BUNDLE } }) {
  const h = await startHarness(t, { identity: { mode: 'required', registry: 'agents.yaml' }, policy: { mode: 'enforce', ...policy } }, { files: { 'agents.yaml': REGISTRY } });
  const token = (agent: string) => h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
  return Object.assign(h, { token });
}

const lastBody = (h: Harness) => JSON.parse(h.upstream.received.at(-1)!.body) as Record<string, unknown>;

t.test('allowed calls pass; the template max_tokens cap is written into the upstream request', async (t) => {
  const h = await policyHarness(t);
  const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: await h.token('writer'), maxRetries: 0 });
  const r = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
  t.equal(r.choices[0].message.content, 'Echo: hello');
  t.equal(lastBody(h).max_completion_tokens, 256, 'cap added where the request had none');
  await openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 4000, messages: [{ role: 'user', content: 'x' }] });
  t.equal(lastBody(h).max_tokens, 256, 'a larger request value is lowered, in the field the agent used');
  t.equal(lastBody(h).max_completion_tokens, undefined);
  await openai.chat.completions.create({ model: 'gpt-4o-mini', max_completion_tokens: 100, messages: [{ role: 'user', content: 'x' }] });
  t.equal(lastBody(h).max_completion_tokens, 100, 'a smaller request value is kept');
  const anthropic = new Anthropic({ baseURL: `${h.url}/anthropic`, apiKey: await h.token('writer'), maxRetries: 0 });
  await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'x' }] });
  t.equal(lastBody(h).max_tokens, 256, 'Anthropic max_tokens capped');
});

t.test('denied calls get 403 aos_policy_denied with the policy reasons, in each dialect, and never reach the upstream', async (t) => {
  const h = await policyHarness(t);
  const openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: await h.token('indexer'), maxRetries: 0 });
  const err = (await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
  t.ok(err instanceof OpenAI.PermissionDeniedError, 'the SDK raises PermissionDeniedError');
  t.equal(err.code, 'aos_policy_denied');
  t.match(err.message, /denied by policy: .*gpt-4o/);
  const emb = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'ok' });
  t.equal(emb.data.length, 1, 'the same agent may use what its template allows');

  const anthropic = new Anthropic({ baseURL: `${h.url}/anthropic`, apiKey: await h.token('indexer'), maxRetries: 0 });
  const aerr = (await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<
    typeof Anthropic.APIError
  >;
  t.ok(aerr instanceof Anthropic.PermissionDeniedError);
  t.match(aerr.error, { type: 'error', error: { type: 'permission_error', code: 'aos_policy_denied' } });
  t.same(
    h.upstream.received.map((r) => r.path),
    ['/v1/embeddings'],
    'only the allowed call reached the upstream',
  );
});

t.test('no bundle: fail closed with aos_policy_error, /readyz 503; status and metrics report it', async (t) => {
  const h = await policyHarness(t, { bundle: { url: 'http://127.0.0.1:9/bundle.tar.gz' }, pollIntervalSec: 60 });
  const res = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await h.token('writer')}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
  });
  t.equal(res.status, 403);
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'aos_policy_error');
  t.equal((await fetch(`${h.admin}/readyz`)).status, 503);
  t.equal(h.upstream.received.length, 0);
});

t.test('admin status and metrics show the revision in force and decisions', async (t) => {
  const h = await policyHarness(t);
  const auth = { authorization: `Bearer ${await h.token('writer')}` };
  await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }) });
  await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ model: 'o3', messages: [] }) });
  const admin = await h.gateway.signer()!.mint({ subject: 'ops', audience: 'aos-admin', roles: ['admin'], ttlSec: 60 });
  const status = (await (await fetch(`${h.admin}/admin/policy`, { headers: { authorization: `Bearer ${admin}` } })).json()) as Record<string, unknown>;
  t.match(status, { mode: 'enforce', revision: /^\S+$/, lastError: null });
  const metrics = await (await fetch(`${h.admin}/metrics`)).text();
  t.match(metrics, /aos_policy_decisions_total\{outcome="allow"\} 1/);
  t.match(metrics, /aos_policy_decisions_total\{outcome="deny"\} 1/);
  t.match(metrics, new RegExp(`aos_policy_bundle_info\\{revision="${String(status.revision).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\} 1`));
  t.match(metrics, /aos_policy_evaluation_seconds_count 2/);
});
