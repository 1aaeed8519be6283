/**
 * SAMPLE: `aos demo`. Starts the gateway in front of the local sample upstream and makes a few
 * calls with the official OpenAI and Anthropic SDKs, unchanged except for their base URL, printing
 * what happened to each. Needs no provider keys and no network.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLine } from '../src/audit/query.js';
import { verifyChain } from '../src/audit/verify.js';
import { createGateway } from '../src/main.js';
import { createLogger } from '../src/log.js';
import { startSampleUpstream } from './sample-upstream.js';
import { packageRoot } from '../src/package-root.js';

const PROVIDER_KEY = 'sk-sample-provider-key-held-by-the-gateway';

export async function runDemo(): Promise<number> {
  const upstream = await startSampleUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'aos-demo-'));
  const configFile = join(dir, 'aos.yaml');
  writeFileSync(configFile, `listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
dataDir: ${join(dir, 'data')}
log: { level: warn }
providers:
  openai: { dialect: openai, baseUrl: ${upstream.url}/v1, apiKey: ${PROVIDER_KEY} }
  anthropic: { dialect: anthropic, baseUrl: ${upstream.url}, apiKey: ${PROVIDER_KEY} }
routes:
  - { prefix: /v1, provider: openai }
  - { prefix: /anthropic, provider: anthropic }
identity: { mode: required, registry: agents.yaml }
policy: { mode: enforce, bundle: { file: ${join(packageRoot, 'policies', 'bundle.tar.gz')} } }
`);
  writeFileSync(join(dir, 'agents.yaml'), `templates:
  standard: { version: 1, providers: [openai, anthropic], models: ["gpt-sample", "claude-*", "fail-*"], maxTokens: 512 }
  trial: { version: 1, providers: [openai], models: ["gpt-sample"], maxTokens: 512, budget: { daily_usd: 0.01 } }
agents:
  - { id: research-agent, team: research, template: standard }
  - { id: support-agent, team: support, template: standard }
  - { id: trial-agent, team: research, template: trial }
`);
  const gateway = createGateway({ configFile, log: createLogger('warn'), watchConfig: false });
  await gateway.start();
  const base = gateway.addresses.proxy;
  console.log(`AOS gateway demo: gateway ${base} → sample upstream ${upstream.url} (a local stand-in, not a model)\n`);

  // Each agent's "API key" is its identity: a JWT, here signed by the gateway's local dev key.
  const signer = gateway.signer()!;
  const research = await signer.mint({ subject: 'research-agent', audience: 'aos-gateway', ttlSec: 600 });
  const support = await signer.mint({ subject: 'support-agent', audience: 'aos-gateway', ttlSec: 600 });
  const trial = await signer.mint({ subject: 'trial-agent', audience: 'aos-gateway', ttlSec: 600 });
  const { default: OpenAI } = await import('openai');
  const { default: Anthropic } = await import('@anthropic-ai/sdk');
  const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: research, maxRetries: 0 });
  const anthropic = new Anthropic({ baseURL: `${base}/anthropic`, apiKey: support, maxRetries: 0 });

  let failures = 0;
  const step = async (title: string, run: () => Promise<string>, expectError = false) => {
    const before = upstream.received.length;
    try {
      const result = await run();
      console.log(`${expectError ? '✘' : '✔'} ${title}\n    ${result}`);
      if (expectError) failures++;
    } catch (err) {
      const e = err as { status?: number; code?: string; error?: { code?: string }; message: string };
      console.log(`${expectError ? '✔' : '✘'} ${title}\n    the SDK raised ${e.status ?? ''} ${e.code ?? e.error?.code ?? ''}: ${e.message}`);
      if (!expectError) failures++;
    }
    const seen = upstream.received.slice(before);
    for (const r of seen) {
      const cred = String(r.headers.authorization ?? r.headers['x-api-key'] ?? '');
      console.log(`    upstream received ${r.method} ${r.path} with the gateway's key ${cred.includes(PROVIDER_KEY) ? '(injected; the agent token was stripped)' : 'MISSING'}`);
      if (!cred.includes(PROVIDER_KEY)) failures++;
    }
    if (seen.length === 0) console.log('    nothing reached the upstream');
  };

  await step('research-agent (OpenAI SDK, JWT as API key): chat completion', async () => {
    const r = await openai.chat.completions.create({ model: 'gpt-sample', messages: [{ role: 'user', content: 'hello through the gateway' }] });
    return `"${r.choices[0].message.content}" (${r.usage?.total_tokens} tokens)`;
  });
  await step('research-agent: streamed chat completion', async () => {
    const s = await openai.chat.completions.create({ model: 'gpt-sample', stream: true, messages: [{ role: 'user', content: 'stream this back' }] });
    let text = '';
    let chunks = 0;
    for await (const c of s) {
      chunks++;
      text += c.choices[0]?.delta?.content ?? '';
    }
    return `"${text}" in ${chunks} chunks`;
  });
  await step('support-agent (Anthropic SDK): streamed message', async () => {
    const s = anthropic.messages.stream({ model: 'claude-sample', max_tokens: 64, messages: [{ role: 'user', content: 'hi from an Anthropic agent' }] });
    const m = await s.finalMessage();
    return `"${m.content.map((b) => (b.type === 'text' ? b.text : '')).join('')}" (${m.usage.input_tokens} in / ${m.usage.output_tokens} out)`;
  });
  await step('research-agent: the provider answers 429, the agent sees it unchanged', async () => {
    await openai.chat.completions.create({ model: 'fail-429', messages: [{ role: 'user', content: 'x' }] });
    return 'unexpected success';
  }, true);
  await step('Malformed JSON is refused by the gateway', async () => {
    const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${research}` }, body: '{"model": ' });
    return `${r.status} ${await r.text()}`;
  });
  await step('research-agent asks for a model its template does not allow: the policy denies it', async () => {
    await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    return 'unexpected success';
  }, true);
  await step('An agent without a token is refused (401)', async () => {
    const anonymous = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-an-old-provider-key', maxRetries: 0 });
    await anonymous.chat.completions.create({ model: 'gpt-sample', messages: [{ role: 'user', content: 'x' }] });
    return 'unexpected success';
  }, true);
  // Unknown models are priced conservatively (config/prices.yaml: $75 per 1M output tokens), and the
  // worst case is reserved before forwarding: up to the template's 512 output tokens ≈ $0.04.
  const frugal = new OpenAI({ baseURL: `${base}/v1`, apiKey: trial, maxRetries: 0 });
  await step('trial-agent has $0.01 a day: a call whose worst case ($0.04 for 512 output tokens) does not fit is refused (429 insufficient_quota)', async () => {
    await frugal.chat.completions.create({ model: 'gpt-sample', messages: [{ role: 'user', content: 'write me a novel' }] });
    return 'unexpected success';
  }, true);
  await step('trial-agent asks for at most 50 tokens: the worst case fits, the call goes through and is charged what it used', async () => {
    const r = await frugal.chat.completions.create({ model: 'gpt-sample', max_tokens: 50, messages: [{ role: 'user', content: 'a haiku' }] });
    const spent = await gateway.budgets()!.show('agent:trial-agent');
    const daily = (spent.budgets as { key: string; spent: number }[]).find((b) => b.key === 'daily_usd');
    return `"${r.choices[0].message.content}": ${r.usage?.prompt_tokens} in / ${r.usage?.completion_tokens} out; spent today $${daily?.spent.toFixed(6)} (aos budget show agent:trial-agent)`;
  });
  gateway.suspensions().suspend('research-agent', 'demo: runaway loop', 'demo');
  await step('research-agent is suspended (aos agents suspend research-agent): its next call is refused', async () => {
    await openai.chat.completions.create({ model: 'gpt-sample', messages: [{ role: 'user', content: 'x' }] });
    return 'unexpected success';
  }, true);

  const metrics = await (await fetch(`${gateway.addresses.admin}/metrics`)).text();
  const counted = metrics.split('\n').filter((l) => l.startsWith('aos_requests_total'));
  console.log(`\nPrometheus (${gateway.addresses.admin}/metrics):\n  ${counted.join('\n  ')}`);
  const trail = gateway.audit();
  if (trail !== null) {
    await trail.flush();
    const events = trail.store.query({});
    console.log(`\nAudit trail (aos audit tail): one event per call, refused ones included\n  ${events.map(formatLine).join('\n  ')}`);
    const check = verifyChain(trail.store);
    console.log(`aos audit verify: ${check.ok ? `ok, ${check.checked} events, hash chain intact` : `BROKEN: ${check.broken?.message}`}`);
    if (!check.ok || events.length === 0) failures++;
  }
  await gateway.stop(1000);
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
  return failures === 0 ? 0 : 1;
}
