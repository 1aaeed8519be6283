import type { CallContext } from '../pipeline/context.js';
import { newTraceId, randomHexId } from './trace-ids.js';

/** W3C trace context: version, trace id, parent span id, flags. */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}/;
const ZERO_TRACE = '0'.repeat(32);
const MAX_WORKFLOW_ID = 128;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/g;

/** The trace id of the agent's traceparent and the workflow id (`x-aos-workflow-id`, or baggage `aos.workflow_id`). */
export function readTraceHeaders(ctx: CallContext): void {
  const h = ctx.req.headers;
  const tp = h.traceparent;
  if (ctx.traceId === null && typeof tp === 'string') {
    const m = TRACEPARENT.exec(tp);
    if (m !== null && m[1] !== ZERO_TRACE) ctx.traceId = m[1];
  }
  // Read once: the workflow stage (src/coordination/workflow.ts) may have read it, or started one.
  if (ctx.workflowId !== null) return;
  const wf = h['x-aos-workflow-id'];
  if (typeof wf === 'string' && wf !== '') {
    ctx.workflowId = clean(wf);
  } else if (typeof h.baggage === 'string') {
    ctx.workflowId = baggageWorkflow(h.baggage) ?? ctx.workflowId;
  }
}

function baggageWorkflow(baggage: string): string | null {
  let found: string | null = null;
  for (const member of baggage.split(',')) {
    const eq = member.indexOf('=');
    if (eq === -1 || member.slice(0, eq).trim() !== 'aos.workflow_id') continue;
    const v = member
      .slice(eq + 1)
      .split(';')[0]
      .trim();
    try {
      found = clean(decodeURIComponent(v));
    } catch {
      found = clean(v);
    }
  }
  return found;
}

/** The agent's span id, when its traceparent is the trace this call is in. */
export function parentSpanId(ctx: CallContext): string | null {
  const tp = ctx.req.headers.traceparent;
  if (typeof tp !== 'string' || ctx.traceId === null) return null;
  const m = TRACEPARENT.exec(tp);
  return m !== null && m[1] === ctx.traceId ? m[2] : null;
}

/** Ids for the call's span, exported later from its audit event: the agent's trace (or a new one), a new span. */
export function assignSpanIds(ctx: CallContext): void {
  if (ctx.traceparent !== null) return;
  let traceId = ctx.traceId;
  if (traceId === null) {
    traceId = newTraceId();
    ctx.traceId = traceId;
  }
  ctx.traceparent = `00-${traceId}-${randomHexId(8)}-01`;
}

function clean(v: string): string | null {
  const s = v.trim().replace(CONTROL_CHARS, '').slice(0, MAX_WORKFLOW_ID);
  return s === '' ? null : s;
}
