import { GatewayError } from '../errors.js';
import type { LocalApprovalStore } from './local-store.js';

const ONE = /^\/admin\/approvals\/([^/]+)$/;
const DECIDE = /^\/admin\/approvals\/([^/]+)\/(approve|deny)$/;
const STATUSES = new Set(['pending', 'approved', 'denied', 'expired', 'used']);

/** True for the paths served here (the admin server authorizes them with the approver role too). */
export const isApprovalsPath = (path: string): boolean => path === '/admin/approvals' || path.startsWith('/admin/approvals/');

/**
 * The approvals queue on the admin listener: `GET /admin/approvals?status=`, `GET
 * /admin/approvals/{id}`, `POST /admin/approvals/{id}/approve|deny {reason}`. `actor` is the
 * verified subject of the admin-audience token (approver or admin role), recorded as the approver.
 * Returns the JSON answer, or null when no route matched. Under a control plane (store null),
 * approvals are decided there.
 */
export async function approvalsRoute(
  store: LocalApprovalStore | null,
  method: string,
  path: string,
  query: URLSearchParams,
  actor: string,
  body: () => Promise<Record<string, unknown>>,
): Promise<{ status: number; body: unknown } | null> {
  if (store === null) {
    throw new GatewayError('aos_method_not_allowed', 'this gateway runs under a control plane: list and decide approvals there (aos approvals … --control-plane URL)');
  }
  if (path === '/admin/approvals' && method === 'GET') {
    const status = query.get('status') ?? undefined;
    if (status !== undefined && !STATUSES.has(status)) throw new GatewayError('aos_bad_request', `status: expected one of ${[...STATUSES].join(', ')}`);
    return { status: 200, body: { approvals: store.list(status) } };
  }
  let m = ONE.exec(path);
  if (m !== null && method === 'GET') {
    const a = store.get(decodeURIComponent(m[1]));
    if (a === null) throw new GatewayError('aos_approval_not_found', `no approval ${m[1]}`);
    return { status: 200, body: { approval: a } };
  }
  m = DECIDE.exec(path);
  if (m !== null && method === 'POST') {
    const b = await body();
    const reason = typeof b.reason === 'string' ? b.reason.trim() : '';
    if (reason === '') throw new GatewayError('aos_bad_request', 'reason: every decision says why ({"reason": "…"})');
    const a = store.decide(decodeURIComponent(m[1]), m[2] === 'approve' ? 'approved' : 'denied', actor, reason.slice(0, 500));
    return { status: 200, body: { approval: a } };
  }
  return null;
}
