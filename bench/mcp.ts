/**
 * Added latency of one MCP request through the gateway vs direct, per protocol revision of each
 * side, with raw HTTP clients (undici, keep-alive) so the client costs the same on both paths:
 *
 * - 2025-11-25 agent → 2025-11-25 server (the SDK's McpServer, bench/mcp-server.ts, SSE answers):
 *   `tools/call` in the agent's session, direct vs gateway.
 * - 2026-07-28 agent → 2026-07-28 server (bench/mcp-stateless-server.ts, JSON answers): `tools/call`
 *   direct vs gateway (the gateway sets Mcp-Method/Mcp-Name).
 * - 2026-07-28 agent → 2025-11-25 server: only through the gateway (it holds the session and
 *   translates); compared with the 2025-11-25 client direct to the same server.
 * - 2025-11-25 agent → 2026-07-28 server: only through the gateway (it plays the session and sends
 *   stateless requests); compared with the 2026-07-28 client direct to the same server.
 * - 2026-07-28 `tools/list` (40 tools… here the fixture's 3, ttlMs 60 s, public): direct vs the
 *   gateway's list cache (every call after the first is a hit).
 *
 * Every pair runs in alternating blocks of 50 calls so machine noise hits both alike. Writes
 * bench/RESULTS-mcp.md's table to stdout (and appends the run to bench/RESULTS-mcp.runs.md).
 *
 *   node --import tsx bench/mcp.ts            1000 calls per target
 *   node --import tsx bench/mcp.ts --quick    300 calls per target
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
const { values } = parseArgs({ options: { quick: { type: 'boolean' }, calls: { type: 'string' }, 'no-write': { type: 'boolean' } } });
const calls = Number(values.calls ?? (values.quick ? 300 : 1000));
const BLOCK = 50;
const STATELESS = '2026-07-28';
const SESSION = '2025-11-25';
const dispatcher = new Agent({ keepAliveTimeout: 60_000, connections: 4 });

const node = (file: string, ...args: string[]) => [process.execPath, '--import', 'tsx', join(ROOT, file), ...args];

type Send = (method: string, params: Record<string, unknown>) => Promise<void>;

async function post(url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const res = await request(url, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

function check(method: string, r: { status: number; text: string }): void {
  if (r.status !== 200 || !r.text.includes('"result"')) throw new Error(`${method} answered ${r.status}: ${r.text.slice(0, 300)}`);
}

/** A 2025-11-25 client: initialize, then every request in the session. */
async function sessionClient(url: string, token: string | null): Promise<Send> {
  const auth: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const init = await post(
    url,
    { ...auth, 'mcp-protocol-version': SESSION },
    { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: SESSION, capabilities: {}, clientInfo: { name: 'bench', version: '1' } } },
  );
  check('initialize', init);
  const headers = { ...auth, 'mcp-protocol-version': SESSION, 'mcp-session-id': String(init.headers['mcp-session-id']) };
  await post(url, headers, { jsonrpc: '2.0', method: 'notifications/initialized' });
  let id = 0;
  return async (method, params) => check(method, await post(url, headers, { jsonrpc: '2.0', id: ++id, method, params }));
}

/** A 2026-07-28 client: no session, the revision, method and name on every request. */
function statelessClient(url: string, token: string | null): Send {
  const auth: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  let id = 0;
  return async (method, params) => {
    const headers: Record<string, string> = { ...auth, 'mcp-protocol-version': STATELESS, 'mcp-method': method };
    if (typeof params.name === 'string') headers['mcp-name'] = params.name;
    const meta = { 'io.modelcontextprotocol/protocolVersion': STATELESS, 'io.modelcontextprotocol/clientCapabilities': {} };
    check(method, await post(url, headers, { jsonrpc: '2.0', id: ++id, method, params: { ...params, _meta: meta } }));
  };
}

const echo = (send: Send, i: number) => send('tools/call', { name: 'echo', arguments: { text: `hello ${i}` } });
const list = (send: Send) => send('tools/list', {});

/** Two targets in alternating blocks; latencies in µs. */
async function pair(a: () => Promise<void>, b: () => Promise<void>): Promise<[number[], number[]]> {
  const out: [number[], number[]] = [[], []];
  const fns = [a, b];
  for (const f of fns) for (let i = 0; i < Math.min(200, calls); i++) await f();
  for (let done = 0; done < calls; done += BLOCK) {
    for (let k = 0; k < 2; k++) {
      for (let i = 0; i < BLOCK; i++) {
        const t0 = performance.now();
        await fns[k]();
        out[k].push((performance.now() - t0) * 1000);
      }
    }
  }
  return out;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(0)}`;

async function main() {
  mkdirSync(OUT, { recursive: true });
  const group = new ProcessGroup();
  process.on('exit', () => group.killAllSync());
  const dir = mkdtempSync(join(tmpdir(), 'aos-bench-mcp-'));
  try {
    const oldProc = group.start('mcp server 2025-11-25', node('bench/mcp-server.ts'), { cwd: ROOT, logFile: join(OUT, 'mcp-server.log') });
    const newProc = group.start('mcp server 2026-07-28', node('bench/mcp-stateless-server.ts'), { cwd: ROOT, logFile: join(OUT, 'mcp-stateless-server.log') });
    // Both waited for at once: a line printed before its wait began would be missed.
    const ports = await Promise.all([oldProc, newProc].map((p) => group.waitForLine(p, 'stdout', /^\{"port":(\d+)\}$/, 30_000)));
    const [oldUrl, newUrl] = ports.map((m) => `http://127.0.0.1:${m[1]}/mcp`);
    const { url: gateway, token } = await startBenchGateway(group, {
      root: ROOT,
      dir,
      agents: { templates: { bench: { version: 1, tools: ['old/*', 'new/*'] } }, agents: [{ id: 'bench-agent', team: 'bench', template: 'bench' }] },
      sections: { tools: { old: { kind: 'mcp', url: oldUrl }, new: { kind: 'mcp', url: newUrl } } },
      logFile: join(OUT, 'gateway-mcp.log'),
    });

    const oldDirect = await sessionClient(oldUrl, null);
    const oldVia = await sessionClient(`${gateway}/mcp/old`, token);
    const newDirect = statelessClient(newUrl, null);
    const newVia = statelessClient(`${gateway}/mcp/new`, token);
    const translated = statelessClient(`${gateway}/mcp/old`, token);
    const played = await sessionClient(`${gateway}/mcp/new`, token);
    let i = 0;
    const rows: [string, string, string, [number[], number[]]][] = [];
    rows.push([
      '2025-11-25 → 2025-11-25',
      '`tools/call`, SSE answer',
      'direct',
      await pair(
        () => echo(oldDirect, i++),
        () => echo(oldVia, i++),
      ),
    ]);
    console.error('2025 → 2025 done');
    rows.push([
      '2026-07-28 → 2026-07-28',
      '`tools/call`, JSON answer',
      'direct',
      await pair(
        () => echo(newDirect, i++),
        () => echo(newVia, i++),
      ),
    ]);
    console.error('2026 → 2026 done');
    rows.push([
      '2026-07-28 → 2025-11-25',
      '`tools/call`, translated',
      '2025-11-25 client direct',
      await pair(
        () => echo(oldDirect, i++),
        () => echo(translated, i++),
      ),
    ]);
    console.error('2026 → 2025 done');
    rows.push([
      '2025-11-25 → 2026-07-28',
      '`tools/call`, session played by the gateway',
      '2026-07-28 client direct',
      await pair(
        () => echo(newDirect, i++),
        () => echo(played, i++),
      ),
    ]);
    console.error('2025 → 2026 done');
    rows.push([
      '2026-07-28 → 2026-07-28',
      '`tools/list`, list cache hit',
      'direct',
      await pair(
        () => list(newDirect),
        () => list(newVia),
      ),
    ]);
    console.error('tools/list done');

    const lines = [
      '| agent → server | request | baseline | baseline p50 / p99 (µs) | gateway p50 / p99 (µs) | added p50 | added p99 |',
      '|---|---|---|---|---|---|---|',
      ...rows.map(([revs, what, base, [d, g]]) => {
        const [d50, d99, g50, g99] = [pct(d, 0.5), pct(d, 0.99), pct(g, 0.5), pct(g, 0.99)];
        return `| ${revs} | ${what} | ${base} | ${d50.toFixed(0)} / ${d99.toFixed(0)} | ${g50.toFixed(0)} / ${g99.toFixed(0)} | **${signed(g50 - d50)}** | ${signed(g99 - d99)} |`;
      }),
    ];
    const meta = `${calls} calls per target (alternating blocks of ${BLOCK}, after 200 warm-up), identity required, policy enforce (default bundle); ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()[0].toFixed(1)} at the end, Node ${process.version}`;
    console.log(`${meta}\n\n${lines.join('\n')}`);
    if (!values['no-write']) appendFileSync(join(ROOT, 'bench', 'RESULTS-mcp.runs.md'), `\n### ${new Date().toISOString()} — ${meta}\n\n${lines.join('\n')}\n`);
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
