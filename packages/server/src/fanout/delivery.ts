import * as ws from 'ws';
import type { StoredEvent } from '../store/types.js';
import type { WriteBatch } from './write-batch.js';

/** A final, unmasked, uncompressed text frame: what a server sends (RFC 6455 §5.2). */
const TEXT_FRAME = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false } as const;
// ws exports its Sender (with the static frame builder) at run time; its type declarations do not.
const frame = (ws as unknown as { Sender: { frame(data: Buffer, options: typeof TEXT_FRAME): Buffer[] } }).Sender.frame;

/** A complete WebSocket text frame (header and payload) of `text`, to write to every subscriber's socket as it is. */
export function textFrame(text: string): Buffer {
  return Buffer.concat(frame(Buffer.from(text), TEXT_FRAME));
}

/**
 * One stored event on its way to subscribers. Each wire form is built at most once per event and the
 * same bytes go to every subscriber: fan-out never serialises per subscriber.
 *
 * Channel names ([A-Za-z0-9_.-]) and epochs (hex) need no JSON escaping, so plain concatenation is safe.
 */
export class Delivery {
  private wsBytes: Buffer | undefined;
  private sseBytes: Buffer | undefined;
  private sseBytesNoId: Buffer | undefined;

  constructor(
    readonly epoch: string,
    readonly stored: StoredEvent,
    /** The batch this event fans out with, when it has others: subscribers' writes of it go out together. */
    readonly batch?: WriteBatch,
  ) {}

  get channel(): string {
    return this.stored.channel;
  }

  get offset(): number {
    return this.stored.offset;
  }

  /** `{"channel","offset","epoch","time","event"}`: the form used by HTTP history and SSE `data:`. */
  envelope(): string {
    const { channel, offset, time, json } = this.stored;
    return `{"channel":"${channel}","offset":${offset},"epoch":"${this.epoch}","time":${time},"event":${json}}`;
  }

  /** The WebSocket push message as text: `{"op":"event",…}`. */
  wsText(): string {
    const { channel, offset, time, json } = this.stored;
    return `{"op":"event","channel":"${channel}","offset":${offset},"epoch":"${this.epoch}","time":${time},"event":${json}}`;
  }

  /**
   * The complete WebSocket frame (header and payload), built once: every subscriber's socket is written
   * the same bytes, one write each — no per-subscriber header, no writev of two buffers.
   */
  wsFrame(): Buffer {
    return (this.wsBytes ??= textFrame(this.wsText()));
  }

  /** One SSE message; `id:` is the offset so that EventSource's Last-Event-ID resumes the channel. */
  sseFrame(withId: boolean): Buffer {
    if (!withId) return (this.sseBytesNoId ??= Buffer.from(`data: ${this.envelope()}\n\n`));
    // `<offset>@<epoch>`: a reconnecting EventSource names the history its offset belongs to, so that a
    // resume after a reset (or an emptied Redis) is told `recovered:false` instead of skipping events.
    return (this.sseBytes ??= Buffer.from(`id: ${this.stored.offset}@${this.epoch}\ndata: ${this.envelope()}\n\n`));
  }
}
