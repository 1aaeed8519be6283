/**
 * The command line of the control plane: `aos control` (the server), `aos templates …` and
 * `aos audit … --control-plane URL` (clients of the people's API). src/cli.ts dispatches here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatLine } from '../audit/query.js';
import { packageRoot } from '../package-root.js';
import { approvalLine } from './approval-rules.js';
import type { ApprovalView } from './protocol.js';
import { createControlPlane } from './server.js';
import type { TemplateVersion } from './store.js';

export const DEFAULT_CONTROL_CONFIG = join(packageRoot, 'config', 'control.yaml');

type Values = Record<string, string | boolean | undefined>;

export async function runControl(configFile: string): Promise<number> {
  const cp = createControlPlane({ configFile });
  await cp.start();
  process.stderr.write(
    `AOS control plane: gateways ${cp.addresses.gateways}, people ${cp.addresses.people}/api (store ${cp.store().where}, config ${configFile})\n` +
      `  templates:  ./aos templates list --control-plane ${cp.addresses.people} (token: --token or AOS_CONTROL_TOKEN)\n`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    cp.log.info('shutting down', { signal });
    cp.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        cp.log.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return new Promise<number>(() => {});
}

/** A people's API client from `--control-plane URL` and `--token` (or AOS_CONTROL_TOKEN). */
function client(values: Values) {
  const base = typeof values['control-plane'] === 'string' ? values['control-plane'].replace(/\/+$/, '') : undefined;
  if (base === undefined) throw new Error('--control-plane URL is required (the people listener, e.g. http://127.0.0.1:7071)');
  const token = (typeof values.token === 'string' ? values.token : undefined) ?? process.env.AOS_CONTROL_TOKEN;
  if (!token) throw new Error('a token is required: --token TOKEN or AOS_CONTROL_TOKEN');
  const request = async (method: string, path: string, body?: unknown): Promise<Response> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).catch((err: Error) => {
      throw new Error(`cannot reach the control plane at ${base}: ${(err.cause as Error | undefined)?.message ?? err.message}`);
    });
    if (!res.ok) {
      const text = await res.text();
      let detail = text;
      try {
        const e = (JSON.parse(text) as { error: { code: string; message: string } }).error;
        detail = `${e.code}: ${e.message}`;
      } catch {}
      throw new Error(`control plane answered ${res.status} (${detail})`);
    }
    return res;
  };
  return {
    request,
    json: async <T>(method: string, path: string, body?: unknown) => (await (await request(method, path, body)).json()) as T,
  };
}

const reasonOf = (values: Values, what: string): string => {
  if (typeof values.reason !== 'string' || values.reason.trim() === '') throw new Error(`${what}: --reason TEXT is required (every change says why)`);
  return values.reason;
};

const num = (text: string | undefined, what: string): number => {
  const n = Number(text);
  if (text === undefined || !Number.isInteger(n) || n < 1) throw new Error(`${what}: expected a version number, got ${text === undefined ? 'nothing' : `"${text}"`}`);
  return n;
};

const seg = encodeURIComponent;

export async function templatesCommand(action: string, args: string[], values: Values): Promise<number> {
  const api = client(values);
  const name = args[0];
  if (action !== 'list' && name === undefined) throw new Error(`templates ${action}: a template name is required`);
  const describe = (v: TemplateVersion) =>
    `${name}@${v.version} ${v.status}: proposed by ${v.author} at ${v.createdAt} (${v.reason})${v.reviewer ? `; approved by ${v.reviewer} at ${v.approvedAt} (${v.reviewReason})` : ''}`;
  switch (action) {
    case 'list': {
      type Listed = { name: string; active: number | null; latest: number; versions: Omit<TemplateVersion, 'template' | 'yaml'>[] };
      const { templates } = await api.json<{ templates: Listed[] }>('GET', '/api/templates');
      for (const t of templates) {
        console.log(`${t.name.padEnd(24)} active ${t.active === null ? '-' : `v${t.active}`}  latest v${t.latest}`);
        for (const v of t.versions) console.log(`  v${String(v.version).padEnd(4)} ${v.status.padEnd(9)} ${v.author}${v.reviewer ? ` → ${v.reviewer}` : ''}  ${v.reason}`);
      }
      return 0;
    }
    case 'show': {
      let version = args[1] === undefined ? undefined : num(args[1], 'templates show');
      if (version === undefined) {
        const { templates } = await api.json<{ templates: { name: string; active: number | null; latest: number }[] }>('GET', '/api/templates');
        const t = templates.find((x) => x.name === name);
        if (t === undefined) throw new Error(`no template ${name}`);
        version = t.active ?? t.latest;
      }
      const v = await api.json<TemplateVersion>('GET', `/api/templates/${seg(name)}/versions/${version}`);
      process.stdout.write(`# ${describe(v)}\n${v.yaml}`);
      return 0;
    }
    case 'diff': {
      const q = new URLSearchParams();
      if (args[1] !== undefined) q.set('from', String(num(args[1], 'templates diff')));
      if (args[2] !== undefined) q.set('to', String(num(args[2], 'templates diff')));
      const { diff, from, to } = await api.json<{ diff: string; from: number; to: number }>('GET', `/api/templates/${seg(name)}/diff?${q}`);
      process.stdout.write(diff === '' ? `${name}@${from} and ${name}@${to} are the same\n` : diff);
      return 0;
    }
    case 'propose': {
      if (args[1] === undefined) throw new Error('templates propose: a YAML file with the template is required (aos templates propose NAME FILE --reason TEXT)');
      const template = readFileSync(args[1], 'utf8');
      const v = await api.json<TemplateVersion>('POST', `/api/templates/${seg(name)}/versions`, { template, reason: reasonOf(values, 'templates propose') });
      console.log(`${describe(v)}\nanother person approves it with: aos templates approve ${name} ${v.version} --reason TEXT`);
      return 0;
    }
    case 'approve': {
      const version = num(args[1], 'templates approve');
      const v = await api.json<TemplateVersion>('POST', `/api/templates/${seg(name)}/versions/${version}/approve`, { reason: reasonOf(values, 'templates approve') });
      console.log(describe(v));
      return 0;
    }
    case 'rollback': {
      const version = num(args[1], 'templates rollback');
      const v = await api.json<TemplateVersion>('POST', `/api/templates/${seg(name)}/rollback`, { version, reason: reasonOf(values, 'templates rollback') });
      console.log(`re-activated: ${describe(v)}`);
      return 0;
    }
  }
  throw new Error(`templates: unknown action "${action}" (list, show, diff, propose, approve, rollback)`);
}

/** `aos audit query|export|verify --control-plane URL`: the fleet's audit trail, through the people's API. */
export async function remoteAudit(action: string, values: Values): Promise<number> {
  const api = client(values);
  const q = new URLSearchParams();
  for (const k of ['agent', 'team', 'gateway', 'decision', 'since', 'until', 'trace', 'workflow', 'limit']) if (typeof values[k] === 'string') q.set(k, values[k] as string);
  if (action === 'verify') {
    type Check = { gateway: string; ok: boolean; checked: number; headSeq: number; headHash: string; broken: { seq: number; message: string } | null };
    const { ok, gateways } = await api.json<{ ok: boolean; gateways: Check[] }>('GET', `/api/audit/verify${q.has('gateway') ? `?gateway=${seg(q.get('gateway')!)}` : ''}`);
    for (const g of gateways) {
      console.log(
        g.ok
          ? `${g.gateway}: ok, ${g.checked} events; head seq ${g.headSeq} hash ${g.headHash}`
          : `${g.gateway}: BROKEN at seq ${g.broken!.seq}: ${g.broken!.message} (${g.checked} verified before it)`,
      );
    }
    if (gateways.length === 0) console.log('no gateways have shipped audit events');
    return ok ? 0 : 1;
  }
  if (action === 'export') {
    if ((values.format ?? 'jsonl') !== 'jsonl') throw new Error(`audit export: --format: expected jsonl, got "${values.format}"`);
    const res = await api.request('GET', `/api/audit/export?${q}`);
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
    return 0;
  }
  if (action === 'query') {
    const { events } = await api.json<{ events: (Parameters<typeof formatLine>[0] & { gateway: string })[] }>('GET', `/api/audit?${q}`);
    for (const e of events) console.log(values.json ? JSON.stringify(e) : `${e.gateway.padEnd(16)} ${formatLine(e)}`);
    return 0;
  }
  throw new Error(`audit ${action}: with --control-plane, one of query, export, verify`);
}

/** `aos agents list|suspend|resume --control-plane URL`: fleet-wide, every connected gateway applies it within a second. */
export async function fleetAgents(action: string, id: string | undefined, values: Values): Promise<number> {
  const api = client(values);
  if (action === 'list') {
    type Listed = { id: string; team: string; template: string; version: number | null; status: string; counters: { calls: number; errors: number; spendUsd: number } };
    const { agents } = await api.json<{ agents: Listed[] }>('GET', '/api/agents');
    for (const a of agents) {
      console.log(
        `${a.id.padEnd(28)} ${a.team.padEnd(14)} ${`${a.template}@${a.version ?? '-'}`.padEnd(20)} ${a.status.padEnd(10)} calls ${a.counters.calls}, errors ${a.counters.errors}, $${a.counters.spendUsd.toFixed(4)}`,
      );
    }
    return 0;
  }
  if (id === undefined) throw new Error(`agents ${action}: an agent id is required`);
  const reason = reasonOf(values, `agents ${action}`);
  await api.json('POST', `/api/agents/${seg(id)}/${action}`, { reason });
  console.log(`agent ${id} ${action === 'suspend' ? 'suspended' : 'resumed'} fleet-wide: every connected gateway applies it within a second`);
  return 0;
}

const SCOPES = ['agent', 'team', 'template', 'all'];

/** `aos kill agent|team|template ID | all`, `aos kill list`, `aos kill lift KILL_ID`: kill switches on the control plane. */
export async function killCommand(args: string[], values: Values): Promise<number> {
  const api = client(values);
  const [what, value] = args;
  if (what === 'list') {
    const { kills } = await api.json<{ kills: { id: string; scope: string; value: string | null; live: string; reason: string; actor: string; at: string }[] }>('GET', '/api/kills');
    for (const k of kills) console.log(`${k.id}  ${k.scope}${k.value === null ? '' : ` ${k.value}`}  (${k.live})  by ${k.actor} at ${k.at}: ${k.reason}`);
    if (kills.length === 0) console.log('no kill switch is on');
    return 0;
  }
  if (what === 'lift') {
    if (value === undefined) throw new Error('kill lift: the kill switch id is required (aos kill list shows them)');
    await api.json('DELETE', `/api/kills/${seg(value)}`, { reason: reasonOf(values, 'kill lift') });
    console.log(`kill switch ${value} lifted fleet-wide`);
    return 0;
  }
  if (what === undefined || !SCOPES.includes(what)) throw new Error(`kill: expected one of ${SCOPES.join(', ')}, list or lift, got ${what === undefined ? 'nothing' : `"${what}"`}`);
  if (what !== 'all' && value === undefined) throw new Error(`kill ${what}: the ${what} is required`);
  const body = { scope: what, value: what === 'all' ? null : value, live: values.finish === true ? 'finish' : 'cut', reason: reasonOf(values, 'kill') };
  const { kill } = await api.json<{ kill: { id: string } }>('POST', '/api/kills', body);
  console.log(
    `kill switch ${kill.id} on: new calls of ${what === 'all' ? 'every agent' : `${what} ${value}`} are refused${body.live === 'cut' ? ' and calls in flight are cut' : ''} on every connected gateway`,
  );
  return 0;
}

/** `aos gateways list --control-plane URL`: the fleet view. */
export async function gatewaysCommand(values: Values): Promise<number> {
  type Listed = { id: string; version: string; labels: Record<string, string>; snapshotVersion: number; snapshotError: string | null; lastSeen: string; connected: boolean; revokedAt: string | null };
  const { fleetVersion, gateways } = await client(values).json<{ fleetVersion: number; gateways: Listed[] }>('GET', '/api/gateways');
  console.log(`fleet version ${fleetVersion}`);
  for (const g of gateways) {
    const state = g.revokedAt !== null ? 'revoked' : g.connected ? 'connected' : 'disconnected';
    const sync = g.snapshotVersion === fleetVersion ? 'in sync' : `at v${g.snapshotVersion}`;
    console.log(`${g.id.padEnd(38)} ${state.padEnd(12)} ${sync}${g.snapshotError === null ? '' : ` (refused: ${g.snapshotError})`}  v${g.version}  last seen ${g.lastSeen}`);
  }
  return 0;
}

/**
 * `aos approvals list|show ID|approve ID|deny ID`: against the control plane's people's API with
 * `--control-plane URL` (role viewer to list, approver to decide), else against the local gateway's
 * admin API through `admin` (src/cli.ts). Every decision needs `--reason`.
 */
export async function approvalsCommand(
  action: string,
  id: string | undefined,
  values: Values,
  admin: ((method: string, path: string, body?: unknown) => Promise<Record<string, unknown>>) | null,
): Promise<number> {
  const remote = admin === null ? client(values) : null;
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> =>
    remote !== null ? remote.json<T>(method, `/api${path}`, body) : ((await admin!(method, `/admin${path}`, body)) as T);
  if (action === 'list') {
    const status = typeof values.status === 'string' ? values.status : undefined;
    const { approvals } = await call<{ approvals: ApprovalView[] }>('GET', `/approvals${status === undefined ? '' : `?status=${seg(status)}`}`);
    for (const a of approvals) console.log(values.json ? JSON.stringify(a) : approvalLine(a));
    if (approvals.length === 0 && !values.json) console.log(status === undefined ? 'no approvals' : `no ${status} approvals`);
    return 0;
  }
  if (action !== 'approve' && action !== 'deny') throw new Error(`approvals: unknown action "${action}" (list, approve, deny)`);
  if (id === undefined) throw new Error(`approvals ${action}: the approval id is required (aos approvals list shows them)`);
  const { approval } = await call<{ approval: ApprovalView }>('POST', `/approvals/${seg(id)}/${action}`, { reason: reasonOf(values, `approvals ${action}`) });
  console.log(approvalLine(approval));
  return 0;
}
