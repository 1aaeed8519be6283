import type { AuditRecord } from '../audit/event.js';
import type { AgentRegistryFile } from '../config/agents-schema.js';

/**
 * The wire contract between gateways and the control plane (`aos control`), and the people's API.
 * Both sides import these types; the paths are the only place the URLs are spelled.
 *
 * Gateway API (the control plane's `listen.gateways` listener). Every request carries the gateway's
 * credential, `Authorization: Bearer <JWT>` (in Kubernetes its projected ServiceAccount token),
 * and its instance id in `AOS-Gateway-Id`. An unknown issuer, a bad signature or a revoked gateway
 * is refused with 401/403 and a `ControlError` body.
 *
 *  1. `POST /v1/hello` (HelloRequest → HelloResponse): registers or refreshes the gateway.
 *  2. `GET /v1/snapshots?after=<version>`: a `text/event-stream`. The control plane sends the current
 *     snapshot at once when its version is greater than `after`, then every new one as it is made
 *     (event `snapshot`, data: FleetSnapshot as JSON), and a `: ping` comment every 15 s. Like xDS, a
 *     snapshot is whole (not a diff) and versioned; a gateway that falls behind just gets the newest.
 *  3. `POST /v1/acks` (Ack): the version the gateway applied, or why it refused it.
 *  4. `POST /v1/audit` (AuditBatch → AuditBatchResult): the gateway's audit records in chain order,
 *     at least once. The control plane checks each record's links against the last record it holds
 *     for that gateway (and recomputes the hash); a record it already holds (same seq, same hash) is
 *     acknowledged again and stored once; a gap answers 409 with `expected` so the gateway resends
 *     from there; a record whose hash does not verify answers 422 `control_chain_broken`.
 *  5. `POST /v1/approvals` (ApprovalAcquire → ApprovalAcquireResult): a call that needs a human
 *     approval, bound to its agent and request hash. In one transaction the control plane consumes
 *     a usable approval for it (single use), or names the pending one, or creates one.
 *  6. `POST /v1/approvals/wait` (ApprovalWait → {approval}): a long poll. Answers as soon as the
 *     approval is no longer pending (a person decided, or it expired), or after `timeoutMs` with it
 *     still pending; the gateway asks again until its held call's deadline.
 */
export const GATEWAY_PATHS = {
  hello: '/v1/hello',
  snapshots: '/v1/snapshots',
  acks: '/v1/acks',
  audit: '/v1/audit',
  approvals: '/v1/approvals',
  approvalWait: '/v1/approvals/wait',
} as const;

/** The default `aud` of gateways' credentials (control plane config `gateways.audience`). */
export const GATEWAY_AUDIENCE = 'aos-control';

/** The header a gateway names itself with (stable across restarts: persisted in its data folder). */
export const GATEWAY_ID_HEADER = 'aos-gateway-id';

export interface HelloRequest {
  id: string;
  /** The gateway's package version. */
  version: string;
  /** Where it runs (pod, node, namespace, …), free-form. */
  labels: Record<string, string>;
  /** The snapshot version it serves from now (from its last-good file), 0 for none. */
  snapshotVersion: number;
  /** The revision of the policy bundle it has loaded, if any. */
  policyRevision: string | null;
}

export interface HelloResponse {
  /** The newest snapshot version the control plane has. */
  snapshotVersion: number;
  /** The last audit seq the control plane holds for this gateway (0: none): shipping resumes after it. */
  auditSeq: number;
  /** Its hash (the genesis hash when none), so the gateway can check it against its own chain. */
  auditHash: string;
}

/** A kill switch: refuses new calls of what it covers, and cuts (or lets finish) its live calls. */
export interface KillSwitch {
  id: string;
  scope: 'agent' | 'team' | 'template' | 'all';
  /** The agent id, team or template name it covers (null for `all`). */
  value: string | null;
  /** `cut`: live streams and MCP sessions are ended now; `finish`: they run to their end. */
  live: 'cut' | 'finish';
  reason: string;
  actor: string;
  at: string;
}

export interface FleetSuspension {
  agentId: string;
  reason: string;
  actor: string;
  at: string;
}

/**
 * What every gateway serves from. Replaces the gateway's registry file and its local suspensions
 * and budget overrides while it is connected (and from its last-good copy while it is not).
 */
export interface FleetSnapshot {
  /** Strictly increasing across the fleet (one counter in the control plane's store). */
  version: number;
  /** When it was made (ISO 8601). */
  at: string;
  /**
   * The agent registry in the shape of `agents.yaml` (validated by the gateway with the same schema
   * before it is applied). Templates are the version each agent runs: an agent pinned to a version
   * that is not the active one names the template `<name>@<version>` (whose `version` field says it).
   */
  registry: AgentRegistryFile;
  suspensions: FleetSuspension[];
  kills: KillSwitch[];
  /** Budget limit overrides by limitId (`agent:x|usd|daily` → USD or count), as `aos budget set` makes them. */
  budgetOverrides: Record<string, number>;
  /** The policy bundle the fleet runs, when the control plane names one (else the gateway's own config). */
  policy: { url: string; revision: string | null } | null;
}

export interface Ack {
  version: number;
  ok: boolean;
  /** Why the snapshot was not applied (validation error), when `ok` is false. */
  error?: string;
}

export interface AuditBatch {
  /** Records in chain order (seq ascending, each linked to the one before). */
  records: AuditRecord[];
}

export interface AuditBatchResult {
  /** The last seq the control plane now holds for this gateway. */
  acked: number;
}

/**
 * People's API (the control plane's `listen.people` listener), under `/api`. `Authorization: Bearer`
 * with an admin JWT (roles in its roles claim) or the static admin token. Roles, each including the
 * ones before it where it makes sense: `viewer` (read), `operator` (suspend, resume, kill, lift),
 * `approver` (approvals), `admin` (templates, agents, budgets, gateways). Every mutating call is
 * recorded as an action (who, what, why, when) and answered with what it changed.
 *
 *  GET    /api/gateways                         fleet: id, version, labels, snapshot applied, policy revision, last seen, connected
 *  POST   /api/gateways/{id}/revoke             refuse this gateway's credential from now on
 *  GET    /api/agents                           agents with template, version, team, status and live counters (calls, errors, spend)
 *  PUT    /api/agents/{id}                      create or change an agent ({team, template, version?, owner?, labels?})
 *  POST   /api/agents/{id}/suspend | resume     {reason}
 *  GET    /api/kills      POST /api/kills       {scope, value, live, reason}
 *  DELETE /api/kills/{id}                       lift a kill switch {reason}
 *  GET    /api/templates                        every template: active version, versions by status
 *  GET    /api/templates/{name}/versions/{v}    one version (body, author, reviewer, reason, status)
 *  GET    /api/templates/{name}/diff?from=&to=  a unified diff of the two versions' YAML
 *  POST   /api/templates/{name}/versions        propose: {template, reason} → a new draft version
 *  POST   /api/templates/{name}/versions/{v}/approve  {reason}: reviewer ≠ author; the version becomes active
 *  POST   /api/templates/{name}/rollback        {version, reason}: re-activates an earlier approved version
 *  GET    /api/budgets    PUT /api/budgets/{limitId} {limit | null, reason}
 *  GET    /api/approvals  POST /api/approvals/{id}/approve | deny {reason}
 *  GET    /api/audit?agent=&team=&gateway=&decision=&workflow=&since=&until=&limit=
 *  GET    /api/audit/export (JSON lines)    GET /api/audit/verify?gateway=
 *  GET    /api/actions                          the control plane's own audit of people's actions
 */
export type Role = 'viewer' | 'operator' | 'approver' | 'admin';

/** Error body of both APIs. */
export interface ControlError {
  error: { code: string; message: string };
}

/**
 * An approval's life: `pending` (waiting for a person) → `approved` or `denied`; `approved` →
 * `used` when it let its call through (once); `pending` or `approved` → `expired` when its
 * deadline passed (`expiresAt`: the decision deadline while pending, the end of its usability once
 * approved).
 */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'used';

/** An approval as both APIs show it (gateway admin API, people's API, webhook). */
export interface ApprovalView {
  id: string;
  agentId: string | null;
  /** SHA-256 (hex) of the request it is bound to (method, path and query, body; an MCP call without its JSON-RPC id). */
  requestHash: string | null;
  /** What was asked, redacted and truncated (never credentials): kind, tool, operation, method, path, arguments. */
  request: unknown;
  status: ApprovalStatus;
  createdAt: string;
  expiresAt: string | null;
  decidedAt: string | null;
  decidedBy: string | null;
  reason: string | null;
  usedAt: string | null;
  /** The gateway whose call asked for it (under a control plane). */
  gateway: string | null;
}

export interface ApprovalAcquire {
  agentId: string;
  requestHash: string;
  request: unknown;
  /** The approval the agent named (`x-aos-approval-id`), or null. */
  approvalId: string | null;
  /** How long a new approval waits for a decision. */
  timeoutSeconds: number;
  /** How long it stays usable once approved. */
  ttlSeconds: number;
}

/** Why an acquire was refused: the gateway answers the agent with this code. */
export type ApprovalRefusal = 'aos_approval_not_found' | 'aos_approval_mismatch' | 'aos_approval_expired' | 'aos_approval_used' | 'aos_approval_denied';

export type ApprovalAcquireResult =
  | { outcome: 'use'; approval: ApprovalView }
  | { outcome: 'pending'; approval: ApprovalView; created: boolean }
  | { outcome: 'refused'; code: ApprovalRefusal; approval: ApprovalView | null };

export interface ApprovalWait {
  id: string;
  /** How long the control plane may hold the answer (at most 30 s). */
  timeoutMs: number;
}
