/**
 * The bench's stand-in for an OpenAI-compatible provider: as cheap as a node:http server gets, so
 * that what the bench sees is the cost of whatever sits in front of it. Every POST gets the same
 * pre-built answer: a chat completion JSON, or (when the body asks for `"stream":true`) a fixed
 * server-sent event stream of 10 events. No artificial delay; between two stream events the server
 * only yields to the event loop (setImmediate), so each event leaves in its own write as a real
 * stream's would instead of being coalesced into one.
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

const JSON_HEADERS = { 'content-type': 'application/json', 'content-length': COMPLETION.length };
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
const STREAM_TRUE = Buffer.from('"stream":true');

function sendStream(res: ServerResponse, i: number): void {
  if (res.destroyed) return;
  if (i === STREAM_EVENTS.length - 1) {
    res.end(STREAM_EVENTS[i]);
    return;
  }
  res.write(STREAM_EVENTS[i]);
  setImmediate(sendStream, res, i + 1);
}

const server = createServer({ keepAliveTimeout: 120_000, noDelay: true }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    if (body.includes(STREAM_TRUE)) {
      res.writeHead(200, SSE_HEADERS);
      sendStream(res, 0);
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
