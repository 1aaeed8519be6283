import type { OutgoingHttpHeaders } from 'node:http';
import { McpToolsListError } from '../errors.js';
import { MCP_STATELESS_REVISION } from '../providers/mcp.js';
import { SseSplitter } from '../upstream/sse.js';
import type { ResponseTap } from '../upstream/tap.js';
import type { Upstream } from '../upstream/upstreams.js';
import { isRecord } from './json.js';
import { postMessage } from './mcp-schemas.js';

/**
 * Which revision of MCP each side speaks, and what the gateway does between them.
 *
 * - 2025-11-25 (and older): an `initialize` handshake opens a session (`Mcp-Session-Id`); servers
 *   send requests of their own (elicitation, sampling) on the answer's SSE stream.
 * - 2026-07-28: stateless. Every request carries its revision (`MCP-Protocol-Version`, and
 *   `io.modelcontextprotocol/protocolVersion` in `_meta`), `Mcp-Method` and `Mcp-Name` headers;
 *   `server/discover` replaces `initialize`; results carry `resultType`; list results `ttlMs` and
 *   `cacheScope`.
 *
 * A 2026-07-28 agent in front of a 2025-11-25 server: the gateway holds one upstream session per
 * agent (opened with the agent's client capabilities, reopened when the server forgets it), answers
 * `server/discover` from the session's `initialize` result, and adds `resultType` (and, on lists,
 * caching hints) to the results. A server that speaks the agent's revision gets the request as is
 * (with `Mcp-Method`/`Mcp-Name` set for a 2026-07-28 server).
 */
export const REV_STATELESS = MCP_STATELESS_REVISION;
export const REV_SESSION = '2025-11-25';
export type Revision = string;

export interface Discovered {
  /** The revisions the server speaks, newest first. */
  readonly versions: readonly string[];
  /** `server/discover` (2026-07-28) or `initialize` result, for answering `server/discover` to agents. */
  readonly result: Record<string, unknown>;
}

/** One agent's upstream session on a session-revision server. */
interface Session {
  readonly id: string | null;
  readonly result: Record<string, unknown>;
}

export interface ServerRevisions {
  /** What the server speaks: configured, or probed once (`server/discover`) and cached. */
  discover(requestId: string): Promise<Discovered>;
  /** The agent's upstream session (opened on first use with its client capabilities). */
  session(agent: string, capabilities: unknown, requestId: string): Promise<Session>;
  /** The server forgot the session (404): the next request opens a new one. */
  forget(agent: string, id: string): void;
  /** The server announced changes: the cached discovery is read again. */
  invalidate(): void;
}

const MAX_SESSIONS = 10_000;

/** The revision an agent's POST speaks: 2026-07-28 when its header or `_meta` says so; else the session revision. */
export function agentRevision(header: string | string[] | undefined, params: Record<string, unknown> | null): Revision {
  if (header === REV_STATELESS) return REV_STATELESS;
  const meta = params?._meta;
  if (isRecord(meta) && meta['io.modelcontextprotocol/protocolVersion'] === REV_STATELESS) return REV_STATELESS;
  return typeof header === 'string' ? header : REV_SESSION;
}

export function createServerRevisions(upstream: Upstream, configured: 'auto' | typeof REV_SESSION | typeof REV_STATELESS): ServerRevisions {
  let discovered: Promise<Discovered> | null = null;
  const sessions = new Map<string, Promise<Session>>();

  const probe = async (requestId: string): Promise<Discovered> => {
    if (configured !== REV_SESSION) {
      const res = await postMessage(
        upstream,
        { 'mcp-protocol-version': REV_STATELESS, 'mcp-method': 'server/discover', 'x-aos-request-id': requestId },
        { jsonrpc: '2.0', id: 'aos-discover', method: 'server/discover', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': REV_STATELESS } } },
      ).catch((err: Error) => (configured === REV_STATELESS ? Promise.reject(err) : null));
      const answer = res?.messages.find((m) => isRecord(m) && m.id === 'aos-discover') as { result?: unknown } | undefined;
      const result = answer?.result;
      if (res?.status === 200 && isRecord(result) && Array.isArray(result.supportedVersions) && result.supportedVersions.includes(REV_STATELESS)) {
        return { versions: result.supportedVersions as string[], result };
      }
      if (configured === REV_STATELESS) throw new McpToolsListError(`server/discover did not name ${REV_STATELESS} (HTTP ${res?.status})`);
    }
    // A session-revision server: its versions are learned from the sessions' initialize results.
    return { versions: [REV_SESSION, '2025-06-18', '2025-03-26'], result: {} };
  };

  const open = async (agent: string, capabilities: unknown, requestId: string): Promise<Session> => {
    const caps = isRecord(capabilities) ? capabilities : {};
    const res = await postMessage(
      upstream,
      { 'mcp-protocol-version': REV_SESSION, 'x-aos-request-id': requestId },
      {
        jsonrpc: '2.0',
        id: 'aos-initialize',
        method: 'initialize',
        params: { protocolVersion: REV_SESSION, capabilities: caps, clientInfo: { name: `aos-gateway for ${agent || 'anonymous'}`, version: '1' } },
      },
    );
    const answer = res.messages.find((m) => isRecord(m) && m.id === 'aos-initialize') as { result?: unknown; error?: { message?: string } } | undefined;
    if (res.status !== 200 || !isRecord(answer?.result)) throw new McpToolsListError(`initialize answered HTTP ${res.status}: ${answer?.error?.message ?? res.text.slice(0, 200)}`);
    const sid = res.headers['mcp-session-id'];
    const id = typeof sid === 'string' ? sid : null;
    const headers: Record<string, string> = { 'mcp-protocol-version': String(answer.result.protocolVersion ?? REV_SESSION), 'x-aos-request-id': requestId };
    if (id !== null) headers['mcp-session-id'] = id;
    await postMessage(upstream, headers, { jsonrpc: '2.0', method: 'notifications/initialized' });
    return { id, result: answer.result };
  };

  return {
    discover(requestId) {
      discovered ??= probe(requestId).catch((err) => {
        discovered = null;
        throw err;
      });
      return discovered;
    },
    session(agent, capabilities, requestId) {
      let s = sessions.get(agent);
      if (s === undefined) {
        s = open(agent, capabilities, requestId);
        s.catch(() => sessions.delete(agent));
        sessions.set(agent, s);
        if (sessions.size > MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
      }
      return s;
    },
    forget(agent, id) {
      const s = sessions.get(agent);
      if (s !== undefined) void s.then((x) => x.id === id && sessions.get(agent) === s && sessions.delete(agent)).catch(() => {});
    },
    invalidate() {
      discovered = null;
    },
  };
}

/** `server/discover`'s result for a 2026-07-28 agent, from a session-revision server's `initialize` result. */
export function discoverResult(init: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    resultType: 'complete',
    supportedVersions: [REV_STATELESS],
    capabilities: init.capabilities ?? {},
    _meta: { 'io.modelcontextprotocol/serverInfo': init.serverInfo ?? { name: 'unknown', version: '0' } },
    // The agent sees the capabilities as filtered by nobody: they are the same for every agent.
    ttlMs: 0,
    cacheScope: 'public',
  };
  if (typeof init.instructions === 'string') out.instructions = init.instructions;
  return out;
}

const LISTS = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']);

/**
 * Rewrites the JSON-RPC messages of an answer (JSON or SSE, event by event) on their way to the
 * agent; `rewrite` returns the message changed in place (true) or not (false).
 */
export function createMessageTap(rewrite: (msg: Record<string, unknown>) => boolean): ResponseTap {
  let mode: 'json' | 'sse' | 'pass' = 'pass';
  let held: Buffer[] = [];
  let splitter: SseSplitter | null = null;
  const one = (text: string): string | null => {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return null;
    }
    return isRecord(msg) && rewrite(msg) ? JSON.stringify(msg) : null;
  };
  const events = (list: { raw: string; data: string }[]): Buffer | null => {
    if (list.length === 0) return null;
    let out = '';
    for (const e of list) {
      const changed = e.data === '' ? null : one(e.data);
      if (changed === null) out += e.raw;
      else out += `${[...e.raw.split(/\r\n|\r|\n/).filter((l) => l !== '' && l !== 'data' && !l.startsWith('data:')), `data: ${changed}`].join('\n')}\n\n`;
    }
    return Buffer.from(out);
  };
  return {
    onStart(_status: number, headers: OutgoingHttpHeaders) {
      const type = String(headers['content-type'] ?? '');
      if (type.startsWith('text/event-stream')) {
        mode = 'sse';
        splitter = new SseSplitter();
      } else if (type.startsWith('application/json')) mode = 'json';
      else return;
      delete headers['content-length'];
    },
    onData(chunk) {
      if (mode === 'pass') return chunk;
      if (mode === 'sse') return events(splitter!.push(chunk));
      held.push(chunk);
      return null;
    },
    onEnd() {
      if (mode === 'sse') return events(splitter!.end());
      if (mode !== 'json') return null;
      const body = Buffer.concat(held);
      held = [];
      return Buffer.from(one(body.toString('utf8')) ?? body);
    },
  };
}

/** A session-revision server's answer to `method`, as a 2026-07-28 agent expects it: `resultType`, and caching hints on lists. */
export function toStatelessResult(id: unknown, method: string): (msg: Record<string, unknown>) => boolean {
  const list = LISTS.has(method);
  return (msg) => {
    if (msg.id !== id || !isRecord(msg.result)) return false;
    const r = msg.result;
    r.resultType ??= 'complete';
    if (list) {
      // The old server gave no hint: immediately stale, and private (the gateway filters lists per agent).
      r.ttlMs ??= 0;
      r.cacheScope ??= 'private';
    }
    return true;
  };
}
