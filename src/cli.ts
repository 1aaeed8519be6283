// First: V8 settings that must precede every other module's allocations.
import './runtime-flags.js';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { auditFilter, formatLine } from './audit/query.js';
import { type AuditStore, toRecord } from './audit/store.js';
import { verifyChain } from './audit/verify.js';
import { ConfigError, loadConfig } from './config/load.js';
import { GATEWAY_AUDIENCE } from './control/protocol.js';
import { AdminUnreachableError } from './errors.js';
import { budgetRulesOf, openAuditReader, openBudgetStore, openLocalStore } from './gateway/services.js';
import { loadSnapshot } from './gateway/snapshot.js';
import { readDelegationKeys } from './identity/delegation-keys.js';
import { loadLocalSigner } from './identity/local-key.js';
import { createLogger } from './log.js';
import { createGateway } from './main.js';
import { createBudgetAdmin } from './metering/admin.js';
import { packageRoot } from './package-root.js';

const DEFAULT_CONFIG = join(packageRoot, 'config', 'aos.yaml');

const HELP = `aos — the AOS gateway: identity, policy, budgets and audit for every call an AI agent makes

Usage:
  aos start [--config FILE]     run the gateway (default config: config/aos.yaml)
  aos demo                      run the gateway in front of a local sample upstream and make a few agent calls
  aos config check [FILE]       validate a config file and print what it routes
  aos token mint --agent ID [--ttl 1h] [--admin] [--gateway ID]
                                print a token signed by the gateway's local development key
                                (--gateway: the gateway's credential for a control plane on this machine)
  aos agents list               agents of the registry, with their status
  aos agents suspend ID [--reason TEXT]
  aos agents resume ID          suspension takes effect on a running gateway within a second
  aos policy status             the running gateway's policy bundle: revision, source, load time, last error
  aos policy reload             ask the running gateway to reload its policy bundle now
  aos audit verify              check the audit trail's hash chain; names the first broken event
  aos audit tail [-f] [--limit N] [--json]
                                the newest audit events (-f: keep printing new ones)
  aos audit query [--agent ID] [--team T] [--decision allow|deny|none] [--since T] [--until T]
                  [--trace ID] [--workflow ID] [--limit N] [--json]
  aos audit export [--since T] [--until T] [filters as query] --format jsonl
                                every matching event with its hashes, one JSON object a line
                                (T: ISO 8601, epoch ms, or a duration back from now: 15m, 2h, 7d)
  aos budget show [SCOPE]       budgets of the running gateway: limit, spent, reserved, remaining (SCOPE: org, team:NAME, agent:ID)
  aos budget set SCOPE KEY=VALUE...
                                override limits, persisted (KEY as in agents.yaml: daily_usd, monthly_usd, hourly_usd,
                                requests_per_minute, tokens_per_minute, tool_calls_daily, …; VALUE none removes the override)
  aos budget reset SCOPE [--window hourly|daily|monthly]
                                set the spend of the current period back to zero
  aos control [--config FILE]   run the fleet control plane (default config: config/control.yaml; docs/control-plane.md)
  aos inject [--config FILE]    run the Kubernetes sidecar injector, a mutating admission webhook (default config: config/inject.yaml)
  aos templates list|show NAME [V]|diff NAME [FROM [TO]]|propose NAME FILE|approve NAME V|rollback NAME V
                [--reason TEXT] --control-plane URL [--token TOKEN]
                                template versions on the control plane: a change is a draft another person approves
  aos audit query|export|verify --control-plane URL [--gateway ID] [filters as above]
                                the fleet's audit trail, collected by the control plane
  aos agents list|suspend ID|resume ID --control-plane URL [--reason TEXT]
                                fleet-wide: every connected gateway applies it within a second
  aos kill agent ID|team NAME|template NAME|all --reason TEXT [--finish] --control-plane URL
                                a kill switch: new calls refused, calls in flight cut (--finish: let them end)
  aos kill list|lift KILL_ID --control-plane URL
  aos gateways list --control-plane URL
                                the fleet: each gateway's state, snapshot version, last seen
  aos approvals list [--status pending|approved|denied|expired|used] [--json] [--control-plane URL]
  aos approvals approve|deny ID --reason TEXT [--control-plane URL]
                                calls waiting for a person (docs/approvals.md): the running gateway's queue
                                (its admin API), or the fleet's with --control-plane (role approver)
  aos --help | --version

Environment:
  AOS_CONFIG                    config file when --config is not given
  OPENAI_API_KEY, ANTHROPIC_API_KEY   provider credentials the default config injects upstream
  AOS_INJECT_CONFIG             the injector's config file when --config is not given
  AOS_CONTROL_TOKEN             the control plane's static admin token (server), or the token the client commands send
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      agent: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      admin: { type: 'boolean', default: false },
      reason: { type: 'string' },
      team: { type: 'string' },
      decision: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      trace: { type: 'string' },
      workflow: { type: 'string' },
      limit: { type: 'string' },
      format: { type: 'string' },
      json: { type: 'boolean', default: false },
      follow: { type: 'boolean', short: 'f', default: false },
      window: { type: 'string' },
      finish: { type: 'boolean', default: false },
      'control-plane': { type: 'string' },
      token: { type: 'string' },
      gateway: { type: 'string' },
      status: { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.version) {
    const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
    console.log(pkg.version);
    return 0;
  }
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  const configFile = values.config ?? process.env.AOS_CONFIG ?? DEFAULT_CONFIG;
  switch (command) {
    case 'start':
      return start(configFile);
    case 'demo': {
      const { runDemo } = await import('../examples/demo.js');
      return runDemo();
    }
    case 'config':
      if (rest[0] !== 'check') break;
      return checkConfig(rest[1] ?? configFile);
    case 'token':
      if (rest[0] !== 'mint') break;
      return mintToken(configFile, values);
    case 'policy':
      if (rest[0] === 'status' || rest[0] === 'reload') return policyCommand(configFile, rest[0]);
      break;
    case 'control': {
      const { DEFAULT_CONTROL_CONFIG, runControl } = await import('./control/cli.js');
      return runControl(values.config ?? process.env.AOS_CONTROL_CONFIG ?? DEFAULT_CONTROL_CONFIG);
    }
    case 'inject': {
      const { DEFAULT_INJECT_CONFIG, runInject } = await import('./k8s/cli.js');
      return runInject(values.config ?? process.env.AOS_INJECT_CONFIG ?? DEFAULT_INJECT_CONFIG);
    }
    case 'templates':
      if (rest[0] !== undefined) return (await import('./control/cli.js')).templatesCommand(rest[0], rest.slice(1), values);
      break;
    case 'audit':
      if (values['control-plane'] !== undefined && rest[0] !== undefined) return (await import('./control/cli.js')).remoteAudit(rest[0], values);
      if (rest[0] === 'verify' || rest[0] === 'tail' || rest[0] === 'query' || rest[0] === 'export') return audit(configFile, rest[0], values);
      break;
    case 'budget':
      if (rest[0] === 'show' || rest[0] === 'set' || rest[0] === 'reset') return budgetCommand(configFile, rest[0], rest.slice(1), values.window);
      break;
    case 'agents':
      if (values['control-plane'] !== undefined && (rest[0] === 'list' || rest[0] === 'suspend' || rest[0] === 'resume'))
        return (await import('./control/cli.js')).fleetAgents(rest[0], rest[1], values);
      if (rest[0] === 'list' || rest[0] === 'suspend' || rest[0] === 'resume') return agents(configFile, rest[0], rest[1], values.reason);
      break;
    case 'kill':
      return (await import('./control/cli.js')).killCommand(rest, values);
    case 'gateways':
      if (rest[0] === 'list') return (await import('./control/cli.js')).gatewaysCommand(values);
      break;
    case 'approvals':
      if (rest[0] === undefined) break;
      return (await import('./control/cli.js')).approvalsCommand(
        rest[0],
        rest[1],
        values,
        values['control-plane'] !== undefined ? null : (method, path, body) => adminRequest(configFile, method, path, body),
      );
  }
  process.stderr.write(`aos: unknown command "${[command, ...rest].join(' ')}"\n\n${HELP}`);
  return 2;
}

async function start(configFile: string): Promise<number> {
  const gateway = createGateway({ configFile });
  await gateway.start();
  const { proxy, admin } = gateway.addresses;
  process.stderr.write(
    `AOS gateway listening on ${proxy} (admin ${admin}, config ${configFile})\n` +
      `  OpenAI SDK agents:    OPENAI_BASE_URL=${proxy}/v1\n` +
      `  Anthropic SDK agents: ANTHROPIC_BASE_URL=${proxy}/anthropic\n` +
      (gateway.current().config.identity.mode === 'required'
        ? `  Agent identity is on: get a first token with \`./aos token mint --agent demo-agent\` and use it as the SDK's API key\n`
        : '  Agent identity is OFF: calls are anonymous\n'),
  );
  process.on('SIGHUP', () => void gateway.reload());
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`second ${signal}: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    gateway.log.info('shutting down: draining in-flight requests', { signal });
    gateway.stop().then(
      () => process.exit(0),
      (err) => {
        gateway.log.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return new Promise<number>(() => {});
}

/** `1h`, `30m`, `7d`, `90s` or plain seconds. */
function parseTtl(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (m === null || Number(m[1]) === 0) throw new Error(`--ttl: expected a duration like 90s, 30m, 1h or 7d, got "${text}"`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

async function mintToken(configFile: string, values: { agent?: string; ttl?: string; admin?: boolean; gateway?: string }): Promise<number> {
  const snapshot = loadSnapshot(configFile);
  const { config } = snapshot;
  const identity = config.identity;
  if (!identity.localIssuer.enabled) throw new Error('identity.localIssuer is disabled in the config: tokens come from your identity provider');
  if (values.agent === undefined && !values.admin && values.gateway === undefined) throw new Error('token mint: --agent ID is required (or --admin, or --gateway ID)');
  const ttlSec = parseTtl(values.ttl ?? '1h');
  const signer = await loadLocalSigner(resolve(config.dataDir), identity.localIssuer.issuer);
  if (values.gateway !== undefined) {
    // A gateway's credential for a control plane on this machine (its localKey trusts this key).
    process.stdout.write(`${await signer.mint({ subject: values.gateway, audience: GATEWAY_AUDIENCE, ttlSec })}\n`);
    return 0;
  }
  const subject = values.agent ?? 'admin';
  let roles: string[] | undefined;
  if (values.admin) {
    roles = [identity.adminRole];
  } else {
    const agent = snapshot.registry?.agents.get(subject);
    if (agent === undefined) process.stderr.write(`aos: note: agent "${subject}" is not in ${snapshot.registry?.file ?? 'the agent registry'}\n`);
    roles = agent ? [...agent.roles] : undefined;
  }
  const token = await signer.mint({ subject, audience: values.admin ? identity.adminAudience : identity.audience, roles, ttlSec });
  process.stdout.write(`${token}\n`);
  return 0;
}

async function agents(configFile: string, action: 'list' | 'suspend' | 'resume', id: string | undefined, reason: string | undefined): Promise<number> {
  const snapshot = loadSnapshot(configFile);
  const { db, suspensions: store } = openLocalStore(snapshot, { pollMs: 0 });
  try {
    if (action === 'list') {
      const registry = snapshot.registry ?? { agents: new Map<string, never>() };
      const suspended = new Map(store.list().map((s) => [s.agentId, s]));
      const ids = new Set([...registry.agents.keys(), ...suspended.keys()]);
      for (const agentId of [...ids].sort()) {
        const a = registry.agents.get(agentId);
        const s = suspended.get(agentId);
        console.log(
          `${agentId.padEnd(28)} ${(a?.team ?? '-').padEnd(14)} ${a ? `${a.template}@v${a.templateVersion}` : '(not registered)'}  ${s ? `SUSPENDED since ${s.at} by ${s.actor}: ${s.reason}` : 'active'}`,
        );
      }
      return 0;
    }
    if (id === undefined) throw new Error(`agents ${action}: an agent id is required`);
    const actor = `cli:${userInfo().username}`;
    if (action === 'suspend') {
      store.suspend(id, reason ?? 'suspended from the command line', actor);
      console.log(`agent ${id} suspended; a running gateway refuses its next request (403 aos_agent_suspended)`);
    } else {
      console.log(store.resume(id) ? `agent ${id} resumed` : `agent ${id} was not suspended`);
    }
    return 0;
  } finally {
    store.close();
    db.close();
  }
}

/** Asks the running gateway's admin API, authenticated with an admin token from the local key. */
async function policyCommand(configFile: string, action: 'status' | 'reload'): Promise<number> {
  const snapshot = loadSnapshot(configFile);
  const { config } = snapshot;
  const identity = config.identity;
  if (!identity.localIssuer.enabled) throw new Error('policy commands use the local admin key: identity.localIssuer is disabled; call GET /admin/policy with an admin token');
  const signer = await loadLocalSigner(resolve(config.dataDir), identity.localIssuer.issuer);
  const token = await signer.mint({ subject: `cli:${userInfo().username}`, audience: identity.adminAudience, roles: [identity.adminRole], ttlSec: 60 });
  const host = config.admin.host === '0.0.0.0' || config.admin.host === '::' ? '127.0.0.1' : config.admin.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${config.admin.port}/admin/policy${action === 'reload' ? '/reload' : ''}`;
  const res = await fetch(url, { method: action === 'reload' ? 'POST' : 'GET', headers: { authorization: `Bearer ${token}` } }).catch((err: Error) => {
    throw new AdminUnreachableError(url, { cause: err });
  });
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`admin API answered ${res.status}: ${JSON.stringify(body)}`);
  for (const [k, v] of Object.entries(body)) console.log(`${k.padEnd(12)} ${v ?? '-'}`);
  return body.mode === 'enforce' && !body.revision ? 1 : 0;
}

function openAudit(configFile: string): AuditStore {
  const snapshot = loadSnapshot(configFile);
  const { config } = snapshot;
  if (config.audit.mode === 'off') process.stderr.write('aos: note: audit.mode is off in the config\n');
  try {
    return openAuditReader(snapshot);
  } catch (err) {
    throw new Error(
      `cannot open the audit trail ${join(resolve(config.dataDir), config.audit.file)}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (has the gateway run with audit on?)' : (err as Error).message}`,
    );
  }
}

async function audit(configFile: string, action: 'verify' | 'tail' | 'query' | 'export', values: Record<string, string | boolean | undefined>): Promise<number> {
  const store = openAudit(configFile);
  // `aos audit export | head`: a closed pipe ends the command quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  try {
    if (action === 'verify') {
      const r = verifyChain(store);
      if (r.ok) {
        console.log(`ok: ${r.checked} events verified; chain head seq ${r.headSeq} hash ${r.headHash}`);
        return 0;
      }
      console.log(`BROKEN (${r.broken!.kind}): ${r.broken!.message}`);
      console.log(`  ${r.checked} events verified before it; last good event seq ${r.headSeq} hash ${r.headHash}`);
      return 1;
    }
    const filter = auditFilter({
      agent: str('agent'),
      team: str('team'),
      decision: str('decision'),
      since: str('since'),
      until: str('until'),
      trace: str('trace'),
      workflow: str('workflow'),
      limit: str('limit'),
    });
    const print = (line: string) => new Promise<void>((r) => (process.stdout.write(`${line}\n`) ? r() : process.stdout.once('drain', r)));
    if (action === 'export') {
      if ((str('format') ?? 'jsonl') !== 'jsonl') throw new Error(`audit export: --format: expected jsonl, got "${str('format')}"`);
      let n = 0;
      for (const row of store.rows(filter)) {
        await print(JSON.stringify(toRecord(row)));
        n += 1;
      }
      process.stderr.write(`aos: exported ${n} events\n`);
      return 0;
    }
    const show = (r: ReturnType<typeof toRecord>) => print(values.json ? JSON.stringify(r) : formatLine(r));
    if (action === 'query') {
      for (const r of store.query({ ...filter, limit: filter.limit ?? 1000 })) await show(r);
      return 0;
    }
    // tail: the newest N, oldest first; -f keeps polling for new ones.
    const newest = store.query({ ...filter, limit: filter.limit ?? 20, newestFirst: true }).reverse();
    for (const r of newest) await show(r);
    if (!values.follow) return 0;
    let after = newest.at(-1)?.seq ?? store.chain().head_seq;
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      for (const r of store.query({ ...filter, limit: 1000, afterSeq: after })) {
        await show(r);
        after = r.seq;
      }
    }
  } finally {
    if (!values.follow) store.close();
  }
}

/** A request to the running gateway's admin API, with an admin token minted from the local key. */
async function adminRequest(configFile: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const snapshot = loadSnapshot(configFile);
  const { config } = snapshot;
  const identity = config.identity;
  if (!identity.localIssuer.enabled) throw new Error(`this command uses the local admin key: identity.localIssuer is disabled; call ${method} ${path} with an admin token`);
  const signer = await loadLocalSigner(resolve(config.dataDir), identity.localIssuer.issuer);
  const token = await signer.mint({ subject: `cli:${userInfo().username}`, audience: identity.adminAudience, roles: [identity.adminRole], ttlSec: 60 });
  const host = config.admin.host === '0.0.0.0' || config.admin.host === '::' ? '127.0.0.1' : config.admin.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${config.admin.port}${path}`;
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((err: Error) => {
    throw new AdminUnreachableError(url, { cause: err });
  });
  const out = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`admin API answered ${res.status}: ${(out.error as { message?: string } | undefined)?.message ?? JSON.stringify(out)}`);
  return out;
}

/** Budgets through the running gateway's admin API; with no gateway running, in its store directly. */
async function budgetCommand(configFile: string, action: 'show' | 'set' | 'reset', args: string[], window: string | undefined): Promise<number> {
  const scope = args[0];
  const values: Record<string, number | null> = {};
  if (action !== 'show') {
    if (scope === undefined) throw new Error(`budget ${action}: a scope is required (org, team:NAME or agent:ID)`);
    if (action === 'set') {
      if (args.length < 2) throw new Error('budget set: give one or more KEY=VALUE, e.g. daily_usd=50');
      for (const a of args.slice(1)) {
        const m = /^([a-z_]+)=(.+)$/.exec(a);
        if (m === null) throw new Error(`budget set: expected KEY=VALUE, got "${a}"`);
        const v = m[2] === 'none' ? null : Number(m[2]);
        if (v !== null && !Number.isFinite(v)) throw new Error(`budget set: ${m[1]}: expected a number or none, got "${m[2]}"`);
        values[m[1]] = v;
      }
    }
  }
  const path = `/admin/budgets${scope === undefined ? '' : `/${encodeURIComponent(scope)}`}`;
  let out: Record<string, unknown>;
  try {
    out =
      action === 'show'
        ? await adminRequest(configFile, 'GET', path)
        : action === 'set'
          ? await adminRequest(configFile, 'PUT', path, values)
          : await adminRequest(configFile, 'POST', `${path}/reset`, window === undefined ? {} : { window });
  } catch (err) {
    if (!(err instanceof AdminUnreachableError)) throw err;
    out = await budgetOffline(configFile, action, scope, values, window);
    process.stderr.write(`aos: no gateway answers at the configured admin address: ${action === 'show' ? 'read' : 'changed'} the budget store directly\n`);
  }
  if (out.mode === 'off') {
    console.log('metering is off on this gateway (metering.mode: off)');
    return 0;
  }
  const rows = out.budgets as { scope: string; key: string; period: string; limit: number; override: number | null; spent: number; reserved: number; remaining: number; kind: string }[];
  const fmt = (kind: string, v: number) => (v < 0 ? 'none' : kind === 'usd' ? `$${v.toFixed(4)}` : String(v));
  console.log(`store ${out.store}${out.healthy ? '' : ' (UNREACHABLE)'}`);
  console.log(`${'scope'.padEnd(28)} ${'budget'.padEnd(22)} ${'period'.padEnd(14)} ${'limit'.padStart(12)} ${'spent'.padStart(12)} ${'reserved'.padStart(12)} ${'remaining'.padStart(12)}`);
  for (const r of rows) {
    console.log(
      `${r.scope.padEnd(28)} ${(r.key + (r.override === null ? '' : ' (set)')).padEnd(22)} ${r.period.padEnd(14)} ${fmt(r.kind, r.limit).padStart(12)} ${fmt(r.kind, r.spent).padStart(12)} ${fmt(r.kind, r.reserved).padStart(12)} ${fmt(r.kind, r.remaining).padStart(12)}`,
    );
  }
  if (rows.length === 0) console.log(scope === undefined ? '(no budgets configured)' : `(no budgets for ${scope})`);
  return 0;
}

/** The budget store opened by the CLI itself (no gateway running): the same operations as the admin API. */
async function budgetOffline(
  configFile: string,
  action: 'show' | 'set' | 'reset',
  scope: string | undefined,
  values: Record<string, number | null>,
  window: string | undefined,
): Promise<Record<string, unknown>> {
  const snapshot = loadSnapshot(configFile);
  const m = snapshot.config.metering;
  if (m.mode === 'off') return { mode: 'off' };
  const store = await openBudgetStore(snapshot, createLogger('silent'));
  try {
    if (!store.healthy()) throw new Error(`cannot reach the budget store (${m.store})`);
    const rules = budgetRulesOf(snapshot, await store.limits());
    const admin = createBudgetAdmin(
      store,
      () => rules,
      () => {},
    );
    if (action === 'set') await admin.set(scope!, values);
    const reset = action === 'reset' ? await admin.reset(scope!, window) : undefined;
    return { mode: 'enforce', ...(reset === undefined ? {} : { reset }), ...(await admin.show(scope)) };
  } finally {
    await store.close();
  }
}

function checkConfig(file: string): number {
  const { config } = loadConfig(file);
  readDelegationKeys(config.identity, file);
  console.log(`${file}: ok`);
  for (const route of config.routes) {
    const p = config.providers[route.provider];
    console.log(`  ${route.prefix.padEnd(16)} → ${route.provider} (${p.dialect}, ${p.baseUrl})${route.passthrough ? ' + passthrough' : ''}`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`aos: invalid configuration\n${err.message}\n`);
    else process.stderr.write(`aos: ${process.env.AOS_DEBUG ? ((err as Error).stack ?? String(err)) : ((err as Error).message ?? String(err))}\n`);
    process.exitCode = 1;
  },
);
