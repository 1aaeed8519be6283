/**
 * The forwarder's upstream deadlines (src/upstream/deadlines.ts), one by one: which limit is in
 * force, undici's errors, pauses, and the list of watched calls staying exact as calls come and go.
 * End to end (a slow upstream, a stalled stream, a slow reader): test/streaming.test.ts.
 */
import t from 'tap';
import { errors } from 'undici';
import { CallDeadline, SWEEP_MS, watchedCalls } from '../src/upstream/deadlines.js';

function deadline(headersMs: number, bodyMs: number) {
  const expired: Error[] = [];
  const d = new CallDeadline(headersMs, bodyMs, (err) => expired.push(err));
  return { d, expired };
}

const later = (ms: number) => Date.now() + ms;

t.test('the headers are due once the request went out; then each chunk of the body', async (t) => {
  const a = deadline(1000, 5000);
  a.d.sent();
  a.d.check(later(500));
  t.same(a.expired, [], 'not before the headers limit');
  a.d.check(later(1001));
  t.equal(a.expired.length, 1);
  t.type(a.expired[0], errors.HeadersTimeoutError, 'undici’s own error: the forwarder maps it to aos_upstream_timeout');
  t.equal(watchedCalls(), 0, 'an expired call is no longer watched');

  const b = deadline(1000, 5000);
  b.d.sent();
  b.d.received();
  b.d.check(later(1001));
  t.same(b.expired, [], 'once the headers came, the body limit is in force');
  b.d.check(later(5001));
  t.type(b.expired[0], errors.BodyTimeoutError);
});

t.test('a paused call (its client reads slowly) never times out; resuming restarts the body limit', async (t) => {
  const a = deadline(1000, 200);
  a.d.sent();
  a.d.received();
  a.d.pause();
  a.d.received(); // a chunk delivered while pausing does not restart it either
  a.d.check(later(60_000));
  t.same(a.expired, []);
  a.d.resume();
  a.d.check(later(100));
  t.same(a.expired, [], 'the limit starts again at the resume');
  a.d.check(later(201));
  t.type(a.expired[0], errors.BodyTimeoutError);
});

t.test('a limit of 0 is none (an MCP stream idle by nature)', async (t) => {
  const a = deadline(1000, 0);
  a.d.sent();
  t.equal(watchedCalls(), 1);
  a.d.received();
  t.equal(watchedCalls(), 0, 'no body limit: not watched');
  a.d.check(later(3_600_000));
  t.same(a.expired, []);
});

t.test('an ended call stays unwatched, whatever its callbacks still report; a stopped one (a retry) is watched again once sent', async (t) => {
  const a = deadline(1000, 1000);
  a.d.sent();
  a.d.end();
  a.d.received(); // e.g. response headers that arrive after the client left
  a.d.resume();
  t.equal(watchedCalls(), 0);
  a.d.check(later(60_000));
  t.same(a.expired, []);
  const b = deadline(1000, 1000);
  b.d.sent();
  b.d.stop();
  t.equal(watchedCalls(), 0);
  b.d.sent();
  t.equal(watchedCalls(), 1);
  b.d.end();
});

t.test('calls ending in any order leave the list exact; the sweep ends the late ones by itself', async (t) => {
  const calls = Array.from({ length: 6 }, () => deadline(50, 50));
  for (const c of calls) c.d.sent();
  t.equal(watchedCalls(), 6);
  for (const i of [0, 5, 2]) calls[i]!.d.stop();
  calls[2]!.d.stop(); // twice: harmless
  t.equal(watchedCalls(), 3, 'the first, the last and one in the middle gone');
  // The sweep (every SWEEP_MS) ends the three left, with the headers error.
  await new Promise((r) => setTimeout(r, 50 + 2 * SWEEP_MS + 100));
  t.same(
    calls.map((c) => c.expired.length),
    [0, 1, 0, 1, 1, 0],
  );
  t.equal(watchedCalls(), 0);
});
