import { Counter, Gauge, type Registry } from 'prom-client';
import type { ApprovalMetrics, ApprovalOutcome } from './types.js';

const OUTCOMES: readonly ApprovalOutcome[] = ['requested', 'approved', 'denied', 'expired', 'used'];

/**
 * `aos_approvals_total{outcome}`, `aos_approvals_pending` (read from the store at each scrape;
 * standalone only: under a control plane it owns the queue and reports it), `aos_approvals_held`
 * and `aos_approvals_webhook_failures_total`.
 */
export function createApprovalMetrics(registry: Registry, pending: () => number | null): ApprovalMetrics {
  const registers = [registry];
  const total = new Counter({
    name: 'aos_approvals_total',
    help: 'Approvals by outcome: requested (created), approved, denied, expired, used (let its call through)',
    labelNames: ['outcome'] as const,
    registers,
  });
  for (const o of OUTCOMES) total.labels(o).inc(0);
  new Gauge({
    name: 'aos_approvals_pending',
    help: 'Approvals waiting for a decision (the gateway store; -1 under a control plane, which reports its own)',
    registers,
    collect() {
      this.set(pending() ?? -1);
    },
  });
  const held = new Gauge({ name: 'aos_approvals_held', help: 'Calls held now for a decision (templates with approval.mode: block)', registers });
  const webhook = new Counter({ name: 'aos_approvals_webhook_failures_total', help: 'Pending approvals the webhook could not be told of (after its retries)', registers });
  return {
    count: (outcome, n = 1) => total.labels(outcome).inc(n),
    webhookFailed: () => webhook.inc(),
    held: (delta) => held.inc(delta),
  };
}
