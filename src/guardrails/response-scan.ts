import type { OutgoingHttpHeaders } from 'node:http';
import { SseSplitter } from '../upstream/sse.js';
import type { ResponseTap } from '../upstream/tap.js';
import { scanBody } from './scan.js';
import type { Finding, Match, Scanner } from './types.js';

/** Largest whole response body scanned; past it the body is not scanned (and the call flagged). */
const MAX_BODY = 8 * 1024 * 1024;
const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\b/i;

/**
 * Scans a model's (or tool's) response on its way to the client, for the profiles that ask for it:
 * a whole JSON body at its end, a stream event by event. In a stream each text field (by its JSON
 * path: `choices.0.delta.content`, `delta.text`) keeps a look-behind of `scanner.window` characters,
 * so a value split across events is found once, and nothing is buffered whole. Findings are reported
 * with paths under `response.`; the bytes pass on unchanged.
 */
export class ResponseScanTap implements ResponseTap {
  private splitter: SseSplitter | null = null;
  private chunks: Buffer[] | null = null;
  private size = 0;
  private readonly behind = new Map<string, { tail: string; offset: number; reported: number }>();
  private readonly found: Match[] = [];
  private left: number;
  /** The scan bound was reached (reported once). */
  private over = false;

  constructor(
    private readonly scanner: Scanner,
    private readonly skip: ReadonlySet<string>,
    private readonly report: (f: Finding) => void,
    private readonly unscanned: (reason: 'size' | 'not_json') => void,
  ) {
    this.left = scanner.maxChars;
  }

  onStart(status: number, headers: OutgoingHttpHeaders): void {
    if (status >= 300) return;
    const type = headers['content-type'];
    if (typeof type !== 'string') return;
    if (type.startsWith('text/event-stream')) this.splitter = new SseSplitter();
    else if (JSON_TYPE.test(type)) this.chunks = [];
    else this.unscanned('not_json'); // a binary stream (AWS event stream) or text that is not JSON
  }

  onData(chunk: Buffer): Buffer {
    const splitter = this.splitter;
    if (splitter !== null) {
      for (const e of splitter.push(chunk)) this.event(e.data);
    } else if (this.chunks !== null) {
      this.size += chunk.length;
      if (this.size > MAX_BODY) {
        this.chunks = null;
        this.unscanned('size');
      } else this.chunks.push(chunk);
    }
    return chunk;
  }

  onEnd(): null {
    if (this.splitter !== null) {
      for (const e of this.splitter.end()) this.event(e.data);
      return null;
    }
    const chunks = this.chunks;
    this.chunks = null;
    if (chunks === null || chunks.length === 0) return null;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return null; // not JSON: not scanned
    }
    const scan = scanBody(this.scanner, body, this.skip);
    for (const f of scan.findings) this.report({ ...f, path: `response.${f.path}` });
    if (scan.truncated) this.unscanned('size');
    return null;
  }

  onAbort(): void {
    this.chunks = null;
  }

  private event(data: string): void {
    if (data.charCodeAt(0) !== 123 /* { */) return;
    let v: unknown;
    try {
      v = JSON.parse(data);
    } catch {
      return;
    }
    this.strings(v, []);
  }

  private strings(v: unknown, path: (string | number)[]): void {
    if (v === null || typeof v !== 'object') return;
    const o = v as Record<string | number, unknown>;
    for (const k of Array.isArray(v) ? v.keys() : Object.keys(v)) {
      if (typeof k === 'string' && this.skip.has(k)) continue;
      const x = o[k];
      path.push(k);
      if (typeof x === 'string') {
        if (x.length > 0) this.text(x, path.join('.'));
      } else if (x !== null && typeof x === 'object') this.strings(x, path);
      path.pop();
    }
  }

  /** Scans the look-behind and the new text; reports matches that end in the new text and were not reported. */
  private text(s: string, where: string): void {
    if (this.left <= 0) {
      if (!this.over) this.unscanned('size');
      this.over = true;
      return;
    }
    this.left -= s.length;
    let b = this.behind.get(where);
    if (b === undefined) {
      b = { tail: '', offset: 0, reported: -1 };
      this.behind.set(where, b);
    }
    const text = b.tail + s;
    const found = this.found;
    found.length = 0;
    this.scanner.scan(text, found);
    for (const m of found) {
      const start = b.offset + m.start;
      if (m.end <= b.tail.length || start <= b.reported) continue;
      b.reported = start;
      this.report({ detector: m.detector, severity: m.severity, path: `response.${where}` });
    }
    const keep = Math.min(text.length, this.scanner.window);
    b.offset += text.length - keep;
    b.tail = text.slice(text.length - keep);
  }
}
