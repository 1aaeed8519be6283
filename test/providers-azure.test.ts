/**
 * Azure OpenAI through the gateway with the official `AzureOpenAI` client (and the plain OpenAI
 * client on the v1 API): deployment paths, `api-key` injection, Entra ID tokens obtained by the
 * gateway (cached, single flight, refreshed before expiry), deployments mapped to models for the
 * policy, prices and metering, streaming metered, errors OpenAI-shaped.
 */
import { fileURLToPath } from 'node:url';
import OpenAI, { AzureOpenAI } from 'openai';
import t, { type Test } from 'tap';
import { startSampleUpstream } from '../examples/sample-upstream.js';
import { costOf, loadPrices } from '../src/metering/prices.js';
import { toNano } from '../src/metering/store.js';
import { auditEvents, startHarness } from './helpers.js';
import { type AzureServer, startAzureServer, startTokenEndpoint, type TokenEndpoint } from './provider-servers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const MINI = loadPrices(fileURLToPath(new URL('../config/prices.yaml', import.meta.url))).price('gpt-4o-mini')!;
const AZURE_KEY = 'azure-provider-key-0123456789';
const API_VERSION = '2024-10-21';
const CLIENT = { id: 'aos-gateway-app', secret: 'entra-client-secret-42', scope: 'https://cognitiveservices.azure.com/.default' };
const DEPLOYMENTS = { 'mini-prod': 'gpt-4o-mini', big: 'gpt-4o', embed: 'text-embedding-3-small' };

const REGISTRY = `
templates:
  azure: { version: 1, providers: [azure, entra], models: ["gpt-4o-mini*", "text-embedding-3-*"], maxTokens: 256, budget: { daily_usd: 20 } }
agents:
  - { id: writer, team: content, template: azure }
`;

async function azureHarness(t: Test, provider: Record<string, unknown>, server: AzureServer) {
  void server;
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      providers: { azure: provider, entra: provider },
      routes: [
        { prefix: '/azure', provider: 'azure' },
        { prefix: '/v1', provider: 'openai' },
      ],
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = await h.gateway.signer()!.mint({ subject: 'writer', audience: 'aos-gateway', ttlSec: 600 });
  const azure = (deployment?: string) => new AzureOpenAI({ baseURL: `${h.url}/azure`, apiKey: token, apiVersion: API_VERSION, maxRetries: 0, timeout: 10_000, ...(deployment ? { deployment } : {}) });
  const spent = async () => (await h.gateway.budgets()!.show('agent:writer')).budgets.find((b) => b.key === 'daily_usd')!;
  return Object.assign(h, { token, azure, spent });
}

async function upstreams(t: Test, tokens?: TokenEndpoint) {
  const sample = await startSampleUpstream();
  const server = await startAzureServer({ sampleUrl: sample.url, deployments: DEPLOYMENTS, apiKey: AZURE_KEY, ...(tokens ? { tokens } : {}) });
  t.teardown(async () => {
    await server.close();
    await sample.close();
  });
  return server;
}

const settled = async (read: () => Promise<{ reserved: number }>) => {
  for (let i = 0; i < 100 && (await read()).reserved !== 0; i++) await new Promise((r) => setTimeout(r, 10));
};

t.test('api-key: AzureOpenAI through the gateway, deployments mapped to models, metered', async (t) => {
  const server = await upstreams(t);
  const h = await azureHarness(t, { dialect: 'azure-openai', baseUrl: `${server.url}/openai`, apiKey: AZURE_KEY, deployments: DEPLOYMENTS }, server);
  const client = h.azure();

  const r = await client.chat.completions.create({ model: 'mini-prod', messages: [{ role: 'user', content: 'hello azure' }] });
  t.equal(r.choices[0].message.content, 'Echo: hello azure');
  t.equal(r.model, 'gpt-4o-mini', 'the deployment served its model');
  const first = server.received[0];
  t.match(first.path, /^\/openai\/deployments\/mini-prod\/chat\/completions\?api-version=2024-10-21$/, 'deployment path and api-version forwarded');
  t.equal(first.headers['api-key'], AZURE_KEY, 'the provider key is injected as api-key');
  t.notOk(JSON.stringify(first.headers).includes(h.token), "the agent's token never reaches Azure");

  await settled(h.spent);
  const cost = costOf({ inputTokens: r.usage!.prompt_tokens, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: r.usage!.completion_tokens, reasoningTokens: 0, estimated: false }, MINI);
  t.equal(Math.round((await h.spent()).spent * 1e9), toNano(cost), 'charged at gpt-4o-mini prices: the model behind the deployment');

  t.test('streaming: chunks pass, usage metered (the gateway asks for it, the client does not see it)', async (t) => {
    const before = (await h.spent()).spent;
    const stream = await client.chat.completions.create({ model: 'mini-prod', stream: true, messages: [{ role: 'user', content: 'one two three' }] });
    let text = '';
    let usageSeen = false;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usageSeen = true;
    }
    t.equal(text, 'Echo: one two three');
    t.notOk(usageSeen, 'no usage chunk the client did not ask for');
    t.match(JSON.parse(server.received.at(-1)!.body), { stream_options: { include_usage: true } }, 'the gateway asked Azure for usage');
    await settled(h.spent);
    t.ok((await h.spent()).spent > before, 'the stream was charged');
  });

  t.test('embeddings by deployment', async (t) => {
    const e = await client.embeddings.create({ model: 'embed', input: ['a', 'bb'] });
    t.equal(e.data.length, 2);
    t.match(server.received.at(-1)!.path, /^\/openai\/deployments\/embed\/embeddings\?api-version=/);
  });

  t.test('the v1 API: the plain OpenAI client, model = deployment', async (t) => {
    const v1 = new OpenAI({ baseURL: `${h.url}/azure/v1`, apiKey: h.token, maxRetries: 0 });
    const res = await v1.chat.completions.create({ model: 'mini-prod', messages: [{ role: 'user', content: 'v1 api' }] });
    t.equal(res.choices[0].message.content, 'Echo: v1 api');
    t.equal(server.received.at(-1)!.path, '/openai/v1/chat/completions');
  });

  t.test('policy sees the model behind the deployment', async (t) => {
    const err = (await client.chat.completions.create({ model: 'big', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    t.type(err, OpenAI.PermissionDeniedError);
    t.equal(err.code, 'aos_policy_denied');
    t.match(err.message, /model gpt-4o is not allowed/);
  });

  t.test('an unknown deployment: 404 aos_model_not_found, OpenAI-shaped, never forwarded', async (t) => {
    const n = server.received.length;
    const err = (await client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    t.type(err, OpenAI.NotFoundError);
    t.equal(err.code, 'aos_model_not_found');
    t.equal(err.param, 'model');
    t.match(err.message, /"nope" is not a deployment of provider azure \(configured: mini-prod, big, embed\)/);
    t.equal(server.received.length, n);
  });

  t.test('malformed JSON: 400 aos_bad_request', async (t) => {
    const res = await fetch(`${h.url}/azure/deployments/mini-prod/chat/completions?api-version=${API_VERSION}`, {
      method: 'POST',
      headers: { 'api-key': h.token, 'content-type': 'application/json' },
      body: '{"messages": [',
    });
    t.equal(res.status, 400);
    t.match(await res.json(), { error: { code: 'aos_bad_request', type: 'invalid_request_error' } });
  });

  t.test('one audit event per call, with the model', async (t) => {
    const events = await auditEvents(h, 7);
    const chat = events.filter((e) => e.operation === 'chat.completions' && e.provider === 'azure');
    t.ok(chat.length >= 4);
    t.same([...new Set(chat.filter((e) => e.decision === 'allow').map((e) => e.model))], ['gpt-4o-mini']);
    t.ok(chat.every((e) => e.route?.startsWith('azure/')));
  });
});

t.test('Entra ID: the gateway obtains the token (client credentials), caches it, refreshes it before expiry', async (t) => {
  const tokens = await startTokenEndpoint(CLIENT);
  t.teardown(() => tokens.close());
  const server = await upstreams(t, tokens);
  const auth = { kind: 'client-credentials', tokenUrl: `${tokens.url}/tenant/oauth2/v2.0/token`, clientId: CLIENT.id, clientSecret: CLIENT.secret };
  const h = await azureHarness(t, { dialect: 'azure-openai', baseUrl: `${server.url}/openai`, auth, deployments: DEPLOYMENTS }, server);
  const client = h.azure('mini-prod');

  tokens.delayMs = 100;
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => client.chat.completions.create({ model: 'ignored', messages: [{ role: 'user', content: `call ${i}` }] })));
  t.equal(answers.length, 8);
  t.equal(tokens.issued.length, 1, 'eight concurrent calls, one token request (single flight)');
  t.ok(
    server.received.every((r) => r.headers.authorization === 'Bearer entra-token-1' && r.headers['api-key'] === undefined),
    'every call carried the Entra token, no api-key',
  );
  await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'cached' }] });
  t.equal(tokens.issued.length, 1, 'cached');

  t.test('a token near its expiry is replaced in the background; calls never wait or fail', async (t) => {
    // Each new token lives 2 s: refreshed once 4/5 of its life has passed.
    tokens.lifetimeSec = 2;
    tokens.delayMs = 0;
    const h2 = await azureHarness(t, { dialect: 'azure-openai', baseUrl: `${server.url}/openai`, auth, deployments: DEPLOYMENTS }, server);
    const c2 = h2.azure('mini-prod');
    const n = tokens.issued.length;
    await c2.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'first' }] });
    t.equal(tokens.issued.length, n + 1);
    await new Promise((r) => setTimeout(r, 1700));
    await c2.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'in the refresh window' }] });
    await new Promise((r) => setTimeout(r, 100));
    t.equal(tokens.issued.length, n + 2, 'refreshed in the background');
    await new Promise((r) => setTimeout(r, 500));
    const last = await c2.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'after the first token expired' }] });
    t.equal(last.choices[0].message.content, 'Echo: after the first token expired');
    t.equal(server.received.at(-1)!.headers.authorization, `Bearer ${tokens.issued[n + 1]}`, 'the new token is used');
  });

  t.test('a token endpoint that refuses: 502 aos_upstream_error, OpenAI-shaped, nothing forwarded', async (t) => {
    const bad = await azureHarness(t, { dialect: 'azure-openai', baseUrl: `${server.url}/openai`, auth: { ...auth, clientSecret: 'wrong' }, deployments: DEPLOYMENTS }, server);
    const n = server.received.length;
    const err = (await bad
      .azure('mini-prod')
      .chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    t.type(err, OpenAI.APIError);
    t.equal(err.status, 502);
    t.equal(err.code, 'aos_upstream_error');
    t.match(err.message, /could not obtain a credential for provider azure: token endpoint 127\.0\.0\.1:\d+ answered 401 \(invalid_client: AADSTS7000215/);
    t.notMatch(err.message, /wrong/, 'the secret is not in the message');
    t.equal(server.received.length, n);
    const metrics = await (await fetch(`${bad.admin}/metrics`)).text();
    t.match(metrics, /aos_upstream_errors_total\{provider="azure",code="credential"\} 1/);
  });
});

t.test('config: auth and apiKey exclude each other; each auth kind checks its keys', async (t) => {
  const { parseConfig } = await import('../src/config/load.js');
  const base = (provider: string) => `providers:\n  p: ${provider}\nroutes: [{ prefix: /p, provider: p }]\n`;
  const problems = (provider: string) => {
    try {
      parseConfig(base(provider), '/tmp/aos.yaml', {});
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };
  t.match(
    problems('{ dialect: azure-openai, baseUrl: "https://x/openai", apiKey: k, auth: { kind: client-credentials, tokenUrl: "https://t/token", clientId: c, clientSecret: s } }'),
    /set auth or apiKey\/apiKeyFile, not both/,
  );
  t.match(problems('{ dialect: azure-openai, baseUrl: "https://x/openai", auth: { kind: client-credentials, clientId: c, clientSecret: s, region: us-east-1 } }'), /needs tokenUrl/);
  t.match(
    problems('{ dialect: azure-openai, baseUrl: "https://x/openai", auth: { kind: client-credentials, tokenUrl: "https://t/token", clientId: c, clientSecret: s, region: us-east-1 } }'),
    /auth\.region: not a key of auth kind client-credentials/,
  );
  t.match(problems('{ dialect: bedrock, baseUrl: "https://bedrock-runtime.us-east-1.amazonaws.com", auth: { kind: aws-sigv4, region: us-east-1 } }'), /needs accessKeyId and secretAccessKey/);
  t.equal(problems('{ dialect: azure-openai, baseUrl: "https://x/openai", apiKey: k, deployments: { d: gpt-4o } }'), '');
});
