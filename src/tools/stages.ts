import type { IncomingHttpHeaders } from 'node:http';
import { describeErrors } from '../config/json-schema.js';
import type { GatewayConfig } from '../config/schema.js';
import { ERRORS, type ErrorCode, GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallContext, Stage } from '../pipeline/context.js';
import { policyInput, policyTool } from '../policy/decide.js';
import type { Decision, PolicyInput } from '../policy/types.js';
import type { CallInfo, ToolCall } from '../providers/dialect.js';
import { queryObject } from '../providers/http-tool.js';
import { checkMcpHeaders, describeMcp, encodeMcpName, type McpMessage, methodLabel, parseMcpMessage, protocolMeta, type RpcId } from '../providers/mcp.js';
import type { ToolMatch } from '../routing/target.js';
import type { McpMetrics } from '../telemetry/metrics.js';
import { isRecord } from './json.js';
import { createMetadataStage } from './mcp-auth.js';
import { createRoundTap, type EmulatedSession, initializeResult, listen, mayAskInput, type Round, statelessHeaders, withSessionMeta } from './mcp-emulated.js';
import { createInputRequiredTap, fingerprint, resumeParked } from './mcp-input-required.js';
import type { ListKind } from './mcp-list-cache.js';
import { createListChangedTap, createResultSizeTap, createToolsListTap } from './mcp-list-tap.js';
import { agentRevision, createMessageTap, type Discovered, discoverResult, REV_SESSION, REV_STATELESS, toStatelessResult } from './mcp-revisions.js';
import type { ToolSchema } from './mcp-schemas.js';
import type { HttpToolOperation, McpServer } from './registry.js';

/** The stages of tool registry routes, composed once per config (see server/proxy.ts). */
export interface ToolStages {
  /** HTTP tools: refuses a path no operation declares (404), after identity and before the body. */
  operation: Stage;
  /** HTTP tools: reads the JSON body (when there is one) and describes the call for the policy. */
  describe: Stage;
  /** HTTP tools: after the policy allowed it, checks the body against the operation's JSON Schema. */
  validate: Stage;
  /** MCP: parses and describes the JSON-RPC message (before the policy), adds the session and list taps. */
  mcp: Stage;
  /** MCP: after the policy allowed a tools/call, checks its arguments against the tool's inputSchema. */
  mcpValidate: Stage;
  /** MCP: answers `/.well-known/oauth-protected-resource/mcp/<name>` (RFC 9728). */
  mcpMetadata: Stage;
  /**
   * MCP, after the policy: speaks to the server in its revision (tools/mcp-revisions.ts): a
   * 2026-07-28 agent's request to a 2025-11-25 server goes in the agent's upstream session, with
   * `server/discover` answered by the gateway.
   */
  mcpRevision: Stage;
}

export interface ToolStageOptions {
  /** Evaluates one policy input (null when policy is off): tools/list filtering. */
  evaluate: ((input: PolicyInput) => Decision | null) | null;
  /** Largest JSON tools/list answer that can be filtered. */
  maxListBytes: number;
  /** The issuers named in the MCP servers' protected resource metadata. */
  config: GatewayConfig;
  /** List cache hits and misses (absent in unit tests that do not count them). */
  metrics?: McpMetrics;
  log: Logger;
}

const LISTS = ['tools', 'prompts', 'resources'] as const;
const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\b/i;

function mcpMatch(ctx: CallContext): ToolMatch & { kind: 'mcp' } {
  return ctx.route!.tool as ToolMatch & { kind: 'mcp' };
}

function mcpServer(ctx: CallContext): McpServer {
  return mcpMatch(ctx).server;
}

function httpMatch(ctx: CallContext): ToolMatch & { kind: 'tool' } {
  return ctx.route!.tool as ToolMatch & { kind: 'tool' };
}

function describeOperations(ops: readonly HttpToolOperation[]): string {
  return ops.map((o) => `${o.name} ${o.method} ${o.pattern.source}`).join(', ');
}

/** Parses a JSON body; `required` says the route cannot do without one. */
function readJson(ctx: CallContext, what: string, required: boolean): unknown {
  const body = ctx.body;
  const type = ctx.req.headers['content-type'];
  if (body === null || body.length === 0) {
    if (required) throw new GatewayError('aos_bad_request', `${what} needs a JSON request body`);
    return undefined;
  }
  if (type !== undefined && !JSON_TYPE.test(type)) {
    if (!required) return undefined;
    throw new GatewayError('aos_unsupported_media_type', `expected content-type application/json, got ${JSON.stringify(type.slice(0, 100))}`);
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new GatewayError('aos_bad_request', `the request body is not valid JSON: ${(err as Error).message}`);
  }
}

const call = (kind: CallInfo['kind'], operation: string, tool: ToolCall | null): CallInfo => ({ kind, operation, model: null, stream: false, maxTokens: null, tool });

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export function createToolStages(opts: ToolStageOptions): ToolStages {
  const { evaluate } = opts;

  const operation: Stage = function toolOperationStage(ctx) {
    const m = httpMatch(ctx);
    if (m.operation === null) {
      const rest = ctx.path.slice(`/tools/${m.tool.name}`.length) || '/';
      throw new GatewayError('aos_route_not_found', `tool ${m.tool.name} has no operation for ${ctx.req.method} ${rest} (operations: ${describeOperations(m.tool.operations)})`);
    }
  };

  const describe: Stage = function toolDescribeStage(ctx) {
    const m = httpMatch(ctx);
    const op = m.operation!;
    const body = readJson(ctx, `operation ${op.name} of tool ${m.tool.name}`, op.schema !== null);
    const tool: ToolCall = {
      name: m.tool.name,
      server: null,
      args: { params: m.params, query: queryObject(ctx.query), body: body ?? null },
      labels: op.traits.labels as Record<string, string>,
      sensitive: op.traits.sensitive,
      readOnly: op.traits.readOnly,
    };
    ctx.call = call('tool', op.name, tool);
    ctx.tap(createResultSizeTap(tool));
  };

  const validate: Stage = function toolValidateStage(ctx) {
    const op = httpMatch(ctx).operation!;
    const args = ctx.call!.tool!.args as { query: Record<string, unknown>; body: unknown };
    // A copy: coercion rewrites values, and what the policy saw (and the audit reads) stays as sent.
    if (op.querySchema !== null && !op.querySchema.validate({ ...args.query })) {
      throw new GatewayError('aos_invalid_arguments', `the query of ${op.routeName} does not match its schema: ${describeErrors(op.querySchema.validate.errors)}`);
    }
    if (op.schema !== null && !op.schema.validate(args.body)) {
      throw new GatewayError('aos_invalid_arguments', `the body of ${op.routeName} does not match its schema: ${describeErrors(op.schema.validate.errors)}`);
    }
  };

  /**
   * Whether the policy lets this agent use the tool (any arguments), get the prompt or read the
   * resource: what a list keeps.
   */
  const mayUse = (ctx: CallContext, server: McpServer, operation: 'tools/call' | 'prompts/get' | 'resources/read', name: string): boolean => {
    if (evaluate === null) return true;
    const input = policyInput(ctx);
    const isCall = operation === 'tools/call';
    const traits = isCall ? server.toolTraits(name) : server.traits;
    input.call.operation = operation;
    input.call.tool = policyTool({ name, server: server.name, args: null, labels: traits.labels as Record<string, string>, sensitive: traits.sensitive, readOnly: isCall ? traits.readOnly : true });
    const d = evaluate(input);
    // A tool that needs an approval stays listed: the agent may use it, once approved.
    return d !== null && d.error === null && d.allow;
  };

  const mcp: Stage = function mcpStage(ctx) {
    const server = mcpServer(ctx);
    const method = ctx.req.method;
    const agent = ctx.agent?.id ?? '';
    const sid = ctx.req.headers['mcp-session-id'];
    let emulated: EmulatedSession | undefined;
    if (typeof sid === 'string') {
      const owner = server.sessions.owner(sid);
      emulated = server.emulated.get(sid);
      // Answered as the server answers an unknown session (404): the client starts a new one. A
      // session the gateway played and no longer holds (a config reload) is unknown too.
      if ((owner !== undefined && owner !== agent) || (emulated === undefined && sid.startsWith(EMULATED_PREFIX)))
        throw new GatewayError('aos_session_not_found', `no MCP session ${JSON.stringify(sid.slice(0, 64))} for this agent on ${server.name}: initialize a new one`);
      if (method === 'DELETE') ctx.tap({ onStart: (status) => void (status < 300 && server.sessions.end(sid)) });
    }
    if (method !== 'POST') {
      // The GET stream (server → agent messages) and DELETE (end of session) carry no message.
      ctx.call = call('mcp', method === 'GET' ? 'stream' : 'session.delete', null);
      if (emulated !== undefined) {
        ctx.call.revisions = { agent: emulated.protocolVersion, server: null };
        return;
      }
      if (method === 'GET') {
        // A resumed stream may replay answers, list results among them: filter those too.
        if (ctx.req.headers['last-event-id'] !== undefined) for (const list of LISTS) addListTap(ctx, server, null, list);
        ctx.tap(createListChangedTap(listChanged(server)));
      }
      return;
    }
    ctx.json = readJson(ctx, 'an MCP POST', true);
    const msg = parseMcpMessage(ctx.json);
    if (msg.type === 'request') ctx.rpcId = msg.id;
    ctx.route = mcpMatch(ctx).targets.get(methodLabel(msg))!;
    checkMcpHeaders(ctx.req.headers, msg);
    const revision = agentRevision(ctx.req.headers['mcp-protocol-version'], msg.type === 'response' ? null : msg.params);
    if (msg.type !== 'request') {
      // Notifications and the agent's answers to server requests are not calls: they pass undecided.
      ctx.call = { ...call('mcp', msg.type === 'notification' ? msg.method : 'response', null), undecided: true, revisions: { agent: revision, server: null } };
      if (emulated !== undefined && msg.type === 'response') answerOfRound(ctx, server, emulated, msg.id);
      return;
    }
    // The stateless revision requires Mcp-Method on every request (and Mcp-Name where the body names something).
    if (revision === REV_STATELESS) {
      if (ctx.req.headers['mcp-method'] === undefined) throw new GatewayError('aos_mcp_header_mismatch', `a ${REV_STATELESS} request needs the Mcp-Method header`);
      if (ctx.req.headers['mcp-name'] === undefined && NAME_REQUIRED.has(msg.method)) throw new GatewayError('aos_mcp_header_mismatch', `a ${REV_STATELESS} ${msg.method} needs the Mcp-Name header`);
    }
    ctx.call = describeMcp(server.name, msg);
    ctx.call.revisions = { agent: revision, server: null };
    traceFromMeta(ctx, msg.params);
    const tool = ctx.call.tool ?? null;
    if (tool !== null) withTraits(server, tool, msg.method === 'tools/call');
    // The server may announce changed tools in any streamed answer: the schemas are then learned again.
    ctx.tap(createListChangedTap(listChanged(server)));
    if (msg.method === 'initialize') {
      // The session the server opens belongs to this agent.
      ctx.tap({
        onStart: (_status, headers) => {
          const opened = headers['mcp-session-id'];
          if (typeof opened === 'string') server.sessions.claim(opened, agent);
        },
      });
    } else if (msg.method === 'tools/list' || msg.method === 'prompts/list' || msg.method === 'resources/list') {
      const list = LIST_OF[msg.method];
      const cursor = typeof msg.params?.cursor === 'string' ? msg.params.cursor : null;
      addListTap(ctx, server, msg.id, list, (result) => {
        // Kept only between a 2026-07-28 agent and server (known once the revision stage ran): the hints are the server's own.
        const r = ctx.call?.revisions;
        if (r?.agent === REV_STATELESS && r.server === REV_STATELESS) server.lists.put(list, cursor, agent, result);
      });
    } else if (msg.method === 'tools/call') {
      ctx.call.meta = protocolMeta(msg);
      ctx.tap(createResultSizeTap(tool!));
    }
  };

  const mcpValidate: Stage = function mcpValidateStage(ctx) {
    const c = ctx.call;
    // Answered by the gateway (a retry relayed from a parked stream): its arguments were checked the first time.
    if (c === null || c.operation !== 'tools/call' || c.undecided === true || ctx.answered) return;
    return checkArguments(ctx, mcpServer(ctx), c.tool!, opts.log);
  };

  /** What of a list this agent may see, by name or URI: decided once per entry. */
  const keeper = (ctx: CallContext, server: McpServer, list: ListKind) => {
    const seen = new Map<string, boolean>();
    const operation = list === 'tools' ? 'tools/call' : list === 'prompts' ? 'prompts/get' : 'resources/read';
    return (name: string): boolean => {
      let ok = seen.get(name);
      if (ok === undefined) {
        ok = mayUse(ctx, server, operation, name);
        seen.set(name, ok);
      }
      return ok;
    };
  };

  const addListTap = (ctx: CallContext, server: McpServer, id: RpcId | null, list: ListKind = 'tools', onResult?: (result: Record<string, unknown>) => void) => {
    const keep = keeper(ctx, server, list);
    ctx.tap(
      createToolsListTap({
        id,
        list,
        learn: list === 'tools' ? (tools) => server.schemas.learn(tools) : () => {},
        onResult,
        keep: (t) => keep(t.name),
        maxBytes: opts.maxListBytes,
      }),
    );
  };

  /**
   * A list request between a 2026-07-28 agent and server, answered from the list cache while the
   * server's `ttlMs` lasts: filtered for this agent as the list tap would, the server not asked.
   */
  const fromListCache = (ctx: CallContext, server: McpServer): void => {
    const msg = ctx.json as { id?: RpcId; method?: string; params?: Record<string, unknown> };
    const list = msg.method === undefined ? undefined : LIST_OF[msg.method];
    if (list === undefined || msg.id === undefined) return;
    const cursor = typeof msg.params?.cursor === 'string' ? msg.params.cursor : null;
    const cached = server.lists.get(list, cursor, ctx.agent?.id ?? '');
    opts.metrics?.listCache(list, cached === null ? 'miss' : 'hit');
    if (cached === null) return;
    const keep = keeper(ctx, server, list);
    const key = list === 'resources' ? 'uri' : 'name';
    cached[list] = (cached[list] as unknown[]).filter((e) => {
      const name = e !== null && typeof e === 'object' ? (e as Record<string, unknown>)[key] : undefined;
      return typeof name === 'string' && keep(name);
    });
    answerJson(ctx, { jsonrpc: '2.0', id: msg.id, result: cached });
  };

  const mcpRevision: Stage = function mcpRevisionStage(ctx) {
    const revisions = ctx.call?.revisions;
    if (revisions === undefined) return;
    const server = mcpServer(ctx);
    if (revisions.agent !== REV_STATELESS) {
      // A session the gateway plays for the agent (its server speaks only 2026-07-28).
      const sid = ctx.req.headers['mcp-session-id'];
      const emulated = typeof sid === 'string' ? server.emulated.get(sid) : undefined;
      if (emulated !== undefined) return emulate(ctx, server, emulated, revisions);
      if ((ctx.json as { method?: unknown } | undefined)?.method === 'initialize' && ctx.req.method === 'POST') return initialize(ctx, server, revisions);
      // Otherwise the agent speaks to the server as it always did: the session it opened says the revision.
      revisions.server = revisions.agent;
      return;
    }
    const pending = toServerRevision(ctx, server, revisions, (uri) => mayUse(ctx, server, 'resources/read', uri));
    return pending.then(() => {
      if (revisions.server === REV_STATELESS && !ctx.answered) fromListCache(ctx, server);
    });
  };

  return { operation, describe, validate, mcp, mcpValidate, mcpMetadata: createMetadataStage(opts.config), mcpRevision };
}

const LIST_OF: Readonly<Record<string, ListKind>> = { 'tools/list': 'tools', 'prompts/list': 'prompts', 'resources/list': 'resources' };

/** What a server's `notifications/<list>/list_changed` drops: the list's cached results, and for tools the learned schemas. */
function listChanged(server: McpServer): (list: ListKind) => void {
  return (list) => {
    if (list === 'tools') server.schemas.invalidate();
    server.lists.invalidate(list);
  };
}

/** Answers the request with one JSON-RPC message of the gateway's own: nothing is forwarded. */
function answerJson(ctx: CallContext, message: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(message);
  ctx.res.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-aos-request-id': ctx.id });
  ctx.res.end(body);
  ctx.answered = true;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * W3C trace context in `_meta` (MCP 2026-07-28, and the OpenTelemetry MCP conventions): without a
 * `traceparent` header, the call joins the trace the message names, so a tool call shows up in the
 * trace of the model call that proposed it; the server then sees the gateway's span as the parent
 * (written into the same `_meta` key, only when the agent sent one).
 */
function traceFromMeta(ctx: CallContext, params: Record<string, unknown> | null): void {
  const meta = params?._meta as Record<string, unknown> | undefined;
  const tp = meta?.traceparent;
  if (typeof tp !== 'string') return;
  const m = TRACEPARENT.exec(tp);
  if (m === null || m[1] === '0'.repeat(32)) return;
  // Without a traceparent header the message's own trace wins, over one the workflow stage started
  // for the call (the call keeps its workflow id).
  if (ctx.req.headers.traceparent === undefined) ctx.traceId = m[1];
  ctx.onForward(() => {
    if (ctx.traceparent === null || ctx.traceparent === tp) return;
    meta!.traceparent = ctx.traceparent;
    ctx.jsonChanged = true;
  });
}

/** The headers the gateway's own requests carry: the agent's, with those a stage set for the upstream over them. */
function fetchHeaders(ctx: CallContext): IncomingHttpHeaders {
  const own = ctx.upstreamHeaders;
  if (own === null) return ctx.req.headers;
  const out: IncomingHttpHeaders = { ...ctx.req.headers };
  for (let i = 0; i < own.length; i += 2) {
    if (own[i + 1] === '') delete out[own[i]];
    else out[own[i]] = own[i + 1];
  }
  return out;
}

/** A 2026-07-28 agent's POST, to the server in the revision it speaks. */
async function toServerRevision(ctx: CallContext, server: McpServer, revisions: { agent: string; server: string | null }, mayRead: (uri: string) => boolean): Promise<void> {
  const msg = ctx.json as { id?: RpcId; method?: string; params?: Record<string, unknown> };
  const method = typeof msg.method === 'string' ? msg.method : null;
  let found: Discovered;
  try {
    found = await server.revisions.discover(ctx.id);
  } catch (err) {
    throw new GatewayError('aos_upstream_error', `could not learn which MCP revision ${server.name} speaks: ${(err as Error).message}`, { cause: err });
  }
  if (found.versions.includes(REV_STATELESS)) {
    revisions.server = REV_STATELESS;
    // The server routes on these headers: set from the body the policy decided on, whatever the agent sent.
    const own = ['mcp-protocol-version', REV_STATELESS];
    if (method !== null) own.push('mcp-method', method);
    const named = method === null ? undefined : msg.params?.[method.startsWith('resources/') ? 'uri' : 'name'];
    if (typeof named === 'string' && ctx.call?.tool != null) own.push('mcp-name', encodeMcpName(named));
    ctx.upstreamHeaders = ctx.upstreamHeaders === null ? own : [...ctx.upstreamHeaders, ...own];
    return;
  }
  revisions.server = REV_SESSION;
  const agent = ctx.agent?.id ?? '';
  const caps = (msg.params?._meta as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/clientCapabilities'];
  let session: Awaited<ReturnType<McpServer['revisions']['session']>>;
  try {
    session = await server.revisions.session(agent, caps, ctx.id);
  } catch (err) {
    throw new GatewayError('aos_upstream_error', `could not open a session with MCP server ${server.name}: ${(err as Error).message}`, { cause: err });
  }
  if (method === 'server/discover' && msg.id !== undefined) return answerJson(ctx, { jsonrpc: '2.0', id: msg.id, result: discoverResult(session.result) });
  const own = ['mcp-protocol-version', String(session.result.protocolVersion ?? REV_SESSION)];
  if (session.id !== null) {
    own.push('mcp-session-id', session.id);
    const id = session.id;
    // The server forgot the session (restart, expiry): the next request opens a new one.
    ctx.tap({ onStart: (status) => void (status === 404 && server.revisions.forget(agent, id)) });
  }
  ctx.upstreamHeaders = ctx.upstreamHeaders === null ? own : [...ctx.upstreamHeaders, ...own];
  if (msg.id === undefined || method === null) return;
  const sessionHeaders: Record<string, string> = {};
  for (let i = 0; i < own.length; i += 2) sessionHeaders[own[i]] = own[i + 1];
  const params = msg.params;
  if (method === 'subscriptions/listen') {
    // Relayed from the session's GET stream, the resources subscribed in the session (tools/mcp-listen.ts).
    const caps = session.result.capabilities;
    await server.listens.listen({
      session: session.id ?? agent,
      headers: sessionHeaders,
      capabilities: isRecord(caps) ? caps : {},
      requested: isRecord(params?.notifications) ? params.notifications : {},
      mayRead,
      id: msg.id,
      res: ctx.res,
      requestId: ctx.id,
    });
    ctx.answered = true;
    return;
  }
  if (params !== undefined && (params.requestState !== undefined || params.inputResponses !== undefined)) {
    // The retry of an input-required round trip: the gateway's own state names the parked request.
    const parked = typeof params.requestState === 'string' ? server.inputs.take(params.requestState, agent) : undefined;
    if (parked !== undefined) {
      try {
        if (parked.fingerprint !== fingerprint(method, params))
          throw new GatewayError('aos_bad_request', `a retry with requestState must repeat the request it answers (${parked.method}, the same name and arguments)`);
        await resumeParked(parked, { id: msg.id, params }, { res: ctx.res, requestId: ctx.id, upstream: server.upstream, store: server.inputs });
      } catch (err) {
        // The round trip is broken: the parked call upstream is cut (the agent may start it again).
        parked.abort();
        throw err;
      }
      ctx.answered = true;
      return;
    }
    // Unknown or expired: the server of the old revision knows nothing of them; the request starts again.
    delete params.requestState;
    delete params.inputResponses;
    ctx.jsonChanged = true;
  }
  ctx.tap(createMessageTap(toStatelessResult(msg.id, method)));
  if (isRecord(caps) && (caps.elicitation !== undefined || caps.sampling !== undefined || caps.roots !== undefined)) {
    let unwatch: (() => void) | null = null;
    let over = false;
    const tap = createInputRequiredTap({
      store: server.inputs,
      res: ctx.res,
      agent,
      headers: sessionHeaders,
      id: msg.id,
      method,
      params,
      interrupt: () => ctx.interrupt,
      onClose: () => {
        over = true;
        unwatch?.();
      },
    });
    ctx.tap(tap);
    // The server may ask on the session's GET stream instead of the call's: watched while the call runs (open before it goes).
    if (session.id !== null && method === 'tools/call') {
      const stop = await server.listens.watch(session.id, sessionHeaders, (m) => tap.inject(m));
      if (over) stop();
      else unwatch = stop;
      // Not forwarded (refused), or answered as JSON: the tap never ends, nothing can come on the GET stream for it.
      ctx.onFinish((_o, c) => {
        if (c.upstreamStart === 0 || !c.streaming) unwatch?.();
      });
    }
  }
}

const EMULATED_PREFIX = 'aos-';
/** The requests whose name (or URI) 2026-07-28 repeats in `Mcp-Name`. */
const NAME_REQUIRED = new Set(['tools/call', 'prompts/get', 'resources/read']);

/** Labels and traits of a decided MCP target: the tool's own for tools/call, the server's otherwise. */
function withTraits(server: McpServer, tool: ToolCall, isCall: boolean): void {
  const traits = isCall ? server.toolTraits(tool.name) : server.traits;
  tool.labels = traits.labels as Record<string, string>;
  tool.sensitive = traits.sensitive;
  // Reading a resource or getting a prompt changes nothing on the server.
  tool.readOnly = isCall ? traits.readOnly : true;
}

/** The rounds whose retry a request (the agent's last answer to the server's input requests) stands for. */
const rounds = new WeakMap<CallContext, Round>();

/**
 * The agent's JSON-RPC response to a request the gateway sent it for the server (input required).
 * The last one awaited stands for the retry of the agent's call: described as that call, so the
 * policy decides it, budgets count it and the audit records it as the call it continues.
 */
function answerOfRound(ctx: CallContext, server: McpServer, session: EmulatedSession, id: RpcId | null): void {
  const round = id === null ? undefined : session.asked.get(String(id));
  if (round === undefined || round.answer(String(id), ctx.json as Record<string, unknown>) !== 'complete') return;
  const request: McpMessage & { type: 'request' } = { type: 'request', id: round.id, method: round.method, params: round.params };
  ctx.call = describeMcp(server.name, request);
  ctx.call.revisions = { agent: session.protocolVersion, server: null };
  ctx.call.meta = protocolMeta(request);
  if (ctx.call.tool != null) withTraits(server, ctx.call.tool, round.method === 'tools/call');
  rounds.set(ctx, round);
  // Once every stage let it through (policy, budgets and rate limits, which come last), the call
  // goes again to the server with the answers; a refusal ends the agent's call with it.
  ctx.onFinish((_outcome, c) => {
    if (round.continued) return;
    if (c.errorCode === null && c.answered) return void round.retry(server.upstream, c.id);
    const code = c.errorCode !== null && c.errorCode in ERRORS ? (c.errorCode as ErrorCode) : 'aos_upstream_error';
    round.fail(new GatewayError(code, `the retry of ${round.method} with the agent's answers was refused (${c.errorCode ?? 'not sent'})`));
  });
}

/** A 2025-11-25 agent's `initialize`: a session of the gateway's when the server speaks only 2026-07-28, else passed through. */
async function initialize(ctx: CallContext, server: McpServer, revisions: { agent: string; server: string | null }): Promise<void> {
  let found: Discovered;
  try {
    found = await server.revisions.discover(ctx.id);
  } catch (err) {
    throw new GatewayError('aos_upstream_error', `could not learn which MCP revision ${server.name} speaks: ${(err as Error).message}`, { cause: err });
  }
  if (!found.versions.includes(REV_STATELESS) || found.versions.includes(revisions.agent) || found.versions.includes(REV_SESSION)) {
    revisions.server = revisions.agent;
    return;
  }
  const msg = ctx.json as { id: RpcId; params?: Record<string, unknown> };
  const agent = ctx.agent?.id ?? '';
  const session = server.emulated.open(agent, msg.params ?? null);
  server.sessions.claim(session.id, agent);
  revisions.server = REV_STATELESS;
  answerJson(ctx, { jsonrpc: '2.0', id: msg.id, result: initializeResult(found.result, session) }, { 'mcp-session-id': session.id });
}

/** Accepts a notification or response of the agent's (HTTP 202), as a server does. */
function accepted(ctx: CallContext): void {
  ctx.res.writeHead(202, { 'x-aos-request-id': ctx.id, 'content-length': 0 });
  ctx.res.end();
  ctx.answered = true;
}

/** The server's capabilities, from its cached `server/discover` result. */
async function capabilitiesOf(ctx: CallContext, server: McpServer): Promise<Record<string, unknown>> {
  const caps = (await server.revisions.discover(ctx.id)).result.capabilities;
  return isRecord(caps) ? caps : {};
}

// Longer than most functions: one switch over what a 2025-11-25 agent may send in its session.
/** A request, notification, response, GET or DELETE of a session the gateway plays (tools/mcp-emulated.ts), after the policy. */
async function emulate(ctx: CallContext, server: McpServer, session: EmulatedSession, revisions: { agent: string; server: string | null }): Promise<void> {
  revisions.server = REV_STATELESS;
  const { res } = ctx;
  if (ctx.req.method === 'DELETE') {
    server.emulated.end(session.id);
    server.sessions.end(session.id);
    res.writeHead(200, { 'x-aos-request-id': ctx.id, 'content-length': 0 });
    res.end();
    ctx.answered = true;
    return;
  }
  if (ctx.req.method === 'GET') {
    // The agent's GET stream: fed by a subscriptions/listen of the gateway's.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-aos-request-id': ctx.id });
    res.flushHeaders();
    ctx.answered = true;
    const before = session.stream;
    session.stream = { res, stop: null };
    before?.stop?.();
    before?.res.end();
    res.once('close', () => {
      if (session.stream?.res !== res) return;
      session.stream.stop?.();
      session.stream = null;
    });
    listen(session, server.upstream, await capabilitiesOf(ctx, server).catch(() => ({})), ctx.id, listChanged(server));
    return;
  }
  const msg = ctx.json as { id?: RpcId; method?: string; params?: Record<string, unknown> };
  if (msg.id === undefined || msg.method === undefined) {
    // (The agent's last answer to a round: its retry goes when this request finishes, answerOfRound.)
    if (msg.method === 'notifications/cancelled') {
      const target = msg.params?.requestId;
      session.inflight.get(String(target))?.();
      const cancelled = new GatewayError('aos_upstream_error', 'the agent cancelled the request');
      for (const round of new Set(session.asked.values())) if (round.id === target) round.fail(cancelled);
    }
    return accepted(ctx);
  }
  const method = msg.method;
  const answer = (result: Record<string, unknown>) => answerJson(ctx, { jsonrpc: '2.0', id: msg.id, result });
  switch (method) {
    case 'initialize':
      return answer(initializeResult((await server.revisions.discover(ctx.id)).result, session));
    case 'ping':
      return answer({});
    case 'logging/setLevel':
      // 2026-07-28 has no such request: the level rides in each request's _meta.
      if (typeof msg.params?.level === 'string') session.meta['io.modelcontextprotocol/logLevel'] = msg.params.level;
      return answer({});
    case 'resources/subscribe':
    case 'resources/unsubscribe': {
      const uri = String(msg.params?.uri);
      if (method === 'resources/subscribe') session.subscribed.add(uri);
      else session.subscribed.delete(uri);
      // Relayed through the GET stream's subscriptions/listen, asked again with the new set.
      if (session.stream !== null) listen(session, server.upstream, await capabilitiesOf(ctx, server), ctx.id, listChanged(server));
      return answer({});
    }
  }
  const params = withSessionMeta(session, msg.params);
  msg.params = params;
  ctx.jsonChanged = true;
  ctx.call!.meta = protocolMeta({ type: 'request', id: msg.id, method, params });
  const own = statelessHeaders(method, params);
  ctx.upstreamHeaders = ctx.upstreamHeaders === null ? own : [...ctx.upstreamHeaders, ...own];
  const key = String(msg.id);
  session.inflight.set(key, () => ctx.cut(new GatewayError('aos_upstream_error', `the agent cancelled ${method}`)));
  ctx.onFinish(() => session.inflight.delete(key));
  if (!mayAskInput(method)) return;
  const headers: Record<string, string> = {};
  for (let i = 0; i < own.length; i += 2) if (own[i + 1] !== '') headers[own[i]] = own[i + 1];
  ctx.tap(
    createRoundTap({
      session,
      res,
      id: msg.id,
      method,
      params,
      headers,
      streaming: () => {
        ctx.streaming = true;
      },
    }),
  );
}

/** Validates a tools/call's arguments against the tool's inputSchema, learning it first if needed. */
async function checkArguments(ctx: CallContext, server: McpServer, tool: ToolCall, log: Logger): Promise<void> {
  let known: ToolSchema | null;
  try {
    known = await server.schemas.lookup(tool.name, { headers: fetchHeaders(ctx), meta: ctx.call!.meta ?? null, requestId: ctx.id });
  } catch (err) {
    log.warn('could not read the tools of an MCP server to check a call', { id: ctx.id, server: server.name, error: (err as Error).message });
    throw new GatewayError('aos_upstream_error', `could not read the tools of MCP server ${server.name} to check the call: ${(err as Error).message}`, { cause: err });
  }
  if (known === null) throw new GatewayError('aos_tool_not_found', `MCP server ${server.name} offers no tool ${tool.name}`);
  if (known.schema === null) throw new GatewayError('aos_invalid_arguments', `${known.error}: calls to it are refused`);
  const args = tool.args ?? {};
  if (!known.schema.validate(args)) {
    throw new GatewayError('aos_invalid_arguments', `invalid arguments for tool ${tool.name}: ${describeErrors(known.schema.validate.errors)}`);
  }
}
