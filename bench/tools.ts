/**
 * Added latency and throughput of MCP `tools/call` through the gateway vs. direct, with the
 * official SDK client (StreamableHTTPClientTransport) in a loop — what an agent really does — and
 * an SDK McpServer (bench/mcp-server.ts) as the server. Two targets, interleaved in small blocks
 * so machine noise hits both alike: **direct** (client → server) and **gateway** (client →
 * `aos start` → server: identity, the default policy bundle, argument validation, the MCP stage).
 * Appends its table to bench/RESULTS-tools.runs.md (summarized in bench/RESULTS-tools.md).
 *
 *   node --import tsx bench/tools.ts                       3 reps × 1500 sequential calls, 4 s at concurrency 8
 *   node --import tsx bench/tools.ts --quick               1 rep × 500 calls, 2 s
 *   node --import tsx bench/tools.ts --json                the server answers JSON instead of SSE
 *   node --import tsx bench/tools.ts --set identity.mode=off --set policy.mode=off
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { stringify } from 'yaml';
import { ProcessGroup } from './processes.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'bench', '.out');
const HELP = `node --import tsx bench/tools.ts [options]
  --reps N        paired repetitions (default 3)
  --calls N       sequential calls per target and repetition (default 1500)
  --duration S    seconds at concurrency 8 per target and repetition (default 4)
  --quick         1 rep, 500 calls, 2 s
  --json          the MCP server answers JSON (enableJsonResponse) instead of SSE
  --set KEY=VALUE gateway config override (repeatable), e.g. --set policy.mode=off
  --profile DIR   run the gateway under node --cpu-prof, profile written to DIR on exit
  --no-write      print only, do not append to bench/RESULTS-tools.runs.md
`;

const { values } = parseArgs({
  options: {
    reps: { type: 'string' },
    calls: { type: 'string' },
    duration: { type: 'string' },
    quick: { type: 'boolean' },
    json: { type: 'boolean' },
    set: { type: 'string', multiple: true },
    profile: { type: 'string' },
    'no-write': { type: 'boolean' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const reps = Number(values.reps ?? (values.quick ? 1 : 3));
const calls = Number(values.calls ?? (values.quick ? 500 : 1500));
const duration = Number(values.duration ?? (values.quick ? 2 : 4));
const sets = (values.set ?? []).map((s) => {
  const i = s.indexOf('=');
  const raw = s.slice(i + 1);
  let v: unknown = raw;
  try {
    v = JSON.parse(raw);
  } catch {}
  return [s.slice(0, i), v] as const;
});

const node = (file: string, ...args: string[]) => [process.execPath, '--import', 'tsx', join(ROOT, file), ...args];
const profiled = (argv: string[]) => (values.profile === undefined ? argv : [argv[0], '--cpu-prof', `--cpu-prof-dir=${values.profile}`, ...argv.slice(1)]);

function gatewayConfig(dir: string, mcpUrl: string): string {
  writeFileSync(
    join(dir, 'agents.yaml'),
    stringify({
      templates: { bench: { version: 1, tools: ['bench/*'] } },
      agents: [{ id: 'bench-agent', team: 'bench', template: 'bench' }],
    }),
  );
  const config: Record<string, unknown> = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    dataDir: join(dir, 'data'),
    log: { level: 'warn' },
    identity: { mode: 'required', registry: 'agents.yaml' },
    policy: { mode: 'enforce', bundle: { file: join(ROOT, 'policies/bundle.tar.gz') } },
    providers: { openai: { dialect: 'openai', baseUrl: 'http://127.0.0.1:9/v1' } },
    routes: [{ prefix: '/v1', provider: 'openai' }],
    tools: { bench: { kind: 'mcp', url: mcpUrl, apiKey: 'bench-tool-credential' } },
  };
  for (const [k, v] of sets) {
    const keys = k.split('.');
    let o = config;
    for (const key of keys.slice(0, -1)) {
      if (o[key] === null || typeof o[key] !== 'object') o[key] = {};
      o = o[key] as Record<string, unknown>;
    }
    o[keys.at(-1)!] = v;
  }
  const file = join(dir, 'aos.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

interface Sample {
  latencies: number[];
  throughput: number;
  cpuUs: number;
  cpuCalls: number;
}

/** CPU time (user + system) a process has used, in µs, from /proc (10 ms ticks). */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

async function connect(url: string, token: string | null): Promise<Client> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  await client.listTools();
  return client;
}

const call = (c: Client, i: number) => c.callTool({ name: 'echo', arguments: { text: `hello ${i}` } });

const BLOCK = 50;

/**
 * One repetition: both targets connected and warmed, then sequential calls in alternating blocks of
 * 50 (direct, gateway, direct, …) so that whatever else the machine does hits both alike; then
 * throughput with 8 sessions per target in alternating half-second windows.
 */
async function measurePair(urls: { direct: string; gateway: string }, token: string | null, pids: Record<'direct' | 'gateway', number>): Promise<Record<'direct' | 'gateway', Sample>> {
  const targets = ['direct', 'gateway'] as const;
  const clients = { direct: await connect(urls.direct, null), gateway: await connect(urls.gateway, token) };
  for (const k of targets) for (let i = 0; i < Math.min(200, calls); i++) await call(clients[k], i);
  const out = { direct: { latencies: [] as number[], throughput: 0, cpuUs: 0, cpuCalls: 0 }, gateway: { latencies: [] as number[], throughput: 0, cpuUs: 0, cpuCalls: 0 } };
  for (let done = 0; done < calls; done += BLOCK) {
    for (const k of targets) {
      const cpu0 = cpuOf(pids[k]);
      out[k].cpuCalls += BLOCK;
      for (let i = 0; i < BLOCK; i++) {
        const t0 = performance.now();
        await call(clients[k], i);
        out[k].latencies.push((performance.now() - t0) * 1000);
      }
      out[k].cpuUs += cpuOf(pids[k]) - cpu0;
    }
  }
  const many = {
    direct: [clients.direct, ...(await Promise.all(Array.from({ length: 7 }, () => connect(urls.direct, null))))],
    gateway: [clients.gateway, ...(await Promise.all(Array.from({ length: 7 }, () => connect(urls.gateway, token))))],
  };
  const windows = Math.max(1, Math.round(duration * 2));
  for (let w = 0; w < windows; w++) {
    for (const k of targets) {
      let n = 0;
      const end = performance.now() + 500;
      await Promise.all(
        many[k].map(async (c) => {
          for (let i = 0; performance.now() < end; i++) {
            await call(c, i);
            n++;
          }
        }),
      );
      out[k].throughput += n / (windows * 0.5);
    }
  }
  await Promise.all([...many.direct, ...many.gateway].map((c) => c.close()));
  return out;
}

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(0)}`;
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function main() {
  mkdirSync(OUT, { recursive: true });
  const group = new ProcessGroup();
  process.on('exit', () => group.killAllSync());
  const dir = mkdtempSync(join(tmpdir(), 'aos-bench-tools-'));
  try {
    const server = group.start('mcp server', node('bench/mcp-server.ts', ...(values.json ? ['--json'] : [])), { cwd: ROOT, logFile: join(OUT, 'mcp-server.log') });
    const port = (await group.waitForLine(server, 'stdout', /^\{"port":(\d+)\}$/, 30_000))[1];
    const direct = `http://127.0.0.1:${port}/mcp`;
    const configFile = gatewayConfig(dir, direct);
    const identity = !sets.some(([k, v]) => k === 'identity.mode' && v === 'off');
    let token: string | null = null;
    if (identity) {
      const mint = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'token', 'mint', '--agent', 'bench-agent', '--ttl', '12h', '--config', configFile], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
      token = mint.stdout.trim().split('\n').at(-1) ?? '';
      if (mint.status !== 0) throw new Error(`token mint failed: ${mint.stderr}`);
    }
    const gw = group.start('gateway', profiled(node('src/cli.ts', 'start', '--config', configFile)), { cwd: ROOT, logFile: join(OUT, 'gateway-tools.log') });
    const gport = (await group.waitForLine(gw, 'stderr', /listening on http:\/\/127\.0\.0\.1:(\d+)/, 30_000))[1];
    const viaGateway = `http://127.0.0.1:${gport}/mcp/bench`;

    const results: Record<'direct' | 'gateway', Sample[]> = { direct: [], gateway: [] };
    for (let r = 0; r < reps; r++) {
      // CPU per call: the server's own during direct blocks, the gateway's during gateway blocks.
      const pair = await measurePair({ direct, gateway: viaGateway }, token, { direct: server.pid, gateway: gw.pid });
      results.direct.push(pair.direct);
      results.gateway.push(pair.gateway);
      console.error(`rep ${r + 1}/${reps} done`);
    }
    const summary = Object.fromEntries(
      (['direct', 'gateway'] as const).map((k) => {
        // Per repetition, then the median over repetitions: one disturbed repetition does not decide.
        const per = results[k].map((s) => {
          const sorted = [...s.latencies].sort((a, b) => a - b);
          return { p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), rate: s.throughput, cpu: s.cpuUs / s.cpuCalls };
        });
        const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
        return [k, { p50: med(per.map((x) => x.p50)), p99: med(per.map((x) => x.p99)), rate: med(per.map((x) => x.rate)), seqRate: 1e6 / med(per.map((x) => x.p50)), cpu: med(per.map((x) => x.cpu)) }];
      }),
    ) as Record<'direct' | 'gateway', { p50: number; p99: number; rate: number; seqRate: number; cpu: number }>;
    const d = summary.direct;
    const g = summary.gateway;
    const lines = [
      `| target | p50 (µs) | p99 (µs) | calls/s, 1 agent (1/p50) | calls/s, 8 agents | CPU per call (µs) |`,
      `|---|---|---|---|---|---|`,
      `| direct | ${d.p50.toFixed(0)} | ${d.p99.toFixed(0)} | ${d.seqRate.toFixed(0)} | ${d.rate.toFixed(0)} | server ${d.cpu.toFixed(0)} |`,
      `| gateway | ${g.p50.toFixed(0)} | ${g.p99.toFixed(0)} | ${g.seqRate.toFixed(0)} | ${g.rate.toFixed(0)} | gateway ${g.cpu.toFixed(0)} |`,
      `| **added** | **${signed(g.p50 - d.p50)}** | **${signed(g.p99 - d.p99)}** | | **${((g.rate / d.rate) * 100).toFixed(0)}% of direct** | **${g.cpu.toFixed(0)}** |`,
    ];
    const meta = `${reps} rep(s) × ${calls} sequential calls (alternating blocks of ${BLOCK}) + ${duration} s at concurrency 8 (alternating 0.5 s windows); server answers ${values.json ? 'JSON' : 'SSE'}; gateway ${identity ? 'identity required' : 'identity off'}, ${sets.some(([k, v]) => k === 'policy.mode' && v === 'off') ? 'policy off' : 'policy enforce (default bundle)'}${sets.length ? `; --set ${sets.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}` : ''}; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}`;
    console.log(`${meta}\n\n${lines.join('\n')}`);
    if (!values['no-write']) {
      // A run appends its section: several configs (SSE/JSON, stages on/off) end up side by side.
      const file = join(ROOT, 'bench', 'RESULTS-tools.runs.md');
      const { appendFileSync } = await import('node:fs');
      appendFileSync(file, `\n### ${new Date().toISOString()} — ${meta}\n\n${lines.join('\n')}\n`);
      console.error(`appended to ${file}`);
    }
  } finally {
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
