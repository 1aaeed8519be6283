/** The restore tap on its own: placeholders of this request back to their values, whole bodies and streams split anywhere. */
import type { OutgoingHttpHeaders } from 'node:http';
import t from 'tap';
import { RestoreTap, withData } from '../src/guardrails/restore.js';
import { tapData, tapEnd } from '../src/upstream/tap.js';

const values = new Map([
  ['[EMAIL_1]', 'jane.doe@example.com'],
  ['[PHONE_1]', '+1 "212" 555-0100'],
]);

/** Runs bytes through a fresh tap as the forwarder does, in the given chunks; returns what the client gets. */
function through(type: string, chunks: string[]): { body: string; headers: OutgoingHttpHeaders } {
  const tap = new RestoreTap(values);
  const headers: OutgoingHttpHeaders = { 'content-type': type, 'content-length': '999' };
  tap.onStart(200, headers);
  let out = '';
  for (const c of chunks) out += tapData([tap], Buffer.from(c))?.toString('utf8') ?? '';
  out += tapEnd([tap])?.toString('utf8') ?? '';
  return { body: out, headers };
}

const sse = (data: unknown, event?: string) => `${event === undefined ? '' : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`;
const chat = (content: string) => sse({ choices: [{ index: 0, delta: { content } }] });
const texts = (body: string) =>
  body
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => (JSON.parse(e.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0].delta.content ?? '');

t.test('a whole JSON body: placeholders restored, JSON-escaped; unknown ones kept; content-length dropped', async (t) => {
  const body = JSON.stringify({ text: 'to [EMAIL_1], call [PHONE_1]; [EMAIL_2] is not ours; [email_1] neither' });
  const { body: out, headers } = through('application/json', [body.slice(0, 10), body.slice(10)]);
  t.same(JSON.parse(out), { text: 'to jane.doe@example.com, call +1 "212" 555-0100; [EMAIL_2] is not ours; [email_1] neither' });
  t.equal(headers['content-length'], undefined);
});

t.test('a stream: placeholders split across events at every position are restored, and the text is the same', async (t) => {
  const text = 'Write to [EMAIL_1] now, or [PHONE_1].';
  for (let cut = 1; cut < text.length; cut++) {
    const events = [chat(text.slice(0, cut)), chat(text.slice(cut)), sse({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }), 'data: [DONE]\n\n'];
    // Chunked at odd byte boundaries too.
    const raw = events.join('');
    const { body } = through('text/event-stream', [raw.slice(0, 7), raw.slice(7, cut + 20), raw.slice(cut + 20)]);
    t.equal(texts(body).join(''), 'Write to jane.doe@example.com now, or +1 "212" 555-0100.', `cut at ${cut}`);
    t.ok(body.endsWith('data: [DONE]\n\n'), `cut at ${cut}: the stream ends as it did`);
  }
});

t.test('three characters at a time, as a tokenizer splits a placeholder', async (t) => {
  const text = 'Echo: [EMAIL_1] and [EMAIL_1]!';
  const events = (text.match(/[\s\S]{1,3}/g) ?? []).map(chat);
  const { body } = through('text/event-stream', [events.join('')]);
  t.equal(texts(body).join(''), 'Echo: jane.doe@example.com and jane.doe@example.com!');
});

t.test('a bracket that is not a placeholder is held one event at most, then passed on unchanged', async (t) => {
  const { body } = through('text/event-stream', [chat('see [EM'), chat('PTY] list'), chat(' and [')]);
  t.equal(texts(body).join(''), 'see [EMPTY] list and [');
});

t.test('Anthropic events keep their event names; other fields (id) are kept', async (t) => {
  const delta = (text: string) => sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }, 'content_block_delta');
  const { body } = through('text/event-stream', [`id: 7\n${delta('Hi [EMA').slice(0)}`, delta('IL_1]'), sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop')]);
  const events = body.split('\n\n').filter((e) => e !== '');
  t.match(events[0], /^id: 7\nevent: content_block_delta\ndata: /);
  const text = events
    .filter((e) => e.includes('text_delta'))
    .map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)).delta.text)
    .join('');
  t.equal(text, 'Hi jane.doe@example.com');
  t.match(events.at(-1), /^event: content_block_stop\n/);
});

t.test('withData keeps the other fields of an event', async (t) => {
  t.equal(withData('id: 1\nevent: x\ndata: {"a":\ndata: 1}\n\n', '{"a":2}'), 'id: 1\nevent: x\ndata: {"a":2}\n\n');
  t.equal(withData(': comment\n\n', '{}'), ': comment\ndata: {}\n\n');
});

t.test('error responses pass untouched', async (t) => {
  const tap = new RestoreTap(values);
  const headers: OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': '20' };
  tap.onStart(500, headers);
  const chunk = Buffer.from('{"error":"[EMAIL_1]"}');
  t.equal(tapData([tap], chunk), chunk);
  t.equal(tapEnd([tap]), null);
  t.equal(headers['content-length'], '20');
});
