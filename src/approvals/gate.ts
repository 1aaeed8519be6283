import { performance } from 'node:perf_hooks';
import type { ApprovalSettings } from '../config/agents-schema.js';
import type { ApprovalAcquireResult, ApprovalView } from '../control/protocol.js';
import { GatewayError } from '../errors.js';
import type { Agent } from '../identity/registry.js';
import type { Logger } from '../log.js';
import type { CallContext } from '../pipeline/context.js';
import { MCP_STATELESS_REVISION } from '../providers/mcp.js';
import { APPROVAL_HEADER, APPROVAL_INPUT, requestHash, requestSummary } from './request.js';
import type { ApprovalBackend, ApprovalMetrics } from './types.js';

export interface ApprovalGateOptions {
  backend: ApprovalBackend;
  metrics: ApprovalMetrics;
  /** The approval settings of the agent's template (defaults when it has none). */
  settings(agent: Agent): ApprovalSettings;
  /** Redacts the summary shown to people (credentials the gateway holds, secret-looking values). */
  redact(text: string): string;
  /** Where a person decides an approval (`{id}` replaced), offered to 2026-07-28 MCP agents as a URL elicitation; null: the error only. */
  url: string | null;
  log: Logger;
}

const DEFAULTS: ApprovalSettings = { mode: 'async', timeoutSeconds: 300, ttlSeconds: 900 };
export const defaultApprovalSettings = (): ApprovalSettings => ({ ...DEFAULTS });

const idHeader = (id: string) => ({ [APPROVAL_HEADER]: id });

/**
 * The approval gate: what the policy stage runs when a decision obliges `require_approval`, last,
 * after the other obligations were enforced (so a call denied for another reason never asks a
 * person). The call is bound to an approval by its agent and request hash (request.ts):
 *
 * - a usable approval (or the one `x-aos-approval-id` names, if it matches) is consumed, once, and
 *   the call goes on;
 * - else a pending approval is created (or the one already waiting for the same request reused),
 *   and by the template's `approval.mode` the call is answered `aos_approval_pending` at once
 *   (async) or held until a person decides or the timeout passes (block). A held call has no
 *   upstream connection and no budget reservation yet (those stages come after the policy).
 *
 * The call's audit event records the approval (ctx.approval).
 */
export function createApprovalGate(opts: ApprovalGateOptions): (ctx: CallContext) => Promise<void> {
  const { backend, log } = opts;

  const acquire = async (ctx: CallContext, agent: Agent, hash: string, approvalId: string | null, settings: ApprovalSettings): Promise<ApprovalAcquireResult> => {
    try {
      return await backend.acquire({
        agentId: agent.id,
        requestHash: hash,
        request: requestSummary(ctx, opts.redact),
        approvalId,
        timeoutSeconds: settings.timeoutSeconds,
        ttlSeconds: settings.ttlSeconds,
      });
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      log.error('approvals: the approvals store cannot be reached; the call is refused', { id: ctx.id, err: (err as Error).message });
      throw new GatewayError('aos_approval_unavailable', 'this call needs a human approval and the approvals store cannot be reached now: try again later', { cause: err });
    }
  };

  const record = (ctx: CallContext, a: ApprovalView, status: string, started: number) => {
    ctx.approval = { id: a.id, status, approver: a.decidedBy, reason: a.reason, waitedMs: performance.now() - started };
  };

  const refused = (ctx: CallContext, r: Extract<ApprovalAcquireResult, { outcome: 'refused' }>, started: number, named: string | null): never => {
    const id = r.approval?.id ?? named ?? '';
    if (r.approval !== null) record(ctx, r.approval, r.approval.status, started);
    const messages = {
      aos_approval_not_found: `no approval ${id}: send the request without x-aos-approval-id to ask for one`,
      aos_approval_mismatch: `approval ${id} was asked for another agent or another request (method, path, query and body must be the same)`,
      aos_approval_expired: `approval ${id} expired: send the request without x-aos-approval-id to ask again`,
      aos_approval_used: `approval ${id} was already used: an approval lets one call through, once`,
      aos_approval_denied: `approval ${id} was denied${r.approval?.decidedBy ? ` by ${r.approval.decidedBy}` : ''}${r.approval?.reason ? `: ${r.approval.reason}` : ''}`,
    };
    throw new GatewayError(r.code, messages[r.code], { headers: idHeader(id), data: { approval_id: id } });
  };

  /** Holds the call until the approval is decided, the timeout passes, or the client leaves. */
  const hold = async (ctx: CallContext, agent: Agent, hash: string, pending: ApprovalView, settings: ApprovalSettings, started: number): Promise<void> => {
    const deadline = Math.min(Date.now() + settings.timeoutSeconds * 1000, pending.expiresAt === null ? Number.POSITIVE_INFINITY : Date.parse(pending.expiresAt));
    const left = new AbortController();
    const onClose = () => left.abort();
    ctx.res.once('close', onClose);
    if (ctx.res.destroyed) left.abort();
    // Recorded now too: a client that leaves mid-wait ends the call (and its audit event) before the wait returns.
    record(ctx, pending, 'pending', started);
    let decided: ApprovalView | null;
    opts.metrics.held(1);
    try {
      decided = await backend.wait(pending.id, deadline, left.signal);
    } finally {
      ctx.res.off('close', onClose);
      opts.metrics.held(-1);
    }
    if (left.signal.aborted) {
      // The client left: the approval stays pending (a retry of the same request can still use it).
      record(ctx, pending, 'pending', started);
      throw new GatewayError('aos_approval_pending', `the client left while approval ${pending.id} was pending`, { headers: idHeader(pending.id), data: { approval_id: pending.id } });
    }
    const a = decided ?? pending;
    if (a.status === 'approved') {
      // Consumed like any other use: atomically, once (another call for the same request may race for it).
      const r = await acquire(ctx, agent, hash, a.id, settings);
      if (r.outcome === 'use') {
        dropApprovalInput(ctx);
        return record(ctx, r.approval, 'used', started);
      }
      if (r.outcome === 'refused') return refused(ctx, r, started, a.id);
      record(ctx, r.approval, r.approval.status, started);
      throw new GatewayError('aos_approval_timeout', `approval ${a.id} was not usable when the call went on`, { headers: idHeader(a.id), data: { approval_id: a.id } });
    }
    record(ctx, a, a.status === 'pending' ? 'expired' : a.status, started);
    if (a.status === 'denied') {
      throw new GatewayError('aos_approval_denied', `approval ${a.id} was denied${a.decidedBy ? ` by ${a.decidedBy}` : ''}${a.reason ? `: ${a.reason}` : ''}`, {
        headers: idHeader(a.id),
        data: { approval_id: a.id },
      });
    }
    throw new GatewayError('aos_approval_timeout', `approval ${a.id} was not decided within ${settings.timeoutSeconds} s; it expired (send the request again to ask again)`, {
      headers: idHeader(a.id),
      data: { approval_id: a.id },
    });
  };

  return async function approvalGate(ctx) {
    const agent = ctx.agent;
    if (agent === null) throw new GatewayError('aos_approval_required', 'this call needs a human approval, and approvals are bound to an agent: turn identity on');
    const started = performance.now();
    const header = ctx.req.headers[APPROVAL_HEADER];
    const named = typeof header === 'string' && header !== '' ? header.slice(0, 200) : null;
    const settings = opts.settings(agent);
    const hash = requestHash(ctx);
    const r = await acquire(ctx, agent, hash, named, settings);
    if (r.outcome === 'use') {
      dropApprovalInput(ctx);
      return record(ctx, r.approval, 'used', started);
    }
    if (r.outcome === 'refused') return refused(ctx, r, started, named);
    const a = r.approval;
    if (settings.mode === 'block') return hold(ctx, agent, hash, a, settings, started);
    record(ctx, a, 'pending', started);
    throw new GatewayError(
      'aos_approval_pending',
      `this call waits for a human approval: approval ${a.id} is pending (until ${a.expiresAt}); send the same request again once it is approved (optionally with x-aos-approval-id: ${a.id})`,
      { headers: idHeader(a.id), data: { approval_id: a.id }, result: opts.url === null ? undefined : (urlElicitation(ctx, a.id, opts.url) ?? undefined) },
    );
  };
}

interface McpParams {
  _meta?: { 'io.modelcontextprotocol/clientCapabilities'?: { elicitation?: { url?: unknown } } };
  inputResponses?: Record<string, unknown>;
  requestState?: unknown;
}

const mcpParams = (ctx: CallContext): McpParams | null => {
  const p = (ctx.json as { params?: unknown } | undefined)?.params;
  return p !== null && typeof p === 'object' && !Array.isArray(p) ? (p as McpParams) : null;
};

/**
 * A pending approval as MCP 2026-07-28 `input_required` with a URL elicitation (mode `url`): the
 * agent's client shows the person the page where the approval is decided, and sends the call again
 * (with `inputResponses`/`requestState`, which the approval's key leaves out) once it is. Only for
 * a 2026-07-28 agent that declared URL elicitation; null otherwise (the error stands).
 */
function urlElicitation(ctx: CallContext, id: string, template: string): Record<string, unknown> | null {
  const call = ctx.call;
  if (call === null || call.kind !== 'mcp' || call.revisions?.agent !== MCP_STATELESS_REVISION || ctx.rpcId === null) return null;
  if (mcpParams(ctx)?._meta?.['io.modelcontextprotocol/clientCapabilities']?.elicitation?.url === undefined) return null;
  const what = call.tool === null || call.tool === undefined ? call.operation : `${call.tool.server ?? ''}/${call.tool.name}`;
  return {
    resultType: 'input_required',
    inputRequests: {
      [APPROVAL_INPUT]: {
        method: 'elicitation/create',
        params: {
          mode: 'url',
          elicitationId: id,
          url: template.replaceAll('{id}', encodeURIComponent(id)),
          message: `${what} waits for a person's approval (${id}): open the link; send the call again once it is approved.`,
        },
      },
    },
    requestState: `${APPROVAL_INPUT}:${id}`,
  };
}

/** The answer to the gateway's own approval elicitation is the gateway's: it does not go to the server. */
function dropApprovalInput(ctx: CallContext): void {
  const p = mcpParams(ctx);
  if (p === null || ctx.route?.tool?.kind !== 'mcp') return;
  const state = p.requestState;
  const responses = p.inputResponses;
  if (typeof state === 'string' && state.startsWith(`${APPROVAL_INPUT}:`)) delete p.requestState;
  else if (responses?.[APPROVAL_INPUT] === undefined) return;
  if (responses !== undefined) {
    delete responses[APPROVAL_INPUT];
    if (Object.keys(responses).length === 0) delete p.inputResponses;
  }
  ctx.jsonChanged = true;
}
