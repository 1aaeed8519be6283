/**
 * Template versions in the store. A version is proposed as a draft, approved by someone other than
 * its author (it becomes the active one), and an earlier approved version can be re-activated
 * (rollback). Status `active` is not stored: it is the version `template_active` points at.
 */
import type { AgentRegistryFile, TemplateFile } from '../config/agents-schema.js';
import { ControlHttpError, conflict, notFound } from './errors.js';
import type { Mutate, Row, Sql, SqlDriver } from './sql.js';
import type { AgentRecord, TemplateVersion } from './store.js';
import { templateYaml } from './templates.js';

function versionOf(r: Row, active: Map<string, number>): TemplateVersion {
  const name = String(r.name);
  const version = Number(r.version);
  const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    name,
    version,
    status: active.get(name) === version ? 'active' : (r.status as 'draft' | 'approved'),
    template: JSON.parse(String(r.body)) as TemplateFile,
    yaml: String(r.yaml),
    author: String(r.author),
    reason: String(r.reason),
    createdAt: String(r.created_at),
    reviewer: str(r.reviewer),
    reviewReason: str(r.review_reason),
    approvedAt: str(r.approved_at),
  };
}

async function activeIn(sql: Sql): Promise<Map<string, number>> {
  return new Map((await sql.all<{ name: string; version: number }>('SELECT name, version FROM template_active ORDER BY name')).map((r) => [r.name, Number(r.version)]));
}

async function one(sql: Sql, name: string, version: number): Promise<TemplateVersion | null> {
  const [row] = await sql.all('SELECT * FROM template_versions WHERE name = ? AND version = ?', [name, version]);
  return row === undefined ? null : versionOf(row, await activeIn(sql));
}

/** Every template of an agents.yaml as version 1, approved and active (the seed). */
export async function seedTemplates(sql: Sql, registry: AgentRegistryFile, actor: string, at: string): Promise<void> {
  for (const [name, t] of Object.entries(registry.templates)) {
    const template = { ...t, version: 1 };
    await sql.run(
      `INSERT INTO template_versions (name, version, body, yaml, status, author, reason, created_at, reviewer, review_reason, approved_at)
       VALUES (?, 1, ?, ?, 'approved', ?, ?, ?, ?, ?, ?)`,
      [name, JSON.stringify(template), templateYaml(template), actor, 'imported from the seed registry', at, actor, 'imported from the seed registry', at],
    );
    await sql.run('INSERT INTO template_active (name, version) VALUES (?, 1)', [name]);
  }
}

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createTemplateStatements(driver: SqlDriver, mutate: Mutate) {
  const lockedVersion = async (sql: Sql, name: string, version: number): Promise<Row> => {
    const [row] = await sql.all(`SELECT * FROM template_versions WHERE name = ? AND version = ?${driver.lockClause}`, [name, version]);
    if (row === undefined) throw notFound(`template ${name} has no version ${version}`);
    return row;
  };
  const activate = (sql: Sql, name: string, version: number) =>
    sql.run('INSERT INTO template_active (name, version) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET version = excluded.version', [name, version]);

  return {
    activeIn,
    one,
    async all(sql: Sql): Promise<TemplateVersion[]> {
      const active = await activeIn(sql);
      return (await sql.all('SELECT * FROM template_versions ORDER BY name, version')).map((r) => versionOf(r, active));
    },

    /** The versions a snapshot serves: each active one, and each one an agent is pinned to. */
    async servedIn(sql: Sql, active: Map<string, number>, agents: AgentRecord[]): Promise<TemplateVersion[]> {
      const wanted = new Set([...active].map(([n, v]) => `${n}@${v}`));
      for (const a of agents) if (a.pinned !== null) wanted.add(`${a.template}@${a.pinned}`);
      const rows = await sql.all("SELECT * FROM template_versions WHERE status = 'approved' ORDER BY name, version");
      return rows.filter((r) => wanted.has(`${r.name}@${r.version}`)).map((r) => versionOf(r, active));
    },

    /** An agent can run on this template: it has an active version, or the pinned one is approved. */
    async checkServable(sql: Sql, name: string, pinned: number | null): Promise<void> {
      if (pinned === null) {
        if (!(await activeIn(sql)).has(name)) throw new ControlHttpError('control_invalid', `template ${name} has no active version`);
        return;
      }
      const [row] = await sql.all('SELECT status FROM template_versions WHERE name = ? AND version = ?', [name, pinned]);
      if (row === undefined || row.status !== 'approved') throw new ControlHttpError('control_invalid', `template ${name} has no approved version ${pinned}`);
    },

    propose: (name: string, template: TemplateFile, yaml: string, action: Parameters<Mutate>[0]) =>
      mutate(action, async (sql, _v, at) => {
        // Mutations are serialized by the version bump, so MAX+1 cannot be taken twice.
        const [{ last }] = await sql.all<{ last: number | null }>('SELECT MAX(version) AS last FROM template_versions WHERE name = ?', [name]);
        const version = Number(last ?? 0) + 1;
        if (template.version !== version) throw conflict(`template ${name} got version ${version} meanwhile: propose again`);
        await sql.run(`INSERT INTO template_versions (name, version, body, yaml, status, author, reason, created_at) VALUES (?, ?, ?, ?, 'draft', ?, ?, ?)`, [
          name,
          version,
          JSON.stringify(template),
          yaml,
          action.actor,
          action.reason,
          at,
        ]);
        return (await one(sql, name, version))!;
      }),

    approve: (name: string, version: number, action: Parameters<Mutate>[0]) =>
      mutate(action, async (sql, _v, at) => {
        const row = await lockedVersion(sql, name, version);
        if (row.status !== 'draft') throw conflict(`template ${name} version ${version} is not a draft (it is ${row.status})`);
        if (row.author === action.actor) throw new ControlHttpError('control_self_review', `template ${name} version ${version} was proposed by ${action.actor}: another person must approve it`);
        await sql.run(`UPDATE template_versions SET status = 'approved', reviewer = ?, review_reason = ?, approved_at = ? WHERE name = ? AND version = ?`, [
          action.actor,
          action.reason,
          at,
          name,
          version,
        ]);
        await activate(sql, name, version);
        return (await one(sql, name, version))!;
      }),

    rollback: (name: string, version: number, action: Parameters<Mutate>[0]) =>
      mutate(action, async (sql) => {
        const row = await lockedVersion(sql, name, version);
        if (row.status !== 'approved') throw conflict(`template ${name} version ${version} was never approved: only an approved version can be re-activated`);
        if ((await activeIn(sql)).get(name) === version) throw conflict(`template ${name} version ${version} is already the active one`);
        await activate(sql, name, version);
        return (await one(sql, name, version))!;
      }),
  };
}
