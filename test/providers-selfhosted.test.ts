/**
 * Self-hosted OpenAI-compatible servers (vLLM, Ollama, TGI) as providers: `dialect: openai`, no
 * key, model names with slashes and colons in the policy's globs and in the price table, the
 * provider's own rates (zero, or internal chargeback) so its tokens are metered and budgeted.
 * The sample upstream plays the server (it speaks the OpenAI wire, as they do).
 */
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import t from 'tap';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { auditEvents, startHarness } from './helpers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));

const REGISTRY = `
templates:
  selfhosted: { version: 1, providers: [vllm, ollama], models: ["meta-llama/*", "llama3.1:*"], maxTokens: 16, budget: { daily_usd: 0.01 } }
agents:
  - { id: researcher, team: lab, template: selfhosted }
`;

// Internal chargeback for the vLLM cluster (high, so a small budget runs out in a few calls); Ollama is free.
const PRICES = `
models: {}
per_provider:
  vllm: { "meta-llama/*": { input: 100, output: 200 } }
  ollama: { "llama3.1:*": { input: 0, output: 0 } }
unknown: { action: deny }
`;

t.test('vLLM and Ollama behind the gateway: no key, globs with / and :, metered at their own rates, budgets enforced', async (t) => {
  const server = await startSampleUpstream();
  t.teardown(() => server.close());
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      metering: { prices: 'prices.yaml' },
      providers: { vllm: { dialect: 'openai', baseUrl: `${server.url}/v1` }, ollama: { dialect: 'openai', baseUrl: `${server.url}/v1` } },
      routes: [
        { prefix: '/vllm/v1', provider: 'vllm' },
        { prefix: '/ollama/v1', provider: 'ollama' },
      ],
    },
    { files: { 'agents.yaml': REGISTRY, 'prices.yaml': PRICES } },
  );
  const token = await h.gateway.signer()!.mint({ subject: 'researcher', audience: 'aos-gateway', ttlSec: 600 });
  const vllm = new OpenAI({ baseURL: `${h.url}/vllm/v1`, apiKey: token, maxRetries: 0 });
  const ollama = new OpenAI({ baseURL: `${h.url}/ollama/v1`, apiKey: token, maxRetries: 0 });
  const budget = async () => (await h.gateway.budgets()!.show('agent:researcher')).budgets.find((b) => b.key === 'daily_usd')!;

  const free = await ollama.chat.completions.create({ model: 'llama3.1:8b', messages: [{ role: 'user', content: 'hello llama' }] });
  t.equal(free.choices[0].message.content, 'Echo: hello llama');
  t.equal(server.received[0].headers.authorization, undefined, 'no key configured: none sent, and the agent token stripped');
  t.notOk(JSON.stringify(server.received[0].headers).includes(token));

  const stream = await ollama.chat.completions.create({ model: 'llama3.1:8b', stream: true, messages: [{ role: 'user', content: 'a streamed answer' }] });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  t.equal(text, 'Echo: a streamed answer');

  const denied = (await vllm.chat.completions.create({ model: 'mistralai/Mistral-7B-Instruct-v0.3', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<
    typeof OpenAI.APIError
  >;
  t.type(denied, OpenAI.PermissionDeniedError, 'a model outside the globs is denied');
  t.match(denied.message, /model mistralai\/Mistral-7B-Instruct-v0.3 is not allowed/);

  // The vLLM cluster charges back: calls are allowed until the next one's worst case no longer fits.
  let ok = 0;
  let refused: InstanceType<typeof OpenAI.APIError> | null = null;
  for (let i = 0; i < 30 && refused === null; i++) {
    try {
      await vllm.chat.completions.create({ model: 'meta-llama/Llama-3.1-8B-Instruct', messages: [{ role: 'user', content: `question ${i}` }] });
      ok++;
    } catch (err) {
      refused = err as InstanceType<typeof OpenAI.APIError>;
    }
  }
  t.ok(ok >= 2, `${ok} calls fit the budget`);
  t.type(refused, OpenAI.RateLimitError);
  t.equal(refused?.code, 'aos_budget_exceeded');
  t.equal(refused?.type, 'insufficient_quota');
  for (let i = 0; i < 100 && (await budget()).reserved !== 0; i++) await new Promise((r) => setTimeout(r, 10));
  const b = await budget();
  t.ok(b.spent > 0 && b.spent <= 0.01, `spent ${b.spent} within the limit`);

  const events = await auditEvents(h, ok + 4);
  const llama = events.find((e) => e.model === 'llama3.1:8b' && e.decision === 'allow')!;
  t.ok(llama.input_tokens! > 0 && llama.output_tokens! > 0, 'the free model is metered');
  t.equal(llama.cost_usd, 0, 'at zero cost');
  const charged = events.filter((e) => e.provider === 'vllm' && e.decision === 'allow');
  t.equal(charged.length, ok);
  t.ok(
    charged.every((e) => e.model === 'meta-llama/Llama-3.1-8B-Instruct' && e.cost_usd! > 0),
    'vLLM calls charged at the chargeback rate',
  );
});

t.test('prices: a provider section wins over the global models, and is for that provider only', async (t) => {
  const { loadPrices } = await import('../src/metering/prices.js');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'aos-prices-'));
  writeFileSync(
    join(dir, 'p.yaml'),
    `models:\n  "meta-llama/*": { input: 1, output: 2 }\nper_provider:\n  vllm:\n    "meta-llama/Llama-3.1-8B*": { input: 0.1, output: 0.2 }\nunknown: { action: deny }\n`,
  );
  const p = loadPrices(join(dir, 'p.yaml'));
  t.match(p.price('meta-llama/Llama-3.1-8B-Instruct', 'vllm'), { input: 0.1, output: 0.2 });
  t.match(p.price('meta-llama/Llama-3.1-8B-Instruct', 'together'), { input: 1, output: 2 });
  t.match(p.price('meta-llama/Llama-3.3-70B', 'vllm'), { input: 1, output: 2 }, 'falls back to the global table');
  t.equal(p.price('llama3.1:8b', 'vllm'), null);
});
