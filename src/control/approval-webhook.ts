import type { Logger } from '../log.js';
import type { ApprovalView } from './protocol.js';

export interface WebhookConfig {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  retries: number;
}

/** The line a person reads in a chat channel (Slack's `text`). */
export function approvalText(a: ApprovalView): string {
  const r = (a.request ?? {}) as Record<string, unknown>;
  const what = [
    r.tool === null || r.tool === undefined ? null : `tool ${r.server === null || r.server === undefined ? '' : `${String(r.server)}/`}${String(r.tool)}`,
    r.operation ? `operation ${String(r.operation)}` : null,
  ]
    .filter((x) => x !== null)
    .join(', ');
  return `AOS approval needed: agent ${a.agentId ?? '(unknown)'} asks for ${String(r.method ?? '')} ${String(r.path ?? '')}${what === '' ? '' : ` (${what})`}. Decide by ${a.expiresAt ?? 'its deadline'}: aos approvals approve ${a.id} --reason "…" (or deny).`;
}

/**
 * Tells a webhook of every new pending approval: a JSON POST, Slack-compatible (a top-level `text`)
 * with the record under `approval`. Sent off the request path (the call never waits for it), with a
 * timeout per attempt and `retries` more attempts (250 ms, doubling); a failure is logged and
 * counted, and the approval stays in the queue for whoever looks.
 */
export function createApprovalWebhook(config: WebhookConfig, log: Logger, failed: () => void): (a: ApprovalView) => void {
  const send = async (a: ApprovalView) => {
    const body = JSON.stringify({ text: approvalText(a), approval: a });
    let lastError = '';
    for (let attempt = 0; attempt <= config.retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
      try {
        const res = await fetch(config.url, { method: 'POST', headers: { ...config.headers, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(config.timeoutMs) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
        lastError = `status ${res.status}`;
      } catch (err) {
        lastError = (err as Error).message;
      }
    }
    failed();
    log.warn('approvals: the webhook could not be told of a pending approval', { approval: a.id, url: redactUrl(config.url), attempts: config.retries + 1, error: lastError });
  };
  return (a) => {
    setImmediate(() => void send(a));
  };
}

/** The webhook URL without its path (a Slack incoming-webhook URL carries its secret in the path). */
function redactUrl(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
