/**
 * The control plane under load (`npm run bench:control`, see bench/README.md): a real `aos control`
 * (SQLite store in a temporary folder, pinned to CPU 0) and simulated gateways in this process
 * (CPU 1) speaking the wire contract of src/control/protocol.ts. Writes bench/RESULTS-control.md.
 *
 *  1. Propagation: every gateway says hello, holds its snapshot stream and acks the snapshots it
 *     applies; an operator adds a kill switch and lifts it, alternately, through the people's API, and
 *     each gateway's arrival time of the snapshot carrying the change is taken from the API call.
 *  2. Audit ingest: some gateways ship hash-chained audit records in batches, concurrently, for a
 *     bounded time; events/s and the control plane's CPU per event; then every chain is verified.
 *
 *   npm run bench:control
 *   npm run bench:control -- --gateways 20 --changes 10 --audit-seconds 3 --no-write
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { chainHash, encodeEvent, GENESIS_HASH } from '../src/audit/canonical.js';
import type { AuditEvent, AuditRecord } from '../src/audit/event.js';
import { type AuditBatchResult, type FleetSnapshot, GATEWAY_ID_HEADER, GATEWAY_PATHS, type HelloResponse } from '../src/control/protocol.js';
import { loadLocalSigner } from '../src/identity/local-key.js';
import { requestId } from '../src/pipeline/request-id.js';
import { cpuTicks, machineTicks, ProcessGroup } from './processes.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'bench', '.out');
const RESULTS = join(ROOT, 'bench', 'RESULTS-control.md');
const HELP = `npm run bench:control [-- options]
  --gateways N       simulated gateways holding a snapshot stream (default 100)
  --changes N        measured changes, kill and lift alternately (default 50, after 4 not measured)
  --agents N         agents in the seeded registry, the bulk of a snapshot (default 100)
  --audit-gateways N gateways shipping audit records at once (default 10)
  --batch N          records per audit batch (default 500)
  --audit-seconds S  how long they ship (default 10)
  --no-write         print the report only, do not write bench/RESULTS-control.md
`;

const { values } = parseArgs({
  options: {
    gateways: { type: 'string', default: '100' },
    changes: { type: 'string', default: '50' },
    agents: { type: 'string', default: '100' },
    'audit-gateways': { type: 'string', default: '10' },
    batch: { type: 'string', default: '500' },
    'audit-seconds': { type: 'string', default: '10' },
    'no-write': { type: 'boolean' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const GATEWAYS = Number(values.gateways);
const CHANGES = Number(values.changes);
const WARMUP_CHANGES = 4;
const AGENTS = Number(values.agents);
const AUDIT_GATEWAYS = Math.min(Number(values['audit-gateways']), GATEWAYS);
const BATCH = Number(values.batch);
const AUDIT_S = Number(values['audit-seconds']);
/** A change that has not reached every gateway after this long counts as missed there. */
const CHANGE_TIMEOUT_MS = 10_000;
const TEAMS = ['payments', 'search', 'support', 'research', 'platform'];
const agentId = (i: number) => `agent-${String(i).padStart(4, '0')}`;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const PINNING = cpus().length >= 2 && spawnSync('taskset', ['-V']).status === 0;
const pinned = (cpu: number, argv: string[]) => (PINNING ? ['taskset', '-c', String(cpu), ...argv] : argv);

const log = (msg: string) => process.stderr.write(`${msg}\n`);

// ---------------------------------------------------------------------------------------------
// The control plane

interface ControlProcess {
  pid: number;
  gateways: string;
  people: string;
  adminToken: string;
  mintGatewayToken(id: string): Promise<string>;
}

/**
 * `aos control` through the CLI with a config written here: both listeners on loopback port 0,
 * SQLite in `dir`, a registry of AGENTS agents as the seed. Gateways authenticate with the local
 * development key (`localKey`, created here first in `dir/key`), people with the static admin token.
 */
async function startControl(group: ProcessGroup, dir: string): Promise<ControlProcess> {
  const keyDir = join(dir, 'key');
  mkdirSync(keyDir);
  const signer = await loadLocalSigner(keyDir, 'aos-local');
  const registry = join(dir, 'agents.yaml');
  writeFileSync(
    registry,
    stringify({
      templates: { standard: { version: 1, description: 'bench agents', providers: ['openai'], models: ['gpt-4o-mini'], budget: { daily_usd: 100 } } },
      budgets: { teams: Object.fromEntries(TEAMS.map((t) => [t, { daily_usd: 1000 }])), org: { monthly_usd: 100_000 } },
      agents: Array.from({ length: AGENTS }, (_, i) => ({ id: agentId(i), team: TEAMS[i % TEAMS.length], roles: ['agent'], template: 'standard' })),
    }),
  );
  const configFile = join(dir, 'control.yaml');
  writeFileSync(
    configFile,
    `# generated by bench/control.ts\n${stringify({
      listen: { gateways: { host: '127.0.0.1', port: 0 }, people: { host: '127.0.0.1', port: 0 } },
      dataDir: join(dir, 'data'),
      log: { level: 'warn' },
      localKey: { enabled: true, dataDir: keyDir, issuer: 'aos-local' },
      seed: { registry },
    })}`,
  );
  const adminToken = randomBytes(24).toString('hex');
  const child = group.start('control plane', pinned(0, [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli.ts'), 'control', '--config', configFile]), {
    cwd: ROOT,
    env: { ...process.env, AOS_CONTROL_TOKEN: adminToken },
    logFile: join(OUT, 'control.log'),
  });
  const m = await group.waitForLine(child, 'stderr', /AOS control plane: gateways (\S+), people (\S+)\/api/, 30_000);
  return {
    pid: child.pid,
    gateways: m[1].replace(/,$/, ''),
    people: m[2],
    adminToken,
    mintGatewayToken: (id) => signer.mint({ subject: `sa-${id}`, audience: 'aos-control', ttlSec: 3600 }),
  };
}

const dispatcher = new Agent({ connections: null, bodyTimeout: 0, headersTimeout: 10_000 });

async function call<T>(url: string, method: 'GET' | 'POST' | 'DELETE', headers: Record<string, string>, body?: unknown): Promise<T> {
  const res = await request(url, {
    method,
    dispatcher,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

// ---------------------------------------------------------------------------------------------
// A simulated gateway

interface Frame {
  /** The snapshot's version, from the frame's `id:` line. */
  version: number;
  /** When its last byte was read. */
  at: number;
  data: string;
}

interface Gateway {
  id: string;
  headers: Record<string, string>;
  /** The version of the last snapshot it applied. */
  version: number;
  /** Snapshot frames read and not applied yet. */
  frames: Frame[];
  /** Called with each snapshot frame as it is read. */
  onFrame: (f: Frame) => void;
  audit: { seq: number; hash: string };
  /** Why the stream ended, null while it is open. */
  closed: string | null;
}

/** POST /v1/hello, as a gateway's first start (no snapshot, no audit shipped yet). */
async function hello(cp: ControlProcess, id: string): Promise<Gateway> {
  const headers = { authorization: `Bearer ${await cp.mintGatewayToken(id)}`, [GATEWAY_ID_HEADER]: id };
  const h = await call<HelloResponse>(`${cp.gateways}${GATEWAY_PATHS.hello}`, 'POST', headers, { version: 'bench', labels: { bench: 'control' }, snapshotVersion: 0, policyRevision: null });
  // A new gateway's chain starts from genesis: shipping resumes after what the control plane holds, nothing yet.
  if (h.auditSeq !== 0 || h.auditHash !== GENESIS_HASH) throw new Error(`${id}: a new gateway, but the control plane holds its audit up to seq ${h.auditSeq}`);
  return { id, headers, version: 0, frames: [], onFrame: () => {}, audit: { seq: 0, hash: GENESIS_HASH }, closed: null };
}

/**
 * Holds the gateway's snapshot stream (`after` the version it has, 0 at first), keeping each
 * `event: snapshot` frame with the time its last byte was read. Frames are parsed later, by
 * `apply`: with a hundred gateways in one process, parsing each snapshot as it comes would delay
 * reading the other streams, and their arrival times would measure this process, not the control plane.
 */
async function holdStream(cp: ControlProcess, g: Gateway): Promise<void> {
  const res = await request(`${cp.gateways}${GATEWAY_PATHS.snapshots}?after=${g.version}`, { dispatcher, headers: g.headers });
  if (res.statusCode !== 200) throw new Error(`${g.id}: snapshot stream answered ${res.statusCode} ${await res.body.text()}`);
  res.body.setEncoding('utf8');
  let buf = '';
  res.body.on('data', (chunk: string) => {
    const at = performance.now();
    buf += chunk;
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!text.startsWith('event: snapshot\nid: ')) continue; // `: ping`
      const data = text.indexOf('\ndata: ');
      const frame = { version: Number(text.slice(20, text.indexOf('\n', 20))), at, data: text.slice(data + 7) };
      g.frames.push(frame);
      g.onFrame(frame);
    }
  });
  res.body.on('error', (err: Error) => {
    g.closed = err.message;
  });
  res.body.on('end', () => {
    g.closed = 'ended by the control plane';
  });
}

/** Parses the snapshots the gateway got, applies the newest and acks it (POST /v1/acks). */
async function apply(cp: ControlProcess, g: Gateway): Promise<FleetSnapshot[]> {
  const snapshots = g.frames.splice(0).map((f) => JSON.parse(f.data) as FleetSnapshot);
  if (snapshots.length === 0) return snapshots;
  g.version = snapshots.at(-1)!.version;
  await call(`${cp.gateways}${GATEWAY_PATHS.acks}`, 'POST', g.headers, { version: g.version, ok: true });
  return snapshots;
}

// ---------------------------------------------------------------------------------------------
// Measuring

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** CPU of the control plane, of this process and of everything else on the machine, over an interval. */
function cpuMeter(pid: number) {
  const read = () => ({ cp: cpuTicks(pid), self: cpuTicks('self'), machine: machineTicks().busy, at: performance.now() });
  const start = read();
  return () => {
    const end = read();
    const wallS = (end.at - start.at) / 1000;
    const cpS = (end.cp - start.cp) / CLK_TCK;
    const selfS = (end.self - start.self) / CLK_TCK;
    return { wallS, cpS, selfS, otherCores: Math.max(0, (end.machine - start.machine) / CLK_TCK - cpS - selfS) / wallS };
  };
}

const rssMb = (pid: number) => Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

interface ChangeResult {
  latencies: number[];
  apiMs: number;
  /** Gateways the change did not reach in time, or whose snapshot did not show it. */
  missed: number;
  wrong: number;
  /** Control plane CPU (s): from the API call until every gateway had the change, then for the acks. */
  pushS: number;
  ackS: number;
  killId: string | null;
}

/**
 * One change through the people's API and its arrival at every gateway: with `killId` null a kill
 * switch is added (one agent, `live: finish`), else that one is lifted. A gateway has the change
 * with the first snapshot newer than the one it had; once every gateway has it, each parses what
 * it got, checks that this snapshot shows the change, and acks.
 */
async function change(cp: ControlProcess, gateways: Gateway[], n: number, killId: string | null): Promise<ChangeResult> {
  const admin = { authorization: `Bearer ${cp.adminToken}` };
  const reason = `bench change ${n}`;
  const shows = killId === null ? (s: FleetSnapshot) => s.kills.some((k) => k.reason === reason) : (s: FleetSnapshot) => !s.kills.some((k) => k.id === killId);
  const arrived = new Map<Gateway, Frame>();
  let all!: () => void;
  const everywhere = new Promise<void>((r) => {
    all = r;
  });
  for (const g of gateways) {
    g.onFrame = (f) => {
      if (f.version <= g.version || arrived.has(g)) return;
      arrived.set(g, f);
      if (arrived.size === gateways.length) all();
    };
  }
  const cpu0 = cpuTicks(cp.pid);
  const t0 = performance.now();
  const answer =
    killId === null
      ? await call<{ kill: { id: string } }>(`${cp.people}/api/kills`, 'POST', admin, { scope: 'agent', value: agentId(0), live: 'finish', reason })
      : await call<unknown>(`${cp.people}/api/kills/${encodeURIComponent(killId)}?reason=${encodeURIComponent(reason)}`, 'DELETE', admin);
  const apiMs = performance.now() - t0;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([everywhere, new Promise<void>((r) => (timer = setTimeout(r, CHANGE_TIMEOUT_MS)))]);
  clearTimeout(timer);
  const cpu1 = cpuTicks(cp.pid);
  let wrong = 0;
  await Promise.all(
    gateways.map(async (g) => {
      g.onFrame = () => {};
      const first = arrived.get(g);
      const snapshots = await apply(cp, g);
      if (first !== undefined && !shows(snapshots.find((s) => s.version === first.version)!)) wrong += 1;
    }),
  );
  const latencies = [...arrived.values()].map((f) => f.at - t0);
  return {
    latencies,
    apiMs,
    missed: gateways.length - arrived.size,
    wrong,
    pushS: (cpu1 - cpu0) / CLK_TCK,
    ackS: (cpuTicks(cp.pid) - cpu1) / CLK_TCK,
    killId: killId === null ? (answer as { kill: { id: string } }).kill.id : null,
  };
}

interface Propagation {
  changes: ChangeResult[];
  cpu: ReturnType<ReturnType<typeof cpuMeter>>;
  snapshotBytes: number;
  rssMb: number;
}

async function propagation(cp: ControlProcess, gateways: Gateway[]): Promise<Propagation> {
  let killId: string | null = null;
  for (let n = 0; n < WARMUP_CHANGES; n++) ({ killId } = await change(cp, gateways, n, killId));
  const changes: ChangeResult[] = [];
  const meter = cpuMeter(cp.pid);
  for (let n = WARMUP_CHANGES; n < WARMUP_CHANGES + CHANGES; n++) {
    changes.push(await change(cp, gateways, n, killId));
    killId = changes.at(-1)!.killId;
  }
  const cpu = meter();
  const snapshot = await call<unknown>(`${cp.people}/api/snapshot`, 'GET', { authorization: `Bearer ${cp.adminToken}` });
  return { changes, cpu, snapshotBytes: Buffer.byteLength(JSON.stringify(snapshot)), rssMb: rssMb(cp.pid) };
}

/** An audit event as a gateway records a model call, a tenth of them denied. */
function auditEvent(n: number, at: number): AuditEvent {
  const deny = n % 10 === 0;
  return {
    id: requestId(at),
    time: new Date(at).toISOString(),
    agent_id: agentId(n % AGENTS),
    team: TEAMS[(n % AGENTS) % TEAMS.length],
    template: 'standard',
    template_version: 1,
    trace_id: null,
    span_id: null,
    parent_span_id: null,
    workflow_id: null,
    max_tokens: 1024,
    method: 'POST',
    path: '/v1/chat/completions',
    route: 'openai/chat.completions',
    provider: 'openai',
    operation: 'chat.completions',
    kind: 'model',
    model: 'gpt-4o-mini',
    tool: null,
    tool_server: null,
    stream: n % 5 === 0,
    decision: deny ? 'deny' : 'allow',
    reasons: deny ? ['model not allowed'] : [],
    policy_revision: 'bench',
    outcome: deny ? 'denied' : 'completed',
    status: deny ? 403 : 200,
    error_code: deny ? 'aos_policy_denied' : null,
    input_tokens: deny ? null : 120 + (n % 50),
    output_tokens: deny ? null : 40 + (n % 30),
    cost_usd: deny ? null : 0.00004,
    flags: null,
    tool_calls: null,
    total_ms: 310.5,
    upstream_ms: 309.8,
    request_bytes: 612,
    request_sha256: 'ab'.repeat(32),
    response_bytes: deny ? 120 : 830,
    response_sha256: deny ? null : 'cd'.repeat(32),
    tool_args_sha256: null,
    findings: null,
    capture: null,
  };
}

/** The next `n` records of the gateway's chain, hashed as its audit store does (src/audit/store.ts). */
function nextBatch(g: Gateway, n: number): AuditRecord[] {
  const records: AuditRecord[] = [];
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const seq = g.audit.seq + 1;
    const event = auditEvent(seq, now);
    const hash = chainHash(g.audit.hash, seq, encodeEvent(event));
    records.push({ seq, ...event, prev_hash: g.audit.hash, hash });
    g.audit = { seq, hash };
  }
  return records;
}

async function ship(cp: ControlProcess, g: Gateway): Promise<number> {
  const records = nextBatch(g, BATCH);
  const r = await call<AuditBatchResult>(`${cp.gateways}${GATEWAY_PATHS.audit}`, 'POST', g.headers, { records });
  if (r.acked !== g.audit.seq) throw new Error(`${g.id}: audit acked ${r.acked}, shipped up to ${g.audit.seq}`);
  return records.length;
}

interface Ingest {
  events: number;
  cpu: ReturnType<ReturnType<typeof cpuMeter>>;
  verify: { gateway: string; ok: boolean; checked: number; shipped: number }[];
  verifyS: number;
}

/** Every shipping gateway sends a batch, waits for its answer, and sends the next, until time is up. */
async function ingest(cp: ControlProcess, gateways: Gateway[]): Promise<Ingest> {
  await Promise.all(gateways.map((g) => ship(cp, g))); // warm-up
  const meter = cpuMeter(cp.pid);
  const end = performance.now() + AUDIT_S * 1000;
  const shipped = await Promise.all(
    gateways.map(async (g) => {
      let events = 0;
      while (performance.now() < end) events += await ship(cp, g);
      return events;
    }),
  );
  const cpu = meter();
  const t0 = performance.now();
  const verify: Ingest['verify'] = [];
  for (const g of gateways) {
    const v = await call<{ gateways: { gateway: string; ok: boolean; checked: number }[] }>(`${cp.people}/api/audit/verify?gateway=${g.id}`, 'GET', {
      authorization: `Bearer ${cp.adminToken}`,
    });
    verify.push({ ...v.gateways[0], shipped: g.audit.seq });
  }
  return { events: shipped.reduce((a, b) => a + b, 0), cpu, verify, verifyS: (performance.now() - t0) / 1000 };
}

// ---------------------------------------------------------------------------------------------
// Report

function report(p: Propagation, a: Ingest, meta: { loadAvg: string; commit: string }): string {
  const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
  const row = (what: string, xs: number[]) => {
    const v = sorted(xs);
    return `| ${what} | ${ms(percentile(v, 0.5))} ms | ${ms(percentile(v, 0.99))} ms | ${ms(v.at(-1)!)} ms |`;
  };
  const n = p.changes.length;
  const sum = (f: (c: ChangeResult) => number) => p.changes.reduce((t, c) => t + f(c), 0);
  const perChangeMs = (s: number) => (s * 1000) / n;
  const usPerEvent = (a.cpu.cpS * 1e6) / a.events;
  const failed = a.verify.filter((v) => !(v.ok && v.checked === v.shipped));
  return [
    '# Control plane benchmark',
    '',
    'Generated by `npm run bench:control` (bench/control.ts); overwritten on every run. What it does: bench/README.md.',
    '',
    `- date: ${new Date().toISOString()}; node ${process.version}; ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; commit ${meta.commit}`,
    `- \`aos control\` through the tsx loader (as \`aos\` runs it), SQLite store in a temporary folder, log level warn${PINNING ? ', pinned to CPU 0; the simulated gateways (this process) on CPU 1' : ', unpinned (taskset missing or one CPU)'}`,
    `- machine load: load average ${meta.loadAvg} before the run; other work used ${p.cpu.otherCores.toFixed(2)} cores during the propagation runs and ${a.cpu.otherCores.toFixed(2)} during audit ingest`,
    '',
    '## Propagation of a change to the fleet',
    '',
    `${GATEWAYS} gateways, each holding its snapshot stream (\`GET /v1/snapshots\`) and acking the snapshots it applies (\`POST /v1/acks\`). ${n} changes, one at a time (after ${WARMUP_CHANGES} not measured): a kill switch added (\`POST /api/kills\`) or lifted (\`DELETE /api/kills/{id}\`), alternately. Latency: from the API call to the moment a gateway has read the last byte of the first snapshot newer than the one it had (each gateway then checks that this snapshot shows the change, and acks). A snapshot is ${(p.snapshotBytes / 1024).toFixed(1)} KB (${AGENTS} agents).`,
    '',
    '| | p50 | p99 | max |',
    '|---|---:|---:|---:|',
    row(
      `per (gateway, change), ${sum((c) => c.latencies.length)} pairs`,
      p.changes.flatMap((c) => c.latencies),
    ),
    row(
      'until every gateway had it, per change',
      p.changes.map((c) => Math.max(...c.latencies)),
    ),
    row(
      "the API call's answer",
      p.changes.map((c) => c.apiMs),
    ),
    '',
    `- not arrived within ${CHANGE_TIMEOUT_MS / 1000} s: ${sum((c) => c.missed)}; arrived without the change: ${sum((c) => c.wrong)}`,
    `- control plane CPU: **${ms(perChangeMs(p.cpu.cpS))} ms per change** (${((perChangeMs(p.cpu.cpS) * 1000) / GATEWAYS).toFixed(0)} µs per gateway): ` +
      `${ms(perChangeMs(sum((c) => c.pushS)))} ms from the API call until every gateway had the snapshot (the call, its store transaction, the snapshot built once and written to ${GATEWAYS} streams), ` +
      `${ms(perChangeMs(sum((c) => c.ackS)))} ms for the ${GATEWAYS} acks; ${(p.cpu.cpS / p.cpu.wallS).toFixed(2)} of a core over the ${p.cpu.wallS.toFixed(1)} s of the measured changes ` +
      `(utime+stime, ${Math.round(p.cpu.cpS * CLK_TCK)} ticks of ${1000 / CLK_TCK} ms)`,
    `- control plane RSS with ${GATEWAYS} streams open: ${p.rssMb.toFixed(0)} MB`,
    '',
    '## Audit ingest',
    '',
    `${a.verify.length} gateways ship hash-chained audit records (\`POST /v1/audit\`, ${BATCH} a batch, one batch in flight per gateway) for ${AUDIT_S} s, after one batch each not measured, every stream still open. The records are built as a gateway's audit store builds them (\`encodeEvent\`, \`chainHash\` from \`GENESIS_HASH\`): model calls of the ${AGENTS} agents, a tenth denied. The control plane checks each record's link and hash, stores it and adds it to its agent's counters.`,
    '',
    '| events | events/s | control plane CPU per event | control plane cores busy | events/s per control plane core |',
    '|---:|---:|---:|---:|---:|',
    `| ${a.events} | ${Math.round(a.events / a.cpu.wallS)} | ${usPerEvent.toFixed(1)} µs | ${(a.cpu.cpS / a.cpu.wallS).toFixed(2)} | **${Math.round(1e6 / usPerEvent)}** |`,
    '',
    `- verified afterwards (\`GET /api/audit/verify?gateway=\`, one gateway at a time): ${a.verify.length - failed.length} of ${a.verify.length} chains ok and complete` +
      `${failed.length === 0 ? '' : ` (**${failed.map((v) => `${v.gateway}: ok ${v.ok}, ${v.checked} of ${v.shipped} records`).join('; ')}**)`}; ` +
      `${a.verify.reduce((t, v) => t + v.checked, 0)} records walked in ${a.verifyS.toFixed(1)} s`,
    `- this process (building and hashing the records: the gateways' side) used ${(a.cpu.selfS / a.cpu.wallS).toFixed(2)} of a core meanwhile`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  rmSync(join(OUT, 'control.log'), { force: true });
  const loadAvg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() || 'unknown';
  if (PINNING) spawnSync('taskset', ['-a', '-pc', '1', String(process.pid)], { stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'aos-bench-control-'));
  const group = new ProcessGroup();
  const bail = () => {
    group.killAllSync();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', bail);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => process.exit(130));
  const deadline = setTimeout(
    () => {
      log(`bench:control: still running after ${Math.round((AUDIT_S + 170) / 60)} min: giving up`);
      process.exit(1);
    },
    (AUDIT_S + 170) * 1000,
  );
  deadline.unref();
  try {
    const cp = await startControl(group, dir);
    log(`control plane: gateways ${cp.gateways}, people ${cp.people} (pid ${cp.pid}); ${GATEWAYS} gateways say hello and open their streams`);
    const gateways: Gateway[] = [];
    for (let i = 0; i < GATEWAYS; i++) gateways.push(await hello(cp, `gw-${String(i).padStart(3, '0')}`));
    // Connected: each gets the current snapshot at once (it has none), applies and acks it.
    const first = gateways.map((g) => new Promise<void>((r) => (g.onFrame = () => r())));
    for (const g of gateways) await holdStream(cp, g);
    await Promise.all(first);
    await Promise.all(gateways.map((g) => apply(cp, g)));
    log(`propagation: ${WARMUP_CHANGES} + ${CHANGES} changes`);
    const p = await propagation(cp, gateways);
    log(`audit ingest: ${AUDIT_GATEWAYS} gateways × ${BATCH} records a batch for ${AUDIT_S} s`);
    const a = await ingest(cp, gateways.slice(0, AUDIT_GATEWAYS));
    const closed = gateways.filter((g) => g.closed !== null);
    if (closed.length > 0) throw new Error(`${closed.length} snapshot streams closed during the run (${closed[0].id}: ${closed[0].closed})`);
    const text = report(p, a, { loadAvg, commit });
    process.stdout.write(`${text}\n`);
    if (!values['no-write']) {
      writeFileSync(RESULTS, text);
      log(`wrote ${RESULTS}`);
    }
  } finally {
    await dispatcher.destroy();
    await group.stopAll(5000);
    clearTimeout(deadline);
  }
}

main().catch((err: unknown) => {
  log(`bench:control: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
