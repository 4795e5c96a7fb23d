import { listSetting, type HeraldConfig } from '../config.js';
import { textFrame, type Delivery } from '../fanout/delivery.js';

/**
 * Which events a lagging subscriber may get the latest of instead of each: `types` (default
 * `run.progress` and `metric`; `--conflate-types`), once the connection's outbound buffer holds more than
 * `afterBytes` (`--conflate-after-bytes`; 0: never).
 */
export interface ConflationRule {
  types: ReadonlySet<string>;
  afterBytes: number;
}

/** The rule of a hub's configuration (the endpoint works it out once): off when no type is listed; at most half the outbound cap. */
export function conflationRule(config: HeraldConfig): ConflationRule {
  const types = new Set(listSetting(config.conflateTypes));
  return { types, afterBytes: types.size === 0 ? 0 : Math.min(config.conflateAfterBytes, Math.floor(config.maxOutboundBytes / 2)) };
}

interface Entry {
  readonly delivery: Delivery;
  readonly key: string | undefined;
  readonly bytes: number;
  gone: boolean;
}

const keyCache = new WeakMap<Delivery, string | null>();

/**
 * The key an event conflates under — channel, type and, for a metric, its name — or undefined for an
 * event of another type. Parsed once per event (only when some subscriber lags), whoever asks.
 */
export function conflationKey(delivery: Delivery, types: ReadonlySet<string>): string | undefined {
  let key = keyCache.get(delivery);
  if (key === undefined) {
    key = null;
    const event = JSON.parse(delivery.stored.json) as { type?: unknown; data?: { name?: unknown } };
    if (typeof event.type === 'string' && types.has(event.type)) {
      const name = event.type === 'metric' && typeof event.data?.name === 'string' ? event.data.name : '';
      key = `${delivery.channel}\u0000${event.type}\u0000${name}`;
    }
    keyCache.set(delivery, key);
  }
  return key ?? undefined;
}

/**
 * The live events of a connection whose socket is behind (its outbound buffer past the rule's
 * `afterBytes`), in offset order, waiting for the socket to drain. Every event queues, so that order is
 * kept; a conflatable one takes the place of the queued event of its key that is still unsent, which is
 * dropped. The first event written after dropped ones of its channel says how many with `"conflated": n`
 * (the n offsets of the channel just before it were not sent): a connection gets every event of a
 * channel it follows, so the dropped ones are exactly the gap, and the client knows it is no loss. The
 * bytes it holds count
 * against the connection's outbound cap with the socket's own: past the cap the connection is still
 * closed as a slow consumer — conflation only makes that later, or never, for a subscriber that is
 * behind on progress and metrics.
 */
export class LagQueue {
  private entries: Entry[] = [];
  private head = 0;
  private readonly latest = new Map<string, Entry>();
  /** Per channel queued, the last event written (or, before any, the one before its first entry). */
  private readonly sent = new Map<string, { epoch: string; offset: number }>();
  bytes = 0;
  /** Events dropped because a later one of their key took their place. */
  dropped = 0;

  get isEmpty(): boolean {
    return this.head === this.entries.length;
  }

  /** The bytes queued after `delivery` would be added (it may replace an entry of its key). */
  bytesWith(delivery: Delivery, key: string | undefined): number {
    const previous = key === undefined ? undefined : this.latest.get(key);
    return this.bytes - (previous?.bytes ?? 0) + delivery.wsFrame().length;
  }

  push(delivery: Delivery, key: string | undefined): void {
    const previous = key === undefined ? undefined : this.latest.get(key);
    if (previous) {
      previous.gone = true;
      this.bytes -= previous.bytes;
      this.dropped++;
    }
    if (!this.sent.has(delivery.channel)) this.sent.set(delivery.channel, { epoch: delivery.epoch, offset: delivery.offset - 1 });
    const entry: Entry = { delivery, key, bytes: delivery.wsFrame().length, gone: false };
    this.entries.push(entry);
    this.bytes += entry.bytes;
    if (key !== undefined) this.latest.set(key, entry);
  }

  /** Writes queued events, oldest first, while `room()` says the socket takes more; true once none are left. */
  flush(write: (frame: Buffer) => void, room: () => boolean): boolean {
    while (this.head < this.entries.length && room()) {
      const entry = this.entries[this.head++]!;
      if (entry.gone) continue;
      this.bytes -= entry.bytes;
      if (entry.key !== undefined && this.latest.get(entry.key) === entry) this.latest.delete(entry.key);
      const { channel, epoch, offset } = entry.delivery;
      const sent = this.sent.get(channel)!;
      const skipped = sent.epoch === epoch ? offset - sent.offset - 1 : 0;
      this.sent.set(channel, { epoch, offset });
      write(skipped === 0 ? entry.delivery.wsFrame() : textFrame(conflatedText(entry.delivery, skipped)));
    }
    // Written and dropped entries go once they are half the array: amortised O(1) per event.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return this.isEmpty;
  }
}

/** The push message of an event after `skipped` conflated ones of its channel: `"conflated": n` before `"event"`. */
function conflatedText(delivery: Delivery, skipped: number): string {
  const { channel, offset, time, json } = delivery.stored;
  return `{"op":"event","channel":"${channel}","offset":${offset},"epoch":"${delivery.epoch}","time":${time},"conflated":${skipped},"event":${json}}`;
}
