import type { WorkflowsConfig } from '../config/schema.js';
import type { CallContext, Stage } from '../pipeline/context.js';
import { readTraceHeaders } from '../telemetry/trace-context.js';
import { newTraceId } from '../telemetry/trace-ids.js';

const TRACE_ID = /^[0-9a-f]{32}$/;
const ZERO_TRACE = '0'.repeat(32);
/** The W3C limit on a baggage header (8192 bytes): past it, the member is not added. */
const MAX_BAGGAGE = 8192;

/**
 * The workflow stage, early on every request (docs/coordination.md): reads the call's trace and
 * workflow ids (`traceparent`, `x-aos-workflow-id`, baggage `aos.workflow_id`); when the call names
 * no workflow and `workflows.start` is on, starts one whose id is the call's trace id, so every
 * call of a gateway-started workflow is one trace. The id is answered in `x-aos-workflow-id` (the
 * agent sends it back on its next calls) and sent upstream, to providers, HTTP tools and MCP
 * servers, as the baggage member `aos.workflow_id`, added to the agent's own members (one of the
 * same name is replaced). Every audit event of the call carries it (`workflow_id`).
 */
export function createWorkflowStage(config: WorkflowsConfig): Stage {
  const start = config.start;
  return function workflowStage(ctx) {
    readTraceHeaders(ctx);
    let id = ctx.workflowId;
    if (id === null) {
      if (!start) return;
      if (ctx.traceId === null) ctx.traceId = newTraceId();
      id = ctx.traceId;
      ctx.workflowId = id;
    } else if (ctx.traceId === null && TRACE_ID.test(id) && id !== ZERO_TRACE) {
      // A workflow the gateway started (its id is a trace id): this call joins its trace.
      ctx.traceId = id;
    }
    propagate(ctx, id);
  };
}

/** Answers the workflow id and sends it upstream in `baggage`, merged with the agent's own members. */
function propagate(ctx: CallContext, id: string): void {
  ctx.res.setHeader('x-aos-workflow-id', id);
  const member = `aos.workflow_id=${encodeURIComponent(id)}`;
  const agent = ctx.req.headers.baggage;
  let baggage = member;
  if (typeof agent === 'string' && agent !== '') {
    const kept = agent
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '' && m.split('=')[0].trim() !== 'aos.workflow_id');
    if (kept.length > 0) baggage = `${kept.join(',')},${member}`;
    if (baggage.length > MAX_BAGGAGE) return;
  }
  const own = ctx.upstreamHeaders;
  if (own === null) {
    ctx.upstreamHeaders = ['baggage', baggage];
    return;
  }
  for (let i = 0; i < own.length; i += 2) {
    if (own[i] === 'baggage') {
      own[i + 1] = baggage;
      return;
    }
  }
  own.push('baggage', baggage);
}

/**
 * Puts the call in another workflow than the one the workflow stage read or started: the one a
 * delegation the gateway signed names (src/coordination/delegation.ts). A call without a
 * traceparent of its own joins the workflow's trace when its id is a trace id.
 */
export function joinWorkflow(ctx: CallContext, id: string): void {
  ctx.workflowId = id;
  if (ctx.req.headers.traceparent === undefined && TRACE_ID.test(id) && id !== ZERO_TRACE) ctx.traceId = id;
  propagate(ctx, id);
}
