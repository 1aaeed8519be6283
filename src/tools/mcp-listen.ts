import type { ServerResponse } from 'node:http';
import type { RpcId } from '../providers/mcp.js';
import { SseSplitter } from '../upstream/sse.js';
import type { Upstream } from '../upstream/upstreams.js';
import { isRecord } from './json.js';
import { postMessage } from './mcp-schemas.js';

/**
 * `subscriptions/listen` (2026-07-28) for an agent whose server speaks 2025-11-25, in the upstream
 * session the gateway holds for the agent (tools/mcp-revisions.ts).
 *
 * 2026-07-28 (its subscriptions text: the listen request's answer is a stream that stays open; it
 * starts with `notifications/subscriptions/acknowledged` naming the part of the filter the server
 * honours, then carries the notifications asked for, each with
 * `_meta["io.modelcontextprotocol/subscriptionId"]`, the listen request's id). 2025-11-25 sends the
 * same notifications on the session's GET stream, resources only after `resources/subscribe`.
 *
 * The gateway opens the session's GET stream once (shared by the agent's listens: a server allows
 * one per session), subscribes each resource the policy lets the agent read (counted, so two listens
 * of one URI subscribe it once), acknowledges what the server can send (its capabilities say which
 * lists announce changes, and whether resources can be subscribed), and relays. When a listen
 * ends, its resources are unsubscribed; the last one closes the GET stream.
 */
const FILTER_OF: Readonly<Record<string, string>> = {
  'notifications/tools/list_changed': 'toolsListChanged',
  'notifications/prompts/list_changed': 'promptsListChanged',
  'notifications/resources/list_changed': 'resourcesListChanged',
};
/** How long a call waits for the session's GET stream to open before it goes. */
const READY_MS = 2000;
const LISTS: Readonly<Record<string, string>> = { toolsListChanged: 'tools', promptsListChanged: 'prompts', resourcesListChanged: 'resources' };

interface Hub {
  readonly abort: AbortController;
  readonly listeners: Set<(msg: Record<string, unknown>) => void>;
  readonly uris: Map<string, number>;
  /** Calls waiting for the server's requests (elicitation, sampling) on the GET stream, earliest first. */
  readonly watchers: ((msg: Record<string, unknown>) => boolean)[];
  /** Whether the GET stream opened (a server may have none: 405). */
  readonly ready: Promise<boolean>;
  /** Kept open for calls once one watched (the server may ask on it at any time). */
  kept: boolean;
}

export interface ListenOptions {
  /** The held session's id and the headers its requests carry. */
  session: string;
  headers: Record<string, string>;
  /** The server's capabilities (its initialize result). */
  capabilities: Record<string, unknown>;
  /** What the agent asked for (`params.notifications`). */
  requested: Record<string, unknown>;
  /** Whether the policy lets the agent read a resource (its subscription is refused otherwise). */
  mayRead: (uri: string) => boolean;
  id: RpcId;
  res: ServerResponse;
  requestId: string;
}

export interface SessionListens {
  /** Answers a listen request on `res` (a stream, open until the agent closes it). */
  listen(opts: ListenOptions): Promise<void>;
  /**
   * Opens (or shares) the session's GET stream, once open, and hands the server's requests that come
   * on it to `onRequest` (the earliest watcher that takes it); returns how to stop watching.
   */
  watch(session: string, headers: Record<string, string>, onRequest: (msg: Record<string, unknown>) => boolean): Promise<() => void>;
  /** Listens open, for tests and metrics. */
  size(): number;
  close(): void;
}

const sse = (msg: unknown) => `event: message\ndata: ${JSON.stringify(msg)}\n\n`;

/** A server's `notifications/<list>/list_changed`, for the gateway's own caches (learned schemas, kept lists). */
export const LIST_CHANGED: Readonly<Record<string, 'tools' | 'prompts' | 'resources'>> = {
  'notifications/tools/list_changed': 'tools',
  'notifications/prompts/list_changed': 'prompts',
  'notifications/resources/list_changed': 'resources',
};

export function createSessionListens(upstream: Upstream, onListChanged: (list: 'tools' | 'prompts' | 'resources') => void = () => {}): SessionListens {
  const hubs = new Map<string, Hub>();
  let open = 0;

  const connect = (session: string, headers: Record<string, string>): Hub => {
    let opened: (ok: boolean) => void = () => {};
    const ready = new Promise<boolean>((r) => {
      opened = r;
    });
    const hub: Hub = { abort: new AbortController(), listeners: new Set(), uris: new Map(), watchers: [], ready, kept: false };
    hubs.set(session, hub);
    const h: Record<string, string> = { ...headers, accept: 'text/event-stream' };
    for (let i = 0; i < upstream.headers.length; i += 2) h[upstream.headers[i]] = upstream.headers[i + 1];
    if (upstream.auth !== null) h[upstream.auth[0]] = upstream.auth[1];
    const relay = async () => {
      const res = await upstream.pool.request({ path: upstream.basePath, method: 'GET', headers: h, signal: hub.abort.signal, bodyTimeout: 0 });
      opened(res.statusCode === 200);
      if (res.statusCode !== 200) return void res.body.resume();
      const splitter = new SseSplitter();
      for await (const chunk of res.body) {
        for (const e of splitter.push(chunk as Buffer)) {
          let msg: unknown;
          try {
            msg = e.data === '' ? null : JSON.parse(e.data);
          } catch {
            continue;
          }
          if (!isRecord(msg) || typeof msg.method !== 'string') continue;
          if (msg.id === undefined) {
            const list = LIST_CHANGED[msg.method];
            if (list !== undefined) onListChanged(list);
            for (const l of hub.listeners) l(msg);
          }
          // A request of the server's on the GET stream: for the agent's call that waits (the earliest).
          else hub.watchers.find((w) => w(msg));
        }
      }
    };
    relay()
      .catch(() => {})
      .finally(() => {
        opened(false);
        // The stream ended (the server closed it, the session expired): the next use opens another.
        if (hubs.get(session) === hub) hubs.delete(session);
      });
    return hub;
  };

  const rpc = async (headers: Record<string, string>, method: string, uri: string, requestId: string): Promise<boolean> => {
    const id = `aos-${method}-${uri}`;
    const res = await postMessage(upstream, { ...headers, 'x-aos-request-id': requestId }, { jsonrpc: '2.0', id, method, params: { uri } }).catch(() => null);
    return res !== null && res.status === 200 && res.messages.some((m) => isRecord(m) && m.id === id && m.result !== undefined);
  };

  return {
    async listen(opts) {
      const { requested, capabilities: caps } = opts;
      const accepted: Record<string, unknown> = {};
      for (const [key, list] of Object.entries(LISTS)) {
        const cap = caps[list];
        if (requested[key] === true && isRecord(cap) && cap.listChanged === true) accepted[key] = true;
      }
      const hub = hubs.get(opts.session) ?? connect(opts.session, opts.headers);
      const uris: string[] = [];
      const resources = caps.resources;
      if (Array.isArray(requested.resourceSubscriptions) && isRecord(resources) && resources.subscribe === true) {
        for (const uri of new Set(requested.resourceSubscriptions)) {
          if (typeof uri !== 'string' || !opts.mayRead(uri)) continue;
          const n = hub.uris.get(uri) ?? 0;
          if (n === 0 && !(await rpc(opts.headers, 'resources/subscribe', uri, opts.requestId))) continue;
          hub.uris.set(uri, n + 1);
          uris.push(uri);
        }
        accepted.resourceSubscriptions = uris;
      }
      const { res, id } = opts;
      const tag = (msg: Record<string, unknown>) => {
        const params = isRecord(msg.params) ? msg.params : {};
        return sse({ ...msg, params: { ...params, _meta: { ...(isRecord(params._meta) ? params._meta : {}), 'io.modelcontextprotocol/subscriptionId': id } } });
      };
      const listener = (msg: Record<string, unknown>) => {
        const key = FILTER_OF[msg.method as string];
        const wanted = key !== undefined ? accepted[key] === true : msg.method === 'notifications/resources/updated' && isRecord(msg.params) && uris.includes(msg.params.uri as string);
        if (wanted && !res.writableEnded) res.write(tag(msg));
      };
      hub.listeners.add(listener);
      open++;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-aos-request-id': opts.requestId });
      res.write(tag({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: accepted } }));
      res.once('close', () => {
        open--;
        hub.listeners.delete(listener);
        for (const uri of uris) {
          const n = (hub.uris.get(uri) ?? 1) - 1;
          if (n > 0) hub.uris.set(uri, n);
          else {
            hub.uris.delete(uri);
            void rpc(opts.headers, 'resources/unsubscribe', uri, opts.requestId);
          }
        }
        if (hub.listeners.size === 0 && !hub.kept && hubs.get(opts.session) === hub) {
          hubs.delete(opts.session);
          hub.abort.abort();
        }
      });
    },
    async watch(session, headers, onRequest) {
      const hub = hubs.get(session) ?? connect(session, headers);
      hub.kept = true;
      hub.watchers.push(onRequest);
      // Bounded: a server slow to open its GET stream does not hold the call (it may then ask on the call's stream only).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([hub.ready, new Promise((r) => (timer = setTimeout(r, READY_MS)))]);
      clearTimeout(timer);
      return () => {
        const at = hub.watchers.indexOf(onRequest);
        if (at >= 0) hub.watchers.splice(at, 1);
      };
    },
    size: () => open,
    close() {
      for (const hub of hubs.values()) hub.abort.abort();
      hubs.clear();
    },
  };
}
