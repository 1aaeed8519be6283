import { EventStreamCodec } from '@smithy/core/event-streams';
import { fromUtf8, toUtf8 } from '@smithy/core/serde';
import type { StreamMessage } from '../providers/dialect.js';

/** Content type of AWS's binary event stream (Bedrock's streaming responses). */
export const EVENT_STREAM_TYPE = 'application/vnd.amazon.eventstream';

/** A message longer than this is not believed (the format's own limit is 16 MiB). */
const MAX_MESSAGE = 16 * 1024 * 1024;
/** Prelude (total length, headers length, prelude CRC) and message CRC. */
const MIN_MESSAGE = 16;

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/**
 * Splits an AWS event stream into whole messages across chunk boundaries and decodes them
 * (`@smithy/core`'s codec: both CRCs checked). It only reads: the bytes themselves pass on as they
 * came. A message that does not decode (bad length, bad CRC) makes the stream unreadable from
 * there on: `broken` says why, and nothing more is read.
 */
export class EventStreamReader {
  broken: string | null = null;
  private held: Buffer | null = null;

  /** The messages completed by this chunk, in order. */
  push(chunk: Buffer): StreamMessage[] {
    if (this.broken !== null) return [];
    let buf = this.held === null ? chunk : Buffer.concat([this.held, chunk]);
    const out: StreamMessage[] = [];
    while (buf.length >= 4) {
      const total = buf.readUInt32BE(0);
      if (total < MIN_MESSAGE || total > MAX_MESSAGE) {
        this.fail(`a message length of ${total} bytes`);
        return out;
      }
      if (buf.length < total) break;
      try {
        const m = codec.decode(buf.subarray(0, total));
        const headers: Record<string, string> = {};
        for (const name in m.headers) headers[name] = String(m.headers[name].value);
        out.push({ headers, payload: m.body });
      } catch (err) {
        this.fail((err as Error).message);
        return out;
      }
      buf = buf.subarray(total);
    }
    // What is held is copied: the chunk's memory belongs to the response on its way out.
    this.held = buf.length === 0 ? null : Buffer.from(buf);
    return out;
  }

  /** The stream ended: bytes of an incomplete message left over make it broken. */
  end(): void {
    if (this.held !== null && this.broken === null) this.fail(`${this.held.length} bytes of an incomplete message at the end`);
  }

  private fail(why: string): void {
    this.broken = why;
    this.held = null;
  }
}
