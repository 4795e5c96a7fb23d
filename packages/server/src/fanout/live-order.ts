import { pause } from '../slicer.js';
import type { HistoryPage, StoredEvent } from '../store/types.js';

/** Most events read from history to fill one gap (the recovery budget of a resume is the same size). */
const MAX_FILL_EVENTS = 10_000;
const FILL_PAGE = 256;

interface ChannelOrder {
  epoch: string;
  /** The highest offset fanned out on this hub. */
  offset: number;
  /** Deliveries that arrived while a gap before them is being read from history. */
  waiting?: Array<{ epoch: string; events: readonly StoredEvent[] }>;
}

export interface LiveOrderOptions {
  /** Reads a channel's history (the hub's store). */
  read(channel: string, afterOffset: number, limit: number): Promise<HistoryPage>;
  /** Fans events out to this hub's subscribers: one channel's, in offset order, each once. */
  emit(epoch: string, events: readonly StoredEvent[]): void;
  /** A gap that could not be filled (history dropped it, or it was larger than MAX_FILL_EVENTS). */
  onLoss(channel: string, from: number, to: number): void;
  /**
   * Since when (the store's clock, ms) this hub has had interest in the channel — its earliest
   * subscription or follow that matches it — or undefined when it has none: stored events received
   * after it are owed to this hub's subscribers.
   */
  interestSince?(channel: string): number | undefined;
}

/**
 * How far before its moment a subscription's events are looked for. The store's clock (Redis's, for
 * the Redis engine) is known to this hub within half a round trip of at most 250 ms; an event stored
 * a little before a subscription began and sent to it anyway is harmless (its channel's sequence just
 * starts one event earlier), one stored after it and not sent would be a hole.
 */
const CLOCK_MARGIN_MS = 250;

/**
 * Puts a cross-hub broker's deliveries back in order for this hub. Pub/sub between hubs can drop
 * messages (a subscriber connection that reconnects misses what was published meanwhile) and a hub
 * hears its own publishes back, so live events may arrive twice or with a gap before them. The
 * `EventStore` rule holds the answer: every delivered event was stored first, so a gap can always be
 * read from history. Per channel this keeps the last offset fanned out; a delivery at or below it is
 * a duplicate and dropped, one after a gap waits while the gap is read and sent first. Never skipped,
 * never doubled.
 *
 * Hubs publish after their own append was answered, so two hubs' publishes of one channel may reach
 * Redis in the other order than their offsets: offset 2 may arrive first. Two moments need a position
 * that no earlier delivery gave:
 * - A channel's first delivery on this hub: the events before it that were stored after this hub's
 *   interest in the channel began are still on their way; they are read from history and sent first.
 * - A new epoch (a reset, or Redis emptied): its offsets start at 1, so a delivery of it that starts
 *   later waits while the new history's beginning is read. A delivery of an epoch that history no
 *   longer holds (one published before a reset, arriving after it) is dropped, so that subscribers
 *   never go back to a history that is gone.
 */
export class LiveOrder {
  private readonly channels = new Map<string, ChannelOrder>();

  constructor(private readonly options: LiveOrderOptions) {}

  /** A broker delivery: one channel's stored events in offset order. */
  accept(epoch: string, events: readonly StoredEvent[]): void {
    const first = events[0];
    if (!first) return;
    const state = this.channels.get(first.channel);
    if (!state) {
      const since = first.offset > 1 ? this.options.interestSince?.(first.channel) : undefined;
      if (since === undefined) {
        this.channels.set(first.channel, { epoch, offset: events.at(-1)!.offset });
        this.options.emit(epoch, events);
        return;
      }
      const fresh: ChannelOrder = { epoch, offset: first.offset - 1, waiting: [{ epoch, events }] };
      this.channels.set(first.channel, fresh);
      void this.begin(first.channel, fresh, first.offset, since - CLOCK_MARGIN_MS).then(() => this.drain(first.channel, fresh));
      return;
    }
    if (state.waiting) {
      state.waiting.push({ epoch, events });
      return;
    }
    this.place(first.channel, state, epoch, events);
  }

  /**
   * The broker may have missed deliveries (its connection to the others was down): every channel this
   * hub has fanned out is checked against history, in slices, and what it missed is sent.
   */
  async refill(): Promise<void> {
    for (const [channel, state] of [...this.channels]) {
      await pause();
      if (state.waiting) continue; // a fill is already under way
      const page = await this.options.read(channel, state.offset, 1);
      if (state.waiting) continue; // a delivery started a fill while this read was under way
      if (page.position.epoch !== state.epoch) {
        // The history this hub followed is gone and a new one began while deliveries were lost.
        if (page.position.latest === 0) continue;
        state.epoch = page.position.epoch;
        state.offset = 0;
      } else if (page.position.latest <= state.offset) continue;
      state.waiting = [];
      await this.fill(channel, state, page.position.latest + 1);
      this.drain(channel, state);
    }
  }

  private place(channel: string, state: ChannelOrder, epoch: string, events: readonly StoredEvent[]): void {
    if (epoch !== state.epoch) {
      // A new history (a reset, or Redis emptied): its offsets start again at 1.
      if (events[0]!.offset === 1) {
        state.epoch = epoch;
        state.offset = events.at(-1)!.offset;
        this.options.emit(epoch, events);
        return;
      }
      state.waiting = [{ epoch, events }];
      void this.switchEpoch(channel, state, epoch, events[0]!.offset).then(() => this.drain(channel, state));
      return;
    }
    const fresh = events[0]!.offset > state.offset ? events : events.filter((e) => e.offset > state.offset);
    const first = fresh[0];
    if (!first) return; // heard twice (this hub's own publish coming back, or a refill that got there first)
    if (first.offset === state.offset + 1) {
      state.offset = fresh.at(-1)!.offset;
      this.options.emit(epoch, fresh);
      return;
    }
    state.waiting = [{ epoch, events: fresh }];
    void this.fill(channel, state, first.offset).then(() => this.drain(channel, state));
  }

  /**
   * The first delivery of a channel on this hub starts at `upTo`: sends the events before it that were
   * stored since `since` (times never go backwards within a channel, so they are the last ones before
   * `upTo`), looking back at most one page.
   */
  private async begin(channel: string, state: ChannelOrder, upTo: number, since: number): Promise<void> {
    try {
      const after = Math.max(0, upTo - 1 - FILL_PAGE);
      const page = await this.options.read(channel, after, upTo - 1 - after);
      if (page.position.epoch !== state.epoch) return;
      const owed = page.events.filter((e) => e.offset < upTo && e.time >= since);
      if (owed.length === 0 || owed.at(-1)!.offset !== upTo - 1 || owed[0]!.offset !== upTo - owed.length) return;
      this.options.emit(state.epoch, owed);
    } catch {
      // History cannot be read now: the channel starts at its first delivery, as it would have anyway.
    }
  }

  /** A delivery of another epoch starts at `upTo` > 1: follows the new history from its beginning, if it is history's. */
  private async switchEpoch(channel: string, state: ChannelOrder, epoch: string, upTo: number): Promise<void> {
    let current: string;
    try {
      current = (await this.options.read(channel, 0, 0)).position.epoch;
    } catch {
      current = epoch; // cannot tell: follow the delivery, as before
    }
    if (current !== epoch) {
      // Published before a reset and arriving after it, or a history reset again since: gone either way.
      state.waiting = state.waiting?.filter((w) => w.epoch !== epoch);
      return;
    }
    state.epoch = epoch;
    state.offset = 0;
    await this.fill(channel, state, upTo);
  }

  /** Reads and sends the events after `state.offset` and before `upTo` from history. */
  private async fill(channel: string, state: ChannelOrder, upTo: number): Promise<void> {
    try {
      if (upTo - state.offset - 1 > MAX_FILL_EVENTS) throw new RangeError('gap too large');
      while (state.offset + 1 < upTo) {
        const page = await this.options.read(channel, state.offset, Math.min(FILL_PAGE, upTo - 1 - state.offset));
        const missing = page.events.filter((e) => e.offset > state.offset && e.offset < upTo);
        if (page.position.epoch !== state.epoch || missing[0]?.offset !== state.offset + 1) throw new RangeError('history moved on');
        state.offset = missing.at(-1)!.offset;
        this.options.emit(state.epoch, missing);
      }
    } catch {
      // History no longer has them (retention, a reset) or cannot be read: the live stream goes on
      // from what arrived; subscribers find out on their next resume, which is told recovered:false.
      if (state.offset + 1 < upTo) this.options.onLoss(channel, state.offset + 1, upTo - 1);
      state.offset = Math.max(state.offset, upTo - 1);
    }
  }

  /** Sends the deliveries that waited for a fill, in order (one of them may start another fill). */
  private drain(channel: string, state: ChannelOrder): void {
    const waiting = state.waiting ?? [];
    state.waiting = undefined;
    for (let i = 0; i < waiting.length; i++) {
      const { epoch, events } = waiting[i]!;
      this.place(channel, state, epoch, events);
      // `place` may have started another fill (TypeScript cannot see it set `waiting`).
      const again = state.waiting as ChannelOrder['waiting'];
      if (again) {
        // Another gap: the rest waits behind it.
        again.push(...waiting.slice(i + 1));
        return;
      }
    }
  }
}
