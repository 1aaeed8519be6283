/**
 * What the gateway adds to each event of a Realtime WebSocket session: round trips of one event
 * (client → upstream → client) at concurrency 1, directly to a fake Realtime server and through the
 * gateway (`aos start` in a child process, identity and policy off, metering and audit on as by
 * default: the per-event path is the relay, not the decision made once at the upgrade). Each round
 * trip crosses the gateway twice, so the added latency per relayed event is half the difference.
 *
 *   node --import tsx bench/realtime.ts [--n 5000] [--out bench/RESULTS-realtime.md]
 */
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { stringify } from 'yaml';
import { ProcessGroup } from './processes.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : process.argv[i + 1];
};
const N = Number(arg('n', '5000'));
const WARMUP = Math.min(1000, Math.ceil(N / 5));
const OUT = arg('out', fileURLToPath(new URL('RESULTS-realtime.md', import.meta.url)));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The events measured: a small client event, an audio delta, and a response.done the gateway meters. */
const KINDS = {
  'small event (~120 B)': JSON.stringify({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } }),
  'audio delta (~5.5 KB)': JSON.stringify({ type: 'response.output_audio.delta', response_id: 'resp_1', item_id: 'item_1', delta: Buffer.alloc(4096, 7).toString('base64') }),
  'response.done with usage (metered)': 'response.done',
};
const DONE = JSON.stringify({
  type: 'response.done',
  event_id: 'ev_1',
  response: {
    id: 'resp_1',
    object: 'realtime.response',
    status: 'completed',
    output: [],
    usage: { total_tokens: 130, input_tokens: 100, output_tokens: 30, input_token_details: { cached_tokens: 20, audio_tokens: 40 }, output_token_details: { audio_tokens: 20 } },
  },
});

async function fakeRealtime() {
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data, binary) => {
      // A response.done for the metered kind; an echo for the others.
      if (!binary && data.toString() === 'response.done') ws.send(DONE);
      else ws.send(data, { binary });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
}

async function roundTrips(url: string, payload: string): Promise<number[]> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await once(ws, 'open');
  const times: number[] = [];
  let resolve: (() => void) | null = null;
  ws.on('message', () => resolve?.());
  for (let i = 0; i < WARMUP + N; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      resolve = r;
      ws.send(payload);
    });
    if (i >= WARMUP) times.push((performance.now() - t0) * 1000);
  }
  ws.close();
  await once(ws, 'close');
  return times.sort((a, b) => a - b);
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main() {
  const procs = new ProcessGroup();
  const fake = await fakeRealtime();
  const dir = mkdtempSync(join(tmpdir(), 'aos-bench-realtime-'));
  mkdirSync(join(dir, 'data'));
  const config = join(dir, 'aos.yaml');
  writeFileSync(
    config,
    stringify({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      dataDir: join(dir, 'data'),
      log: { level: 'warn' },
      identity: { mode: 'off' },
      policy: { mode: 'off' },
      providers: { fake: { dialect: 'openai', baseUrl: `${fake.url.replace(/^ws/, 'http')}/v1`, apiKey: 'sk-bench' } },
      routes: [{ prefix: '/v1', provider: 'fake' }],
    }),
  );
  const gw = procs.start('gateway', [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli.ts'), 'start', '--config', config], { cwd: ROOT });
  const proxy = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${gw.tail.join('\n')}`)), 30_000);
    gw.lines.on('line', (_stream: string, text: string) => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const gatewayUrl = `${proxy.replace(/^http/, 'ws')}/v1/realtime?model=gpt-realtime`;
  const rows: string[] = [];
  try {
    for (const [kind, payload] of Object.entries(KINDS)) {
      // Alternated, twice each, so drift on a shared machine hits both alike.
      const direct: number[] = [];
      const through: number[] = [];
      for (let rep = 0; rep < 2; rep++) {
        direct.push(...(await roundTrips(`${fake.url}/v1/realtime?model=gpt-realtime`, payload)));
        through.push(...(await roundTrips(gatewayUrl, payload)));
      }
      direct.sort((a, b) => a - b);
      through.sort((a, b) => a - b);
      const [d50, d99, g50, g99] = [pct(direct, 50), pct(direct, 99), pct(through, 50), pct(through, 99)];
      rows.push(`| ${kind} | ${d50.toFixed(0)} | ${d99.toFixed(0)} | ${g50.toFixed(0)} | ${g99.toFixed(0)} | **${((g50 - d50) / 2).toFixed(0)}** | ${((g99 - d99) / 2).toFixed(0)} |`);
      console.log(rows.at(-1));
    }
  } finally {
    await procs.stopAll();
    await fake.close();
  }
  const report = `# Realtime (WebSocket) relay: added latency per event

\`node --import tsx bench/realtime.ts --n ${N}\` (${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores shared with other sessions, Node ${process.version}).

Round trips of one event at concurrency 1 (client → upstream → client, the fake echoing it, or
answering \`response.done\` with usage to a client's \`response.done\` text), ${N} measured after
${WARMUP} warm-up, twice each way, alternated: directly to a fake Realtime server (\`ws\`), and
through the gateway (\`aos start\` through tsx in a child process, identity and policy off,
metering and audit on). A round trip crosses the gateway twice, so **added per relayed event** is
half the difference of the round trips. The client and the fake share the bench's process; the
gateway runs alone in its own, unpinned. Microseconds.

| event | direct p50 | direct p99 | gateway p50 | gateway p99 | added per event p50 | added per event p99 |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

What a relayed event costs the gateway: a \`ws\` frame parsed and one written (no UTF-8 check, no
compression), the backpressure check, and on the upstream side a byte search for
\`"response.done"\`; only that event is parsed (JSON) and metered (usage priced, the response's
reservation settled and the next one reserved in the SQLite budget store). The decision itself
(identity, policy, reservation, audit intent) is paid once, at the upgrade, like any call
([bench/RESULTS.md](RESULTS.md)).

Honestly: the p50 is the relay's cost; the p99 here is mostly scheduling on a 2-core machine
shared with other work (the gateway process is not pinned and its audit and budget writers share
its cores), so read it as an upper bound, not the relay's own tail.
`;
  writeFileSync(OUT, report);
  console.log(`wrote ${OUT}`);
}

await main();
