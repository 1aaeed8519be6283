/**
 * Backpressure of a Realtime session: a client that stops reading while the upstream floods it
 * must not make the gateway buffer without bound. The gateway stops reading the upstream once
 * 1 MiB is queued toward the client, so the flood piles up in the fake upstream's own socket
 * (its `bufferedAmount`), and `aos_realtime_buffered_bytes` stays bounded; once the client reads
 * again everything arrives, in order.
 */
import t from 'tap';
import { PROVIDER_KEY, startHarness } from './helpers.js';
import { opened, rawClient, startFakeRealtime } from './realtime-fixtures.js';

const MB = 1 << 20;
const metric = async (admin: string, name: string) => {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m === null ? Number.NaN : Number(m[1]);
};

t.test('a slow client: the gateway pauses the upstream, its buffer stays bounded', async (t) => {
  const fake = await startFakeRealtime({ bearer: PROVIDER_KEY });
  t.teardown(() => fake.close());
  const h = await startHarness(t, {
    // Identity and policy off: this is about the relay (metering is on, with no budget to hit).
    providers: { realtime: { dialect: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY } },
    routes: [{ prefix: '/rt/v1', provider: 'realtime' }],
  });
  const ws = rawClient(`${h.url}/rt/v1/realtime?model=gpt-realtime`);
  let received = 0;
  let chunks = 0;
  ws.on('message', (data, binary) => {
    if (!binary) return;
    received += (data as Buffer).length;
    chunks += 1;
  });
  await opened(ws);
  ws.pause(); // the client stops reading its socket

  const size = 256 * 1024;
  const count = 192; // 48 MiB
  ws.send(JSON.stringify({ type: 'test.flood', size, count }));
  // The client's socket is paused, but sending still works; wait for the fake to have queued it all.
  for (let i = 0; i < 500 && !fake.flood.done; i++) await new Promise((r) => setTimeout(r, 10));
  t.ok(fake.flood.done, 'the fake queued the whole flood');
  await new Promise((r) => setTimeout(r, 300)); // let the kernel buffers fill

  const upstreamQueued = fake.sockets[0].bufferedAmount;
  const gatewayBuffered = await metric(h.admin, 'aos_realtime_buffered_bytes');
  t.ok(upstreamQueued > 16 * MB, `the flood waits in the upstream's socket: ${(upstreamQueued / MB).toFixed(1)} MiB`);
  t.ok(gatewayBuffered <= MB + size, `the gateway holds at most its bound plus one message: ${(gatewayBuffered / MB).toFixed(2)} MiB`);
  t.ok((await metric(h.admin, 'aos_realtime_backpressure_total{paused="upstream"}')) >= 1, 'the upstream side was paused');

  ws.resume();
  for (let i = 0; i < 1000 && received < size * count; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(received, size * count, 'every byte arrives once the client reads again');
  t.equal(chunks, count, 'message by message');
  t.equal(fake.sockets[0].bufferedAmount, 0, 'the upstream drained');
  t.equal(await metric(h.admin, 'aos_realtime_buffered_bytes'), 0);
  ws.close();
});
