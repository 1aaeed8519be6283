/**
 * The one-command benchmark: `npm run bench` (see bench/README.md).
 *
 * One fake upstream, three targets in front of it — direct, a bare undici pass-through proxy (the
 * floor) and the AOS gateway — measured with wrk in paired repetitions: for every scenario and
 * repetition the three run back to back, so slow drift of the machine hits all three alike.
 * The proxy under test runs pinned to CPU 0; wrk and the upstream share CPU 1.
 *
 *   npm run bench                          5 reps × 5 s per target and scenario (~6 minutes)
 *   npm run bench -- --quick               1 rep × 2 s (about a minute)
 *   npm run bench -- --reps 3 --duration 10 --warmup 1000 --scenario json-c1,sse-c32
 *   npm run bench -- --profile             CPU profiles of floor and gateway at concurrency 32 instead
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { loadLocalSigner } from '../src/identity/local-key.js';
import {
  LONG_GOALS,
  LONG_SCENARIOS,
  type LongContext,
  type LongScenario,
  SOAK_WARMUP_S,
  type SoakSummary,
  STREAM_EVENTS,
  STREAM_INTERVAL_MS,
  type StreamsSummary,
  soakMarkdown,
  soakRun,
  streamsMarkdown,
  streamsRun,
  summarizeStreams,
} from './long.js';
import { type Child, cpuTicks, machineTicks, ProcessGroup } from './processes.js';
import { compareProfiles, formatProfile, type ProfileSummary, summarizeProfile } from './profile-summary.js';
import { GOALS, median, overviewMarkdown, type RunRecord, type Scenario, type ScenarioSummary, scenarioMarkdown, summarize, TARGETS, type TargetName } from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BENCH = join(ROOT, 'bench');
const OUT = join(BENCH, '.out');
const POST_LUA = join(BENCH, 'post.lua');
const MIX_LUA = join(BENCH, 'mix.lua');
const PATH = '/v1/chat/completions';
const ANTHROPIC_PATH = '/anthropic/v1/messages';

const SCENARIOS: readonly Scenario[] = [
  { id: 'json-c1', title: 'Chat completion, non-streaming, concurrency 1', stream: false, connections: 1 },
  { id: 'json-c32', title: 'Chat completion, non-streaming, concurrency 32', stream: false, connections: 32 },
  { id: 'sse-c1', title: 'Chat completion, streaming (SSE, 10 events), concurrency 1', stream: true, connections: 1 },
  { id: 'sse-c32', title: 'Chat completion, streaming (SSE, 10 events), concurrency 32', stream: true, connections: 32 },
  // The realistic mix (bench/mix.lua): what a fleet gives the gateway, caches missing as they would.
  { id: 'mix-c1', title: 'Realistic mix (1,000 agents, distinct prompts, OpenAI + Anthropic, 20% SSE, OTel on), concurrency 1', stream: false, connections: 1, mix: true },
  { id: 'mix-c32', title: 'Realistic mix (1,000 agents, distinct prompts, OpenAI + Anthropic, 20% SSE, OTel on), concurrency 32', stream: false, connections: 32, mix: true },
];

const HELP = `npm run bench [-- options]

  --reps N          paired repetitions per scenario (default 5)
  --duration S      seconds per measured run (default 5)
  --warmup MS       warm-up before each measured run, in ms (default 300)
  --quick           1 rep of 2 s (unless --reps/--duration say otherwise)
  --scenario IDS    comma-separated subset of: ${SCENARIOS.map((s) => s.id).join(', ')};
                    or one of the long scenarios, never run by default: ${LONG_SCENARIOS.join(', ')}
  --streams N       streams-10k: streams open at once (default 10000; e.g. 2000 for a smoke run)
  --soak-minutes M  soak: minutes per target (default 30; 1 for a smoke run)
  --soak-rate R     soak: requests/s (default: half of the gateway's json-c32 throughput in this run)
  --soak-floor-minutes M  soak: minutes for the floor (default: --soak-minutes; e.g. 2 to soak the
                    gateway for 30 min without the floor's 30)
  --tsx             run gateway, floor and upstream through the tsx loader (as \`npm start\` does)
                    instead of compiled with tsc (as the Docker image does; the default)
  --set KEY=VALUE   override a key of the generated gateway config (repeatable; VALUE is JSON or a
                    string), e.g. --set identity.mode=off --set policy.mode=off to see what a stage costs
  --noise-budget S  extra seconds allowed for repeating repetitions that other work on the machine
                    disturbed (default 45; 0 never repeats)
  --nice N          niceness of every bench process (default -10 as root, else 0): on a shared
                    machine it keeps other work from skewing the numbers; 0 to leave it alone
  --node-flags=F    extra node/V8 flags for the gateway (space-separated), e.g. --node-flags=--single-threaded-gc
  --profile         instead of the comparison: run floor and gateway under node --cpu-prof (at
                    concurrency 32 unless --scenario says otherwise) and print where the gateway's
                    CPU time goes, and where it spends more than the floor (see bench/README.md)
`;

interface Options {
  reps: number;
  durationS: number;
  warmupMs: number;
  scenarios: Scenario[];
  profile: boolean;
  runtime: 'dist' | 'tsx';
  nice: number;
  /** Overrides of the generated gateway config: [dotted path, value]. */
  set: [string, unknown][];
  noiseBudgetS: number;
  /** The long scenarios asked for (bench/long.ts). */
  long: LongScenario[];
  streams: number;
  soakMinutes: number;
  soakFloorMinutes: number;
  soakRate: number | null;
  /** Extra node/V8 flags for the gateway process. */
  nodeFlags: string[];
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      reps: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean' },
      scenario: { type: 'string' },
      profile: { type: 'boolean' },
      tsx: { type: 'boolean' },
      nice: { type: 'string' },
      set: { type: 'string', multiple: true },
      'noise-budget': { type: 'string' },
      streams: { type: 'string' },
      'soak-minutes': { type: 'string' },
      'soak-floor-minutes': { type: 'string' },
      'soak-rate': { type: 'string' },
      'node-flags': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const num = (v: string | undefined, dflt: number, name: string, min: number) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer ≥ ${min}, got "${v}"`);
    return n;
  };
  const quick = values.quick === true;
  let scenarios = [...SCENARIOS];
  let long: LongScenario[] = [];
  if (values.scenario !== undefined) {
    const ids = values.scenario.split(',').map((s) => s.trim());
    const known = [...SCENARIOS.map((s) => s.id), ...LONG_SCENARIOS];
    for (const id of ids) if (!known.includes(id)) fail(`unknown scenario "${id}" (known: ${known.join(', ')})`);
    scenarios = SCENARIOS.filter((s) => ids.includes(s.id));
    long = LONG_SCENARIOS.filter((id) => ids.includes(id));
    if (values.profile && long.length > 0) fail('--profile does not run the long scenarios');
  } else if (values.profile) {
    scenarios = SCENARIOS.filter((s) => s.connections > 1);
  }
  return {
    reps: num(values.reps, quick ? 1 : 5, 'reps', 1),
    durationS: num(values.duration, quick ? 2 : 5, 'duration', 1),
    warmupMs: num(values.warmup, 300, 'warmup', 0),
    scenarios,
    profile: values.profile === true,
    nodeFlags: (values['node-flags'] ?? '').split(' ').filter((f) => f !== ''),
    runtime: values.tsx ? 'tsx' : 'dist',
    set: (values.set ?? []).map((kv) => {
      const eq = kv.indexOf('=');
      if (eq <= 0) fail(`--set expects KEY=VALUE, got "${kv}"`);
      const raw = kv.slice(eq + 1);
      let value: unknown = raw;
      try {
        value = JSON.parse(raw);
      } catch {
        // a plain string
      }
      return [kv.slice(0, eq), value] as [string, unknown];
    }),
    noiseBudgetS: num(values['noise-budget'], quick ? 10 : 45, 'noise-budget', 0),
    long,
    streams: num(values.streams, 10_000, 'streams', 1),
    soakMinutes: num(values['soak-minutes'], 30, 'soak-minutes', 1),
    soakFloorMinutes: num(values['soak-floor-minutes'] ?? values['soak-minutes'], 30, 'soak-floor-minutes', 1),
    soakRate: values['soak-rate'] === undefined ? null : num(values['soak-rate'], 0, 'soak-rate', 1),
    nice: values.nice === undefined ? (process.getuid?.() === 0 ? -10 : 0) : niceValue(values.nice),
  };
}

function niceValue(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < -20 || n > 19) fail(`--nice must be an integer from -20 to 19, got "${v}"`);
  return n;
}

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Machine checks

function onPath(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, cmd);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

interface Machine {
  pinning: boolean;
  undici: string;
  loadAvg: string;
  wrkVersion: string;
  cpuModel: string;
  cores: number;
  clkTck: number;
}

function checkMachine(): Machine {
  if (onPath('wrk') === null) {
    process.stderr.write('bench: wrk is not installed. Install it with:\n\n  apt-get install -y wrk\n\n(as root; run `apt-get update` first on a fresh machine)\n');
    process.exit(1);
  }
  const wrkVersion = (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout ?? '')
    .split('\n')[0]
    .replace(/\s*Copyright.*$/, '')
    .trim();
  const cores = cpus().length;
  let pinning = true;
  if (onPath('taskset') === null) {
    process.stderr.write('bench: warning: taskset not found (apt-get install -y util-linux); running unpinned, numbers will be noisier\n');
    pinning = false;
  } else if (cores < 2) {
    process.stderr.write(`bench: warning: ${cores} CPU; pinning needs 2, running unpinned\n`);
    pinning = false;
  }
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  const clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  let undici = 'unknown';
  try {
    undici = (JSON.parse(readFileSync(join(ROOT, 'node_modules/undici/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // reported as unknown
  }
  const loadAvg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  if (Number(loadAvg.split(' ')[0]) > 0.5) {
    process.stderr.write(`bench: warning: the machine is busy (load average ${loadAvg}): other work will add noise; RESULTS.md reports how much\n`);
  }
  return { pinning, undici, loadAvg, wrkVersion, cpuModel, cores, clkTck };
}

// ---------------------------------------------------------------------------------------------
// Processes under test

const CPU_PROXY = 0;
const CPU_LOAD = 1;
/** Other work on the machine above this (in cores) during a run makes it noisy. */
const NOISY_CORES = 0.1;

let niceness = 0;
function pinned(machine: Machine, cpu: number, argv: string[]): string[] {
  const nice = niceness !== 0 ? ['nice', '-n', String(niceness)] : [];
  return [...nice, ...(machine.pinning ? ['taskset', '-c', String(cpu)] : []), ...argv];
}

/** cpuTicks of a process that may have exited meanwhile (0 then). */
function safeTicks(pid: number): number {
  try {
    return cpuTicks(pid);
  } catch {
    return 0;
  }
}

/** Read and write system calls a process made so far (/proc/<pid>/io: read/recv…, write/writev/send…). */
function syscalls(pid: number): { r: number; w: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return { r: Number(/^syscr:\s*(\d+)/m.exec(io)?.[1] ?? NaN), w: Number(/^syscw:\s*(\d+)/m.exec(io)?.[1] ?? NaN) };
}

/**
 * Compiles src/ and bench/ with tsc into bench/.out/dist, as `npm run build` does for the Docker
 * image. tsx (what `npm start` uses) transpiles with esbuild's keepNames, which wraps every named
 * closure in a __name() call each time it is created: a per-request cost the shipped build has not.
 */
function buildDist(): string {
  const dist = join(OUT, 'dist');
  rmSync(dist, { recursive: true, force: true });
  const tsconfig = join(OUT, 'tsconfig.bench.json');
  writeFileSync(
    tsconfig,
    `${JSON.stringify(
      {
        extends: '../../tsconfig.json',
        compilerOptions: { rootDir: '../..', outDir: 'dist', sourceMap: false, noEmitOnError: false, incremental: false },
        include: ['../../src', '../../bench/*.ts'],
      },
      null,
      2,
    )}\n`,
  );
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  for (const f of ['src/cli.js', 'bench/floor-proxy.js', 'bench/fake-upstream.js']) {
    try {
      accessSync(join(dist, f));
    } catch {
      throw new Error(`tsc did not produce ${f} (exit ${tsc.status})\n${tsc.stdout}${tsc.stderr}`);
    }
  }
  if (tsc.status !== 0) process.stderr.write(`bench: warning: tsc reported type errors (the build is measured anyway):\n${tsc.stdout.slice(0, 2000)}\n`);
  return dist;
}

/** Set when the compiled build could not be used. */
let runtimeProblem: string | null = null;

/** How to run one of the project's TypeScript files in the chosen runtime. */
let runtime: { kind: 'dist' | 'tsx'; dist: string } = { kind: 'tsx', dist: '' };
/**
 * Waits until a process is idle (under 10% of a core over three 100 ms polls in a row), at most
 * 20 s; returns how long that took.
 */
async function settle(pid: number, machine: Machine): Promise<number> {
  const t0 = performance.now();
  const idleTicks = Math.max(1, Math.floor(machine.clkTck / 100));
  let last = cpuTicks(pid);
  let quiet = 0;
  while (quiet < 3 && performance.now() - t0 < 20_000) {
    await new Promise((r) => setTimeout(r, 100));
    const now = cpuTicks(pid);
    quiet = now - last <= idleTicks ? quiet + 1 : 0;
    last = now;
  }
  return Math.max(0, performance.now() - t0 - 300);
}

function nodeArgv(file: string, extraNodeFlags: string[] = []): string[] {
  return runtime.kind === 'dist' ? [process.execPath, ...extraNodeFlags, join(runtime.dist, file.replace(/\.ts$/, '.js'))] : [process.execPath, ...extraNodeFlags, '--import', 'tsx', join(ROOT, file)];
}

/** Extra node/V8 flags for every gateway the bench starts (--node-flags). */
let gatewayNodeFlags: string[] = [];

const PORT_LINE = /^\{"port":(\d+)\}$/;

async function startUpstream(group: ProcessGroup, machine: Machine): Promise<{ child: Child; url: string }> {
  const child = group.start('fake upstream', pinned(machine, CPU_LOAD, nodeArgv('bench/fake-upstream.ts')), {
    cwd: ROOT,
    logFile: join(OUT, 'fake-upstream.log'),
  });
  const m = await group.waitForLine(child, 'stdout', PORT_LINE, 20_000);
  return { child, url: `http://127.0.0.1:${m[1]}` };
}

async function startFloor(group: ProcessGroup, machine: Machine, upstream: string, profileDir?: string, connections?: number): Promise<{ child: Child; url: string; startedAt: number }> {
  const startedAt = performance.now();
  const argv = [...nodeArgv('bench/floor-proxy.ts', profileFlags(profileDir)), upstream, ...(connections === undefined ? [] : [String(connections)])];
  const child = group.start('floor proxy', pinned(machine, CPU_PROXY, argv), {
    cwd: ROOT,
    logFile: join(OUT, 'floor-proxy.log'),
  });
  const m = await group.waitForLine(child, 'stdout', PORT_LINE, 20_000);
  return { child, url: `http://127.0.0.1:${m[1]}`, startedAt };
}

function profileFlags(dir: string | undefined): string[] {
  return dir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval', '250'];
}

const BENCH_AGENT = 'bench-agent';
/** The realistic mix's fleet: agent-0000 … agent-0999 over a few teams. */
const MIX_AGENTS = 1000;
const MIX_TEAMS = ['payments', 'search', 'support', 'research', 'platform'];
const mixAgentId = (i: number) => `agent-${String(i).padStart(4, '0')}`;

async function startOtlpReceiver(group: ProcessGroup, machine: Machine): Promise<{ child: Child; url: string }> {
  // With the load generator: its CPU is part of the load side, as the upstream's is.
  const child = group.start('otlp receiver', pinned(machine, CPU_LOAD, nodeArgv('bench/otlp-receiver.ts')), {
    cwd: ROOT,
    logFile: join(OUT, 'otlp-receiver.log'),
  });
  const m = await group.waitForLine(child, 'stdout', PORT_LINE, 20_000);
  return { child, url: `http://127.0.0.1:${m[1]}` };
}

interface OtlpCounts {
  spans: number;
  logs: number;
  traceRequests: number;
  logRequests: number;
  unreadable: number;
}

async function otlpCounts(receiver: string): Promise<OtlpCounts> {
  const res = await fetch(`${receiver}/stats`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as OtlpCounts;
}

interface Gateway {
  child: Child;
  url: string;
  startedAt: number;
  /** The Authorization header wrk sends to the single-agent scenarios. */
  authorization: string;
  /** Mix gateway: the file of agent tokens mix.lua reads ("agent-id token" per line). */
  tokensFile: string | null;
  pipeline: string;
}

/**
 * The real gateway, through its CLI, with a generated config that routes /v1 to the fake upstream.
 * Agent identity is on, as by default: a registry (bench/.out/gateway/agents.yaml) with the
 * single-agent scenarios' agent and the realistic mix's 1,000, and a token for the first minted by
 * `aos token mint` with the local development issuer (wrk sends it as the agent's API key).
 *
 * With `otlp` (the realistic mix): a second config, aos-mix.yaml, with its own data folder, that
 * also routes /anthropic to an Anthropic-dialect provider at the fake upstream and exports traces
 * and logs to the OTLP receiver; the 1,000 agents' tokens are minted here in-process with the
 * gateway's local signer (the CLI, one process per token, would take minutes).
 *
 * With `variant` (a long scenario): the single-agent config with its own file, data folder and log
 * (aos-<variant>.yaml, data-<variant>, gateway-<variant>.log) and the scenario's own settings
 * (`config`, applied before --set).
 */
async function startGateway(
  group: ProcessGroup,
  machine: Machine,
  upstream: string,
  opts: { set: [string, unknown][]; profileDir?: string; otlp?: string; variant?: string; config?: [string, unknown][] },
): Promise<Gateway> {
  const mix = opts.otlp !== undefined;
  const dir = join(OUT, 'gateway');
  mkdirSync(dir, { recursive: true });
  const name = mix ? 'mix' : opts.variant;
  const configFile = join(dir, name === undefined ? 'aos.yaml' : `aos-${name}.yaml`);
  // A budget the bench never exhausts, so metering reserves and settles on every call (agent, team, org, rate limit).
  const budget = { daily_usd: 1e9, requests_per_minute: 1e12 };
  const registry = join(dir, 'agents.yaml');
  const registryText = `# generated by bench/run.ts\n${stringify({
    templates: {
      bench: { version: 1, description: 'bench agents', providers: ['openai'], models: ['gpt-4o-mini'], budget },
      fleet: { version: 1, description: 'the realistic mix: both providers', providers: ['openai', 'anthropic'], models: ['gpt-4o-mini', 'claude-3-5-haiku-*'], budget },
    },
    budgets: { teams: Object.fromEntries(['bench', ...MIX_TEAMS].map((t) => [t, { daily_usd: 1e9 }])), org: { monthly_usd: 1e9 } },
    agents: [
      { id: BENCH_AGENT, team: 'bench', roles: ['agent'], template: 'bench' },
      ...Array.from({ length: MIX_AGENTS }, (_, i) => ({ id: mixAgentId(i), team: MIX_TEAMS[i % MIX_TEAMS.length], roles: ['agent'], template: 'fleet' })),
    ],
  })}`;
  // Both gateways read this file: rewriting it unchanged would make a running one reload its registry.
  if (!existsSync(registry) || readFileSync(registry, 'utf8') !== registryText) writeFileSync(registry, registryText);
  const config: Record<string, unknown> = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    dataDir: join(dir, name === undefined ? 'data' : `data-${name}`),
    log: { level: 'warn' },
    identity: { mode: 'required', registry: 'agents.yaml' },
    providers: {
      openai: { dialect: 'openai', baseUrl: `${upstream}/v1`, apiKey: 'sk-bench-provider-key-injected-by-the-gateway' },
      ...(mix ? { anthropic: { dialect: 'anthropic', baseUrl: upstream, apiKey: 'sk-ant-bench-provider-key-injected-by-the-gateway' } } : {}),
    },
    routes: [{ prefix: '/v1', provider: 'openai' }, ...(mix ? [{ prefix: '/anthropic', provider: 'anthropic' }] : [])],
    ...(mix ? { otel: { endpoint: opts.otlp, traces: true, logs: true } } : {}),
  };
  // The project's own policy bundle, when the gateway has a policy stage (relative paths in the
  // config are resolved from the config file, which lives in bench/.out here).
  const bundle = join(ROOT, 'policies', 'bundle.tar.gz');
  if ((await schemaHas('policy')) && existsSync(bundle)) config.policy = { bundle: { file: bundle } };
  for (const [path, value] of [...(opts.config ?? []), ...opts.set]) setPath(config, path, value);
  writeFileSync(configFile, `# generated by bench/run.ts\n${stringify(config)}`);
  // Every gateway starts from an empty audit trail and budgets (its signing key kept): the writer's
  // cost per event depends on how big the trail is, and runs are compared across days. Only the
  // bench's own data directory: one given with --set dataDir=… is left alone.
  const dataDir = String(config.dataDir);
  if (dataDir.startsWith(`${OUT}/`) && existsSync(dataDir)) for (const f of readdirSync(dataDir)) if (f !== 'local-signing-key.json') rmSync(join(dataDir, f), { recursive: true, force: true });
  const get = (path: string) => path.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), config);
  const identityOn = get('identity.mode') !== 'off';
  const pipeline = [
    `identity ${identityOn ? (mix ? 'required (1,000 agents, wrk sends a different JWT each call)' : 'required (wrk sends a JWT minted by `aos token mint`)') : 'off'}`,
    ...((await schemaHas('policy'))
      ? [`policy ${get('policy.mode') === 'off' ? 'off' : `enforce (${get('policy.bundle.file') === undefined ? 'default bundle' : relative(ROOT, String(get('policy.bundle.file')))})`}`]
      : []),
    ...(mix ? [`OTel export of traces and logs to a local OTLP receiver`] : []),
    ...[...(opts.config ?? []), ...opts.set].map(([k, v]) => `${k}=${JSON.stringify(v)}`),
  ].join('; ');
  let authorization = 'Bearer sk-agent-side-key-that-the-gateway-strips';
  let tokensFile: string | null = null;
  if (identityOn && mix) {
    const issuer = (get('identity.localIssuer.issuer') as string | undefined) ?? 'aos-local';
    const audience = (get('identity.audience') as string | undefined) ?? 'aos-gateway';
    const signer = await loadLocalSigner(String(get('dataDir')), issuer);
    const lines: string[] = [];
    for (let i = 0; i < MIX_AGENTS; i++) lines.push(`${mixAgentId(i)} ${await signer.mint({ subject: mixAgentId(i), audience, roles: ['agent'], ttlSec: 12 * 3600 })}`);
    tokensFile = join(dir, 'mix-tokens.txt');
    writeFileSync(tokensFile, `${lines.join('\n')}\n`, { mode: 0o600 });
    authorization = `Bearer ${lines[0].split(' ')[1]}`;
  } else if (identityOn) {
    const mint = spawnSync(nodeArgv('src/cli.ts')[0], [...nodeArgv('src/cli.ts').slice(1), 'token', 'mint', '--agent', BENCH_AGENT, '--ttl', '12h', '--config', configFile], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    const token = mint.stdout.trim().split('\n').at(-1) ?? '';
    if (mint.status !== 0 || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) throw new Error(`aos token mint failed (exit ${mint.status}):\n${mint.stderr}${mint.stdout}`);
    authorization = `Bearer ${token}`;
  }
  const prof = profileFlags(opts.profileDir);
  const startedAt = performance.now();
  const child = group.start(
    name === undefined ? 'gateway' : `gateway (${name})`,
    pinned(machine, CPU_PROXY, [...nodeArgv('src/cli.ts', [...gatewayNodeFlags, ...prof]), 'start', '--config', configFile]),
    {
      cwd: ROOT,
      logFile: join(OUT, name === undefined ? 'gateway.log' : `gateway-${name}.log`),
    },
  );
  const m = await group.waitForLine(child, 'stderr', /listening on http:\/\/127\.0\.0\.1:(\d+)/, 30_000);
  return { child, url: `http://127.0.0.1:${m[1]}`, startedAt, authorization, tokensFile, pipeline };
}

let schemaKeys: Set<string> | null = null;
/** Whether the gateway's config schema has a top-level key (stages come and go as the gateway grows). */
async function schemaHas(key: string): Promise<boolean> {
  if (schemaKeys === null) {
    const { configSchema } = (await import('../src/config/schema.js')) as { configSchema: { properties: Record<string, unknown> } };
    schemaKeys = new Set(Object.keys(configSchema.properties));
  }
  return schemaKeys.has(key);
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = target;
  for (const k of keys.slice(0, -1)) {
    if (o[k] === null || typeof o[k] !== 'object') o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys.at(-1)!] = value;
}

// ---------------------------------------------------------------------------------------------
// Sanity check: every target answers both requests, with the same body as the upstream itself

type Dialect = 'openai' | 'anthropic';

const REQUEST = (dialect: Dialect, stream: boolean) =>
  dialect === 'openai'
    ? JSON.stringify({
        // Streams ask for usage as post.lua does (the fake upstream always sends it; a gateway that meters
        // asks for it when a client did not, and removes it again).
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hello' }],
        max_tokens: 16,
        ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
      })
    : JSON.stringify({ model: 'claude-3-5-haiku-20241022', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }], ...(stream ? { stream: true } : {}) });

/**
 * Every target answers each dialect's request, plain and streaming, with 200 and the upstream's own
 * body. The agent's token goes where that dialect's SDK puts its API key.
 */
async function verify(targets: Record<TargetName, string>, token: string, dialects: readonly Dialect[]): Promise<void> {
  const expected: Record<string, string> = {};
  for (const t of TARGETS) {
    for (const dialect of dialects) {
      for (const stream of [false, true]) {
        const headers: Record<string, string> =
          dialect === 'openai'
            ? { 'content-type': 'application/json', authorization: token }
            : { 'content-type': 'application/json', 'x-api-key': token.replace(/^Bearer /, ''), 'anthropic-version': '2023-06-01' };
        const res = await fetch(targets[t] + (dialect === 'openai' ? PATH : ANTHROPIC_PATH), {
          method: 'POST',
          headers,
          body: REQUEST(dialect, stream),
          signal: AbortSignal.timeout(10_000),
        });
        const body = await res.text();
        const what = `${t} ${dialect} ${stream ? 'streaming' : 'non-streaming'}`;
        if (res.status !== 200) throw new Error(`${what}: HTTP ${res.status}: ${body.slice(0, 300)}`);
        if (stream) {
          if (!res.headers.get('content-type')?.startsWith('text/event-stream')) throw new Error(`${what}: not an event stream (${res.headers.get('content-type')})`);
          const events = body.split('\n\n').filter((e) => e !== '');
          const last = dialect === 'openai' ? 'data: [DONE]' : 'event: message_stop';
          if (events.length !== 10 || !events.at(-1)!.startsWith(last)) throw new Error(`${what}: expected 10 events ending in ${last}, got ${events.length}`);
        }
        if (t === 'gateway' && !res.headers.get('x-aos-request-id') && !res.headers.get('x-request-id')) throw new Error(`${what}: no request id header: did this go through the gateway?`);
        const key = `${dialect} ${stream}`;
        expected[key] ??= body;
        if (body !== expected[key]) throw new Error(`${what}: body differs from the upstream's own answer`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Load generation

interface WrkResult {
  requests: number;
  duration_us: number;
  errors: RunRecord['errors'];
  latency_us: { min: number; mean: number; stdev: number; p50: number; p90: number; p99: number; p999: number; max: number };
}

/** One wrk run. With `stopAfterMs`, wrk is interrupted then (warm-up) and its result is not needed. */
let wrkAuthorization = '';
/** The realistic mix's agent tokens (mix.lua); empty when identity is off. */
let wrkTokensFile = '';
/** Seeds mix.lua differently on every run, so no prompt repeats from one run to the next. */
let wrkRuns = 0;
async function wrk(group: ProcessGroup, machine: Machine, url: string, scenario: Scenario, seconds: number, stopAfterMs?: number): Promise<WrkResult | null> {
  const mix = scenario.mix === true;
  // mix.lua chooses each request's path itself; the URL only names the target.
  const argv = pinned(machine, CPU_LOAD, ['wrk', '-t1', `-c${scenario.connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', mix ? MIX_LUA : POST_LUA, mix ? `${url}/` : url + PATH]);
  wrkRuns += 1;
  const env = mix
    ? { ...process.env, BENCH_TOKENS: wrkTokensFile, BENCH_SEED: String(wrkRuns + (Date.now() % 1_000_000) * 1000) }
    : { ...process.env, BENCH_STREAM: scenario.stream ? '1' : '0', BENCH_AUTHORIZATION: wrkAuthorization };
  const child = group.start('wrk', argv, { env });
  const timers: NodeJS.Timeout[] = [];
  // wrk stops early and cleanly on SIGINT; the timers are unreachable unless something hangs.
  if (stopAfterMs !== undefined) timers.push(setTimeout(() => child.proc.kill('SIGINT'), stopAfterMs));
  timers.push(setTimeout(() => void group.stop(child, 'SIGKILL', 0), (seconds + 30) * 1000));
  const code = await child.exited;
  for (const t of timers) clearTimeout(t);
  if (stopAfterMs !== undefined) return null;
  const line = child.stdout.find((l) => l.startsWith('BENCH_JSON '));
  if (code !== 0 || line === undefined) throw new Error(`wrk failed (exit ${code})\n${child.tail.join('\n')}`);
  return JSON.parse(line.slice('BENCH_JSON '.length)) as WrkResult;
}

// ---------------------------------------------------------------------------------------------
// The comparison

interface Meta {
  date: string;
  node: string;
  cpuModel: string;
  cores: number;
  kernel: string;
  wrk: string;
  undici: string;
  commit: string;
  srcChanged: boolean;
  pinning: boolean;
  runtime: 'dist' | 'tsx';
  nice: number;
  /** The gateway's stages as configured for the run (null: no single-agent scenario ran). */
  pipeline: string | null;
  /** The realistic mix's gateway (null: no mix scenario ran). */
  mixPipeline: string | null;
  runtimeProblem: string | null;
  clkTck: number;
  reps: number;
  durationS: number;
  warmupMs: number;
  wallS: number;
  /** CPU used by other work on the machine during the measured runs (noise). */
  otherLoad: { medianCores: number; maxCores: number; noisyRuns: number; runs: number; discardedRuns: number; loadAvgBefore: string };
}

let codeVersion: { commit: string; srcChanged: boolean } = { commit: 'unknown', srcChanged: false };

function gitInfo(): { commit: string; srcChanged: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const diff = spawnSync('git', ['diff', '--quiet', 'HEAD', '--', 'src'], { cwd: ROOT });
    return { commit, srcChanged: diff.status === 1 };
  } catch {
    return { commit: 'unknown', srcChanged: false };
  }
}

async function compare(group: ProcessGroup, machine: Machine, opts: Options): Promise<void> {
  const began = performance.now();
  const upstream = await startUpstream(group, machine);
  const floor = await startFloor(group, machine, upstream.url);
  // The single-agent scenarios and the realistic mix each get their own gateway (the mix's exports
  // to an OTLP receiver, which the others must not pay for); only those the scenarios need start.
  const plain = opts.scenarios.some((s) => s.mix !== true) || opts.long.includes('soak') ? await startGateway(group, machine, upstream.url, { set: opts.set }) : null;
  const receiver = opts.scenarios.some((s) => s.mix === true) ? await startOtlpReceiver(group, machine) : null;
  const mixed = receiver === null ? null : await startGateway(group, machine, upstream.url, { set: opts.set, otlp: receiver.url });
  wrkAuthorization = plain?.authorization ?? '';
  wrkTokensFile = mixed?.tokensFile ?? '';
  const gatewayOf = (scenario: Scenario) => (scenario.mix === true ? mixed! : plain!);
  const urlsOf = (scenario: Scenario): Record<TargetName, string> => ({ direct: upstream.url, floor: floor.url, gateway: gatewayOf(scenario).url });
  const pidOf = (scenario: Scenario): Record<TargetName, number | null> => ({ direct: null, floor: floor.child.pid, gateway: gatewayOf(scenario).child.pid });
  for (const g of [plain, mixed]) {
    if (g === null) continue;
    const urls = { direct: upstream.url, floor: floor.url, gateway: g.url };
    await verify(urls, g.authorization, g === mixed ? ['openai', 'anthropic'] : ['openai']);
    log(`targets: direct ${urls.direct}, floor ${urls.floor} (pid ${floor.child.pid}), ${g.child.name} ${urls.gateway} (pid ${g.child.pid}); all answer alike`);
  }
  if (receiver !== null) log(`OTLP receiver ${receiver.url} (pid ${receiver.child.pid}); agent tokens of the mix in ${relative(ROOT, wrkTokensFile) || '(none: identity off)'}`);
  // Long-lived bench processes: their CPU is not other work on the machine.
  const benchPids = [upstream.child.pid, floor.child.pid, ...[plain, mixed, receiver].filter((c) => c !== null).map((c) => c.child.pid)];
  const benchTicks = () => benchPids.reduce((n, pid) => n + cpuTicks(pid), 0);

  // First warm-up: let V8 optimise every target on every response kind before anything counts.
  const firsts = [opts.scenarios.find((s) => !s.stream && s.mix !== true), opts.scenarios.find((s) => s.stream), opts.scenarios.find((s) => s.mix === true)];
  for (const t of TARGETS)
    for (const sc of firsts) {
      if (sc) await wrk(group, machine, urlsOf(sc)[t], { ...sc, connections: 32 }, 10, 1500);
    }

  const runs: RunRecord[] = [];
  const total = opts.scenarios.length * opts.reps * TARGETS.length;
  let done = 0;
  // On a shared machine other work comes in bursts: a repetition during which it used more than
  // NOISY_CORES is run again while the noise budget lasts, and the noisy one is kept aside.
  let noiseBudgetMs = opts.noiseBudgetS * 1000;
  const measure = async (scenario: Scenario, rep: number, target: TargetName): Promise<RunRecord> => {
    const url = urlsOf(scenario)[target];
    // The mix's warm-up sends every one of its agents' tokens at least once (2 s is over 1,000 calls
    // even at c=1): a first use costs a signature check (~250 µs), later ones a cache lookup, and a
    // fleet's steady state is the latter.
    const warmupMs = scenario.mix === true ? Math.max(opts.warmupMs, 2000) : opts.warmupMs;
    if (warmupMs > 0) await wrk(group, machine, url, scenario, 10, warmupMs);
    const pid = pidOf(scenario)[target];
    // Work a proxy deferred to a background thread (the audit writer, niced, starves while the
    // request thread is saturated) is charged to the run that caused it: wait for the proxy to go
    // idle before the run (the warm-up's backlog) and after it (the run's own) before reading its CPU.
    if (pid !== null) await settle(pid, machine);
    const exporting = scenario.mix === true && target === 'gateway' && receiver !== null;
    const otlp0 = exporting ? await otlpCounts(receiver.url) : null;
    const cpu0 = pid === null ? 0 : cpuTicks(pid);
    const io0 = pid === null ? null : syscalls(pid);
    const up0 = cpuTicks(upstream.child.pid);
    const bench0 = benchTicks();
    const self0 = cpuTicks('self', true); // wrk's time lands in our children's once it is reaped
    const sys0 = machineTicks();
    const r = (await wrk(group, machine, url, scenario, opts.durationS))!;
    const drainMs = pid === null ? 0 : await settle(pid, machine);
    const sys1 = machineTicks();
    const self1 = cpuTicks('self', true);
    const bench1 = benchTicks();
    const cpu1 = pid === null ? 0 : cpuTicks(pid);
    const io1 = pid === null ? null : syscalls(pid);
    const up1 = cpuTicks(upstream.child.pid);
    const otlp1 = exporting ? await otlpCounts(receiver.url) : null;
    const perReqUs = (ticks: number) => (r.requests > 0 ? ((ticks / machine.clkTck) * 1e6) / r.requests : NaN);
    const seconds = r.duration_us / 1e6;
    // Everything else the machine did meanwhile, in cores: other sessions, builds, … (noise).
    const otherTicks = sys1.busy - sys0.busy - (bench1 - bench0) - (self1 - self0);
    const toCores = (ticks: number) => Math.max(0, ticks / machine.clkTck / seconds);
    const ms = (us: number) => us / 1000;
    return {
      scenario: scenario.id,
      rep,
      target,
      requests: r.requests,
      durationS: seconds,
      rps: r.requests / seconds,
      latencyMs: { mean: ms(r.latency_us.mean), p50: ms(r.latency_us.p50), p90: ms(r.latency_us.p90), p99: ms(r.latency_us.p99), p999: ms(r.latency_us.p999), max: ms(r.latency_us.max) },
      errors: r.errors,
      proxyCpuUsPerReq: pid === null ? null : perReqUs(cpu1 - cpu0),
      proxyDrainMs: drainMs,
      proxySyscallsPerReq: io0 === null || io1 === null ? null : { read: (io1.r - io0.r) / r.requests, write: (io1.w - io0.w) / r.requests },
      upstreamCpuUsPerReq: perReqUs(up1 - up0),
      loadGenCpuUsPerReq: perReqUs(self1 - self0),
      otherLoadCores: toCores(otherTicks),
      stealCores: toCores(sys1.steal - sys0.steal),
      discarded: false,
      ...(otlp0 !== null && otlp1 !== null
        ? {
            otlp: {
              spans: otlp1.spans - otlp0.spans,
              logs: otlp1.logs - otlp0.logs,
              exports: otlp1.traceRequests + otlp1.logRequests - otlp0.traceRequests - otlp0.logRequests,
              unreadable: otlp1.unreadable - otlp0.unreadable,
            },
          }
        : {}),
    };
  };
  for (const scenario of opts.scenarios) {
    for (let rep = 1; rep <= opts.reps; rep++) {
      const began = performance.now();
      const triple: RunRecord[] = [];
      for (const target of TARGETS) {
        const record = await measure(scenario, rep, target);
        triple.push(record);
        const errs = Object.values(record.errors).reduce((a, b) => a + b, 0);
        log(
          `[${String(done + triple.length).padStart(String(total).length)}/${total}] ${scenario.id.padEnd(8)} rep ${rep}/${opts.reps} ${target.padEnd(7)} ` +
            `${Math.round(record.rps).toLocaleString('en-US').padStart(7)} req/s  p50 ${record.latencyMs.p50.toFixed(3)} ms  p99 ${record.latencyMs.p99.toFixed(3)} ms` +
            (record.proxyCpuUsPerReq === null
              ? ''
              : `  proxy CPU ${record.proxyCpuUsPerReq.toFixed(0)} µs/req${(record.proxyDrainMs ?? 0) >= 100 ? ` (${Math.round(record.proxyDrainMs!)} ms drain)` : ''}`) +
            (record.proxySyscallsPerReq === null ? '' : `  syscalls ${record.proxySyscallsPerReq.read.toFixed(1)}r+${record.proxySyscallsPerReq.write.toFixed(1)}w/req`) +
            (errs > 0 ? `  ERRORS ${errs}` : '') +
            (record.otherLoadCores > NOISY_CORES ? `  (other load ${record.otherLoadCores.toFixed(2)} cores)` : ''),
        );
      }
      const noisy = triple.some((r) => r.otherLoadCores > NOISY_CORES);
      const cost = performance.now() - began;
      if (noisy && noiseBudgetMs >= cost) {
        noiseBudgetMs -= cost;
        for (const r of triple) r.discarded = true;
        runs.push(...triple);
        log(`    other work on the machine disturbed rep ${rep}: running it again (noise budget left ${Math.round(noiseBudgetMs / 1000)} s)`);
        rep -= 1;
        continue;
      }
      runs.push(...triple);
      done += triple.length;
    }
  }

  const kept = runs.filter((r) => !r.discarded);
  const summaries = opts.scenarios.map((s) => summarize(s, kept));

  // The long scenarios, after the others (the soak's rate may come from json-c32's).
  const ctx: LongContext = {
    group,
    otherLoad: (pids) => {
      // Everything the machine did besides the bench's processes (and this one with its reaped children).
      const ticks = () => ({ sys: machineTicks().busy, bench: benchTicks() + pids().reduce((n, pid) => n + safeTicks(pid), 0) + cpuTicks('self', true), at: performance.now() });
      let last = ticks();
      return () => {
        const now = ticks();
        const cores = Math.max(0, (now.sys - last.sys - (now.bench - last.bench)) / machine.clkTck / ((now.at - last.at) / 1000));
        last = now;
        return cores;
      };
    },
    loadgen: (args) => group.start(`loadgen ${args[0]}`, pinned(machine, CPU_LOAD, [...nodeArgv('bench/loadgen.ts'), ...args]), { cwd: ROOT, logFile: join(OUT, 'loadgen.log') }),
    log,
  };
  let soak: SoakSummary | null = null;
  if (opts.long.includes('soak')) {
    const gateway = plain!;
    let rate = opts.soakRate;
    let rateSource = '--soak-rate';
    if (rate === null) {
      const c32 = summaries.find((s) => s.scenario.id === 'json-c32');
      let capacity = c32?.targets.gateway.rps;
      rateSource = "half of the gateway's json-c32 throughput in this run";
      if (capacity === undefined) {
        // Not measured in this run: a json-c32 run of the gateway alone, after a warm-up.
        const c32Scenario = SCENARIOS.find((s) => s.id === 'json-c32')!;
        await wrk(group, machine, gateway.url, c32Scenario, 10, 1500);
        const r = (await wrk(group, machine, gateway.url, c32Scenario, opts.durationS))!;
        capacity = r.requests / (r.duration_us / 1e6);
        rateSource = `half of the gateway's json-c32 throughput, ${Math.round(capacity).toLocaleString('en-US')} req/s, measured for it in this run`;
      }
      rate = Math.max(1, Math.round(capacity / 2));
    }
    log(`soak: ${rate} req/s (${rateSource}), ${opts.soakFloorMinutes} min for the floor, ${opts.soakMinutes} min for the gateway`);
    const floorRun = await soakRun(ctx, 'floor', floor, rate, opts.soakFloorMinutes, gateway.authorization);
    const gatewayRun = await soakRun(ctx, 'gateway', gateway, rate, opts.soakMinutes, gateway.authorization);
    soak = { minutes: opts.soakMinutes, floorMinutes: opts.soakFloorMinutes, rate, rateSource, floor: floorRun, gateway: gatewayRun };
  }
  let streams: StreamsSummary | null = null;
  if (opts.long.includes('streams-10k')) {
    raiseFileLimit(opts.streams);
    const connections = opts.streams + 64;
    log(`streams-10k: ${opts.streams} streams of ${STREAM_EVENTS} events ${STREAM_INTERVAL_MS} ms apart, a fresh floor and gateway (upstream pool of ${connections})`);
    const freshFloor = await startFloor(group, machine, upstream.url, undefined, connections);
    const floorRun = await streamsRun(ctx, 'floor', opts.streams, freshFloor, plain?.authorization ?? '', machine.clkTck);
    const g = await startGateway(group, machine, upstream.url, { set: opts.set, variant: 'streams', config: [['upstream.connections', connections]] });
    const gatewayRun = await streamsRun(ctx, 'gateway', opts.streams, g, g.authorization, machine.clkTck);
    streams = summarizeStreams(opts.streams, floorRun, gatewayRun);
    streamsPipeline = g.pipeline;
  }

  const git = codeVersion;
  const other = kept.map((r) => r.otherLoadCores);
  const noisy = kept.filter((r) => r.otherLoadCores > NOISY_CORES).length;
  const meta: Meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpuModel: machine.cpuModel,
    cores: machine.cores,
    kernel: release(),
    wrk: machine.wrkVersion,
    undici: machine.undici,
    commit: git.commit,
    srcChanged: git.srcChanged,
    pinning: machine.pinning,
    runtime: opts.runtime,
    nice: opts.nice,
    pipeline: plain?.pipeline ?? null,
    mixPipeline: mixed?.pipeline ?? null,
    runtimeProblem,
    clkTck: machine.clkTck,
    reps: opts.reps,
    durationS: opts.durationS,
    warmupMs: opts.warmupMs,
    wallS: Math.round((performance.now() - began) / 1000),
    otherLoad: {
      medianCores: other.length === 0 ? 0 : median(other),
      maxCores: other.length === 0 ? 0 : Math.max(...other),
      noisyRuns: noisy,
      runs: kept.length,
      discardedRuns: runs.length - kept.length,
      loadAvgBefore: machine.loadAvg,
    },
  };
  const gatewayWarnings = [plain, mixed].reduce((n, g) => n + (g === null ? 0 : g.child.tail.filter((l) => l.startsWith('stderr: {')).length), 0);
  const long = { soak, streams };
  writeFileSync(join(BENCH, 'RESULTS.md'), resultsMarkdown(meta, summaries, gatewayWarnings, long));
  writeFileSync(
    join(BENCH, 'results.json'),
    `${JSON.stringify({ meta, goals: GOALS, longGoals: LONG_GOALS, scenarios: opts.scenarios, summaries, runs, ...(soak === null ? {} : { soak }), ...(streams === null ? {} : { streams }) }, null, 2)}\n`,
  );
  process.stdout.write(
    `\n${stdoutSummary(summaries)}${longMarkdown(long)}\n${runtimeProblem === null ? '' : `\nWARNING: ${runtimeProblem}\n`}\nwrote bench/RESULTS.md and bench/results.json (${meta.wallS} s)\n`,
  );
}

/** The gateway config of the streams-10k scenario, for the report. */
let streamsPipeline = '';

/** Descriptors a proxy holds besides its streams' sockets: listeners, SQLite and audit files, epoll, pipes. */
const PROXY_OTHER_FILES = 128;

/**
 * streams-10k keeps two sockets per stream open in the proxy (the agent's and the upstream's): 10,000
 * streams need more than 20,000 descriptors. When the open-file limit is lower, the bench raises its
 * own with prlimit (which takes CAP_SYS_RESOURCE above the hard limit); the processes it starts from
 * then on inherit it. When it cannot, it stops and says how many streams fit.
 */
function raiseFileLimit(streams: number): void {
  const need = 2 * streams + PROXY_OTHER_FILES;
  const limits = () => {
    const m = /^Max open files\s+(\d+)\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return { soft: Number(m?.[1] ?? 0), hard: Number(m?.[2] ?? 0) };
  };
  const before = limits();
  if (before.soft >= need) return;
  const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${need}:${Math.max(need, before.hard)}`], { encoding: 'utf8' });
  if (r.status !== 0) {
    const fits = Math.floor((before.hard - PROXY_OTHER_FILES) / 2);
    throw new Error(
      `streams-10k: ${streams} streams need ${need} open files in the proxy; the limit is ${before.soft} (hard ${before.hard}) and prlimit could not raise it (${r.stderr.trim()}). ` +
        `Raise the hard limit (ulimit -Hn, or a container's nofile setting), or run at most --streams ${fits}`,
    );
  }
  log(`streams-10k: raised this process's open-file limit from ${before.soft} to ${limits().soft} (inherited by the processes it starts)`);
}

function longMarkdown(long: { soak: SoakSummary | null; streams: StreamsSummary | null }): string {
  const out: string[] = [];
  if (long.streams !== null) out.push('', streamsMarkdown(long.streams), '', `Gateway config: ${streamsPipeline.replace('wrk sends', 'the generator sends')}.`);
  if (long.soak !== null) out.push('', soakMarkdown(long.soak));
  return out.length === 0 ? '' : `\n## Long scenarios\n${out.join('\n')}\n`;
}

function resultsMarkdown(meta: Meta, summaries: ScenarioSummary[], gatewayWarnings: number, long: { soak: SoakSummary | null; streams: StreamsSummary | null }): string {
  const out: string[] = [];
  out.push('# Benchmark results', '');
  out.push('Generated by `npm run bench` (bench/run.ts); overwritten on every run. How to read it: bench/README.md.', '');
  out.push(`- date: ${meta.date}`);
  out.push(`- node: ${meta.node}; undici ${meta.undici}; ${meta.wrk}`);
  out.push(`- CPU: ${meta.cpuModel}, ${meta.cores} cores; Linux ${meta.kernel}`);
  out.push(
    `- code: commit ${meta.commit}${meta.srcChanged ? ' with uncommitted changes in src/' : ''}; run ${meta.runtime === 'dist' ? 'compiled with tsc (as the Docker image runs it)' : 'through the tsx loader (as `npm start` runs it)'}`,
  );
  if (meta.runtimeProblem !== null) out.push(`- **WARNING: ${meta.runtimeProblem}**`);
  out.push(`- settings: ${meta.reps} paired repetitions × ${meta.durationS} s per target and scenario, ${meta.warmupMs} ms warm-up before each run; whole run ${meta.wallS} s`);
  out.push('');
  out.push('## Method', '');
  out.push(
    '- One fake upstream (bench/fake-upstream.ts, node:http, fixed answers, no delay): a chat completion JSON, or an SSE stream of 10 events for `"stream":true`; on `/v1/messages` an Anthropic message JSON, or an Anthropic SSE stream of 10 events.',
    `- Three targets in front of it: **direct** (wrk → upstream), **floor** (bench/floor-proxy.ts: node:http + undici Pool pass-through, no inspection) and **gateway** (\`aos start\` with a generated config, log level warn; the whole pipeline as it is today` +
      `${meta.pipeline === null ? '' : `: ${meta.pipeline}`}${meta.mixPipeline === null ? '' : `${meta.pipeline === null ? ':' : '; for the realistic mix, a second gateway with'} ${meta.mixPipeline}`}).`,
    `- Pinning: ${meta.pinning ? 'the proxy under test (floor or gateway) on CPU 0 (`taskset -c 0`); wrk (1 thread) and the upstream on CPU 1' : 'DISABLED (taskset missing or < 2 CPUs): numbers are not comparable with pinned runs'}` +
      `${meta.nice !== 0 ? `; every bench process at niceness ${meta.nice} so that other work on a shared machine disturbs it less` : ''}.`,
    '- Load: wrk, closed loop over keep-alive connections (1 or 32), POSTing a ~600-byte chat request (bench/post.lua); latency percentiles from wrk.',
    ...(meta.mixPipeline === null
      ? []
      : [
          '- **Realistic mix** (bench/mix.lua, scenarios `mix-*`): every request built anew: one of 1,000 agents in turn (agent-0000 … agent-0999 over 5 teams, tokens minted with the local signer), a distinct ~1 KB prompt (words drawn by a seeded generator, plus a counter), about half OpenAI chat completions and half Anthropic messages (`/anthropic/v1/messages`), 20% streaming; the gateway exports traces and logs to a local OTLP/HTTP receiver (bench/otlp-receiver.ts, on CPU 1 with wrk and the upstream). The single-request scenarios show the gateway with every cache hit; this one is what a fleet gives it.',
        ]),
    `- CPU per request: utime+stime of the proxy process from /proc/<pid>/stat (clock ticks, CLK_TCK=${meta.clkTck}) from before each measured run until the proxy is idle again after it (the background work the run left, such as the audit writer's catch-up, counts), divided by the requests completed.`,
    '- Paired repetitions: per scenario and repetition, direct, floor and gateway run back to back. Table values are medians over repetitions; the derived values are medians of the per-repetition differences/ratios (range over repetitions in parentheses).',
    `- Targets: added p50 vs direct ≤ ${GOALS.addedP50Ms} ms at concurrency 1; gateway throughput ≥ ${GOALS.throughputVsFloor * 100}% of the floor's at concurrency 32.` +
      ` Realistic mix, the performance issue's targets: ≥ ${GOALS.mix.throughputVsFloor * 100}% of the floor's throughput per core and ≤ ${GOALS.mix.extraCpuUs} µs CPU per call over the floor at concurrency 32; ≤ ${GOALS.mix.addedP50Ms} ms added p50 and ≤ ${GOALS.mix.addedP99Ms} ms added p99 vs direct at concurrency 1.`,
  );
  const ol = meta.otherLoad;
  out.push(
    `- Noise: other work on the machine used a median ${ol.medianCores.toFixed(3)} cores (max ${ol.maxCores.toFixed(2)}) during the measured runs` +
      (ol.noisyRuns > 0
        ? `; **${ol.noisyRuns} of the ${ol.runs} runs reported had more than ${NOISY_CORES} cores of other load (the noise budget ran out): treat their numbers with care**`
        : '; the machine was otherwise quiet during every run reported') +
      (ol.discardedRuns > 0 ? `; ${ol.discardedRuns} runs disturbed by other work were repeated and left out (kept in results.json as \`discarded\`)` : '') +
      ` (load average before the run: ${ol.loadAvgBefore}).`,
  );
  if (gatewayWarnings > 0) out.push(`- Note: the gateway logged ${gatewayWarnings} warning/error line(s) during the run (bench/.out/gateway.log, gateway-mix.log).`);
  const mixes = summaries.filter((s) => s.scenario.mix === true);
  if (mixes.length > 0) out.push('', '## The realistic mix against the performance targets', '', realisticMarkdown(mixes));
  if (summaries.length > 0) {
    out.push('', '## Summary', '', overviewMarkdown(summaries), '');
    out.push('## Scenarios', '');
    for (const s of summaries) out.push(scenarioMarkdown(s), '');
  }
  return out.join('\n') + longMarkdown(long);
}

/** The realistic mix's numbers held against the performance issue's targets, one line per target. */
function realisticMarkdown(mixes: ScenarioSummary[]): string {
  const out = [
    'The numbers to judge the gateway by: the realistic mix (1,000 agents, a distinct ~1 KB prompt per call, OpenAI and Anthropic, 20% streaming, OTel export on) misses the tokenizer and policy decision caches a single repeated request always hits. Targets from /work/shared/DESIGN.md ("Performance budget").',
    '',
    '| scenario | target | measured | |',
    '|---|---|---:|---|',
  ];
  for (const s of mixes) for (const c of s.checks) out.push(`| ${s.scenario.id} | ${c.goal} | ${c.value} | ${c.pass ? 'PASS' : '**MISS**'} |`);
  return out.join('\n');
}

function stdoutSummary(summaries: ScenarioSummary[]): string {
  const mixes = summaries.filter((s) => s.scenario.mix === true);
  return [
    ...(summaries.length > 0 ? ['=== AOS gateway bench: medians ===', '', overviewMarkdown(summaries), ''] : []),
    ...(mixes.length > 0 ? ['=== the realistic mix against the performance targets ===', '', realisticMarkdown(mixes), ''] : []),
    ...summaries.map((s) => `${scenarioMarkdown(s)}\n`),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Profile mode

async function profile(group: ProcessGroup, machine: Machine, opts: Options): Promise<void> {
  const upstream = await startUpstream(group, machine);
  const receiver = opts.scenarios.some((s) => s.mix === true) ? await startOtlpReceiver(group, machine) : null;
  for (const scenario of opts.scenarios) {
    const summaries: Partial<Record<'floor' | 'gateway', { summary: ProfileSummary; requests: number }>> = {};
    for (const target of ['floor', 'gateway'] as const) {
      const dir = join(OUT, 'profile', scenario.id, target);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      let proxy: { child: Child; url: string; startedAt: number };
      if (target === 'gateway') {
        const gateway = await startGateway(group, machine, upstream.url, { set: opts.set, profileDir: dir, ...(scenario.mix === true ? { otlp: receiver!.url } : {}) });
        wrkAuthorization = gateway.authorization;
        if (gateway.tokensFile !== null) wrkTokensFile = gateway.tokensFile;
        proxy = gateway;
      } else {
        proxy = await startFloor(group, machine, upstream.url, dir);
      }
      // The mix's warm-up must reach every one of its 1,000 agents (a first token check costs ~0.3 ms,
      // more under the profiler): 1.5 s did not, and the profile then charged warm-up work to the run.
      await wrk(group, machine, proxy.url, scenario, 10, scenario.mix === true ? 6000 : 1500);
      const measureFrom = performance.now();
      const r = (await wrk(group, machine, proxy.url, scenario, opts.durationS))!;
      const stopping = performance.now();
      await group.stop(proxy.child, 'SIGTERM', 60_000); // the profile is written on a clean exit
      log(`bench --profile: ${scenario.id} ${target} exited ${((performance.now() - stopping) / 1000).toFixed(1)} s after SIGTERM`);
      const files = readdirSync(dir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(dir, f));
      if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}: did the ${target} exit cleanly?\n${proxy.child.tail.join('\n')}`);
      const main = files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
      // Skip process start and warm-up, and the shutdown after the run: only the measured run counts.
      const skipUs = (measureFrom - proxy.startedAt) * 1000;
      const untilUs = (stopping - proxy.startedAt) * 1000;
      const summary = summarizeProfile(main, { skipUs, untilUs, topN: 30 });
      summaries[target] = { summary, requests: r.requests };
      writeFileSync(join(OUT, 'profile', `${scenario.id}-${target}.json`), `${JSON.stringify({ profile: main, skipUs, untilUs, requests: r.requests })}\n`);
      const text =
        `${scenario.title}, ${target}: ${r.requests} requests, ${Math.round(r.requests / (r.duration_us / 1e6))} req/s\n` +
        `profile: ${main} (first ${Math.round(skipUs / 1000)} ms skipped)\n\n${formatProfile(summary, r.requests)}\n`;
      writeFileSync(join(OUT, 'profile', `${scenario.id}-${target}.txt`), text);
      if (target === 'gateway') process.stdout.write(`\n=== ${text}`);
    }
    const f = summaries.floor!;
    const g = summaries.gateway!;
    const cmp = `${scenario.title}: busy CPU per request under the profiler, floor vs gateway\n\n${compareProfiles(f.summary, f.requests, g.summary, g.requests)}\n`;
    writeFileSync(join(OUT, 'profile', `${scenario.id}-compare.txt`), cmp);
    process.stdout.write(`\n=== ${cmp}`);
  }
  log(`\nprofiles and summaries in ${join(OUT, 'profile')}`);
}

// ---------------------------------------------------------------------------------------------

function log(msg: string): void {
  process.stdout.write(`${msg}\n`);
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  gatewayNodeFlags = opts.nodeFlags;
  const machine = checkMachine();
  mkdirSync(OUT, { recursive: true });
  for (const f of ['gateway.log', 'gateway-mix.log', 'gateway-streams.log', 'loadgen.log', 'floor-proxy.log', 'fake-upstream.log', 'otlp-receiver.log']) rmSync(join(OUT, f), { force: true });
  // This process only waits on wrk, but keep it off the proxy's CPU all the same.
  if (machine.pinning) spawnSync('taskset', ['-a', '-pc', String(CPU_LOAD), String(process.pid)], { stdio: 'ignore' });

  codeVersion = gitInfo(); // the code as it is when it gets compiled (others may commit meanwhile)
  if (opts.runtime === 'dist') {
    const t0 = performance.now();
    const dist = buildDist();
    // The compiled build must at least load; when it does not (a bug to fix in src/), measure
    // through tsx rather than not at all, and say so loudly.
    const probe = spawnSync(process.execPath, [join(dist, 'src/cli.js'), '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    if (probe.status === 0) {
      runtime = { kind: 'dist', dist };
      log(`compiled src/ and bench/ with tsc into ${dist} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    } else {
      const why = `${probe.stderr}${probe.stdout}`
        .split('\n')
        .filter((l) => /Error|error/.test(l))
        .slice(0, 3)
        .join(' / ');
      runtimeProblem = `the compiled build (tsc → dist, as in the Docker image) does not start: ${why.trim() || `exit ${probe.status}`}; measured through tsx instead`;
      process.stderr.write(`bench: WARNING: ${runtimeProblem}\n`);
      opts.runtime = 'tsx';
    }
  }

  niceness = opts.nice;

  const group = new ProcessGroup();
  process.on('exit', () => group.killAllSync());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}: stopping every child process\n`);
      group.killAllSync();
      process.exit(130);
    });
  }
  const perRun = opts.durationS + opts.warmupMs / 1000 + 0.3;
  // The long scenarios: soak, both targets plus a capacity run; streams-10k, per target a fresh
  // proxy, a warm-up, the ramp and the streams' length.
  const longS =
    (opts.long.includes('soak') ? (opts.soakMinutes + opts.soakFloorMinutes) * 60 + 2 * SOAK_WARMUP_S + opts.durationS + 5 : 0) +
    (opts.long.includes('streams-10k') ? 2 * ((STREAM_EVENTS * STREAM_INTERVAL_MS) / 1000 + 15 + opts.streams / 1000) : 0);
  const estimateS = opts.profile ? opts.scenarios.length * (opts.durationS + 20) : opts.scenarios.length * opts.reps * TARGETS.length * perRun + 3 * 3 * 1.7 + 15 + longS;
  const limitS = Math.ceil((estimateS + (opts.profile ? 0 : opts.noiseBudgetS)) * 2 + 120);
  const deadline = setTimeout(() => {
    process.stderr.write(`bench: still running after ${limitS} s: giving up, stopping every child process\n`);
    group.killAllSync();
    process.exit(1);
  }, limitS * 1000);
  deadline.unref();
  log(
    opts.profile
      ? `bench --profile: ${opts.scenarios.map((s) => s.id).join(', ')}, ${opts.durationS} s each (≈${Math.round(estimateS)} s)`
      : opts.scenarios.length === 0
        ? `bench: long scenarios ${opts.long.join(', ')} ≈ ${Math.round((estimateS / 60) * 10) / 10} min; pinning ${machine.pinning ? `proxy → CPU ${CPU_PROXY}, load + upstream → CPU ${CPU_LOAD}` : 'off'}`
        : `bench: ${opts.scenarios.length} scenarios × ${opts.reps} reps × ${TARGETS.length} targets × ${opts.durationS} s (+${opts.warmupMs} ms warm-up each) ≈ ${Math.round((estimateS / 60) * 10) / 10} min ` +
          `(+ up to ${opts.noiseBudgetS} s if other work disturbs runs)${opts.long.length > 0 ? `, long scenarios ${opts.long.join(', ')}` : ''}; ` +
          `pinning ${machine.pinning ? `proxy → CPU ${CPU_PROXY}, wrk + upstream → CPU ${CPU_LOAD}` : 'off'}`,
  );
  try {
    if (opts.profile) await profile(group, machine, opts);
    else await compare(group, machine, opts);
  } finally {
    await group.stopAll(5000);
    clearTimeout(deadline);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
