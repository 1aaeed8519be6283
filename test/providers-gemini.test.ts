/**
 * Google Gemini API and Vertex AI through the gateway with the official `@google/genai` client: the
 * `gemini` dialect (model from the path, stream from the method, maxOutputTokens capped by the
 * policy), the key injected as `x-goog-api-key`, Vertex AI tokens from a service account key
 * (signed JWT exchanged at its token_uri, cached, refreshed before expiry), usage metered from `usageMetadata` in JSON and
 * SSE, errors in Google's shape.
 */
import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ApiError, GoogleGenAI } from '@google/genai';
import t, { type Test } from 'tap';
import { costOf, loadPrices } from '../src/metering/prices.js';
import { toNano } from '../src/metering/store.js';
import { geminiUsage } from '../src/providers/gemini-metering.js';
import { auditEvents, type Harness, startHarness } from './helpers.js';
import { GEMINI_USAGE, startGeminiServer, startGoogleTokenEndpoint, type TestServer } from './provider-servers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const FLASH = loadPrices(fileURLToPath(new URL('../config/prices.yaml', import.meta.url))).price('gemini-2.5-flash')!;
const GEMINI_KEY = 'AIza-gemini-provider-key-0123456789';
const CLOUD = 'https://www.googleapis.com/auth/cloud-platform';

const REGISTRY = `
templates:
  gem: { version: 1, providers: [gemini, vertex], models: ["gemini-2.5-flash*"], maxTokens: 256, budget: { daily_usd: 20 } }
  tiny: { version: 1, providers: [gemini], models: ["gemini-*"], budget: { daily_usd: 0.000001 } }
agents:
  - { id: writer, team: content, template: gem }
  - { id: poor, team: content, template: tiny }
`;

async function harness(t: Test, providers: Record<string, unknown>, files: Record<string, string> = {}) {
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      providers,
      routes: [
        { prefix: '/gemini', provider: 'gemini' },
        { prefix: '/vertex', provider: 'vertex' },
      ],
    },
    { files: { 'agents.yaml': REGISTRY, ...files } },
  );
  const token = (agent = 'writer') => h.gateway.signer()!.mint({ subject: agent, audience: 'aos-gateway', ttlSec: 600 });
  const spent = async () => (await h.gateway.budgets()!.show('agent:writer')).budgets.find((b) => b.key === 'daily_usd')!;
  const settled = async () => {
    for (let i = 0; i < 100 && (await spent()).reserved !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    return (await spent()).spent;
  };
  return Object.assign(h, { token, spent, settled });
}

const ONE_CALL = toNano(costOf(geminiUsage(GEMINI_USAGE)!, FLASH));

async function startGemini(t: Test, opts: Parameters<typeof startGeminiServer>[0]): Promise<TestServer> {
  const s = await startGeminiServer(opts);
  t.teardown(() => s.close());
  return s;
}

const body = (s: TestServer, i = -1) => JSON.parse(s.received.at(i)!.body) as { generationConfig?: { maxOutputTokens?: number } };

t.test('Gemini API: @google/genai through the gateway, key injected, obligations applied, metered', async (t) => {
  const server = await startGemini(t, { apiKey: GEMINI_KEY });
  const provider = { dialect: 'gemini', baseUrl: server.url, apiKey: GEMINI_KEY };
  const h: Harness & Awaited<ReturnType<typeof harness>> = await harness(t, { gemini: provider, vertex: provider });
  const token = await h.token();
  const ai = new GoogleGenAI({ apiKey: token, httpOptions: { baseUrl: `${h.url}/gemini` } });

  const r = await ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hello gemini' });
  t.equal(r.text, 'Echo: hello gemini');
  const first = server.received[0];
  t.equal(first.path, '/v1beta/models/gemini-2.5-flash:generateContent');
  t.equal(first.headers['x-goog-api-key'], GEMINI_KEY, 'the provider key, never the agent token');
  t.notOk(JSON.stringify(first.headers).includes(token));
  t.equal(body(server, 0).generationConfig?.maxOutputTokens, 256, "the template's max_tokens obliged as generationConfig.maxOutputTokens");
  t.equal(toNano(await h.settled()), ONE_CALL, 'charged from usageMetadata (cached and thinking tokens at their rates)');

  t.test('streaming (alt=sse): events pass, charged from the last usageMetadata', async (t) => {
    const stream = await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'stream this please', config: { maxOutputTokens: 1000 } });
    let text = '';
    for await (const chunk of stream) text += chunk.text ?? '';
    t.equal(text, 'Echo: stream this please');
    t.match(server.received.at(-1)!.path, /:streamGenerateContent\?alt=sse$/);
    t.equal(body(server).generationConfig?.maxOutputTokens, 256, 'a larger cap is lowered to the template cap');
    t.equal(toNano(await h.settled()), 2 * ONE_CALL);
  });

  t.test('streamGenerateContent without alt=sse (a JSON array) is metered too', async (t) => {
    const res = await fetch(`${h.url}/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': token, 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'array' }] }] }),
    });
    t.equal((await res.json()).length, 3);
    t.equal(toNano(await h.settled()), 3 * ONE_CALL);
  });

  t.test('countTokens passes through, not charged', async (t) => {
    const c = await ai.models.countTokens({ model: 'gemini-2.5-flash', contents: 'count me' });
    t.equal(c.totalTokens, GEMINI_USAGE.promptTokenCount);
    t.equal(toNano(await h.settled()), 3 * ONE_CALL);
  });

  t.test('policy denies a model outside the template: 403 PERMISSION_DENIED, Google-shaped', async (t) => {
    const n = server.received.length;
    const err = (await ai.models.generateContent({ model: 'gemini-2.5-pro', contents: 'x' }).catch((e: unknown) => e)) as ApiError;
    t.type(err, ApiError);
    t.equal(err.status, 403);
    const parsed = JSON.parse(err.message);
    t.match(parsed, { error: { code: 403, status: 'PERMISSION_DENIED', message: /model gemini-2.5-pro is not allowed/, details: [{ reason: 'aos_policy_denied', domain: 'aos-gateway' }] } });
    t.equal(server.received.length, n);
  });

  t.test('a budget refusal: 429 RESOURCE_EXHAUSTED', async (t) => {
    const poor = new GoogleGenAI({ apiKey: await h.token('poor'), httpOptions: { baseUrl: `${h.url}/gemini` } });
    const err = (await poor.models.generateContent({ model: 'gemini-2.0-flash', contents: 'x' }).catch((e: unknown) => e)) as ApiError;
    t.equal(err.status, 429);
    t.match(JSON.parse(err.message), { error: { status: 'RESOURCE_EXHAUSTED', details: [{ reason: 'aos_budget_exceeded' }] } });
  });

  t.test('malformed JSON and unknown methods', async (t) => {
    const bad = await fetch(`${h.url}/gemini/v1beta/models/gemini-2.5-flash:generateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': token, 'content-type': 'application/json' },
      body: '{"contents": [',
    });
    t.equal(bad.status, 400);
    t.match(await bad.json(), { error: { code: 400, status: 'INVALID_ARGUMENT', details: [{ reason: 'aos_bad_request' }] } });
    const none = await fetch(`${h.url}/gemini/v1beta/models/gemini-2.5-flash:frobnicate`, { method: 'POST', headers: { 'x-goog-api-key': token }, body: '{}' });
    t.equal(none.status, 404);
    t.match(await none.json(), { error: { status: 'NOT_FOUND', details: [{ reason: 'aos_route_not_found' }] } });
  });

  t.test('audit: one event per call, with the model from the path', async (t) => {
    const events = await auditEvents(h, 8);
    const allowed = events.filter((e) => e.provider === 'gemini' && e.decision === 'allow');
    t.same([...new Set(allowed.map((e) => e.model))], ['gemini-2.5-flash']);
    t.same(allowed.map((e) => e.operation).sort(), ['countTokens', 'generateContent', 'streamGenerateContent', 'streamGenerateContent']);
    const stream = allowed.find((e) => e.operation === 'streamGenerateContent' && e.stream)!;
    t.equal(stream.input_tokens, 10);
    t.equal(stream.output_tokens, 8, 'thinking tokens are output');
  });
});

t.test('Vertex AI: a service account key, its token from token_uri (signed JWT), cached; @google/genai in Vertex mode', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const email = 'aos-gateway@proj.iam.gserviceaccount.com';
  const tokens = await startGoogleTokenEndpoint({ email, publicKey, scope: CLOUD });
  t.teardown(() => tokens.close());
  const server = await startGemini(t, { tokens });
  const sa = {
    type: 'service_account',
    project_id: 'proj',
    private_key_id: 'key-1',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: email,
    token_uri: `${tokens.url}/token`,
  };
  const vertex = { dialect: 'gemini', baseUrl: server.url, auth: { kind: 'google-service-account', credentialsFile: 'sa.json' } };
  const h = await harness(t, { gemini: vertex, vertex }, { 'sa.json': JSON.stringify(sa) });
  const token = await h.token();
  // The agent's own credential for Vertex is its agent token, sent as the bearer token.
  const authClient = { getRequestHeaders: async () => new Headers({ authorization: `Bearer ${token}` }) };
  const ai = new GoogleGenAI({ vertexai: true, project: 'proj', location: 'us-central1', googleAuthOptions: { authClient: authClient as never }, httpOptions: { baseUrl: `${h.url}/vertex` } });

  const answers = await Promise.all([1, 2, 3].map((i) => ai.models.generateContent({ model: 'gemini-2.5-flash', contents: `vertex ${i}` })));
  t.same(
    answers.map((a) => a.text),
    ['Echo: vertex 1', 'Echo: vertex 2', 'Echo: vertex 3'],
  );
  t.match(server.received[0].path, /^\/v1beta1\/projects\/proj\/locations\/us-central1\/publishers\/google\/models\/gemini-2.5-flash:generateContent$/);
  t.equal(tokens.issued.length, 1, 'one token for three concurrent calls');
  t.ok(
    server.received.every((r) => r.headers.authorization === `Bearer ${tokens.issued[0]}`),
    "the service account's token, never the agent's",
  );
  const stream = await ai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'vertex stream' });
  let text = '';
  for await (const c of stream) text += c.text ?? '';
  t.equal(text, 'Echo: vertex stream');
  t.equal(tokens.issued.length, 1, 'cached');
  t.equal(toNano(await h.settled()), 4 * ONE_CALL, 'metered like the Gemini API');

  t.test('a token near its expiry is replaced in the background before it expires; calls never wait or fail', async (t) => {
    // Each new token lives 4 s: refreshed once 4/5 of its life has passed; the endpoint answers in
    // 300 ms, so a call that waited for the refresh would take that long.
    tokens.lifetimeSec = 4;
    const h2 = await harness(t, { gemini: vertex, vertex }, { 'sa.json': JSON.stringify(sa) });
    const t2 = await h2.token();
    const ai2 = new GoogleGenAI({
      vertexai: true,
      project: 'proj',
      location: 'us-central1',
      googleAuthOptions: { authClient: { getRequestHeaders: async () => new Headers({ authorization: `Bearer ${t2}` }) } as never },
      httpOptions: { baseUrl: `${h2.url}/vertex` },
    });
    const call = async (text: string) => {
      const started = performance.now();
      t.equal((await ai2.models.generateContent({ model: 'gemini-2.5-flash', contents: text })).text, `Echo: ${text}`);
      return performance.now() - started;
    };
    const n = tokens.issued.length;
    await call('first');
    t.equal(tokens.issued.length, n + 1);
    tokens.delayMs = 300;
    await new Promise((r) => setTimeout(r, 3300));
    t.ok((await call('in the refresh window')) < 250, 'the call in the refresh window did not wait for the new token');
    t.equal(server.received.at(-1)!.headers.authorization, `Bearer ${tokens.issued[n]}`, 'it carried the current token');
    for (let i = 0; i < 100 && tokens.issued.length < n + 2; i++) await new Promise((r) => setTimeout(r, 10));
    t.equal(tokens.issued.length, n + 2, 'refreshed in the background');
    t.ok(tokens.valid(tokens.issued[n]), 'while the first token was still valid');
    while (tokens.valid(tokens.issued[n])) await new Promise((r) => setTimeout(r, 50));
    await call('after the first token expired');
    t.equal(server.received.at(-1)!.headers.authorization, `Bearer ${tokens.issued[n + 1]}`, 'the new token is used');
    tokens.delayMs = 0;
  });

  t.test('a key the token endpoint refuses: 502 aos_upstream_error, Google-shaped', async (t) => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const h2 = await harness(t, { gemini: vertex, vertex }, { 'sa.json': JSON.stringify({ ...sa, private_key: other }) });
    const t2 = await h2.token();
    const res = await fetch(`${h2.url}/vertex/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t2}`, 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'x' }] }] }),
    });
    t.equal(res.status, 502);
    t.match(await res.json(), { error: { status: 'UNAVAILABLE', message: /could not obtain a credential for provider vertex: .*invalid_grant: Invalid JWT Signature/ } });
  });
});
