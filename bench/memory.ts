/**
 * Shared memory through the gateway: p50/p99 of `GET` and of a conditional `PUT` (If-Match, the
 * ETag of the previous write) of a ~1 KB document at `/memory/v1/team:bench/…`, one client in a
 * loop, then throughput with 8 clients; on the SQLite store and on Redis (a redis-server started
 * for the run). The gateway is `aos start` with identity required, the default policy bundle,
 * guardrails, audit and rate limits as configured by default: every operation goes through them.
 * Prints a table and appends it to bench/RESULTS-memory.md (unless --no-write).
 *
 *   node --import tsx bench/memory.ts              2000 sequential ops per kind, 3 s at concurrency 8, both stores
 *   node --import tsx bench/memory.ts --quick      500 ops, 1 s
 *   node --import tsx bench/memory.ts --store sqlite
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { startBenchGateway } from './bench-gateway.js';
import { ProcessGroup } from './processes.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'bench', '.out');
const { values } = parseArgs({ options: { quick: { type: 'boolean' }, store: { type: 'string' }, ops: { type: 'string' }, 'no-write': { type: 'boolean' } } });
const ops = Number(values.ops ?? (values.quick ? 500 : 2000));
const seconds = values.quick ? 1 : 3;
const storesToRun = values.store === undefined ? ['sqlite', 'redis'] : [values.store];

const DOC = {
  title: 'Quarterly plan',
  owner: 'research',
  steps: Array.from({ length: 12 }, (_, i) => ({ n: i, text: `step ${i}: gather the sources, read them, and write down what matters for the plan` })),
};

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** CPU time (user + system) a process has used, in µs, from /proc (10 ms ticks). */
function cpuOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(x[11]) + Number(x[12])) * 10_000;
}

interface Row {
  store: string;
  op: string;
  p50: number;
  p99: number;
  rate: number;
  cpu: number;
}

async function runStore(group: ProcessGroup, store: string): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'aos-bench-memory-'));
  try {
    let memory: Record<string, unknown> = { store: 'sqlite' };
    if (store === 'redis') {
      const port = await freePort();
      group.start('redis', ['redis-server', '--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1'], { logFile: join(OUT, 'redis-memory.log') });
      memory = { store: 'redis', redis: { url: `redis://127.0.0.1:${port}` } };
      await new Promise((r) => setTimeout(r, 300));
    }
    const {
      url: gateway,
      token,
      pid,
    } = await startBenchGateway(group, {
      root: ROOT,
      dir,
      agents: { templates: { bench: { version: 1 } }, agents: [{ id: 'bench-agent', team: 'bench', template: 'bench' }] },
      sections: { memory },
      logFile: join(OUT, `gateway-memory-${store}.log`),
    });
    const pool = new Pool(gateway, { connections: 8, pipelining: 1 });
    const auth = { authorization: `Bearer ${token}` };
    const body = JSON.stringify(DOC);

    const put = async (key: string, etag: string | null): Promise<string> => {
      const res = await pool.request({
        method: 'PUT',
        path: `/memory/v1/team:bench/${key}`,
        headers: { ...auth, 'content-type': 'application/json', ...(etag === null ? {} : { 'if-match': etag }) },
        body,
      });
      await res.body.dump();
      if (res.statusCode !== 200 && res.statusCode !== 201) throw new Error(`PUT ${key}: ${res.statusCode}`);
      return res.headers.etag as string;
    };
    const get = async (key: string) => {
      const res = await pool.request({ method: 'GET', path: `/memory/v1/team:bench/${key}`, headers: auth });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`GET ${key}: ${res.statusCode}`);
    };

    const etags = new Map<string, string>();
    for (let i = 0; i < 8; i++) etags.set(`doc-${i}`, await put(`doc-${i}`, null));
    const rows: Row[] = [];
    /** The floor: a request refused at routing (404), authenticated by nothing, still counted and audited. */
    const floor = async () => {
      const res = await pool.request({ method: 'GET', path: '/nothing-here', headers: auth });
      await res.body.dump();
    };
    const kinds: [string, (i: number, key: string) => Promise<void>][] = [
      ['floor: 404 at routing', async () => floor()],
      ['get', async (_i, key) => get(key)],
      [
        'put (If-Match)',
        async (_i, key) => {
          etags.set(key, await put(key, etags.get(key)!));
        },
      ],
    ];
    for (const [name, op] of kinds) {
      for (let i = 0; i < 200; i++) await op(i, 'doc-0'); // warm-up
      const lat: number[] = [];
      const cpu0 = cpuOf(pid);
      for (let i = 0; i < ops; i++) {
        const t0 = performance.now();
        await op(i, 'doc-0');
        lat.push((performance.now() - t0) * 1000);
      }
      const cpu = (cpuOf(pid) - cpu0) / ops;
      let n = 0;
      const end = performance.now() + seconds * 1000;
      // 8 clients, each on its own document (a conditional write is per key).
      await Promise.all(
        Array.from({ length: 8 }, async (_, c) => {
          for (let i = 0; performance.now() < end; i++) {
            await op(i, `doc-${c}`);
            n++;
          }
        }),
      );
      lat.sort((a, b) => a - b);
      rows.push({ store, op: name, p50: pct(lat, 0.5), p99: pct(lat, 0.99), rate: n / seconds, cpu });
    }
    await pool.close();
    return rows;
  } finally {
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const group = new ProcessGroup();
  process.on('exit', () => group.killAllSync());
  const rows: Row[] = [];
  for (const s of storesToRun) rows.push(...(await runStore(group, s)));
  const meta = `${ops} sequential operations per kind on one key (1 client), then ${seconds} s with 8 clients on 8 keys; ~${Buffer.byteLength(JSON.stringify(DOC))} B document; gateway: identity required, default policy bundle, guardrails (standard), audit on; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, Node ${process.version}`;
  const lines = [
    '| store | operation | p50 (µs) | p99 (µs) | ops/s, 1 client (1/p50) | ops/s, 8 clients | gateway CPU per op (µs) |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.store} | ${r.op} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${(1e6 / r.p50).toFixed(0)} | ${r.rate.toFixed(0)} | ${r.cpu.toFixed(0)} |`),
  ];
  console.log(`${meta}\n\n${lines.join('\n')}`);
  if (!values['no-write']) {
    const file = join(ROOT, 'bench', 'RESULTS-memory.md');
    appendFileSync(file, `\n### ${new Date().toISOString()} — ${meta}\n\n${lines.join('\n')}\n`);
    console.error(`appended to ${file}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
