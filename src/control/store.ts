/**
 * The control plane's state, behind one interface with two implementations: SQLite (one process,
 * store-sqlite.ts) and PostgreSQL (replicas sharing it, store-postgres.ts). Both run the same
 * statements (store-sql.ts). Every mutation by a person is one transaction that also bumps the fleet
 * version and records the action; the version is the snapshot version gateways see.
 */
import type { AuditRecord } from '../audit/event.js';
import type { AuditFilter } from '../audit/store.js';
import type { AgentRegistryFile, TemplateFile } from '../config/agents-schema.js';
import type { ApprovalAcquire, ApprovalAcquireResult, ApprovalView, FleetSuspension, HelloRequest, KillSwitch, Role } from './protocol.js';

/** Who changes something, and why: every mutation is recorded as one action. */
export interface ActionInput {
  actor: string;
  action: string;
  target: string;
  reason: string;
  detail?: Record<string, unknown>;
}

export interface ActionRecord extends Required<ActionInput> {
  /** The fleet version this action made (actions are numbered by it). */
  version: number;
  at: string;
}

export type TemplateStatus = 'draft' | 'approved' | 'active';

export interface TemplateVersion {
  name: string;
  version: number;
  status: TemplateStatus;
  template: TemplateFile;
  /** The body as YAML, what diffs compare. */
  yaml: string;
  author: string;
  reason: string;
  createdAt: string;
  reviewer: string | null;
  reviewReason: string | null;
  approvedAt: string | null;
}

export interface AgentRecord {
  id: string;
  team: string;
  template: string;
  /** The template version the agent is pinned to; null: it follows the active one. */
  pinned: number | null;
  owner: string | null;
  roles: string[];
  labels: Record<string, string>;
  updatedAt: string;
}

/** The parts of agents.yaml that are neither templates nor agents (from the seed registry). */
export type RegistryBase = Pick<AgentRegistryFile, 'claims' | 'unknownAgents' | 'budgets'>;

/** Everything a snapshot is made of, read in one consistent view. */
export interface FleetState {
  version: number;
  base: RegistryBase | null;
  /** Every approved or active template version an agent or the active pointer names. */
  templates: TemplateVersion[];
  active: Map<string, number>;
  agents: AgentRecord[];
  suspensions: FleetSuspension[];
  kills: KillSwitch[];
  overrides: Record<string, number>;
}

export interface GatewayRecord {
  id: string;
  issuer: string;
  subject: string;
  version: string;
  labels: Record<string, string>;
  snapshotVersion: number;
  snapshotError: string | null;
  policyRevision: string | null;
  firstSeen: string;
  lastSeen: string;
  connected: boolean;
  revokedAt: string | null;
  revokedBy: string | null;
  auditSeq: number;
  auditHash: string;
}

/** An approval as stored and shown (the wire shape of protocol.ts). */
export type ApprovalRecord = ApprovalView;

export interface AgentCounters {
  calls: number;
  denied: number;
  errors: number;
  spendUsd: number;
  lastCall: string | null;
}

/** The outcome of an audit batch: how far the chain got, and why it stopped (if it did). */
export interface IngestResult {
  acked: number;
  stored: number;
  duplicates: number;
  /** The first record that was not taken: a gap (resend from `expected`) or a record that does not verify. */
  refused: { kind: 'gap'; expected: number } | { kind: 'broken'; seq: number; message: string } | null;
}

export interface AuditQuery extends AuditFilter {
  gateway?: string;
  /** Only records after this one in (time, gateway, seq) order, oldest first: the cursor of a paged export. */
  after?: { timeMs: number; gateway: string; seq: number };
}

/** Totals of the audit events matching a query, per group and time bucket (`auditStats`). */
export interface AuditStatsRow {
  /** The group's value (team, agent or gateway; null when the events carry none), or null when not grouped. */
  key: string | null;
  /** The bucket's start (epoch ms), or 0 when not bucketed. */
  t: number;
  calls: number;
  denied: number;
  /** Failed, interrupted, or answered with a status ≥ 400 (as the agent counters count them). */
  errors: number;
  spendUsd: number;
}

export type AuditGroup = 'team' | 'agent' | 'gateway';

/** A console session as stored: `key` is a hash of the cookie's value, never the value. */
export interface SessionRecord {
  key: string;
  actor: string;
  role: Role;
  /** The token the page echoes in `x-aos-csrf` on every change. */
  csrf: string;
  /** How the person signed in: `token` (the admin token or a pasted JWT) or `oidc`. */
  via: string;
  createdMs: number;
  /** The last use (written at most once a minute): a session unused for the idle timeout ends. */
  lastMs: number;
  expiresMs: number;
  /** An OIDC session's ID token, kept only to name the session at the provider's sign-out (`id_token_hint`); else null. */
  idToken: string | null;
}

export interface ChainCheck {
  gateway: string;
  ok: boolean;
  checked: number;
  headSeq: number;
  headHash: string;
  broken: { seq: number; message: string } | null;
}

export interface ControlStore {
  readonly dialect: 'sqlite' | 'postgres';
  readonly where: string;
  version(): Promise<number>;
  state(): Promise<FleetState>;
  /** Called with a version another replica made (PostgreSQL NOTIFY). */
  onAnnounce(listener: (version: number) => void): void;
  /** Called after a person's change made through this store commits, with its action as recorded. */
  onChange(listener: (action: ActionInput) => void): void;

  // ---- people's changes: each bumps the version and records the action ----
  /** Imports a registry into an empty store; false when the store already holds templates. */
  seed(registry: AgentRegistryFile, action: ActionInput): Promise<boolean>;
  putAgent(agent: Omit<AgentRecord, 'updatedAt'>, action: ActionInput): Promise<AgentRecord>;
  suspend(agentId: string, action: ActionInput): Promise<FleetSuspension>;
  resume(agentId: string, action: ActionInput): Promise<boolean>;
  addKill(kill: Omit<KillSwitch, 'id' | 'actor' | 'at'>, action: ActionInput): Promise<KillSwitch>;
  liftKill(id: string, action: ActionInput): Promise<KillSwitch>;
  setBudget(limitId: string, value: number | null, action: ActionInput): Promise<void>;
  propose(name: string, template: TemplateFile, yaml: string, action: ActionInput): Promise<TemplateVersion>;
  approve(name: string, version: number, action: ActionInput): Promise<TemplateVersion>;
  rollback(name: string, version: number, action: ActionInput): Promise<TemplateVersion>;
  decideApproval(id: string, decision: 'approved' | 'denied', action: ActionInput): Promise<ApprovalRecord>;
  revokeGateway(id: string, action: ActionInput): Promise<GatewayRecord>;
  /** Queues a request for a person's decision, bound to nothing (not a person's action). */
  requestApproval(request: { agentId: string | null; request: unknown }): Promise<ApprovalRecord>;
  /**
   * A gateway's call that needs an approval (not a person's action): in one transaction, consumes a
   * usable approval for it, or names the pending one, or creates one (control/approval-rules.ts).
   */
  acquireApproval(req: ApprovalAcquire, gateway: string): Promise<ApprovalAcquireResult>;
  approval(id: string): Promise<ApprovalRecord | null>;

  // ---- reads ----
  agents(): Promise<AgentRecord[]>;
  agent(id: string): Promise<AgentRecord | null>;
  /** Per-agent totals of the ingested audit (kept as events are stored, duplicates not counted). */
  counters(): Promise<Map<string, AgentCounters>>;
  kills(): Promise<KillSwitch[]>;
  budgets(): Promise<{ base: RegistryBase['budgets'] | null; overrides: Record<string, number> }>;
  templates(): Promise<TemplateVersion[]>;
  templateVersion(name: string, version: number): Promise<TemplateVersion | null>;
  activeVersions(): Promise<Map<string, number>>;
  approvals(status?: string): Promise<ApprovalRecord[]>;
  actions(opts: { limit: number; before?: number }): Promise<ActionRecord[]>;
  gateways(): Promise<GatewayRecord[]>;
  gateway(id: string): Promise<GatewayRecord | null>;

  // ---- gateways (not people's actions: no version bump) ----
  hello(hello: HelloRequest, who: { issuer: string; subject: string }): Promise<GatewayRecord>;
  ack(id: string, version: number, error: string | null): Promise<void>;
  /** Marks gateways as seen now (a stream's ping), and their stream open or closed. */
  seen(ids: readonly string[], connected: boolean | null): Promise<void>;
  ingest(gateway: string, records: readonly AuditRecord[]): Promise<IngestResult>;
  audit(query: AuditQuery): Promise<(AuditRecord & { gateway: string })[]>;
  verify(gateway: string): Promise<ChainCheck>;
  /** Counts and spend of the matching events, grouped by `by` and by time buckets of `bucketMs` (each optional). */
  auditStats(query: AuditQuery, opts: { by?: AuditGroup; bucketMs?: number }): Promise<AuditStatsRow[]>;

  // ---- console sessions (store-sessions.ts) ----
  /** Stores a new session (and drops the ended ones). */
  putSession(session: SessionRecord, idleMs: number): Promise<void>;
  /** The live session under `key`, its last use now (written at most once a minute); null when unknown, expired or idle (then deleted). */
  session(key: string, nowMs: number, idleMs: number): Promise<SessionRecord | null>;
  /** Revokes a session; false when there was none. */
  endSession(key: string): Promise<boolean>;
  close(): Promise<void>;
}
