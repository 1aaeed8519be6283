/**
 * Streams cut short, in every streaming dialect: by the client hanging up after a few chunks, and
 * by the upstream resetting its connection. The audit event must say what happened (`aborted` or
 * `failed`, never `completed`) and that its usage was counted by the gateway (`usage_estimated`).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { auditEvents, startHarness } from './helpers.js';

const REGISTRY = `
templates:
  standard: { version: 1, models: ["*"], maxTokens: 256, budget: { daily_usd: 20 } }
agents:
  - { id: writer, team: content, template: standard }
`;
const CHUNKS = 60;

/** The events of one streamed answer of 60 words, as each dialect frames them. */
const dialects = {
  chat: {
    path: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'count to sixty' }] },
    head: [] as string[],
    delta: (i: number) => `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"word${i} "}}]}\n\n`,
    tail: ['data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":60,"total_tokens":65}}\n\n', 'data: [DONE]\n\n'],
  },
  responses: {
    path: '/v1/responses',
    body: { model: 'gpt-4o-mini', stream: true, input: 'count to sixty' },
    head: ['event: response.created\ndata: {"type":"response.created","response":{"id":"r1","status":"in_progress"}}\n\n'],
    delta: (i: number) => `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"word${i} "}\n\n`,
    tail: ['event: response.completed\ndata: {"type":"response.completed","response":{"id":"r1","status":"completed","usage":{"input_tokens":5,"output_tokens":60,"total_tokens":65}}}\n\n'],
  },
  anthropic: {
    path: '/anthropic/v1/messages',
    body: { model: 'claude-sonnet-4-5', max_tokens: 200, stream: true, messages: [{ role: 'user', content: 'count to sixty' }] },
    head: [
      'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
      'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
    ],
    delta: (i: number) => `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"word${i} "}}\n\n`,
    tail: ['event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":60}}\n\n', 'event: message_stop\ndata: {"type":"message_stop"}\n\n'],
  },
};
type Name = keyof typeof dialects;

/** An upstream that streams 60 deltas 10 ms apart; `x-cut: 5` resets the connection after the fifth. */
async function startStreamer() {
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    for await (const _ of req);
    const d = Object.values(dialects).find((x) => x.path.endsWith(req.url!.replace(/^\/anthropic/, '')))!;
    const cut = Number(req.headers['x-cut'] ?? 0);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const h of d.head) res.write(h);
    for (let i = 1; i <= CHUNKS && !res.destroyed; i++) {
      res.write(d.delta(i));
      await new Promise((r) => setTimeout(r, 10));
      // Reset once the fifth delta is on its way (a reset discards what is not yet sent).
      if (i === cut) return res.socket!.resetAndDestroy();
    }
    for (const x of d.tail) res.write(x);
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
}

/** Posts through the gateway and reads `stopAfter` deltas before hanging up (0: read to the end). */
function post(base: string, path: string, token: string, body: unknown, headers: Record<string, string>, stopAfter: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString('utf8');
          if (stopAfter > 0 && (text.match(/word\d+ /g) ?? []).length >= stopAfter) {
            req.destroy();
            resolve(text);
          }
        });
        res.on('end', () => resolve(text));
        res.on('error', () => resolve(text));
      },
    );
    req.on('error', (err) => (stopAfter > 0 ? undefined : reject(err)));
    req.end(JSON.stringify(body));
  });
}

t.test('a stream cut short is audited as aborted or failed, with its usage marked estimated', async (t) => {
  const streamer = await startStreamer();
  t.teardown(streamer.close);
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      providers: { openai: { baseUrl: `${streamer.url}/v1` }, anthropic: { baseUrl: `${streamer.url}/anthropic` } },
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = await h.gateway.signer()!.mint({ subject: 'writer', audience: 'aos-gateway', ttlSec: 600 });
  const cases: { name: Name; how: 'client' | 'upstream' | 'whole' }[] = [];
  for (const name of Object.keys(dialects) as Name[]) for (const how of ['client', 'upstream', 'whole'] as const) cases.push({ name, how });
  for (const c of cases) {
    const d = dialects[c.name];
    const text = await post(h.url, d.path, token, d.body, c.how === 'upstream' ? { 'x-cut': '5' } : {}, c.how === 'client' ? 5 : 0);
    t.ok((text.match(/word\d+ /g) ?? []).length >= 5, `${c.name}/${c.how}: the client got the first chunks`);
  }
  // The gateway finishes a call when its response closes: wait until every call is recorded.
  const events = await auditEvents(h, cases.length);
  t.equal(events.length, cases.length, 'one event per call');
  const byOrder = [...events].sort((a, b) => (a.id < b.id ? -1 : 1));
  cases.forEach((c, i) => {
    const e = byOrder[i];
    t.equal(e.path, dialects[c.name].path, `${c.name}/${c.how}: event in order`);
    t.equal(e.decision, 'allow', `${c.name}/${c.how}: allowed and forwarded`);
    if (c.how === 'client') {
      t.equal(e.outcome, 'aborted', `${c.name}: a client that hung up mid-stream is aborted, not completed`);
      t.equal(e.status, 499, `${c.name}: status 499 (client closed the request)`);
      t.equal(e.error_code, 'client_aborted');
    } else if (c.how === 'upstream') {
      t.equal(e.outcome, 'failed', `${c.name}: an upstream reset mid-stream is a failure`);
      t.equal(e.error_code, 'aos_upstream_error');
    } else {
      t.equal(e.outcome, 'completed', `${c.name}: a whole stream is completed`);
      t.equal(e.status, 200);
    }
    const estimated = c.how !== 'whole';
    t.equal((e.flags ?? []).includes('usage_estimated'), estimated, `${c.name}/${c.how}: usage ${estimated ? 'marked estimated' : 'as reported'}`);
    t.ok((e.output_tokens ?? 0) >= (estimated ? 5 : 60), `${c.name}/${c.how}: output tokens counted (${e.output_tokens})`);
    if (estimated) t.ok((e.output_tokens ?? 0) < 60, `${c.name}/${c.how}: only what was streamed is counted`);
  });
});
