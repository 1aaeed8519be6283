import type { Registry } from 'prom-client';
import { createRedactor, type Redactor } from '../audit/redact.js';
import type { ApprovalSettings } from '../config/agents-schema.js';
import type { ApprovalsConfig } from '../config/schema.js';
import { createApprovalWebhook } from '../control/approval-webhook.js';
import type { ControlClient } from '../fleet/client.js';
import type { AgentRegistry } from '../identity/registry.js';
import type { Logger } from '../log.js';
import type { CallContext } from '../pipeline/context.js';
import { createApprovalGate, defaultApprovalSettings } from './gate.js';
import { createLocalApprovalStore, type LocalApprovalStore } from './local-store.js';
import { createApprovalMetrics } from './metrics.js';
import { createRemoteApprovals } from './remote.js';

/** Approvals as the gateway runs them: the gate the policy stage calls, and (standalone) the queue people decide. */
export interface Approvals {
  readonly gate: (ctx: CallContext) => Promise<void>;
  /** The gateway's own store; null under a control plane (which keeps the approvals). */
  readonly local: LocalApprovalStore | null;
  close(): void;
}

export interface ApprovalsOptions {
  dataDir: string;
  /** Read at start: the webhook and the approver role apply on restart. */
  config: ApprovalsConfig;
  /** The registry in force (each template's `approval` settings). */
  registry(): AgentRegistry | null;
  /** The credentials the gateway holds (providers and tools), redacted from what people are shown. */
  credentials(): readonly string[];
  log: Logger;
  registryMetrics: Registry;
  /** Under a control plane: its gateway API. */
  control: ControlClient | null;
}

/**
 * Standalone: approvals in dataDir/approvals.db, the webhook told of each new one. Under a control
 * plane: created, decided and consumed there (its own webhook tells people), decisions learned by
 * long poll.
 */
export function createApprovals(opts: ApprovalsOptions): Approvals {
  const { log } = opts;
  let local: LocalApprovalStore | null = null;
  const metrics = createApprovalMetrics(opts.registryMetrics, () => local?.pending() ?? null);
  const hook = opts.config.webhook;
  const notify = opts.control === null && hook !== undefined ? createApprovalWebhook(hook, log, () => metrics.webhookFailed()) : null;
  if (opts.control === null) {
    local = createLocalApprovalStore({
      dataDir: opts.dataDir,
      metrics,
      onRequested(a) {
        log.info('approval requested', { approval: a.id, agent: a.agentId, request: a.request });
        notify?.(a);
      },
    });
  }
  let seen: readonly string[] | null = null;
  let redactor: Redactor = createRedactor([]);
  const gate = createApprovalGate({
    backend: local ?? createRemoteApprovals(opts.control!, metrics),
    metrics,
    settings(agent): ApprovalSettings {
      return opts.registry()?.templates.get(agent.template)?.approval ?? defaultApprovalSettings();
    },
    redact(text) {
      const creds = opts.credentials();
      if (creds !== seen) {
        seen = creds;
        redactor = createRedactor(creds);
      }
      return redactor(text);
    },
    url: opts.config.url ?? null,
    log,
  });
  return {
    gate,
    local,
    close: () => local?.close(),
  };
}
