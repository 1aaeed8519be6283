import type { OutgoingHttpHeaders } from 'node:http';
import { GatewayError, renderError } from '../errors.js';
import type { RpcId } from '../providers/mcp.js';
import { type SseEvent, SseSplitter } from '../upstream/sse.js';
import type { ResponseTap } from '../upstream/tap.js';
import type { ListKind } from './mcp-list-cache.js';

export interface ToolsListTapOptions {
  /** The id of the list request; null: any response whose result carries the list (a resumed stream). */
  id: RpcId | null;
  /** The result's list: `tools` (tools/list, the default), `prompts` (prompts/list), `resources` (resources/list). */
  list?: 'tools' | 'prompts' | 'resources';
  /** Sees every entry of the page as the server sent it (the schema cache learns tools from it). */
  learn(entries: readonly unknown[]): void;
  /** Sees the whole result as the server sent it, before it is filtered (the list cache keeps it). */
  onResult?(result: Record<string, unknown>): void;
  /** Whether the agent may see this entry, by its name (tools, prompts) or URI (resources). */
  keep(entry: { name: string }): boolean;
  /** A JSON answer larger than this cannot be filtered: it is replaced by an error. */
  maxBytes: number;
}

/**
 * Rewrites tools/list (prompts/list, resources/list) results on their way to the agent, keeping only
 * what it may use. A JSON
 * answer is held whole (its length changes, so `content-length` goes); an SSE answer passes event
 * by event, and only the event carrying the result is rewritten (its `id:`/`event:` lines kept).
 * Anything else (an error status, another content type) passes unchanged.
 */
export function createToolsListTap(opts: ToolsListTapOptions): ResponseTap {
  const list = opts.list ?? 'tools';
  const key = list === 'resources' ? 'uri' : 'name';
  const marker = `"${list}"`;
  let mode: 'json' | 'sse' | 'pass' = 'pass';
  let held: Buffer[] = [];
  let size = 0;
  let splitter: SseSplitter | null = null;

  /** The message rewritten, or null when it is not the answer to filter. */
  const rewrite = (text: string): string | null => {
    let msg: { id?: unknown; result?: Record<string, unknown> };
    try {
      msg = JSON.parse(text);
    } catch {
      return null;
    }
    if (msg === null || typeof msg !== 'object' || msg.result === null || typeof msg.result !== 'object') return null;
    const entries = msg.result[list];
    if (opts.id !== null ? msg.id !== opts.id : !Array.isArray(entries)) return null;
    if (!Array.isArray(entries)) return null;
    opts.learn(entries);
    opts.onResult?.({ ...msg.result });
    msg.result[list] = entries.filter((e) => {
      const name = e !== null && typeof e === 'object' ? (e as Record<string, unknown>)[key] : undefined;
      return typeof name === 'string' && opts.keep({ name });
    });
    return JSON.stringify(msg);
  };

  const event = (e: SseEvent): string => {
    if (e.data === '' || !e.data.includes(marker)) return e.raw;
    const out = rewrite(e.data);
    if (out === null) return e.raw;
    const kept = e.raw.split(/\r\n|\r|\n/).filter((line) => line !== '' && line !== 'data' && !line.startsWith('data:'));
    kept.push(`data: ${out}`);
    return `${kept.join('\n')}\n\n`;
  };
  const events = (list: SseEvent[]): Buffer | null => {
    if (list.length === 0) return null;
    let text = '';
    for (const e of list) text += event(e);
    return Buffer.from(text);
  };

  return {
    onStart(status: number, headers: OutgoingHttpHeaders) {
      const type = String(headers['content-type'] ?? '');
      if (status !== 200) return;
      if (type.startsWith('text/event-stream')) {
        mode = 'sse';
        splitter = new SseSplitter();
      } else if (type.startsWith('application/json')) {
        mode = 'json';
      } else {
        return;
      }
      delete headers['content-length'];
    },
    onData(chunk) {
      if (mode === 'pass') return chunk;
      if (mode === 'sse') return events(splitter!.push(chunk));
      size += chunk.length;
      if (size <= opts.maxBytes) held.push(chunk);
      else held = [];
      return null;
    },
    onEnd() {
      if (mode === 'sse') return events(splitter!.end());
      if (mode !== 'json') return null;
      if (size > opts.maxBytes) {
        // Passing it unfiltered would show the agent tools it may not use.
        const err = new GatewayError('aos_upstream_error', `the ${list}/list answer is over ${opts.maxBytes} bytes and cannot be filtered`);
        return Buffer.from(renderError(err, 'jsonrpc', opts.id));
      }
      const body = Buffer.concat(held, size);
      held = [];
      const out = rewrite(body.toString('utf8'));
      return out === null ? body : Buffer.from(out);
    },
  };
}

/** Counts the response bytes passed to the agent into `target.resultBytes` when the response ends or is cut. */
export function createResultSizeTap(target: { resultBytes?: number }): ResponseTap {
  let n = 0;
  return {
    onData(chunk) {
      n += chunk.length;
      return chunk;
    },
    onEnd() {
      target.resultBytes = n;
      return null;
    },
    onAbort() {
      target.resultBytes = n;
    },
  };
}

const LISTS_CHANGED: readonly (readonly [ListKind, Buffer])[] = (['tools', 'prompts', 'resources'] as const).map((l) => [l, Buffer.from(`"notifications/${l}/list_changed"`)]);

/**
 * Watches an SSE answer for `notifications/<list>/list_changed` (the server's tools, prompts or
 * resources changed) and calls `onChanged` with the list, once per chunk that carries it; the bytes
 * pass untouched. A match split across two chunks is found: the tail of each chunk is kept.
 */
export function createListChangedTap(onChanged: (list: ListKind) => void): ResponseTap {
  let sse = false;
  let tail: Buffer | null = null;
  const keep = 40;
  return {
    onStart(status, headers) {
      sse = status === 200 && String(headers['content-type'] ?? '').startsWith('text/event-stream');
    },
    onData(chunk) {
      if (!sse) return chunk;
      for (const [list, needle] of LISTS_CHANGED) {
        const n = needle.length;
        // Across the boundary only the last n-1 bytes of the previous chunk can matter: no copy of the chunk.
        const across = tail !== null && Buffer.concat([tail.subarray(-(n - 1)), chunk.subarray(0, n - 1)]).indexOf(needle) !== -1;
        if (across || chunk.indexOf(needle) !== -1) onChanged(list);
      }
      tail = Buffer.from(chunk.length >= keep ? chunk.subarray(chunk.length - keep) : Buffer.concat([tail ?? Buffer.alloc(0), chunk]).subarray(-keep));
      return chunk;
    },
  };
}
