import type { OutgoingHttpHeaders } from 'node:http';
import { type SseEvent, SseSplitter } from '../upstream/sse.js';
import type { ResponseTap } from '../upstream/tap.js';

/** Largest whole (not streamed) response body restored; a larger one passes on as it came. */
const MAX_BODY = 8 * 1024 * 1024;
const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\b/i;
const PLACEHOLDER = /\[[A-Z][A-Z0-9_]*_\d+\]/g;
/** The start of a placeholder at the very end of a text: the rest may come in the next event. */
const PARTIAL = /\[[A-Z0-9_]*$/;

/**
 * Puts the values the gateway redacted back into the response of the same request: the agent sees
 * its own data, the provider never did. Only this request's placeholders are replaced (a model that
 * writes `[EMAIL_7]` of its own keeps it). JSON bodies and server-sent events only: other bodies (an
 * AWS event stream) pass on as they came. A whole body is restored at its end; a stream event by
 * event, where a placeholder split across two events (`[EMA` + `IL_1]`) holds the first event back
 * until the next one completes (or does not complete) it.
 */
export class RestoreTap implements ResponseTap {
  private readonly json: Map<string, string>;
  private splitter: SseSplitter | null = null;
  private chunks: Buffer[] | null = null;
  private size = 0;
  private held: Held | null = null;

  constructor(private readonly placeholders: ReadonlyMap<string, string>) {
    // In JSON text a value is written escaped.
    this.json = new Map();
    for (const [p, v] of placeholders) this.json.set(p, JSON.stringify(v).slice(1, -1));
  }

  onStart(status: number, headers: OutgoingHttpHeaders): void {
    if (status >= 300) return;
    const type = headers['content-type'];
    if (typeof type !== 'string') return;
    if (type.startsWith('text/event-stream')) this.splitter = new SseSplitter();
    else if (JSON_TYPE.test(type)) this.chunks = [];
    else return; // a binary stream (AWS event stream) or text that is not JSON: passed on as it is
    delete headers['content-length'];
  }

  onData(chunk: Buffer): Buffer | null {
    if (this.splitter !== null) return this.events(this.splitter.push(chunk));
    const chunks = this.chunks;
    if (chunks === null) return chunk;
    this.size += chunk.length;
    if (this.size <= MAX_BODY) {
      chunks.push(chunk);
      return null;
    }
    // Too large to hold: what was held goes on unrestored, and the rest as it comes.
    this.chunks = null;
    chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  onEnd(): Buffer | null {
    if (this.splitter !== null) {
      let out = this.events(this.splitter.end())?.toString('utf8') ?? '';
      if (this.held !== null) out += this.held.flush();
      this.held = null;
      return out === '' ? null : Buffer.from(out, 'utf8');
    }
    const chunks = this.chunks;
    this.chunks = null;
    if (chunks === null || chunks.length === 0) return null;
    return Buffer.from(this.replace(Buffer.concat(chunks).toString('utf8'), this.json), 'utf8');
  }

  private replace(text: string, values: ReadonlyMap<string, string>): string {
    return text.replace(PLACEHOLDER, (p) => values.get(p) ?? p);
  }

  private events(events: SseEvent[]): Buffer | null {
    let out = '';
    for (const e of events) out += this.event(e);
    return out === '' ? null : Buffer.from(out, 'utf8');
  }

  private event(e: SseEvent): string {
    const held = this.held;
    if (held === null && !e.data.includes('[')) return e.raw;
    let data: unknown;
    try {
      data = JSON.parse(e.data);
    } catch {
      // Not JSON: whole placeholders only.
      const flushed = held === null ? '' : held.flush();
      this.held = null;
      return flushed + (e.data.includes('[') ? this.replace(e.raw, this.json) : e.raw);
    }
    let out = '';
    let carry = '';
    if (held !== null) {
      this.held = null;
      const next = held.path === null ? undefined : at(data, held.path);
      if (typeof next === 'string') {
        carry = held.tail;
        set(data, held.path!, carry + next);
        out = held.release();
      } else out = held.flush();
    }
    const found = { path: null as (string | number)[] | null, tail: '' };
    const changed = this.restoreStrings(data, [], found) || carry !== '';
    if (found.path !== null) {
      this.held = new Held(e.raw, data, found.path, found.tail);
      return out;
    }
    return out + (changed ? withData(e.raw, JSON.stringify(data)) : e.raw);
  }

  /** Restores the placeholders of every string in `v`; notes the first string that ends in a partial one. */
  private restoreStrings(v: unknown, path: (string | number)[], found: { path: (string | number)[] | null; tail: string }): boolean {
    if (v === null || typeof v !== 'object') return false;
    let changed = false;
    const o = v as Record<string | number, unknown>;
    for (const k of Array.isArray(v) ? v.keys() : Object.keys(v)) {
      const x = o[k];
      if (typeof x === 'string') {
        let s = x.includes('[') ? this.replace(x, this.placeholders) : x;
        if (found.path === null) {
          const m = PARTIAL.exec(s);
          if (m !== null && this.couldStart(m[0])) {
            found.path = [...path, k];
            found.tail = m[0];
            s = s.slice(0, m.index);
          }
        }
        if (s !== x) {
          o[k] = s;
          changed = true;
        }
      } else if (x !== null && typeof x === 'object') {
        path.push(k);
        if (this.restoreStrings(x, path, found)) changed = true;
        path.pop();
      }
    }
    return changed;
  }

  private couldStart(tail: string): boolean {
    for (const p of this.placeholders.keys()) if (p.startsWith(tail)) return true;
    return false;
  }
}

/** An event held back because its text ended in what may be the start of a placeholder. */
class Held {
  constructor(
    readonly raw: string,
    readonly data: unknown,
    readonly path: (string | number)[] | null,
    readonly tail: string,
  ) {}

  /** The event without its tail (the next event carries it on). */
  release(): string {
    return withData(this.raw, JSON.stringify(this.data));
  }

  /** The event as it was restored, tail included (no placeholder after all). */
  flush(): string {
    if (this.path !== null) set(this.data, this.path, (at(this.data, this.path) as string) + this.tail);
    return withData(this.raw, JSON.stringify(this.data));
  }
}

function at(v: unknown, path: readonly (string | number)[]): unknown {
  let x = v;
  for (const k of path) {
    if (x === null || typeof x !== 'object') return undefined;
    x = (x as Record<string | number, unknown>)[k];
  }
  return x;
}

function set(v: unknown, path: readonly (string | number)[], value: string): void {
  const holder = at(v, path.slice(0, -1)) as Record<string | number, unknown>;
  holder[path[path.length - 1]] = value;
}

/** The raw event with its data lines replaced by one line of `data` (other fields, e.g. `id:`, kept). */
export function withData(raw: string, data: string): string {
  const lines = raw.split(/\r\n|\r|\n/);
  let out = '';
  let written = false;
  for (const line of lines) {
    if (line === '') continue;
    if (line.startsWith('data:') || line === 'data') {
      if (!written) out += `data: ${data}\n`;
      written = true;
    } else out += `${line}\n`;
  }
  if (!written) out += `data: ${data}\n`;
  return `${out}\n`;
}
