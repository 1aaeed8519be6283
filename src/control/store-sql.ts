/**
 * The ControlStore over a SqlDriver: the statements both stores run. People's changes go through
 * `mutate`, which bumps the fleet version, records the action under that version and announces it,
 * all in the transaction of the change itself. Templates and audit have files of their own
 * (store-templates.ts, store-audit.ts); this one holds the rest.
 */
import { randomUUID } from 'node:crypto';
import type { AgentRegistryFile } from '../config/agents-schema.js';
import { effectiveStatus, planAcquire } from './approval-rules.js';
import { ControlHttpError, conflict, notFound } from './errors.js';
import type { FleetSuspension, KillSwitch } from './protocol.js';
import type { Mutate, Row, Sql, SqlDriver } from './sql.js';
import type { ActionInput, ActionRecord, AgentCounters, AgentRecord, ApprovalRecord, ControlStore, FleetState, RegistryBase } from './store.js';
import { createAuditStatements } from './store-audit.js';
import { createGatewayStatements } from './store-gateways.js';
import { createSessionStatements } from './store-sessions.js';
import { createTemplateStatements, seedTemplates } from './store-templates.js';

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function agentOf(r: Row): AgentRecord {
  return {
    id: String(r.id),
    team: String(r.team),
    template: String(r.template),
    pinned: r.pinned === null ? null : Number(r.pinned),
    owner: str(r.owner),
    roles: JSON.parse(String(r.roles)) as string[],
    labels: JSON.parse(String(r.labels)) as Record<string, string>,
    updatedAt: String(r.updated_at),
  };
}

const killOf = (r: Row): KillSwitch => ({
  id: String(r.id),
  scope: r.scope as KillSwitch['scope'],
  value: str(r.value),
  live: r.live as KillSwitch['live'],
  reason: String(r.reason),
  actor: String(r.actor),
  at: String(r.at),
});

const suspensionOf = (r: Row): FleetSuspension => ({ agentId: String(r.agent_id), reason: String(r.reason), actor: String(r.actor), at: String(r.at) });

const approvalOf = (r: Row): ApprovalRecord => ({
  id: String(r.id),
  agentId: str(r.agent_id),
  requestHash: str(r.request_hash),
  request: JSON.parse(String(r.request)),
  status: r.status as ApprovalRecord['status'],
  createdAt: String(r.created_at),
  expiresAt: r.expires_ms === null || r.expires_ms === undefined ? null : new Date(Number(r.expires_ms)).toISOString(),
  decidedBy: str(r.decided_by),
  decidedAt: str(r.decided_at),
  reason: str(r.reason),
  usedAt: str(r.used_at),
  gateway: str(r.gateway),
});

/** Approvals past their deadline are marked expired (before any read that shows or plans with them). */
const expireApprovals = (sql: Sql, nowMs: number) => sql.run(`UPDATE approvals SET status = 'expired' WHERE status IN ('pending', 'approved') AND expires_ms IS NOT NULL AND expires_ms <= ?`, [nowMs]);

const actionOf = (r: Row): ActionRecord => ({
  version: Number(r.version),
  at: String(r.at),
  actor: String(r.actor),
  action: String(r.action),
  target: String(r.target),
  reason: String(r.reason),
  detail: JSON.parse(String(r.detail)) as Record<string, unknown>,
});

async function base(sql: Sql): Promise<RegistryBase | null> {
  const [row] = await sql.all<{ value: string }>(`SELECT value FROM settings WHERE k = 'registry'`);
  return row === undefined ? null : (JSON.parse(row.value) as RegistryBase);
}

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createSqlStore(driver: SqlDriver): ControlStore {
  const now = () => new Date().toISOString();
  const changeListeners: ((action: ActionInput) => void)[] = [];

  /** One person's change: the change, the version bump and the action, in one transaction. */
  const mutate: Mutate = async (action, fn) => {
    const result = await driver.tx(async (sql) => {
      const [{ version }] = await sql.all<{ version: number }>('UPDATE fleet SET version = version + 1 WHERE k = 1 RETURNING version');
      const at = now();
      const out = await fn(sql, Number(version), at);
      await sql.run('INSERT INTO actions (version, at, actor, action, target, reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?)', [
        version,
        at,
        action.actor,
        action.action,
        action.target,
        action.reason,
        JSON.stringify(action.detail ?? {}),
      ]);
      await driver.announce(sql, Number(version));
      return out;
    });
    for (const l of changeListeners) l(action);
    return result;
  };

  const templates = createTemplateStatements(driver, mutate);
  const gateways = createGatewayStatements(driver, mutate);
  const audit = createAuditStatements(driver);
  const sessions = createSessionStatements(driver);

  const readAgents = async (sql: Sql) => (await sql.all('SELECT * FROM agents ORDER BY id')).map(agentOf);
  const readOverrides = async (sql: Sql) =>
    Object.fromEntries((await sql.all<{ limit_id: string; value: number }>('SELECT limit_id, value FROM budget_overrides ORDER BY limit_id')).map((r) => [r.limit_id, Number(r.value)]));

  return {
    dialect: driver.dialect,
    where: driver.where,
    async version() {
      const [row] = await driver.all<{ version: number }>('SELECT version FROM fleet WHERE k = 1');
      return Number(row.version);
    },
    state: () =>
      driver.tx(
        async (sql): Promise<FleetState> => {
          const [{ version }] = await sql.all<{ version: number }>('SELECT version FROM fleet WHERE k = 1');
          const agents = await readAgents(sql);
          const active = await templates.activeIn(sql);
          return {
            version: Number(version),
            base: await base(sql),
            templates: await templates.servedIn(sql, active, agents),
            active,
            agents,
            suspensions: (await sql.all('SELECT * FROM suspensions ORDER BY agent_id')).map(suspensionOf),
            kills: (await sql.all('SELECT * FROM kills ORDER BY at, id')).map(killOf),
            overrides: await readOverrides(sql),
          };
        },
        { consistent: true },
      ),
    onAnnounce: (l) => driver.onAnnounce(l),
    onChange: (l) => {
      changeListeners.push(l);
    },

    async seed(registry: AgentRegistryFile, action) {
      const count = async (sql: Sql) => Number((await sql.all<{ n: number }>('SELECT COUNT(*) AS n FROM template_versions'))[0].n);
      if ((await count(driver)) > 0) return false;
      try {
        await mutate(action, async (tx, _version, at) => {
          // Another replica may have seeded since: the version bump serialized us behind it.
          if ((await count(tx)) > 0) throw conflict('the store was seeded meanwhile');
          const { claims, unknownAgents, budgets } = registry;
          await tx.run(`INSERT INTO settings (k, value) VALUES ('registry', ?)`, [JSON.stringify({ claims, unknownAgents, budgets })]);
          await seedTemplates(tx, registry, action.actor, at);
          for (const a of registry.agents) {
            await tx.run('INSERT INTO agents (id, team, template, pinned, owner, roles, labels, updated_at) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)', [
              a.id,
              a.team,
              a.template,
              a.owner ?? null,
              JSON.stringify(a.roles),
              JSON.stringify(a.labels),
              at,
            ]);
          }
        });
        return true;
      } catch (err) {
        if (err instanceof ControlHttpError && err.code === 'control_conflict') return false;
        throw err;
      }
    },

    putAgent: (agent, action) =>
      mutate(action, async (sql, _v, at) => {
        await templates.checkServable(sql, agent.template, agent.pinned);
        await sql.run(
          `INSERT INTO agents (id, team, template, pinned, owner, roles, labels, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET team = excluded.team, template = excluded.template, pinned = excluded.pinned,
             owner = excluded.owner, roles = excluded.roles, labels = excluded.labels, updated_at = excluded.updated_at`,
          [agent.id, agent.team, agent.template, agent.pinned, agent.owner, JSON.stringify(agent.roles), JSON.stringify(agent.labels), at],
        );
        return { ...agent, updatedAt: at };
      }),

    suspend: (agentId, action) =>
      mutate(action, async (sql, _v, at) => {
        await sql.run(
          `INSERT INTO suspensions (agent_id, reason, actor, at) VALUES (?, ?, ?, ?)
           ON CONFLICT (agent_id) DO UPDATE SET reason = excluded.reason, actor = excluded.actor, at = excluded.at`,
          [agentId, action.reason, action.actor, at],
        );
        return { agentId, reason: action.reason, actor: action.actor, at };
      }),
    resume: (agentId, action) => mutate(action, async (sql) => (await sql.run('DELETE FROM suspensions WHERE agent_id = ?', [agentId])) > 0),

    addKill: (kill, action) =>
      mutate(action, async (sql, _v, at) => {
        const out: KillSwitch = { id: randomUUID(), ...kill, actor: action.actor, at };
        await sql.run('INSERT INTO kills (id, scope, value, live, reason, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?)', [out.id, out.scope, out.value, out.live, out.reason, out.actor, at]);
        return out;
      }),
    liftKill: (id, action) =>
      mutate(action, async (sql) => {
        const [row] = await sql.all(`SELECT * FROM kills WHERE id = ?${driver.lockClause}`, [id]);
        if (row === undefined) throw notFound(`no kill switch ${id}`);
        await sql.run('DELETE FROM kills WHERE id = ?', [id]);
        return killOf(row);
      }),

    setBudget: (limitId, value, action) =>
      mutate(action, async (sql) => {
        if (value === null) await sql.run('DELETE FROM budget_overrides WHERE limit_id = ?', [limitId]);
        else await sql.run('INSERT INTO budget_overrides (limit_id, value) VALUES (?, ?) ON CONFLICT (limit_id) DO UPDATE SET value = excluded.value', [limitId, value]);
      }),

    propose: templates.propose,
    approve: templates.approve,
    rollback: templates.rollback,
    templates: () => templates.all(driver),
    templateVersion: (name, version) => templates.one(driver, name, version),
    activeVersions: () => templates.activeIn(driver),

    decideApproval: (id, decision, action) =>
      mutate(action, async (sql, _v, at) => {
        const [row] = await sql.all(`SELECT * FROM approvals WHERE id = ?${driver.lockClause}`, [id]);
        if (row === undefined) throw notFound(`no approval ${id}`);
        const status = effectiveStatus(approvalOf(row), Date.parse(at));
        if (status !== 'pending') throw conflict(`approval ${id} was already ${status}`);
        // Approved: usable for its ttl from now (one bound to no call: without a deadline).
        const ttl = row.ttl_seconds === null || row.ttl_seconds === undefined ? null : Number(row.ttl_seconds);
        const expires = decision === 'approved' ? (ttl === null ? null : Date.parse(at) + ttl * 1000) : (row.expires_ms ?? null);
        await sql.run('UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, reason = ?, expires_ms = ? WHERE id = ?', [decision, action.actor, at, action.reason, expires, id]);
        const [after] = await sql.all('SELECT * FROM approvals WHERE id = ?', [id]);
        return approvalOf(after);
      }),

    async requestApproval({ agentId, request }) {
      const out: ApprovalRecord = {
        id: randomUUID(),
        agentId,
        requestHash: null,
        request,
        status: 'pending',
        createdAt: now(),
        expiresAt: null,
        decidedBy: null,
        decidedAt: null,
        reason: null,
        usedAt: null,
        gateway: null,
      };
      await driver.run(`INSERT INTO approvals (id, agent_id, request, status, created_at) VALUES (?, ?, ?, 'pending', ?)`, [out.id, agentId, JSON.stringify(request), out.createdAt]);
      return out;
    },

    async acquireApproval(req, gateway) {
      // A use is guarded by its status (`WHERE status = 'approved'`): when another replica's call
      // took it first, plan again with what is there now.
      for (let attempt = 0; attempt < 5; attempt++) {
        const done = await driver.tx(async (sql) => {
          const t = Date.now();
          await expireApprovals(sql, t);
          const named = req.approvalId === null ? [] : await sql.all(`SELECT * FROM approvals WHERE id = ?${driver.lockClause}`, [req.approvalId]);
          const forKey = await sql.all(`SELECT * FROM approvals WHERE agent_id = ? AND request_hash = ? AND status IN ('pending', 'approved') ORDER BY created_at, id${driver.lockClause}`, [
            req.agentId,
            req.requestHash,
          ]);
          const plan = planAcquire(req, named.length === 0 ? null : approvalOf(named[0]), forKey.map(approvalOf), t);
          switch (plan.kind) {
            case 'use': {
              const usedAt = new Date(t).toISOString();
              if ((await sql.run(`UPDATE approvals SET status = 'used', used_at = ? WHERE id = ? AND status = 'approved'`, [usedAt, plan.approval.id])) === 0) return null;
              return { outcome: 'use' as const, approval: { ...plan.approval, status: 'used' as const, usedAt } };
            }
            case 'pending':
              return { outcome: 'pending' as const, approval: plan.approval, created: false };
            case 'refuse':
              return { outcome: 'refused' as const, code: plan.code, approval: plan.approval };
            case 'create': {
              const id = randomUUID();
              await sql.run(`INSERT INTO approvals (id, agent_id, request, status, created_at, request_hash, expires_ms, ttl_seconds, gateway) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)`, [
                id,
                req.agentId,
                JSON.stringify(req.request),
                new Date(t).toISOString(),
                req.requestHash,
                t + req.timeoutSeconds * 1000,
                req.ttlSeconds,
                gateway,
              ]);
              const [row] = await sql.all('SELECT * FROM approvals WHERE id = ?', [id]);
              return { outcome: 'pending' as const, approval: approvalOf(row), created: true };
            }
          }
        });
        if (done !== null) return done;
      }
      throw conflict('the approval was taken by another call meanwhile; try again');
    },
    async approval(id) {
      await expireApprovals(driver, Date.now());
      const [row] = await driver.all('SELECT * FROM approvals WHERE id = ?', [id]);
      return row === undefined ? null : approvalOf(row);
    },

    agents: () => readAgents(driver),
    async agent(id) {
      const [row] = await driver.all('SELECT * FROM agents WHERE id = ?', [id]);
      return row === undefined ? null : agentOf(row);
    },
    counters: async () =>
      new Map<string, AgentCounters>(
        (await driver.all('SELECT * FROM agent_counters')).map((r) => [
          String(r.agent_id),
          { calls: Number(r.calls), denied: Number(r.denied), errors: Number(r.errors), spendUsd: Number(r.spend_usd), lastCall: new Date(Number(r.last_ms)).toISOString() },
        ]),
      ),
    kills: async () => (await driver.all('SELECT * FROM kills ORDER BY at, id')).map(killOf),
    budgets: async () => ({ base: (await base(driver))?.budgets ?? null, overrides: await readOverrides(driver) }),
    async approvals(status) {
      await expireApprovals(driver, Date.now());
      const rows = status === undefined ? await driver.all('SELECT * FROM approvals ORDER BY created_at') : await driver.all('SELECT * FROM approvals WHERE status = ? ORDER BY created_at', [status]);
      return rows.map(approvalOf);
    },
    actions: async ({ limit, before }) =>
      (before === undefined
        ? await driver.all('SELECT * FROM actions ORDER BY version DESC LIMIT ?', [limit])
        : await driver.all('SELECT * FROM actions WHERE version < ? ORDER BY version DESC LIMIT ?', [before, limit])
      ).map(actionOf),

    revokeGateway: gateways.revoke,
    gateways: gateways.all,
    gateway: gateways.one,
    hello: gateways.hello,
    ack: gateways.ack,
    seen: gateways.seen,
    ingest: audit.ingest,
    audit: audit.query,
    verify: audit.verify,
    auditStats: audit.stats,
    putSession: sessions.putSession,
    session: sessions.session,
    endSession: sessions.endSession,
    close: () => driver.close(),
  } satisfies ControlStore;
}
