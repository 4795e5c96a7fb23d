import { Delivery } from './delivery.js';
import type { EventStore } from '../store/types.js';

/**
 * Missed events on their way to one subscriber, handed out a page at a time as the subscriber's socket
 * drains. Only the page being written is in memory, so what a replaying subscriber costs is bounded by
 * the page and the outbound cap — not by the size of the gap.
 */
export interface ReplaySource {
  /** How many events the replay holds in all (told to the client as `replayed`). */
  readonly count: number;
  /** The next page, or undefined when the replay is complete. Throws `ReplayLost` if history moved on. */
  next(): Promise<Delivery[] | undefined>;
}

/**
 * The history the replay was promised was deleted under it (retention ran, or the channel was reset,
 * while a slow reader was still being replayed to). The subscriber is disconnected rather than given a
 * history with a hole: it resumes from its last offset and is told honestly (`recovered:false`).
 */
export class ReplayLost extends Error {
  override name = 'ReplayLost';
}

export const EMPTY_REPLAY: ReplaySource = { count: 0, next: async () => undefined };

/** A replay already in memory (pattern resume, which is bounded by count and bytes when it is read). */
export function replayOf(deliveries: Delivery[], pageSize: number): ReplaySource {
  let at = 0;
  return {
    count: deliveries.length,
    async next() {
      if (at >= deliveries.length) return undefined;
      const page = deliveries.slice(at, at + pageSize);
      at += page.length;
      return page;
    },
  };
}

/** Pages of one channel's history, offsets `after + 1` to `upTo`, read from the store as they are needed. */
export class ChannelReplay implements ReplaySource {
  readonly count: number;
  private cursor: number;

  constructor(
    private readonly store: EventStore,
    private readonly channel: string,
    private readonly epoch: string,
    after: number,
    private readonly upTo: number,
    private readonly pageSize: number,
  ) {
    this.cursor = after;
    this.count = Math.max(0, upTo - after);
  }

  async next(): Promise<Delivery[] | undefined> {
    if (this.cursor >= this.upTo) return undefined;
    const page = await this.store.read(this.channel, this.cursor, Math.min(this.pageSize, this.upTo - this.cursor));
    const first = page.events[0];
    if (page.position.epoch !== this.epoch || !first || first.offset !== this.cursor + 1) {
      throw new ReplayLost(`the history of "${this.channel}" after offset ${this.cursor} was dropped during the replay`);
    }
    const events = page.events.filter((e) => e.offset <= this.upTo);
    this.cursor = events.at(-1)!.offset;
    return events.map((e) => new Delivery(this.epoch, e));
  }
}
