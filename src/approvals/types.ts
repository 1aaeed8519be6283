/**
 * What the approval gate needs of the place approvals live: the gateway's own store (standalone,
 * local-store.ts) or its control plane (remote.ts). The records and the acquire contract are the
 * wire types of src/control/protocol.ts, so both behave alike.
 */
import type { ApprovalAcquire, ApprovalAcquireResult, ApprovalView } from '../control/protocol.js';

export interface ApprovalBackend {
  /**
   * Binds a call to an approval, atomically: consumes a usable one (single use), or names the
   * pending one, or creates one; or refuses (see control/approval-rules.ts).
   */
  acquire(req: ApprovalAcquire): Promise<ApprovalAcquireResult>;
  /**
   * Resolves with the approval once it is no longer pending (decided or expired), with it still
   * pending at `deadlineMs`, or with null when `signal` aborts (the held call's client left). Holds
   * nothing after it resolves.
   */
  wait(id: string, deadlineMs: number, signal: AbortSignal): Promise<ApprovalView | null>;
}

/** Outcomes counted by `aos_approvals_total`. */
export type ApprovalOutcome = 'requested' | 'approved' | 'denied' | 'expired' | 'used';

export interface ApprovalMetrics {
  count(outcome: ApprovalOutcome, n?: number): void;
  webhookFailed(): void;
  /** A call started (+1) or stopped (-1) being held for a decision. */
  held(delta: 1 | -1): void;
}
