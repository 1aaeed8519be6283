import { StringDecoder } from 'node:string_decoder';

/** One server-sent event as the wire carried it, and its parsed fields. */
export interface SseEvent {
  /** The exact text of the event, its terminating blank line included: pass it on unchanged. */
  raw: string;
  /** The `event:` field, or null (a `message` event). */
  event: string | null;
  /** The `data:` lines joined with `\n` (the SSE rule), '' when none. */
  data: string;
}

/** An event ends at a blank line: two line endings in a row, each CRLF, LF or CR. */
const EVENT_END = /(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)/g;

/**
 * Splits a server-sent event stream into whole events across chunk boundaries (UTF-8 safe). Only
 * complete events come out; an event still arriving waits for its blank line.
 */
export class SseSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';

  /** The events completed by this chunk, in order. */
  push(chunk: Buffer): SseEvent[] {
    return this.split(this.rest + this.decoder.write(chunk), false);
  }

  /**
   * The stream ended: the events still held, the last one possibly unterminated (its raw text is
   * kept as it came, so a tap passing events on loses no byte).
   */
  end(): SseEvent[] {
    const events = this.split(this.rest + this.decoder.end(), true);
    if (this.rest !== '') events.push(parseEvent(this.rest));
    this.rest = '';
    return events;
  }

  private split(text: string, final: boolean): SseEvent[] {
    const out: SseEvent[] = [];
    let from = 0;
    EVENT_END.lastIndex = 0;
    for (let m = EVENT_END.exec(text); m !== null; m = EVENT_END.exec(text)) {
      const end = m.index + m[0].length;
      // A CR at the very end may be the first half of a CRLF still in flight.
      if (!final && end === text.length && text.charCodeAt(end - 1) === 13) break;
      out.push(parseEvent(text.slice(from, end)));
      from = end;
    }
    this.rest = text.slice(from);
    return out;
  }
}

/** Parses the fields of one raw event (comments and unknown fields ignored). */
export function parseEvent(raw: string): SseEvent {
  let event: string | null = null;
  let data: string | null = null;
  for (const line of raw.split(/\r\n|\r|\n/)) {
    if (line === '' || line.charCodeAt(0) === 58 /* ':' comment */) continue;
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (name === 'data') data = data === null ? value : `${data}\n${value}`;
    else if (name === 'event') event = value;
  }
  return { raw, event, data: data ?? '' };
}
