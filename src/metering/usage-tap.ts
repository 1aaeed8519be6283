import type { OutgoingHttpHeaders } from 'node:http';
import type { DialectMetering, MeterState, Operation } from '../providers/dialect.js';
import { EVENT_STREAM_TYPE, EventStreamReader } from '../upstream/event-stream.js';
import { type SseEvent, SseSplitter } from '../upstream/sse.js';
import type { ResponseTap } from '../upstream/tap.js';

/** Largest JSON response body kept to read its usage; a larger one is passed on unread. */
const MAX_JSON = 8 * 1024 * 1024;

/**
 * Reads usage and tool calls from a response on its way to the client, through the dialect's
 * reader: a JSON body is copied (bounded) and parsed once the client has all of it (`afterEnd`);
 * a stream is split into events as they pass. When the gateway asked for usage the client did not
 * (`injected`), the events are passed on one by one and the reader drops what the client would not
 * have received; otherwise the bytes pass unchanged.
 */
export class UsageTap implements ResponseTap {
  readonly state: MeterState = { usage: null, toolCalls: null, text: [] };
  status = 0;
  streaming = false;
  /** The body ended normally. */
  ended = false;
  aborted: 'client' | 'upstream' | null = null;
  private chunks: Buffer[] | null = null;
  private size = 0;
  private splitter: SseSplitter | null = null;
  private messages: EventStreamReader | null = null;
  /** Why a binary event stream could not be read (its usage is then estimated), or null. */
  get unreadable(): string | null {
    return this.messages?.broken ?? null;
  }

  constructor(
    private readonly metering: DialectMetering,
    private readonly operation: Operation,
    private readonly injected: boolean,
    /** Called once the response is over (ended, after `afterEnd`; or cut), after the tap read all of it. */
    private readonly onDone: (() => void) | null = null,
  ) {}

  onStart(status: number, headers: OutgoingHttpHeaders): void {
    this.status = status;
    const type = headers['content-type'];
    const binary = typeof type === 'string' && type.startsWith(EVENT_STREAM_TYPE) && this.metering.readMessage !== undefined;
    this.streaming = binary || (typeof type === 'string' && type.startsWith('text/event-stream'));
    if (status >= 300) return; // provider errors carry no usage and are passed on untouched
    this.metering.readHeaders?.(this.operation, headers as Record<string, unknown>, this.state);
    if (binary) this.messages = new EventStreamReader();
    else if (this.streaming) {
      this.splitter = new SseSplitter();
      if (this.injected) delete headers['content-length'];
    } else this.chunks = [];
  }

  onData(chunk: Buffer): Buffer | null {
    const messages = this.messages;
    if (messages !== null) {
      // Binary streams pass byte for byte: the gateway never asks them for more than they carry.
      const read = messages.push(chunk);
      for (let i = 0; i < read.length; i++) this.metering.readMessage!(this.operation, read[i], this.state);
      return chunk;
    }
    const splitter = this.splitter;
    if (splitter !== null) {
      const events = splitter.push(chunk);
      if (!this.injected) {
        for (let i = 0; i < events.length; i++) this.read(events[i]);
        return chunk;
      }
      return this.pass(events);
    }
    if (this.chunks !== null) {
      this.size += chunk.length;
      if (this.size > MAX_JSON) this.chunks = null;
      else this.chunks.push(chunk);
    }
    return chunk;
  }

  onEnd(): Buffer | null {
    this.ended = true;
    if (this.messages !== null) {
      this.messages.end();
      return null;
    }
    const splitter = this.splitter;
    if (splitter === null) return null; // a JSON body passes unchanged: read in afterEnd, once the client has it
    const events = splitter.end();
    if (!this.injected) {
      for (const e of events) this.read(e);
      return null;
    }
    return this.pass(events);
  }

  afterEnd(): void {
    const chunks = this.chunks;
    if (chunks !== null && this.size > 0) {
      // Most bodies arrive in one chunk: read it where it is, no copy.
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.size);
      try {
        this.metering.readJson(this.operation, JSON.parse(body.toString('utf8')), this.state);
      } catch {
        // not JSON: no usage to read
      }
      this.chunks = null;
    }
    this.onDone?.();
  }

  onAbort(reason: 'client' | 'upstream'): void {
    this.aborted = reason;
    this.chunks = null;
    this.onDone?.();
  }

  private read(event: SseEvent): string | null {
    let data: unknown = null;
    const d = event.data;
    if (d.charCodeAt(0) === 123 /* { */) {
      try {
        data = JSON.parse(d);
      } catch {
        data = null;
      }
    }
    return this.metering.readEvent(this.operation, event, data, this.state, this.injected);
  }

  private pass(events: SseEvent[]): Buffer | null {
    if (events.length === 0) return null;
    let out = '';
    for (let i = 0; i < events.length; i++) {
      const raw = this.read(events[i]);
      if (raw !== null) out += raw;
    }
    return out === '' ? null : Buffer.from(out, 'utf8');
  }
}
