import { randomUUID } from 'node:crypto';
import { effectiveStatus, planAcquire } from '../control/approval-rules.js';
import type { ApprovalAcquireResult, ApprovalStatus, ApprovalView } from '../control/protocol.js';
import { GatewayError } from '../errors.js';
import { type Db, openDatabase } from '../store/database.js';
import type { ApprovalBackend, ApprovalMetrics } from './types.js';

/** The schema of approvals.db (its own file in dataDir, as budgets.db). Append only. */
export const APPROVAL_MIGRATIONS: readonly string[] = [
  `CREATE TABLE approvals (
     id           TEXT PRIMARY KEY,
     agent_id     TEXT NOT NULL,
     request_hash TEXT NOT NULL,
     request      TEXT NOT NULL,
     status       TEXT NOT NULL,
     created_ms   INTEGER NOT NULL,
     expires_ms   INTEGER NOT NULL,
     ttl_seconds  INTEGER NOT NULL,
     decided_ms   INTEGER,
     decided_by   TEXT,
     reason       TEXT,
     used_ms      INTEGER
   ) STRICT`,
  `CREATE INDEX approvals_key ON approvals (agent_id, request_hash) WHERE status IN ('pending', 'approved')`,
  `CREATE INDEX approvals_open ON approvals (expires_ms) WHERE status IN ('pending', 'approved')`,
];

interface Row {
  id: string;
  agent_id: string;
  request_hash: string;
  request: string;
  status: string;
  created_ms: number;
  expires_ms: number;
  ttl_seconds: number;
  decided_ms: number | null;
  decided_by: string | null;
  reason: string | null;
  used_ms: number | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function viewOf(r: Row): ApprovalView {
  return {
    id: r.id,
    agentId: r.agent_id,
    requestHash: r.request_hash,
    request: JSON.parse(r.request),
    status: r.status as ApprovalStatus,
    createdAt: iso(r.created_ms)!,
    expiresAt: iso(r.expires_ms),
    decidedAt: iso(r.decided_ms),
    decidedBy: r.decided_by,
    reason: r.reason,
    usedAt: iso(r.used_ms),
    gateway: null,
  };
}

/** A standalone gateway's approvals: the gate's backend and the admin API's queue. */
export interface LocalApprovalStore extends ApprovalBackend {
  list(status?: string): ApprovalView[];
  get(id: string): ApprovalView | null;
  /** A person's decision on a pending approval; wakes the calls held on it. */
  decide(id: string, decision: 'approved' | 'denied', actor: string, reason: string): ApprovalView;
  pending(): number;
  close(): void;
}

export interface LocalApprovalOptions {
  dataDir: string;
  metrics: ApprovalMetrics;
  /** Told of every approval it creates (the webhook), after the write. */
  onRequested(a: ApprovalView): void;
  now?: () => number;
  /** How often approvals past their deadline are marked expired (and counted). */
  sweepMs?: number;
}

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
/**
 * Approvals in dataDir/approvals.db. Writes are synchronous better-sqlite3 autocommits on the
 * request thread: only calls that need an approval and people's decisions write (a few a minute,
 * not a few thousand a second), and a single autocommit costs ~20 µs, less than handing it to a
 * writer thread would. Each acquire is one transaction, so an approval is used once even when two
 * calls race for it. Held calls wait on in-memory waiters woken by `decide`, and on a timer at the
 * approval's deadline; the CLI decides through the admin API, never in the file, so nothing is missed.
 */
export function createLocalApprovalStore(opts: LocalApprovalOptions): LocalApprovalStore {
  const now = opts.now ?? Date.now;
  const db: Db = openDatabase(opts.dataDir, 'approvals.db', APPROVAL_MIGRATIONS);
  const byId = db.prepare<[string], Row>('SELECT * FROM approvals WHERE id = ?');
  const forKey = db.prepare<[string, string], Row>(`SELECT * FROM approvals WHERE agent_id = ? AND request_hash = ? AND status IN ('pending', 'approved') ORDER BY created_ms, id`);
  const insert = db.prepare(
    `INSERT INTO approvals (id, agent_id, request_hash, request, status, created_ms, expires_ms, ttl_seconds) VALUES (@id, @agent_id, @request_hash, @request, 'pending', @created_ms, @expires_ms, @ttl_seconds)`,
  );
  const use = db.prepare<[number, string]>(`UPDATE approvals SET status = 'used', used_ms = ? WHERE id = ? AND status = 'approved'`);
  const expireDue = db.prepare<[number], { status: string }>(`UPDATE approvals SET status = 'expired' WHERE status IN ('pending', 'approved') AND expires_ms <= ? RETURNING id, status`);
  const setDecision = db.prepare<[string, number, number, string, string, string]>(
    `UPDATE approvals SET status = ?, decided_ms = ?, expires_ms = ?, decided_by = ?, reason = ? WHERE id = ? AND status = 'pending'`,
  );
  const countPending = db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM approvals WHERE status = 'pending'`);
  const waiters = new Map<string, Set<(a: ApprovalView | null) => void>>();

  const wake = (a: ApprovalView) => {
    const set = waiters.get(a.id);
    if (set === undefined) return;
    waiters.delete(a.id);
    for (const fn of [...set]) fn(a);
  };

  /** Marks what passed its deadline as expired, counts it, and wakes calls held on it. */
  const sweep = () => {
    const rows = expireDue.all(now()) as unknown as { id: string }[];
    if (rows.length === 0) return;
    opts.metrics.count('expired', rows.length);
    for (const r of rows) {
      const row = byId.get(r.id);
      if (row !== undefined) wake(viewOf(row));
    }
  };
  const timer = setInterval(sweep, opts.sweepMs ?? 5000);
  timer.unref();

  const acquireTx = db.transaction((req: Parameters<ApprovalBackend['acquire']>[0]): ApprovalAcquireResult & { requested?: true } => {
    const t = now();
    const named = req.approvalId === null ? null : (byId.get(req.approvalId) ?? null);
    const plan = planAcquire(req, named === null ? null : viewOf(named), forKey.all(req.agentId, req.requestHash).map(viewOf), t);
    switch (plan.kind) {
      case 'use':
        use.run(t, plan.approval.id);
        return { outcome: 'use', approval: { ...plan.approval, status: 'used', usedAt: iso(t) } };
      case 'pending':
        return { outcome: 'pending', approval: plan.approval, created: false };
      case 'refuse':
        return { outcome: 'refused', code: plan.code, approval: plan.approval };
      case 'create': {
        const row: Row = {
          id: randomUUID(),
          agent_id: req.agentId,
          request_hash: req.requestHash,
          request: JSON.stringify(req.request),
          status: 'pending',
          created_ms: t,
          expires_ms: t + req.timeoutSeconds * 1000,
          ttl_seconds: req.ttlSeconds,
          decided_ms: null,
          decided_by: null,
          reason: null,
          used_ms: null,
        };
        insert.run(row);
        return { outcome: 'pending', approval: viewOf(row), created: true };
      }
    }
  });

  const decideTx = db.transaction((id: string, decision: 'approved' | 'denied', actor: string, reason: string): ApprovalView => {
    const row = byId.get(id);
    if (row === undefined) throw new GatewayError('aos_approval_not_found', `no approval ${id}`);
    const t = now();
    const status = effectiveStatus(viewOf(row), t);
    if (status !== 'pending') throw new GatewayError('aos_approval_decided', `approval ${id} is ${status}: it can no longer be decided`);
    // Approved: usable for its ttl from now. Denied: final (its deadline no longer matters).
    const expires = decision === 'approved' ? t + row.ttl_seconds * 1000 : row.expires_ms;
    setDecision.run(decision, t, expires, actor, reason, id);
    return viewOf(byId.get(id)!);
  });

  return {
    async acquire(req) {
      const result = acquireTx(req);
      if (result.outcome === 'use') opts.metrics.count('used');
      if (result.outcome === 'pending' && result.created) {
        opts.metrics.count('requested');
        opts.onRequested(result.approval);
      }
      return result;
    },
    wait(id, deadlineMs, signal) {
      const row = byId.get(id);
      if (row === undefined) return Promise.resolve(null);
      const a = viewOf(row);
      if (effectiveStatus(a, now()) !== 'pending') {
        sweep();
        return Promise.resolve(viewOf(byId.get(id)!));
      }
      return new Promise((resolve) => {
        let set = waiters.get(id);
        if (set === undefined) {
          set = new Set();
          waiters.set(id, set);
        }
        const done = (v: ApprovalView | null) => {
          clearTimeout(timeout);
          signal.removeEventListener('abort', aborted);
          const s = waiters.get(id);
          s?.delete(done);
          if (s?.size === 0) waiters.delete(id);
          resolve(v);
        };
        const aborted = () => done(null);
        // At the approval's own deadline it expires (swept); at the caller's, it is answered as it is.
        const at = Math.min(deadlineMs, Date.parse(a.expiresAt!));
        // A timer counts from the event loop's cached clock, which a busy loop leaves behind the
        // wall clock: it can fire before `at`, when the sweep would not yet expire the approval (a
        // held call then answered "expired" while the approval still read pending). Wait the rest.
        const fire = () => {
          const rest = at - now();
          if (rest > 0) {
            timeout = setTimeout(fire, rest);
            return;
          }
          sweep();
          const r = byId.get(id);
          done(r === undefined ? null : viewOf(r));
        };
        let timeout = setTimeout(fire, Math.max(0, at - now()));
        set.add(done);
        if (signal.aborted) aborted();
        else signal.addEventListener('abort', aborted, { once: true });
      });
    },
    list(status) {
      sweep();
      const rows =
        status === undefined
          ? db.prepare<[], Row>('SELECT * FROM approvals ORDER BY created_ms, id').all()
          : db.prepare<[string], Row>('SELECT * FROM approvals WHERE status = ? ORDER BY created_ms, id').all(status);
      return rows.map(viewOf);
    },
    get(id) {
      const row = byId.get(id);
      return row === undefined ? null : viewOf(row);
    },
    decide(id, decision, actor, reason) {
      sweep();
      const a = decideTx(id, decision, actor, reason);
      opts.metrics.count(decision);
      wake(a);
      return a;
    },
    pending: () => countPending.get()!.n,
    close() {
      clearInterval(timer);
      // Held calls are answered with the approval as it stands (still pending: the gateway is stopping).
      for (const [id, set] of [...waiters]) {
        const r = byId.get(id);
        for (const fn of [...set]) fn(r === undefined ? null : viewOf(r));
      }
      waiters.clear();
      db.close();
    },
  };
}
