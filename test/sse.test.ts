import t from 'tap';
import { parseEvent, SseSplitter } from '../src/upstream/sse.js';
import { type ResponseTap, tapData, tapEnd } from '../src/upstream/tap.js';

const STREAM = 'data: {"a":1}\n\nevent: ping\ndata: x\ndata: y\n\n: comment\r\ndata: é\r\n\r\ndata: last\r\r';

t.test('events come out whole whatever the chunking, bytes unchanged', async (t) => {
  const bytes = Buffer.from(STREAM);
  for (const size of [1, 2, 3, 5, 7, 64]) {
    const s = new SseSplitter();
    const events = [];
    for (let i = 0; i < bytes.length; i += size) events.push(...s.push(bytes.subarray(i, i + size)));
    events.push(...s.end());
    t.equal(events.map((e) => e.raw).join(''), STREAM, `size ${size}: raw text preserved`);
    t.same(
      events.map((e) => [e.event, e.data]),
      [
        [null, '{"a":1}'],
        ['ping', 'x\ny'],
        [null, 'é'],
        [null, 'last'],
      ],
      `size ${size}: fields`,
    );
  }
});

t.test('an unterminated last event comes out at the end, as it came', async (t) => {
  const s = new SseSplitter();
  t.same(
    s.push(Buffer.from('data: 1\n\ndata: 2\n')).map((e) => e.data),
    ['1'],
  );
  t.same(s.end(), [{ raw: 'data: 2\n', event: null, data: '2' }]);
  t.same(s.end(), []);
  t.same(parseEvent('data\n\n'), { raw: 'data\n\n', event: null, data: '' });
});

t.test('taps run in order and what one holds back flows through the next at the end', async (t) => {
  const seen: string[] = [];
  let held = '';
  const holder: ResponseTap = {
    onData: (c) => {
      held += c.toString();
      return null;
    },
    onEnd: () => Buffer.from(held.toUpperCase()),
  };
  const logger: ResponseTap = {
    onData: (c) => {
      seen.push(c.toString());
      return c;
    },
    onEnd: () => Buffer.from('!'),
  };
  t.equal(tapData([holder, logger], Buffer.from('ab')), null);
  t.equal(tapData([holder, logger], Buffer.from('c')), null);
  t.equal(tapEnd([holder, logger])!.toString(), 'ABC!');
  t.same(seen, ['ABC']);
  t.equal(tapEnd([]), null);
});
