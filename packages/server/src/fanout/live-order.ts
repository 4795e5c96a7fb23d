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
}

/**
 * Puts a cross-hub broker's deliveries back in order for this hub. Pub/sub between hubs can drop
 * messages (a subscriber connection that reconnects misses what was published meanwhile) and a hub
 * hears its own publishes back, so live events may arrive twice or with a gap before them. The
 * `EventStore` rule holds the answer: every delivered event was stored first, so a gap can always be
 * read from history. Per channel this keeps the last offset fanned out; a delivery at or below it is
 * a duplicate and dropped, one after a gap waits while the gap is read and sent first. Never skipped,
 * never doubled — for every channel after its first delivery on this hub (before that there is no
 * position to measure a gap against; a subscriber that resumes still gets its gap from history).
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
      this.channels.set(first.channel, { epoch, offset: events.at(-1)!.offset });
      this.options.emit(epoch, events);
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
      if (page.position.epoch !== state.epoch || page.position.latest <= state.offset) continue;
      state.waiting = [];
      await this.fill(channel, state, page.position.latest + 1);
      this.drain(channel, state);
    }
  }

  private place(channel: string, state: ChannelOrder, epoch: string, events: readonly StoredEvent[]): void {
    if (epoch !== state.epoch) {
      // The channel was reset (a new history): its offsets start again, nothing to compare with.
      state.epoch = epoch;
      state.offset = events.at(-1)!.offset;
      this.options.emit(epoch, events);
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
