import { type ApprovalAcquireResult, type ApprovalView, GATEWAY_PATHS } from '../control/protocol.js';
import { type ControlClient, ControlPlaneError } from '../fleet/client.js';
import type { ApprovalBackend, ApprovalMetrics } from './types.js';

/** The longest one long poll is held by the control plane; the gateway asks again until its deadline. */
const POLL_MS = 25_000;

/**
 * Approvals kept by the control plane (a gateway under one): created and consumed there through
 * the gateway API (`POST /v1/approvals`, one transaction on its store, so an approval is used once
 * across the whole fleet), decisions learned by long poll (`POST /v1/approvals/wait`), which the
 * control plane answers the moment a person decides. A control plane that cannot be reached makes
 * acquire throw: the gate refuses the call (`aos_approval_unavailable`), never lets it through.
 */
export function createRemoteApprovals(client: ControlClient, metrics: ApprovalMetrics): ApprovalBackend {
  /** One request, moving on to the next replica once when a connection fails. */
  const post = async <T>(path: string, body: unknown, timeoutMs?: number, signal?: AbortSignal): Promise<T> => {
    try {
      return await client.post<T>(path, body, timeoutMs, signal);
    } catch (err) {
      if (err instanceof ControlPlaneError || signal?.aborted) throw err;
      client.failover();
      return client.post<T>(path, body, timeoutMs, signal);
    }
  };
  return {
    async acquire(req) {
      const result = await post<ApprovalAcquireResult>(GATEWAY_PATHS.approvals, req);
      if (result.outcome === 'use') metrics.count('used');
      if (result.outcome === 'pending' && result.created) metrics.count('requested');
      return result;
    },
    async wait(id, deadlineMs, signal) {
      let last: ApprovalView | null = null;
      while (!signal.aborted) {
        const left = deadlineMs - Date.now();
        if (left <= 0) return last;
        const timeoutMs = Math.min(POLL_MS, left);
        try {
          const { approval } = await post<{ approval: ApprovalView }>(GATEWAY_PATHS.approvalWait, { id, timeoutMs }, timeoutMs + 5000, signal);
          last = approval;
          if (approval.status !== 'pending') return approval;
        } catch (err) {
          if (signal.aborted) return null;
          if (err instanceof ControlPlaneError && err.status === 404) return null;
          // Unreachable for now: try again shortly, until the deadline.
          await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadlineMs - Date.now()))));
        }
      }
      return null;
    },
  };
}
