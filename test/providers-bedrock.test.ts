/**
 * AWS Bedrock through the gateway with the official `@aws-sdk/client-bedrock-runtime`: Converse,
 * ConverseStream, InvokeModel and InvokeModelWithResponseStream (Claude bodies), every request
 * re-signed with SigV4 by the gateway from its own credentials (the server checks the signature
 * with the same signer), the agent's own credential (a bearer agent token, or a placeholder SigV4
 * signature) never forwarded, AWS event streams passed through byte for byte and metered as they
 * stream, errors AWS-shaped.
 */
import { fileURLToPath } from 'node:url';
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, InvokeModelCommand, InvokeModelWithResponseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { fromUtf8, toUtf8 } from '@smithy/core/serde';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import t, { type Test } from 'tap';
import { eventStreamMessage, GatewayError, renderStreamError } from '../src/errors.js';
import { costOf, loadPrices } from '../src/metering/prices.js';
import { toNano } from '../src/metering/store.js';
import { converseUsage } from '../src/providers/bedrock-metering.js';
import { auditEvents, startHarness } from './helpers.js';
import { BEDROCK_CREDENTIALS, BEDROCK_REGION, type BedrockServer, CONVERSE_USAGE, startBedrockServer } from './provider-servers.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const PRICES = loadPrices(fileURLToPath(new URL('../config/prices.yaml', import.meta.url)));
const SONNET = 'anthropic.claude-sonnet-4-20250514-v1:0';
const HAIKU = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';

const REGISTRY = `
templates:
  br: { version: 1, providers: [bedrock], models: ["anthropic.claude-*", "us.anthropic.claude-*", "corrupt-stream"], maxTokens: 256, budget: { daily_usd: 20 } }
agents:
  - { id: writer, team: content, template: br }
`;

const provider = (server: BedrockServer) => ({ dialect: 'bedrock', baseUrl: server.url, auth: { kind: 'aws-sigv4', region: BEDROCK_REGION, ...BEDROCK_CREDENTIALS } });

async function bedrock(t: Test) {
  const server = await startBedrockServer();
  t.teardown(() => server.close());
  return server;
}

/** A client as an agent configures it: the gateway as endpoint; HTTP/1.1 (the SDK's default handler is HTTP/2). */
const client = (url: string, auth: { token: string } | 'placeholder-sigv4') =>
  new BedrockRuntimeClient({
    region: BEDROCK_REGION,
    endpoint: `${url}/bedrock`,
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
    ...(auth === 'placeholder-sigv4'
      ? { credentials: { accessKeyId: 'AKIDPLACEHOLDER', secretAccessKey: 'placeholder' } }
      : { token: { token: auth.token }, authSchemePreference: ['httpBearerAuth'] }),
  });

const userSays = (text: string) => [{ role: 'user' as const, content: [{ text }] }];

t.test('Bedrock with an agent token: Converse, ConverseStream, InvokeModel (+ stream), re-signed, metered', async (t) => {
  const server = await bedrock(t);
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      providers: { bedrock: provider(server) },
      routes: [{ prefix: '/bedrock', provider: 'bedrock' }],
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = await h.gateway.signer()!.mint({ subject: 'writer', audience: 'aos-gateway', ttlSec: 600 });
  const br = client(h.url, { token });
  const budget = async () => {
    const read = async () => (await h.gateway.budgets()!.show('agent:writer')).budgets.find((b) => b.key === 'daily_usd')!;
    for (let i = 0; i < 100 && (await read()).reserved !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    return toNano((await read()).spent);
  };
  const converseCost = toNano(costOf(converseUsage(CONVERSE_USAGE)!, PRICES.price(SONNET, 'bedrock')!));

  const r = await br.send(new ConverseCommand({ modelId: SONNET, messages: userSays('hello bedrock') }));
  t.equal(r.output?.message?.content?.[0].text, 'Echo: hello bedrock');
  t.same(server.badSignatures, [], "the server verified the gateway's signature");
  const first = server.received[0];
  t.equal(first.path, `/model/${encodeURIComponent(SONNET)}/converse`);
  t.match(first.headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIAGATEWAYEXAMPLE\//);
  t.notOk(JSON.stringify(first.headers).includes(token), "the agent's token is not forwarded");
  t.match(JSON.parse(first.body), { inferenceConfig: { maxTokens: 256 } }, "the template's cap obliged as inferenceConfig.maxTokens");
  t.equal(await budget(), converseCost, 'charged from Converse usage (cache reads at their rate)');

  t.test('ConverseStream: the event stream passes to the SDK, metered from its metadata event', async (t) => {
    const out = await br.send(new ConverseStreamCommand({ modelId: SONNET, messages: userSays('stream it'), inferenceConfig: { maxTokens: 100 } }));
    let text = '';
    let usage: unknown = null;
    for await (const ev of out.stream!) {
      if (ev.contentBlockDelta?.delta?.text) text += ev.contentBlockDelta.delta.text;
      if (ev.metadata) usage = ev.metadata.usage;
    }
    t.equal(text, 'Echo: stream it');
    t.match(usage, { inputTokens: 12, outputTokens: 6 });
    t.match(JSON.parse(server.received.at(-1)!.body), { inferenceConfig: { maxTokens: 100 } }, 'a cap under the template one is kept');
    t.equal(await budget(), 2 * converseCost);
  });

  t.test('InvokeModel with a Claude body: max_tokens capped, charged from its usage', async (t) => {
    const before = await budget();
    const res = await br.send(
      new InvokeModelCommand({
        modelId: HAIKU,
        contentType: 'application/json',
        body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 4000, messages: [{ role: 'user', content: 'invoke me' }] }),
      }),
    );
    const answer = JSON.parse(Buffer.from(res.body).toString('utf8'));
    t.equal(answer.content[0].text, 'Echo: invoke me');
    t.equal(JSON.parse(server.received.at(-1)!.body).max_tokens, 256);
    const cost = toNano(costOf({ inputTokens: 12, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 6, reasoningTokens: 0, estimated: false }, PRICES.price(HAIKU, 'bedrock')!));
    t.equal((await budget()) - before, cost);
  });

  t.test('InvokeModelWithResponseStream: Claude events inside the chunks, metered', async (t) => {
    const before = await budget();
    const res = await br.send(
      new InvokeModelWithResponseStreamCommand({
        modelId: HAIKU,
        contentType: 'application/json',
        body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 50, messages: [{ role: 'user', content: 'stream invoke' }] }),
      }),
    );
    let text = '';
    for await (const ev of res.body!) {
      const e = JSON.parse(Buffer.from(ev.chunk!.bytes!).toString('utf8'));
      if (e.type === 'content_block_delta') text += e.delta.text;
    }
    t.equal(text, 'Echo: stream invoke');
    const cost = toNano(costOf({ inputTokens: 12, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 6, reasoningTokens: 0, estimated: false }, PRICES.price(HAIKU, 'bedrock')!));
    t.equal((await budget()) - before, cost);
  });

  t.test('policy denies a model outside the template: AccessDeniedException', async (t) => {
    const n = server.received.length;
    const err = (await br.send(new ConverseCommand({ modelId: 'meta.llama3-1-8b-instruct-v1:0', messages: userSays('x') })).catch((e: unknown) => e)) as Error & {
      $metadata: { httpStatusCode: number };
    };
    t.equal(err.name, 'AccessDeniedException');
    t.equal(err.$metadata.httpStatusCode, 403);
    t.match(err.message, /model meta.llama3-1-8b-instruct-v1:0 is not allowed/);
    t.equal(server.received.length, n);
  });

  t.test('malformed JSON: 400 ValidationException', async (t) => {
    const res = await fetch(`${h.url}/bedrock/model/${SONNET}/converse`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"messages": [' });
    t.equal(res.status, 400);
    t.match(res.headers.get('x-amzn-errortype'), /^ValidationException/);
    t.match(await res.json(), { code: 'aos_bad_request', message: /not valid JSON/ });
  });

  t.test('a corrupt event stream: passed on as it came (the SDK fails), charged as estimated, flagged', async (t) => {
    const out = await br.send(new ConverseStreamCommand({ modelId: 'corrupt-stream', messages: userSays('x') }));
    const err = await (async () => {
      for await (const _ of out.stream!);
    })().catch((e: unknown) => e);
    t.type(err, Error, 'the SDK sees the bad CRC itself');
    const events = await auditEvents(h, 7);
    const bad = events.find((e) => e.model === 'corrupt-stream')!;
    t.ok(bad.flags?.includes('stream_unreadable'));
    t.ok(bad.flags?.includes('usage_estimated'));
    t.ok(h.logs.some((l) => l.includes('could not be decoded')));
  });

  t.test('audit: one event per call with the model id', async (t) => {
    const events = await auditEvents(h, 7);
    t.same(
      events.filter((e) => e.decision === 'allow' && e.model !== 'corrupt-stream').map((e) => [e.operation, e.model, e.stream]),
      [
        ['converse', SONNET, false],
        ['converse-stream', SONNET, true],
        ['invoke', HAIKU, false],
        ['invoke-with-response-stream', HAIKU, true],
      ],
    );
  });
});

t.test("Bedrock with a placeholder SigV4 credential: the agent's signature is dropped, the gateway signs", async (t) => {
  const server = await bedrock(t);
  const h = await startHarness(t, { providers: { bedrock: provider(server) }, routes: [{ prefix: '/bedrock', provider: 'bedrock' }] });
  const r = await client(h.url, 'placeholder-sigv4').send(new ConverseCommand({ modelId: SONNET, messages: userSays('signed by the gateway') }));
  t.equal(r.output?.message?.content?.[0].text, 'Echo: signed by the gateway');
  t.same(server.badSignatures, []);
  t.notMatch(server.received[0].headers.authorization, /AKIDPLACEHOLDER/);
  t.notOk(server.received[0].headers['amz-sdk-invocation-id'], "the agent's SDK headers that a signature covers are dropped");
});

t.test('the exception message that ends a failed Bedrock stream decodes as an AWS event-stream exception', async (t) => {
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const frame = renderStreamError(new GatewayError('aos_upstream_error', 'upstream bedrock failed (ECONNRESET)'), 'aws') as Buffer;
  const m = codec.decode(frame);
  t.equal(m.headers[':message-type'].value, 'exception');
  t.equal(m.headers[':exception-type'].value, 'InternalServerException');
  t.match(JSON.parse(Buffer.from(m.body).toString('utf8')), { code: 'aos_upstream_error', message: /ECONNRESET/ });
  const event = codec.decode(eventStreamMessage([[':message-type', 'event']], Buffer.from('{}')));
  t.equal(event.headers[':message-type'].value, 'event');
});
