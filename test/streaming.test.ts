/**
 * Streaming through the gateway: chunk by chunk, cancellation both ways, failures surfaced in the
 * caller's dialect, provider bytes passed through untouched, bounded retries, backpressure.
 */
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import Anthropic from '@anthropic-ai/sdk';
import AnthropicV1 from 'anthropic-sdk-v1';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { watchedCalls } from '../src/upstream/deadlines.js';
import { type Harness, refusedPort, startHarness } from './helpers.js';

const KEY = 'agent-key-streaming';
const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

const openai = (h: Harness) => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: KEY, maxRetries: 0, timeout: 10_000 });
const ANTHROPIC_SDKS = [
  { name: 'anthropic sdk 0.x', Client: Anthropic },
  { name: 'anthropic sdk 1.x', Client: AnthropicV1 as unknown as typeof Anthropic },
];

/** A chat request in each dialect, as raw fetch arguments. */
const DIALECTS = [
  {
    dialect: 'openai',
    path: '/v1/chat/completions',
    body: (model: string, text: string, stream: boolean) => ({ model, stream, messages: [{ role: 'user', content: text }] }),
  },
  {
    dialect: 'anthropic',
    path: '/anthropic/v1/messages',
    body: (model: string, text: string, stream: boolean) => ({ model, stream, max_tokens: 64, messages: [{ role: 'user', content: text }] }),
  },
] as const;

function post(h: Harness, path: string, body: unknown, init: { signal?: AbortSignal; headers?: Record<string, string> } = {}) {
  return fetch(`${h.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY, 'anthropic-version': '2023-06-01', ...init.headers },
    body: JSON.stringify(body),
    signal: init.signal,
  });
}

/** Reads a body to its end, noting when each chunk arrived. */
async function readTimed(res: Response): Promise<{ chunks: { at: number; text: string }[]; end: number }> {
  const chunks: { at: number; text: string }[] = [];
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) chunks.push({ at: performance.now(), text: decoder.decode(chunk, { stream: true }) });
  return { chunks, end: performance.now() };
}

/** Resolves with the promise's value, or with `fallback` after `ms`. */
function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<F>((r) => (timer = setTimeout(r, ms, fallback)))]).finally(() => clearTimeout(timer));
}

async function listenLocal<S extends NetServer>(t: Test, server: S): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

t.test('chunks reach the client as the upstream sends them', async (t) => {
  const h = await startHarness(t);
  // slow-stream: one event every 200 ms, here seven (OpenAI) and nine (Anthropic) of them.
  const results = await Promise.all(
    DIALECTS.map(async (d) => {
      const res = await post(h, d.path, d.body('slow-stream', words(3), true));
      return { d, res, ...(await readTimed(res)) };
    }),
  );
  for (const { d, res, chunks, end } of results) {
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/event-stream/);
    t.ok(chunks.length >= 3, `${d.dialect}: the stream arrived in several reads (${chunks.length})`);
    t.ok(end - chunks[0].at > 800, `${d.dialect}: the first chunk arrived long before the end (${Math.round(end - chunks[0].at)} ms)`);
    const later = chunks.filter((c) => c.at - chunks[0].at > 400).length;
    t.ok(later >= 2, `${d.dialect}: chunks kept arriving while the upstream was still sending`);
  }
});

t.test('a client that goes away cancels the upstream request', async (t) => {
  const h = await startHarness(t);

  t.test('raw fetch, mid-stream, both dialects', async (t) => {
    for (const d of DIALECTS) {
      const before = h.upstream.received.length;
      const ac = new AbortController();
      const res = await post(h, d.path, d.body('slow-stream', words(30), true), { signal: ac.signal });
      const reader = res.body!.getReader();
      await reader.read();
      ac.abort();
      const upstreamReq = h.upstream.received[before];
      // Left alone, the upstream would stream for about 6 s and finish.
      t.equal(await within(upstreamReq.closed, 2000, 'still open'), 'aborted', `${d.dialect}: the upstream response was cut`);
    }
    // A client that left is not an upstream failure.
    const metrics = await (await fetch(`${h.admin}/metrics`)).text();
    t.notMatch(metrics, /aos_upstream_errors_total\{/, 'no upstream error counted');
    t.notOk(
      h.logs.some((l) => l.includes('upstream failed mid-response')),
      'no upstream failure logged',
    );
  });

  t.test('openai SDK stream aborted by its signal', async (t) => {
    const before = h.upstream.received.length;
    const ac = new AbortController();
    const stream = await openai(h).chat.completions.create({ model: 'slow-stream', stream: true, messages: [{ role: 'user', content: words(30) }] }, { signal: ac.signal });
    let seen = 0;
    for await (const _chunk of stream) {
      if (++seen === 2) ac.abort();
    }
    t.equal(seen, 2, 'the iteration stopped at the abort');
    t.equal(await within(h.upstream.received[before].closed, 2000, 'still open'), 'aborted');
  });

  for (const sdk of ANTHROPIC_SDKS) {
    t.test(`${sdk.name} messages.stream aborted`, async (t) => {
      const before = h.upstream.received.length;
      const client = new sdk.Client({ baseURL: `${h.url}/anthropic`, apiKey: KEY, maxRetries: 0 });
      const stream = client.messages.stream({ model: 'slow-stream', max_tokens: 64, messages: [{ role: 'user', content: words(30) }] });
      stream.once('text', () => stream.abort());
      const err = await stream.finalMessage().catch((e: unknown) => e);
      t.type(err, sdk.Client.APIUserAbortError);
      t.equal(await within(h.upstream.received[before].closed, 2000, 'still open'), 'aborted');
    });
  }

  t.test('before the first byte', async (t) => {
    const before = h.upstream.received.length;
    const ac = new AbortController();
    const pending = post(h, '/v1/chat/completions', DIALECTS[0].body('slow-first-byte', 'x', false), { signal: ac.signal, headers: { 'x-sample-delay-ms': '5000' } });
    while (h.upstream.received.length === before) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await t.rejects(pending);
    t.equal(await within(h.upstream.received[before].closed, 2000, 'still open'), 'aborted');
  });
});

t.test('an upstream reset mid-stream ends the stream with an error event', async (t) => {
  const h = await startHarness(t);

  t.test('raw bytes: an error event in the dialect, never a clean end', async (t) => {
    for (const d of DIALECTS) {
      const res = await post(h, d.path, d.body('reset-mid-stream', 'a b c d', true));
      t.equal(res.status, 200, `${d.dialect}: headers were already sent`);
      const text = await res.text();
      const last = text.trimEnd().split('\n\n').at(-1)!;
      if (d.dialect === 'openai') {
        t.notMatch(text, '[DONE]');
        t.match(JSON.parse(last.replace(/^data: /, '')), { error: { type: 'server_error', code: 'aos_upstream_error' } });
      } else {
        t.notMatch(text, 'message_stop');
        t.match(last, /^event: error\n/);
        t.match(JSON.parse(last.split('\n')[1].replace(/^data: /, '')), { type: 'error', error: { type: 'api_error', code: 'aos_upstream_error' } });
      }
    }
  });

  t.test('openai SDK chat stream throws an APIError', async (t) => {
    const stream = await openai(h).chat.completions.create({ model: 'reset-mid-stream', stream: true, messages: [{ role: 'user', content: 'a b c d' }] });
    const got: string[] = [];
    const err = await (async () => {
      for await (const chunk of stream) got.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    t.type(err, OpenAI.APIError);
    t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'aos_upstream_error');
    t.ok(got.length > 0, 'the chunks before the reset were delivered');
  });

  t.test('openai SDK responses stream throws an APIError', async (t) => {
    const stream = openai(h).responses.stream({ model: 'reset-mid-stream', input: 'a b c d' });
    const err = await stream.finalResponse().catch((e: unknown) => e);
    t.type(err, OpenAI.APIError);
    t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'aos_upstream_error');
  });

  for (const sdk of ANTHROPIC_SDKS) {
    t.test(`${sdk.name} messages.stream rejects with an APIError`, async (t) => {
      const client = new sdk.Client({ baseURL: `${h.url}/anthropic`, apiKey: KEY, maxRetries: 0 });
      const err = await client.messages
        .stream({ model: 'reset-mid-stream', max_tokens: 64, messages: [{ role: 'user', content: 'a b c d' }] })
        .finalMessage()
        .catch((e: unknown) => e);
      t.type(err, sdk.Client.APIError);
      t.match((err as InstanceType<typeof Anthropic.APIError>).error, { type: 'error', error: { type: 'api_error', code: 'aos_upstream_error' } });
    });
  }

  t.test('a non-streaming response cut short is never a success', async (t) => {
    for (const d of DIALECTS) {
      const res = await post(h, d.path, d.body('reset-mid-stream', 'a b c d', false));
      // Either the reset came before the headers (a clean 502), or the body is cut short.
      if (res.status === 200) await t.rejects(res.text(), `${d.dialect}: the body read fails`);
      else t.equal(res.status, 502, `${d.dialect}: 502`);
    }
    await t.rejects(openai(h).chat.completions.create({ model: 'reset-mid-stream', messages: [{ role: 'user', content: 'a b' }] }), 'openai SDK');
    for (const sdk of ANTHROPIC_SDKS) {
      const client = new sdk.Client({ baseURL: `${h.url}/anthropic`, apiKey: KEY, maxRetries: 0 });
      await t.rejects(client.messages.create({ model: 'reset-mid-stream', max_tokens: 8, messages: [{ role: 'user', content: 'a b' }] }), sdk.name);
    }
  });
});

t.test('an upstream slower than headersTimeoutMs is a 504 in the caller dialect', async (t) => {
  // undici's timers tick about every 500 ms: a 300 ms timeout fires within a second.
  const h = await startHarness(t, { upstream: { headersTimeoutMs: 300 } });
  const cases = DIALECTS.flatMap((d) => [false, true].map((stream) => ({ d, stream, name: `${d.dialect} stream=${stream}` })));
  const sdk = openai(h)
    .chat.completions.create({ model: 'slow-first-byte', stream: true, messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-case': 'sdk' } })
    .catch((e: unknown) => e);
  const results = await Promise.all(
    cases.map(async (c) => {
      const res = await post(h, c.d.path, c.d.body('slow-first-byte', 'x', c.stream), { headers: { 'x-sample-delay-ms': '5000', 'x-case': c.name } });
      return { ...c, res, body: await res.json() };
    }),
  );
  for (const { d, name, res, body } of results) {
    t.equal(res.status, 504, name);
    t.equal(res.headers.get('x-aos-error-code'), 'aos_upstream_timeout');
    if (d.dialect === 'openai') t.match(body, { error: { type: 'server_error', code: 'aos_upstream_timeout' } });
    else t.match(body, { type: 'error', error: { type: 'api_error', code: 'aos_upstream_timeout' } });
    const seen = h.upstream.received.find((r) => r.headers['x-case'] === name)!;
    t.equal(await within(seen.closed, 2000, 'still open'), 'aborted', `${name}: the upstream request was given up`);
  }
  const err = await sdk;
  t.type(err, OpenAI.APIError);
  t.equal((err as InstanceType<typeof OpenAI.APIError>).status, 504);
  t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'aos_upstream_timeout');
});

t.test('an upstream that stalls mid-stream past bodyTimeoutMs: the stream ends with a timeout event', async (t) => {
  // One event, then silence.
  const stalled = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'partial' }, finish_reason: null }] })}\n\n`);
  });
  const port = await listenLocal(t, stalled);
  t.teardown(() => stalled.closeAllConnections());
  const h = await startHarness(t, { upstream: { bodyTimeoutMs: 200 }, providers: { openai: { baseUrl: `http://127.0.0.1:${port}/v1` } } });
  const stream = await openai(h).chat.completions.create({ model: 'gpt-sample', stream: true, messages: [{ role: 'user', content: 'x' }] });
  const got: string[] = [];
  const err = await (async () => {
    for await (const chunk of stream) got.push(chunk.choices[0]?.delta.content ?? '');
  })().catch((e: unknown) => e);
  t.same(got, ['partial']);
  t.type(err, OpenAI.APIError);
  t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'aos_upstream_timeout');
});

t.test("the provider's SSE passes through byte for byte, malformed or not", async (t) => {
  // Metering asks OpenAI streams for usage and removes it again (test/metering-stream.test.ts
  // compares the bytes with and without that); here the pure pass-through is checked.
  const h = await startHarness(t, { metering: { mode: 'off' } });
  // What the sample upstream writes, captured on its side of the wire.
  const written: string[] = [];
  h.upstream.server.on('request', (_req, res: ServerResponse) => {
    let out = '';
    const write = res.write.bind(res) as (chunk: string) => boolean;
    const end = res.end.bind(res) as (chunk?: string) => ServerResponse;
    res.write = ((chunk: string) => {
      out += chunk;
      return write(chunk);
    }) as typeof res.write;
    res.end = ((chunk?: string) => {
      out += chunk ?? '';
      written.push(out);
      return end(chunk);
    }) as typeof res.end;
  });
  for (const d of DIALECTS) {
    for (const model of ['malformed-sse', 'sample-model']) {
      const res = await post(h, d.path, d.body(model, 'one two', true));
      t.equal(res.status, 200);
      const got = Buffer.from(await res.arrayBuffer());
      t.equal(got.toString('utf8'), written.at(-1), `${d.dialect} ${model}: the same bytes`);
      if (model === 'malformed-sse') t.match(got.toString('utf8'), 'data: {"choices": [oops\n\n');
    }
  }
});

t.test('an unreachable upstream is a 502, after a bounded number of attempts', async (t) => {
  t.test('nothing listens', async (t) => {
    const port = await refusedPort();
    const h = await startHarness(t, {
      providers: { openai: { baseUrl: `http://127.0.0.1:${port}/v1` }, anthropic: { baseUrl: `http://127.0.0.1:${port}` } },
    });
    for (const d of DIALECTS) {
      const started = performance.now();
      const res = await post(h, d.path, d.body('gpt-sample', 'x', true));
      t.equal(res.status, 502, d.dialect);
      t.equal(res.headers.get('x-aos-error-code'), 'aos_upstream_error');
      const body = await res.json();
      if (d.dialect === 'openai') t.match(body, { error: { type: 'server_error', code: 'aos_upstream_error' } });
      else t.match(body, { type: 'error', error: { type: 'api_error', code: 'aos_upstream_error' } });
      t.ok(performance.now() - started < 5000, 'the gateway gave up promptly');
    }
    const err = await openai(h)
      .chat.completions.create({ model: 'gpt-sample', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    t.type(err, OpenAI.APIError);
    t.equal((err as InstanceType<typeof OpenAI.APIError>).code, 'aos_upstream_error');
  });

  t.test('the upstream accepts connections and drops them', async (t) => {
    let connections = 0;
    const dropper = createNetServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    const port = await listenLocal(t, dropper);
    const h = await startHarness(t, { upstream: { retries: 2 }, providers: { openai: { baseUrl: `http://127.0.0.1:${port}/v1` } } });
    const res = await post(h, '/v1/chat/completions', DIALECTS[0].body('gpt-sample', 'x', false));
    t.equal(res.status, 502);
    t.match(await res.json(), { error: { code: 'aos_upstream_error' } });
    t.ok(connections >= 1 && connections <= 3, `at most 1 + retries connection attempts (${connections})`);
  });
});

t.test('a slow reader holds the upstream back instead of the gateway buffering the stream (and its pause is no body timeout)', async (t) => {
  const TOTAL = 64 * 1024 * 1024;
  const piece = Buffer.alloc(64 * 1024, 'x');
  piece.write('data: ', 0);
  piece.write('\n\n', piece.length - 2);
  let written = 0;
  let finished = false;
  // An upstream that streams TOTAL bytes as fast as its socket takes them.
  const big = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const pump = () => {
      while (written < TOTAL && !res.destroyed) {
        written += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end(() => (finished = true));
    };
    pump();
  });
  const port = await listenLocal(t, big);
  t.teardown(() => big.closeAllConnections());
  // The upstream is silent for longer than bodyTimeoutMs while the client does not read: that is the client's pace, not a stall.
  const h = await startHarness(t, { upstream: { bodyTimeoutMs: 300 }, providers: { openai: { baseUrl: `http://127.0.0.1:${port}/v1` } } });

  // A raw client that sends its request and then does not read.
  const gw = new URL(h.url);
  const socket = connect(Number(gw.port), gw.hostname);
  t.teardown(() => socket.destroy());
  socket.pause();
  const body = JSON.stringify({ model: 'gpt-sample', stream: true, messages: [{ role: 'user', content: 'x' }] });
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: ${gw.host}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);

  // Wait until the upstream has started and then made no progress for a whole second (or, if
  // nothing holds it back, finishes). A stall before the first byte, or a short pause, is not it.
  const STALL_MS = 1000;
  const deadline = Date.now() + 30_000;
  let last = written;
  let still = Date.now();
  while (!finished && Date.now() < deadline && (written === 0 || Date.now() - still < STALL_MS)) {
    await new Promise((r) => setTimeout(r, 50));
    if (written !== last) [last, still] = [written, Date.now()];
  }
  t.ok(written > 0, `the upstream was reached and wrote (${written} bytes)`);
  t.ok(Date.now() - still >= STALL_MS, `the upstream made no progress for ${STALL_MS} ms`);
  t.notOk(finished, 'the upstream could not finish while the client was not reading');
  t.ok(written < TOTAL / 2, `the upstream was held back after ${(written / 1048576).toFixed(1)} MiB of ${TOTAL / 1048576} MiB`);

  // Now read: everything arrives, the stream was paused, not broken.
  let received = 0;
  socket.on('data', (c: Buffer) => (received += c.length));
  socket.resume();
  await new Promise((r) => socket.once('end', r));
  t.ok(finished, 'the upstream finished once the client read');
  t.ok(received > TOTAL, `the client got the whole stream (${received} bytes with framing)`);
  t.equal(watchedCalls(), 0, 'no call is left with a deadline');
});
