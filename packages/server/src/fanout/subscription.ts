import type { Delivery } from './delivery.js';
import type { EphemeralDelivery } from './ephemeral.js';

/** Anything that receives live events: a WebSocket connection or an SSE stream. */
export interface Subscriber {
  /**
   * The last fan-out mark this subscriber received. A connection with several matching subscriptions
   * (`runs.1` and `runs.*`) gets each event once: fan-out skips it when the mark is already current.
   */
  deliveryMark: number;
  deliver(delivery: Delivery): void;
  /** Live-only events (`ephemeral: true`); a subscriber without it (a long-poll, which reads history) gets none. */
  deliverEphemeral?(delivery: EphemeralDelivery): void;
}

/**
 * One subscription of one subscriber. While it starts (replaying history), live events are held in
 * `held` rather than sent, so that the subscriber sees its reply, then the replay, then live events:
 * in order, with no gap and no duplicate.
 */
export class Subscription {
  /** Live events that arrived while history was being read; undefined once live. */
  held: Delivery[] | undefined = [];
  /** Set once unsubscribed or the subscriber went away; a pending start then does nothing. */
  cancelled = false;
  /** Whether the hub told its broker about this subscription (and must take that back once). */
  brokerInterest = false;
  /** Across hubs only: when (the store's clock) the hub began this subscription, before it asked the broker. */
  startedAt = 0;
  /** Across hubs only: what the reply and replay covered, so that a gap filled later is not sent twice. */
  coverage: { upTo: (channel: string) => number; epoch: (channel: string) => string | undefined } | undefined;

  constructor(
    readonly subscriber: Subscriber,
    readonly channel: string,
    readonly isPattern: boolean,
  ) {}

  /**
   * Ends the start-up: sends the held events that the replay did not already cover, then goes live.
   * `coveredUpTo(channel)` is the highest offset the reply and replay accounted for in that channel.
   */
  goLive(coveredUpTo: (channel: string) => number): void {
    const held = this.held ?? [];
    this.held = undefined;
    if (this.cancelled) return;
    for (const delivery of held) {
      if (delivery.offset > coveredUpTo(delivery.channel)) this.subscriber.deliver(delivery);
    }
  }
}
