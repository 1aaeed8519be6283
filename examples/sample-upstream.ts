/**
 * SAMPLE: a local stand-in for an LLM provider, speaking the OpenAI and Anthropic wire formats
 * (JSON and server-sent events, with usage). It answers by echoing the last user message. It is
 * what `aos demo` runs behind the gateway and what the tests use as an upstream; it is not a model.
 *
 * Some model names ask for misbehaviour, so clients can see how the gateway copes:
 *   fail-500, fail-429   the provider's own error body and status
 *   slow-first-byte      headers after `x-sample-delay-ms` (default 2000) ms
 *   slow-stream          stream chunks 200 ms apart
 *   reset-mid-stream     a few chunks, then the TCP connection is reset (without `stream`: half of
 *                        the JSON body, under a Content-Length for all of it, then the reset)
 *   malformed-sse        a stream whose second event is not valid JSON
 *   fine-stream          stream pieces of 3 characters, as a tokenizer splits words (not at spaces)
 *
 * A non-streaming request that declares `tools` and whose last user message reads `call NAME`
 * gets a tool call of NAME back (OpenAI `tool_calls`, Anthropic `tool_use`), as a model asking
 * the agent to run that tool would answer.
 *
 * Each received request also records how its response ended (`outcome`, `closed`), so a test can
 * tell a response that was written to the end from one whose connection went away first.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** How a response ended: written to the end, or its connection closed first (by either side). */
export type ResponseOutcome = 'pending' | 'finished' | 'aborted';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** 'pending' while the response is open, then how it ended. */
  outcome: ResponseOutcome;
  /** Settles with the outcome once the response is closed. */
  closed: Promise<Exclude<ResponseOutcome, 'pending'>>;
}

export interface SampleUpstream {
  readonly url: string;
  readonly server: Server;
  /** Every request received, in order. */
  readonly received: ReceivedRequest[];
  close(): Promise<void>;
}

type Json = Record<string, any>;

/** The pieces a stream sends: words, or 3 characters at a time for `fine-stream`. */
const piecesOf = (text: string, model: string) => (model === 'fine-stream' ? (text.match(/[\s\S]{1,3}/g) ?? ['']) : text.split(/(?<= )/));
const words = (s: string) => Math.max(1, s.split(/\s+/).filter(Boolean).length);

function lastUserText(body: Json): string {
  const content = body.messages?.at?.(-1)?.content ?? body.input ?? body.prompt ?? '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p: Json) => (typeof p === 'string' ? p : p.text ?? '')).join(' ');
  return JSON.stringify(content);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, model = '') {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  if (model === 'reset-mid-stream') {
    res.write(text.slice(0, text.length >> 1), () => res.socket?.resetAndDestroy());
    return;
  }
  res.end(text);
}

/** Waits `ms`, or less if the response closes first (nothing left to wait for). */
const delay = (ms: number, res: ServerResponse) =>
  new Promise<void>((r) => {
    const done = () => {
      clearTimeout(timer);
      res.off('close', done);
      r();
    };
    const timer = setTimeout(done, ms);
    res.once('close', done);
  });

async function stream(res: ServerResponse, events: string[], model: string) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (let i = 0; i < events.length; i++) {
    if (res.destroyed) return;
    if (model === 'reset-mid-stream' && i === 2) {
      res.socket?.resetAndDestroy();
      return;
    }
    res.write(model === 'malformed-sse' && i === 1 ? 'data: {"choices": [oops\n\n' : events[i]);
    if (model === 'slow-stream') await delay(200, res);
    else await new Promise(setImmediate);
  }
  res.end();
}

/** The tool a request asks the "model" to call: `call NAME` as the last user message, NAME declared in `tools`. */
function requestedTool(body: Json): string | null {
  const m = /^call (\S+)/.exec(lastUserText(body));
  if (m === null || !Array.isArray(body.tools)) return null;
  const declared = body.tools.some((t: Json) => (t.function?.name ?? t.name) === m[1]);
  return declared ? m[1] : null;
}

function openaiChat(body: Json, res: ServerResponse) {
  const model = String(body.model ?? 'sample-model');
  const tool = body.stream ? null : requestedTool(body);
  if (tool !== null) {
    const call = { id: `call_sample${Date.now()}`, type: 'function', function: { name: tool, arguments: '{}' } };
    return sendJson(res, 200, {
      id: `chatcmpl-sample${Date.now()}`, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model,
      choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [call], refusal: null }, finish_reason: 'tool_calls', logprobs: null }],
      usage: { prompt_tokens: words(lastUserText(body)) + 3, completion_tokens: 7, total_tokens: words(lastUserText(body)) + 10 },
    });
  }
  const text = `Echo: ${lastUserText(body)}`;
  const pieces = piecesOf(text, model);
  const usage = { prompt_tokens: words(lastUserText(body)) + 3, completion_tokens: pieces.length, total_tokens: words(lastUserText(body)) + 3 + pieces.length };
  const id = `chatcmpl-sample${Date.now()}`;
  const created = Math.floor(Date.now() / 1000);
  if (!body.stream) {
    return sendJson(res, 200, {
      id, object: 'chat.completion', created, model,
      choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, finish_reason: 'stop', logprobs: null }],
      usage,
    }, {}, model);
  }
  // As OpenAI does: with include_usage every chunk carries `"usage":null`, then one usage-only chunk.
  const usageNull = body.stream_options?.include_usage ? { usage: null } : {};
  const chunk = (delta: Json, finish: string | null, extra: Json = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }], ...usageNull, ...extra })}\n\n`;
  const events = [chunk({ role: 'assistant', content: '' }, null), ...pieces.map((p) => chunk({ content: p }, null)), chunk({}, 'stop')];
  if (body.stream_options?.include_usage) {
    events.push(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`);
  }
  events.push('data: [DONE]\n\n');
  return stream(res, events, model);
}

function openaiResponses(body: Json, res: ServerResponse) {
  const model = String(body.model ?? 'sample-model');
  const text = `Echo: ${lastUserText(body)}`;
  const usage = { input_tokens: words(lastUserText(body)), output_tokens: words(text), total_tokens: words(lastUserText(body)) + words(text), input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } };
  const response = {
    id: `resp_sample${Date.now()}`, object: 'response', created_at: Math.floor(Date.now() / 1000), status: 'completed', model,
    output: [{ type: 'message', id: 'msg_sample', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }],
    usage,
  };
  if (!body.stream) return sendJson(res, 200, response, {}, model);
  let seq = 0;
  const ev = (type: string, data: Json) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const item = response.output[0];
  const part = item.content[0];
  const at = { item_id: item.id, output_index: 0, content_index: 0 };
  // The full event sequence a real provider sends; the SDKs' stream helpers rely on it.
  return stream(res, [
    ev('response.created', { response: { ...response, status: 'in_progress', output: [], usage: null } }),
    ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } }),
    ev('response.content_part.added', { ...at, part: { ...part, text: '' } }),
    ev('response.output_text.delta', { ...at, delta: text }),
    ev('response.output_text.done', { ...at, text }),
    ev('response.content_part.done', { ...at, part }),
    ev('response.output_item.done', { output_index: 0, item }),
    ev('response.completed', { response }),
  ], model);
}

function anthropicMessages(body: Json, res: ServerResponse) {
  const model = String(body.model ?? 'sample-model');
  const text = `Echo: ${lastUserText(body)}`;
  const pieces = piecesOf(text, model);
  const input = words(lastUserText(body)) + 3;
  const id = `msg_sample${Date.now()}`;
  const tool = body.stream ? null : requestedTool(body);
  if (tool !== null) {
    return sendJson(res, 200, {
      id, type: 'message', role: 'assistant', model, content: [{ type: 'tool_use', id: `toolu_sample${Date.now()}`, name: tool, input: {} }],
      stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: input, output_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
  }
  if (!body.stream) {
    return sendJson(res, 200, {
      id, type: 'message', role: 'assistant', model, content: [{ type: 'text', text }],
      stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: input, output_tokens: pieces.length, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    }, {}, model);
  }
  const ev = (type: string, data: Json) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  return stream(res, [
    ev('message_start', { message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: input, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } } }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ...pieces.map((p) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: p } })),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: pieces.length } }),
    ev('message_stop', {}),
  ], model);
}

function providerError(res: ServerResponse, anthropic: boolean, status: 500 | 429) {
  const headers: Record<string, string> = status === 429 ? { 'retry-after': '1' } : {};
  if (anthropic) {
    return sendJson(res, status, { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message: `sample upstream says ${status}` } }, headers);
  }
  return sendJson(res, status, { error: { message: `sample upstream says ${status}`, type: status === 429 ? 'requests' : 'server_error', param: null, code: status === 429 ? 'rate_limit_exceeded' : null } }, headers);
}

async function handle(req: IncomingMessage, res: ServerResponse, raw: string) {
  const path = (req.url ?? '/').split('?')[0];
  const anthropic = path.startsWith('/v1/messages') || req.headers['anthropic-version'] !== undefined;
  if (req.method === 'GET' && path === '/v1/models') {
    return anthropic
      ? sendJson(res, 200, { data: [{ type: 'model', id: 'claude-sample', display_name: 'Claude Sample', created_at: '2025-01-01T00:00:00Z' }], has_more: false, first_id: 'claude-sample', last_id: 'claude-sample' })
      : sendJson(res, 200, { object: 'list', data: [{ id: 'gpt-sample', object: 'model', created: 1700000000, owned_by: 'sample' }] });
  }
  let body: Json = {};
  try {
    body = raw ? JSON.parse(raw) : {};
  } catch {
    return sendJson(res, 400, { error: { message: 'sample upstream: invalid JSON', type: 'invalid_request_error', param: null, code: null } });
  }
  const model = String(body.model ?? '');
  if (model === 'fail-500') return providerError(res, anthropic, 500);
  if (model === 'fail-429') return providerError(res, anthropic, 429);
  if (model === 'slow-first-byte') await delay(Number(req.headers['x-sample-delay-ms'] ?? 2000), res);
  if (res.destroyed) return;
  switch (path) {
    case '/v1/chat/completions':
      return openaiChat(body, res);
    case '/v1/responses':
      return openaiResponses(body, res);
    case '/v1/completions':
      return sendJson(res, 200, { id: 'cmpl-sample', object: 'text_completion', created: 1700000000, model, choices: [{ index: 0, text: `Echo: ${lastUserText(body)}`, finish_reason: 'stop', logprobs: null }], usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 } });
    case '/v1/embeddings': {
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      return sendJson(res, 200, { object: 'list', model, data: inputs.map((s: unknown, index: number) => ({ object: 'embedding', index, embedding: [0.1, 0.2, 0.3, String(s).length / 100] })), usage: { prompt_tokens: inputs.length * 2, total_tokens: inputs.length * 2 } });
    }
    case '/v1/messages':
      return anthropicMessages(body, res);
    case '/v1/messages/count_tokens':
      return sendJson(res, 200, { input_tokens: words(lastUserText(body)) + 3 });
    default:
      return sendJson(res, 404, { error: { message: `sample upstream has no ${req.method} ${path}`, type: 'invalid_request_error', param: null, code: 'not_found' } });
  }
}

/** Starts the sample upstream on 127.0.0.1 (port 0 = any free port). */
export async function startSampleUpstream(port = 0): Promise<SampleUpstream> {
  const received: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let settle!: (outcome: 'finished' | 'aborted') => void;
    const record: ReceivedRequest = {
      method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: '',
      outcome: 'pending', closed: new Promise((r) => (settle = r)),
    };
    res.once('close', () => {
      record.outcome = res.writableFinished ? 'finished' : 'aborted';
      settle(record.outcome);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      record.body = Buffer.concat(chunks).toString('utf8');
      received.push(record);
      handle(req, res, record.body).catch((err) => res.destroy(err));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    server,
    received,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2] ?? 8787);
  startSampleUpstream(port).then((u) => console.log(`sample upstream listening on ${u.url}`));
}
