import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dialect as ErrorDialect } from '../errors.js';
import type { CallInfo } from '../providers/dialect.js';
import type { RouteTarget } from '../server/router.js';
import type { Agent } from '../identity/registry.js';
import type { Decision } from '../policy/types.js';

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
  call: CallInfo | null;
  /** The policy decision, once made. */
  decision: Decision | null;
  /** performance.now() at upstream dispatch and at its response end (0 when not reached). */
  upstreamStart: number;
  upstreamEnd: number;
  /** The response is a server-sent event stream. */
  streaming: boolean;
  /** A stable error code when the request ended in error (even after headers were sent). */
  errorCode: string | null;
  private finishers: (() => void)[] | null;

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
    this.call = null;
    this.decision = null;
    this.upstreamStart = 0;
    this.upstreamEnd = 0;
    this.streaming = false;
    this.errorCode = null;
    this.finishers = null;
  }

  /** Registers work that runs once when the request ends, whatever the outcome (incl. client abort). */
  onFinish(fn: () => void): void {
    (this.finishers ??= []).push(fn);
  }

  /** Runs the finishers; called once by the listener when the response closes. */
  finish(): void {
    const fns = this.finishers;
    if (fns === null) return;
    this.finishers = null;
    for (const fn of fns) fn();
  }
}

/** One step of the pipeline: continues by returning, answers early by throwing a GatewayError. */
export type Stage = (ctx: CallContext) => void | Promise<void>;
