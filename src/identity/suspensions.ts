import type { Db } from '../store/database.js';

export interface Suspension {
  agentId: string;
  reason: string;
  actor: string;
  at: string;
}

export interface SuspensionStore {
  /** Hot path: a Set lookup, no I/O. */
  isSuspended(agentId: string): boolean;
  list(): Suspension[];
  suspend(agentId: string, reason: string, actor: string): Suspension;
  /** True when the agent was suspended. */
  resume(agentId: string): boolean;
  close(): void;
}

/**
 * Suspensions persisted in SQLite and mirrored in memory. Changes made by another process (the
 * `aos agents suspend` CLI) are seen through SQLite's `data_version`, polled every `pollMs`, so a
 * suspension takes effect on this gateway within that time; changes made here apply at once.
 */
export function createSuspensionStore(db: Db, options: { pollMs?: number } = {}): SuspensionStore {
  const selectAll = db.prepare<[], { agent_id: string; reason: string; actor: string; at: string }>('SELECT agent_id, reason, actor, at FROM agent_suspensions ORDER BY at');
  const upsert = db.prepare(
    'INSERT INTO agent_suspensions (agent_id, reason, actor, at) VALUES (?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET reason = excluded.reason, actor = excluded.actor, at = excluded.at',
  );
  const remove = db.prepare('DELETE FROM agent_suspensions WHERE agent_id = ?');
  let suspended = new Set<string>();
  const load = () => {
    suspended = new Set(selectAll.all().map((r) => r.agent_id));
  };
  load();
  let version = db.pragma('data_version', { simple: true }) as number;
  const timer =
    options.pollMs === 0
      ? null
      : setInterval(() => {
          const v = db.pragma('data_version', { simple: true }) as number;
          if (v !== version) {
            version = v;
            load();
          }
        }, options.pollMs ?? 250);
  timer?.unref();

  return {
    isSuspended: (id) => suspended.has(id),
    list: () => selectAll.all().map((r) => ({ agentId: r.agent_id, reason: r.reason, actor: r.actor, at: r.at })),
    suspend(agentId, reason, actor) {
      const at = new Date().toISOString();
      upsert.run(agentId, reason, actor, at);
      suspended.add(agentId);
      return { agentId, reason, actor, at };
    },
    resume(agentId) {
      const changed = remove.run(agentId).changes > 0;
      suspended.delete(agentId);
      return changed;
    },
    close() {
      if (timer) clearInterval(timer);
    },
  };
}
