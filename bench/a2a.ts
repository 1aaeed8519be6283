/**
 * Added latency of one A2A hand-off through the gateway (`/a2a/<agent>`) vs direct to the agent,
 * with raw HTTP clients (undici, keep-alive) so the client costs the same on both paths. The agent
 * is the official A2A SDK server (bench/a2a-agent.ts) answering at once; the gateway runs with
 * identity, the committed policy bundle, metering and audit on, as in production. Through the
 * gateway each hand-off also gets a delegation token signed for the callee (Ed25519).
 *
 * - JSON-RPC `SendMessage` (a message answer)
 * - HTTP+JSON `POST /message:send`
 * - JSON-RPC `SendStreamingMessage` (task, status, artifact, completion as SSE; to the stream's end)
 * - the agent card through the gateway (fetched from the agent, cached 30 s, rewritten, skills
 *   filtered by the policy) vs the agent's own card
 *
 * Pairs run in alternating blocks of 50 calls so machine noise hits both alike. Writes the table of
 * bench/RESULTS-a2a.md to stdout.
 *
 *   node --import tsx bench/a2a.ts            600 calls per target
 *   node --import tsx bench/a2a.ts --quick    200 calls per target
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { startBenchGateway } from './bench-gateway.js';
import { ProcessGroup } from './processes.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'bench', '.out');
const { values } = parseArgs({ options: { quick: { type: 'boolean' }, calls: { type: 'string' } } });
const calls = Number(values.calls ?? (values.quick ? 200 : 600));
const BLOCK = 50;
const dispatcher = new Agent({ keepAliveTimeout: 60_000, connections: 4 });
const node = (file: string, ...args: string[]) => [process.execPath, '--import', 'tsx', join(ROOT, file), ...args];

const message = () => ({ messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text: 'hand this on' }] });

async function call(url: string, method: 'GET' | 'POST', headers: Record<string, string>, body: unknown, expect: string): Promise<void> {
  const res = await request(url, {
    method,
    dispatcher,
    headers: { 'content-type': 'application/json', 'a2a-version': '1.0', ...headers },
    body: body === null ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200 || !text.includes(expect)) throw new Error(`${method} ${url} answered ${res.statusCode}: ${text.slice(0, 300)}`);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

/** Runs `direct` and `via` in alternating blocks; their latencies in µs (after a warm-up of one block each). */
async function pair(direct: () => Promise<void>, via: () => Promise<void>): Promise<[number[], number[]]> {
  const d: number[] = [];
  const g: number[] = [];
  for (let i = 0; i < BLOCK; i++) {
    await direct();
    await via();
  }
  while (d.length < calls) {
    for (const [fn, into] of [
      [direct, d],
      [via, g],
    ] as const) {
      for (let i = 0; i < BLOCK; i++) {
        const t0 = performance.now();
        await fn();
        into.push((performance.now() - t0) * 1000);
      }
    }
  }
  return [d, g];
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const group = new ProcessGroup();
  process.on('exit', () => group.killAllSync());
  const dir = mkdtempSync(join(tmpdir(), 'aos-bench-a2a-'));
  try {
    const agentProc = group.start('a2a agent', node('bench/a2a-agent.ts'), { cwd: ROOT, logFile: join(OUT, 'a2a-agent.log') });
    const agent = `http://127.0.0.1:${(await group.waitForLine(agentProc, 'stdout', /^\{"port":(\d+)\}$/, 30_000))[1]}`;
    const { url: gateway, token } = await startBenchGateway(group, {
      root: ROOT,
      dir,
      agents: {
        templates: { bench: { version: 1, agents: ['callee'] } },
        agents: [
          { id: 'bench-agent', team: 'bench', template: 'bench' },
          { id: 'callee', team: 'bench', template: 'bench', a2a: { url: `${agent}/a2a/jsonrpc`, rest: `${agent}/a2a/rest` } },
        ],
      },
      sections: {},
      logFile: join(OUT, 'gateway-a2a.log'),
    });
    const auth = { authorization: `Bearer ${token}` };
    const rpc = (method: string) => ({ jsonrpc: '2.0', id: 1, method, params: { message: message() } });
    const sse = { accept: 'text/event-stream' };

    const rows: [string, [number[], number[]]][] = [];
    rows.push([
      'JSON-RPC `SendMessage`',
      await pair(
        () => call(`${agent}/a2a/jsonrpc`, 'POST', {}, rpc('SendMessage'), '"result"'),
        () => call(`${gateway}/a2a/callee`, 'POST', auth, rpc('SendMessage'), '"result"'),
      ),
    ]);
    console.error('JSON-RPC done');
    rows.push([
      'HTTP+JSON `POST /message:send`',
      await pair(
        () => call(`${agent}/a2a/rest/message:send`, 'POST', {}, { message: message() }, '"message"'),
        () => call(`${gateway}/a2a/callee/message:send`, 'POST', auth, { message: message() }, '"message"'),
      ),
    ]);
    console.error('HTTP+JSON done');
    rows.push([
      'JSON-RPC `SendStreamingMessage` (4 events, to the end)',
      await pair(
        () => call(`${agent}/a2a/jsonrpc`, 'POST', sse, rpc('SendStreamingMessage'), 'TASK_STATE_COMPLETED'),
        () => call(`${gateway}/a2a/callee`, 'POST', { ...auth, ...sse }, rpc('SendStreamingMessage'), 'TASK_STATE_COMPLETED'),
      ),
    ]);
    console.error('streaming done');
    rows.push([
      'agent card (gateway: cached, rewritten, skills filtered)',
      await pair(
        () => call(`${agent}/.well-known/agent-card.json`, 'GET', {}, null, 'supportedInterfaces'),
        () => call(`${gateway}/a2a/callee/.well-known/agent-card.json`, 'GET', auth, null, 'supportedInterfaces'),
      ),
    ]);
    const lines = [
      '| request | direct p50 / p99 (µs) | gateway p50 / p99 (µs) | added p50 | added p99 |',
      '|---|---|---|---|---|',
      ...rows.map(([what, [d, g]]) => {
        const [d50, d99, g50, g99] = [pct(d, 0.5), pct(d, 0.99), pct(g, 0.5), pct(g, 0.99)];
        return `| ${what} | ${d50.toFixed(0)} / ${d99.toFixed(0)} | ${g50.toFixed(0)} / ${g99.toFixed(0)} | +${(g50 - d50).toFixed(0)} µs | +${(g99 - d99).toFixed(0)} µs |`;
      }),
    ];
    console.log(
      `${calls} calls per target, concurrency 1, Node ${process.versions.node}, ${cpus().length} CPUs, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    console.log(lines.join('\n'));
  } finally {
    await dispatcher.close();
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
