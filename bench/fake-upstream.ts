/**
 * The bench's stand-in for an OpenAI-compatible and an Anthropic provider: as cheap as a node:http
 * server gets, so that what the bench sees is the cost of whatever sits in front of it. Every POST
 * gets a pre-built answer: a chat completion JSON, or (when the body asks for `"stream":true`) a
 * fixed server-sent event stream of 10 events; a POST to a path ending in `/v1/messages` gets the
 * Anthropic equivalents (a message JSON with usage, or message_start … message_delta with usage,
 * message_stop: 10 events too). No artificial delay; between two stream events the server only
 * yields to the event loop (setImmediate), so each event leaves in its own write as a real stream's
 * would instead of being coalesced into one.
 *
 * A slow stream (the `streams-10k` scenario): an OpenAI request whose `user` is
 * `bench-slow:<interval ms>:<events>` gets a stream that stays open, one content event every
 * <interval ms>, then finish, usage and [DONE]. Each content event carries `"sent":"<ns>"`, the
 * monotonic clock (process.hrtime, one clock for every process on the machine) when it was written,
 * so the load generator can tell how long the proxy took to relay it.
 *
 * Usage: node --import tsx bench/fake-upstream.ts [port]   (default 0: any free port)
 * Prints one line on stdout once listening: {"port":N}
 */
import { createServer, type ServerResponse } from 'node:http';

const CREATED = 1_700_000_000;
const ID = 'chatcmpl-bench0000000000000000000000';
const MODEL = 'gpt-bench';

const COMPLETION = Buffer.from(
  JSON.stringify({
    id: ID,
    object: 'chat.completion',
    created: CREATED,
    model: MODEL,
    system_fingerprint: 'fp_bench',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'The quick brown fox jumps over the lazy dog, then naps in the warm afternoon sun.', refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 57, completion_tokens: 18, total_tokens: 75, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
  }),
);

const chunk = (delta: object, finish: string | null, extra: object = {}) =>
  Buffer.from(
    `data: ${JSON.stringify({
      id: ID,
      object: 'chat.completion.chunk',
      created: CREATED,
      model: MODEL,
      system_fingerprint: 'fp_bench',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...extra,
    })}\n\n`,
  );

/** 10 events: role, 6 content deltas, finish, usage, [DONE]. */
const STREAM_EVENTS: readonly Buffer[] = [
  chunk({ role: 'assistant', content: '' }, null),
  ...['The quick ', 'brown fox ', 'jumps over ', 'the lazy ', 'dog, then ', 'naps.'].map((t) => chunk({ content: t }, null)),
  chunk({}, 'stop'),
  Buffer.from(
    `data: ${JSON.stringify({ id: ID, object: 'chat.completion.chunk', created: CREATED, model: MODEL, choices: [], usage: { prompt_tokens: 57, completion_tokens: 8, total_tokens: 65 } })}\n\n`,
  ),
  Buffer.from('data: [DONE]\n\n'),
];

const ANTHROPIC_ID = 'msg_bench000000000000000000';
const ANTHROPIC_MODEL = 'claude-bench';
const ANTHROPIC_TEXT = 'The quick brown fox jumps over the lazy dog, then naps in the warm afternoon sun.';

const MESSAGE = Buffer.from(
  JSON.stringify({
    id: ANTHROPIC_ID,
    type: 'message',
    role: 'assistant',
    model: ANTHROPIC_MODEL,
    content: [{ type: 'text', text: ANTHROPIC_TEXT }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 250, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 18 },
  }),
);

const anthropicEvent = (data: { type: string } & Record<string, unknown>) => Buffer.from(`event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`);

/** 10 events: message_start (input usage), content_block_start, ping, 4 text deltas, content_block_stop, message_delta (output usage), message_stop. */
const ANTHROPIC_EVENTS: readonly Buffer[] = [
  anthropicEvent({
    type: 'message_start',
    message: {
      id: ANTHROPIC_ID,
      type: 'message',
      role: 'assistant',
      model: ANTHROPIC_MODEL,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 250, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
    },
  }),
  anthropicEvent({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  anthropicEvent({ type: 'ping' }),
  ...['The quick brown ', 'fox jumps over ', 'the lazy dog, ', 'then naps.'].map((text) => anthropicEvent({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })),
  anthropicEvent({ type: 'content_block_stop', index: 0 }),
  anthropicEvent({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 8 } }),
  anthropicEvent({ type: 'message_stop' }),
];

const JSON_HEADERS = { 'content-type': 'application/json', 'content-length': COMPLETION.length };
const MESSAGE_HEADERS = { 'content-type': 'application/json', 'content-length': MESSAGE.length };
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
const STREAM_TRUE = Buffer.from('"stream":true');

function sendStream(res: ServerResponse, events: readonly Buffer[], i: number): void {
  if (res.destroyed) return;
  if (i === events.length - 1) {
    res.end(events[i]);
    return;
  }
  res.write(events[i]);
  setImmediate(sendStream, res, events, i + 1);
}

const SLOW = /"user":"bench-slow:(\d+):(\d+)"/;
/** Looked for as bytes first, as STREAM_TRUE is: the other scenarios' streams pay no string conversion. */
const SLOW_MARK = Buffer.from('"user":"bench-slow:');
const SLOW_FINISH = [STREAM_EVENTS[0], ...STREAM_EVENTS.slice(-3)];

/** A slow stream: role, then `events` timestamped content deltas `intervalMs` apart, then finish, usage, [DONE]. */
function sendSlowStream(res: ServerResponse, intervalMs: number, events: number): void {
  res.write(SLOW_FINISH[0]);
  let sent = 0;
  const timer = setInterval(() => {
    if (res.destroyed) {
      clearInterval(timer);
      return;
    }
    sent += 1;
    res.write(
      `data: {"id":"${ID}","object":"chat.completion.chunk","created":${CREATED},"model":"${MODEL}","sent":"${process.hrtime.bigint()}","choices":[{"index":0,"delta":{"content":"tick "},"logprobs":null,"finish_reason":null}]}\n\n`,
    );
    if (sent === events) {
      clearInterval(timer);
      res.write(SLOW_FINISH[1]);
      res.write(SLOW_FINISH[2]);
      res.end(SLOW_FINISH[3]);
    }
  }, intervalMs);
  res.on('close', () => clearInterval(timer));
}

const server = createServer({ keepAliveTimeout: 120_000, noDelay: true }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    // Direct and the floor send the gateway's mount (/anthropic/v1/messages); the gateway sends /v1/messages.
    const anthropic = req.url?.endsWith('/v1/messages') === true;
    const slow = !anthropic && body.includes(SLOW_MARK) && body.includes(STREAM_TRUE) ? SLOW.exec(body.toString('latin1')) : null;
    if (slow !== null) {
      res.writeHead(200, SSE_HEADERS);
      sendSlowStream(res, Number(slow[1]), Number(slow[2]));
    } else if (body.includes(STREAM_TRUE)) {
      res.writeHead(200, SSE_HEADERS);
      sendStream(res, anthropic ? ANTHROPIC_EVENTS : STREAM_EVENTS, 0);
    } else if (anthropic) {
      res.writeHead(200, MESSAGE_HEADERS);
      res.end(MESSAGE);
    } else {
      res.writeHead(200, JSON_HEADERS);
      res.end(COMPLETION);
    }
  });
});

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
