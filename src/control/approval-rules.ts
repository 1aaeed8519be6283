/**
 * The rules of an approval's life, written once for both stores that keep approvals: a standalone
 * gateway's own (src/approvals/local-store.ts) and the control plane's (store-sql.ts). Pure: each
 * store reads the rows, asks here what to do, and applies it in its own transaction.
 */
import type { ApprovalAcquire, ApprovalRefusal, ApprovalStatus, ApprovalView } from './protocol.js';

/** The status an approval has at `nowMs`: a pending or approved one past its deadline is expired (whether or not that was written yet). */
export function effectiveStatus(a: Pick<ApprovalView, 'status' | 'expiresAt'>, nowMs: number): ApprovalStatus {
  if ((a.status === 'pending' || a.status === 'approved') && a.expiresAt !== null && Date.parse(a.expiresAt) <= nowMs) return 'expired';
  return a.status;
}

export type AcquirePlan =
  | { kind: 'use'; approval: ApprovalView }
  | { kind: 'pending'; approval: ApprovalView }
  | { kind: 'create' }
  | { kind: 'refuse'; code: ApprovalRefusal; approval: ApprovalView | null };

const REFUSAL: Partial<Record<ApprovalStatus, ApprovalRefusal>> = { denied: 'aos_approval_denied', expired: 'aos_approval_expired', used: 'aos_approval_used' };

/**
 * What acquiring an approval for a call means. `named`: the approval the agent named (looked up
 * by `req.approvalId`; null when it named none or none exists). `forKey`: the pending and approved
 * approvals of the same agent and request hash, oldest first.
 *
 * - A named approval must be this agent's, for this very request (else `mismatch`); approved: it
 *   is used; pending: the call waits on it; denied, expired or used: refused with that reason (a
 *   used one is never used again: replay refused).
 * - Without a name, the oldest usable approval for the request is used, else the pending one is
 *   waited on, else a new one is created. So the same request sent again after its approval was
 *   used asks a person again.
 */
export function planAcquire(req: ApprovalAcquire, named: ApprovalView | null, forKey: readonly ApprovalView[], nowMs: number): AcquirePlan {
  if (req.approvalId !== null) {
    if (named === null) return { kind: 'refuse', code: 'aos_approval_not_found', approval: null };
    if (named.agentId !== req.agentId || named.requestHash !== req.requestHash) return { kind: 'refuse', code: 'aos_approval_mismatch', approval: named };
    const status = effectiveStatus(named, nowMs);
    if (status === 'approved') return { kind: 'use', approval: named };
    if (status === 'pending') return { kind: 'pending', approval: named };
    return { kind: 'refuse', code: REFUSAL[status]!, approval: { ...named, status } };
  }
  let pending: ApprovalView | null = null;
  for (const a of forKey) {
    const status = effectiveStatus(a, nowMs);
    if (status === 'approved') return { kind: 'use', approval: a };
    if (status === 'pending' && pending === null) pending = a;
  }
  return pending === null ? { kind: 'create' } : { kind: 'pending', approval: pending };
}

/** The most a summary's arguments take (characters of their JSON); longer ones are cut. */
export const MAX_SUMMARY_ARGS = 2000;

/** One approval as a line of `aos approvals list`. */
export function approvalLine(a: ApprovalView): string {
  const r = (a.request ?? {}) as Record<string, unknown>;
  const tool = r.tool === null || r.tool === undefined ? '' : ` ${r.server === null || r.server === undefined ? '' : `${String(r.server)}/`}${String(r.tool)}`;
  const decided = a.decidedBy === null ? '' : `  ${a.status === 'denied' ? 'denied' : 'approved'} by ${a.decidedBy}${a.reason === null ? '' : `: ${a.reason}`}`;
  const until = a.status === 'pending' || a.status === 'approved' ? `  until ${a.expiresAt ?? '-'}` : '';
  return `${a.id}  ${a.status.padEnd(8)} ${String(a.agentId ?? '-').padEnd(20)} ${String(r.method ?? '')} ${String(r.path ?? '')}${tool}${until}${decided}`;
}
