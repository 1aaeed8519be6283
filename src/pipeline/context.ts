import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ERRORS, type ErrorCode, type Dialect as ErrorDialect, type GatewayError } from '../errors.js';
import type { Finding } from '../guardrails/types.js';
import type { Agent } from '../identity/registry.js';
import type { Decision, PolicyInput } from '../policy/types.js';
import type { CallInfo, Usage } from '../providers/dialect.js';
import type { RouteTarget } from '../routing/target.js';
import type { ResponseTap } from '../upstream/tap.js';

/**
 * Per-request state shared by the pipeline stages. Every field is set in the constructor so V8
 * keeps one shape for all requests.
 */
export class CallContext {
  readonly id: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** performance.now() when the request reached the handler. */
  readonly start: number;
  readonly path: string;
  /** The query string including its `?`, or ''. */
  readonly query: string;
  dialect: ErrorDialect;
  route: RouteTarget | null;
  /** The authenticated agent; null when identity is off. */
  agent: Agent | null;
  body: Buffer | null;
  /** The parsed body on inspected routes. */
  json: unknown;
  /** A stage changed `json`: the forwarder serializes it once into the upstream body. */
  jsonChanged: boolean;
  call: CallInfo | null;
  /** Guardrail findings of the request (then of the response, under `response.`); null when no guardrails ran. */
  findings: Finding[] | null;
  /**
   * Applies the policy's `redact` obligation: replaces the request's findings with placeholders
   * (throws a GatewayError where they cannot be redacted). Null when there is nothing to redact.
   */
  redact: (() => void) | null;
  /** The policy decision, once made. */
  decision: Decision | null;
  /** Budget state for the policy input, set by the metering stage before the decision. */
  budget: PolicyInput['budget'];
  /**
   * The request's input tokens as metering estimated them, null when not metered: counted with a
   * tokenizer when `estInputExact`, else an upper bound (the prompt's UTF-8 bytes).
   */
  estInputTokens: number | null;
  estInputExact: boolean;
  /** Real token usage once the response (or what came of it) was read; null when unknown. */
  usage: Usage | null;
  /** Cost of the call in USD once reconciled; null when not metered. */
  costUsd: number | null;
  /** Names of tool calls the model proposed in its response (OpenAI tool_calls, Anthropic tool_use). */
  toolCalls: string[] | null;
  /** Notable conditions for the audit record, e.g. `budget_soft_limit`; null when none. */
  flags: string[] | null;
  /** Response observers/rewriters, run by the forwarder in order; null when none (the common case). */
  taps: ResponseTap[] | null;
  /** performance.now() at upstream dispatch and at its response end (0 when not reached). */
  upstreamStart: number;
  upstreamEnd: number;
  /** The response is a server-sent event stream. */
  streaming: boolean;
  /** A stable error code when the request ended in error (even after headers were sent). */
  errorCode: string | null;
  /** W3C trace id of the call (the agent's traceparent, or the gateway's span); null when none. */
  traceId: string | null;
  /** The traceparent sent upstream in place of the agent's (the gateway's span as parent); null: pass the agent's through. */
  traceparent: string | null;
  /** Workflow id from `x-aos-workflow-id` (or baggage `aos.workflow_id`); null when none. */
  workflowId: string | null;
  /** The JSON-RPC id of an MCP request: its errors answer with it. null otherwise. */
  rpcId: string | number | null;
  /**
   * An audience the agent's token may carry besides the gateway's own: the resource URL of the MCP
   * server the request is for (RFC 8707, set by tools/mcp-auth.ts). Null on other routes.
   */
  resource: string | null;
  /** Set by the forwarder while the call is forwarded: ends it now (see `cut`). */
  interrupt: ((err: GatewayError) => void) | null;
  /** The error a call was cut with before it was forwarded: the forwarder answers it instead. */
  cutBy: GatewayError | null;
  /** The human approval the call was bound to (src/approvals/), for its audit event; null when none was needed. */
  approval: CallApproval | null;
  /** A stage answered the request itself (an MCP request the gateway serves): nothing is forwarded. */
  answered: boolean;
  /**
   * Headers a stage sets on the upstream request, as a flat name/value list (lower-case names): they
   * replace the agent's headers of the same names. Null when none (the common case).
   */
  upstreamHeaders: string[] | null;
  /** An HTTP upgrade request (a WebSocket handshake): its connection; null for every other request. */
  upgrade: UpgradeRequest | null;
  /** The WebSocket session once accepted (101 sent): how it went, for the finishers; null otherwise. */
  session: SessionRecord | null;
  /** How a metered session is charged, response by response (set by metering's reserve stage); null when not metered. */
  sessionMeter: SessionMeter | null;
  /** The call was answered from the response cache (src/coordination/): metering charges it this share of its cost. Null otherwise. */
  cacheHit: { readonly chargeFraction: number } | null;
  /** The delegation the agent acts under (a gateway-signed `x-aos-delegation`, src/coordination/delegation.ts); null: its own call. */
  delegation: Delegation | null;
  private finishers: Finisher[] | null;
  private forwarders: (() => void)[] | null;

  constructor(id: string, req: IncomingMessage, res: ServerResponse, start: number, path: string, query: string, dialect: ErrorDialect) {
    this.id = id;
    this.req = req;
    this.res = res;
    this.start = start;
    this.path = path;
    this.query = query;
    this.dialect = dialect;
    this.route = null;
    this.agent = null;
    this.body = null;
    this.json = undefined;
    this.jsonChanged = false;
    this.call = null;
    this.findings = null;
    this.redact = null;
    this.decision = null;
    this.budget = null;
    this.estInputTokens = null;
    this.estInputExact = false;
    this.usage = null;
    this.costUsd = null;
    this.toolCalls = null;
    this.flags = null;
    this.taps = null;
    this.upstreamStart = 0;
    this.upstreamEnd = 0;
    this.streaming = false;
    this.errorCode = null;
    this.traceId = null;
    this.traceparent = null;
    this.workflowId = null;
    this.rpcId = null;
    this.resource = null;
    this.interrupt = null;
    this.cutBy = null;
    this.approval = null;
    this.answered = false;
    this.upstreamHeaders = null;
    this.upgrade = null;
    this.session = null;
    this.sessionMeter = null;
    this.cacheHit = null;
    this.delegation = null;
    this.finishers = null;
    this.forwarders = null;
  }

  /** Adds a response tap (see upstream/tap.ts); taps run in the order they were added. */
  tap(t: ResponseTap): void {
    if (this.taps === null) this.taps = [];
    this.taps.push(t);
  }

  /** Adds a response tap before every other: it sees the bytes as the upstream sent them. */
  tapFirst(t: ResponseTap): void {
    if (this.taps === null) this.taps = [];
    this.taps.unshift(t);
  }

  /**
   * Ends the call now with `err` (a kill switch): a stream under way ends with an error event in the
   * caller's dialect, a call waiting for its upstream's headers answers the error, and one not yet
   * forwarded is answered the error instead of being forwarded.
   */
  cut(err: GatewayError): void {
    if (this.interrupt !== null) this.interrupt(err);
    else this.cutBy ??= err;
  }

  /** Adds a flag for the audit record, once. */
  flag(name: string): void {
    let f = this.flags;
    if (f === null) {
      f = [];
      this.flags = f;
    }
    if (!f.includes(name)) f.push(name);
  }

  /**
   * Registers work that runs once when the request ends, whatever the outcome (success, error,
   * client abort). Finishers run in reverse order of registration, like deferred calls: a stage
   * that came first (the audit record) finishes last, after later stages settled (the budget).
   */
  onFinish(fn: Finisher): void {
    if (this.finishers === null) this.finishers = [];
    this.finishers.push(fn);
  }

  /** Registers work that runs once the call is decided, last before it is forwarded. */
  onForward(fn: () => void): void {
    if (this.forwarders === null) this.forwarders = [];
    this.forwarders.push(fn);
  }

  /** Runs the forward hooks; called once by the pipeline right before forwarding. */
  forwarding(): void {
    const fns = this.forwarders;
    if (fns === null) return;
    this.forwarders = null;
    for (const fn of fns) fn();
  }

  /** Runs the finishers; called once by the pipeline when the response closes. */
  finish(outcome: Outcome): void {
    const fns = this.finishers;
    if (fns === null) return;
    this.finishers = null;
    for (let i = fns.length - 1; i >= 0; i--) fns[i](outcome, this);
  }
}

/** The approval a call was bound to, as its audit event records it. */
export interface CallApproval {
  readonly id: string;
  /** What the approval came to for this call: `used` (it let the call through), `pending`, `denied`, `expired`. */
  readonly status: string;
  readonly approver: string | null;
  readonly reason: string | null;
  /** How long the call was held for the decision (0 unless the template blocks). */
  readonly waitedMs: number;
}

/** A chain of A2A hand-offs, as the gateway signed it for the agent acting now. */
export interface Delegation {
  /** Who asked whom: first the agent that started the hand-offs, last the one acting now. */
  readonly chain: readonly string[];
  /** Hand-offs so far (chain length − 1). */
  readonly depth: number;
  readonly workflowId: string | null;
  /** The workflow's USD budget the first agent's template set (a workflow budget is drawn by every agent in it); null: none. */
  readonly workflowUsd: number | null;
  /** The workflow's hand-off limit (fan-out) the first agent's template set; null: none. */
  readonly workflowHandoffs: number | null;
  /** Epoch seconds. */
  readonly expiresAt: number;
}

/** An HTTP request asking to upgrade its connection (Node's `upgrade` event): the socket and the bytes read past the head. */
export interface UpgradeRequest {
  readonly socket: Duplex;
  readonly head: Buffer;
  /** `Upgrade: websocket` (any other protocol is refused). */
  readonly websocket: boolean;
}

/** A WebSocket session (the Realtime API) once accepted, as its finishers and audit event see it. */
export interface SessionRecord {
  /** The close code and reason of the client's side (1000 normal, 1001 going away, 1008 policy, 1006 dropped); null until closed. */
  closeCode: number | null;
  closeReason: string;
  /** Responses charged (`response.done` events). */
  responses: number;
  /** Messages relayed: client to upstream, upstream to client; and their bytes. */
  clientMessages: number;
  upstreamMessages: number;
  clientBytes: number;
  upstreamBytes: number;
}

/**
 * How a WebSocket session is charged as it goes (src/metering/ implements it): it holds a
 * reservation for one response at a time; each response that is done is charged and the next one
 * reserved. The reservation still held is released when the session finishes.
 */
export interface SessionMeter {
  /** Charges a response that is done (adds to `ctx.usage` and `ctx.costUsd`) and reserves the next: the refusal when the budgets have no room for it, else null. */
  charge(usage: Usage): GatewayError | null | Promise<GatewayError | null>;
}

/** How a request ended, as its finishers see it. */
export interface Outcome {
  /** The status the client got; 499 when it went away before the whole response was sent. */
  readonly status: number;
  /** Milliseconds from the request's arrival to its end. */
  readonly totalMs: number;
  /** Milliseconds from upstream dispatch to its response end; null when the upstream was not reached. */
  readonly upstreamMs: number | null;
}

/** A finisher gets the request's context too, so a stage can register one shared function instead of a closure per request. */
export type Finisher = (outcome: Outcome, ctx: CallContext) => void;

/** One step of the pipeline: continues by returning, answers early by throwing a GatewayError. */
export type Stage = (ctx: CallContext) => void | Promise<void>;

/**
 * What the gateway decided about a call, as the audit event and the call metrics record it:
 * `allow` when it was forwarded (or allowed and answered without an error), `deny` when it was
 * refused (a 4xx code, even where the wire status is 200: JSON-RPC errors on MCP routes), `none`
 * when no decision was made (the client left, or the gateway failed).
 */
export function callDecision(ctx: CallContext): 'allow' | 'deny' | 'none' {
  if (ctx.upstreamStart !== 0 || ctx.cacheHit !== null) return 'allow';
  const code = ctx.errorCode;
  if (code === 'client_aborted') return 'none';
  if (code !== null) {
    const status = code in ERRORS ? ERRORS[code as ErrorCode].status : 0;
    return status >= 400 && status < 500 ? 'deny' : 'none';
  }
  return ctx.decision?.allow ? 'allow' : 'none';
}
