import type { EphemeralEvent } from '../broker/types.js';
import { textFrame } from './delivery.js';
import type { SubscriptionIndex } from './subscription-index.js';

/**
 * One ephemeral event on its way to subscribers: like `Delivery`, each wire form is built once and the
 * same bytes go to everyone. It has no offset and no epoch, so nothing that accounts for offsets (the
 * live order, a subscription's coverage, a replay, SSE's `id:`) can take it for a stored event.
 */
export class EphemeralDelivery {
  private wsBytes: Buffer | undefined;
  private sseBytes: Buffer | undefined;

  constructor(readonly event: EphemeralEvent) {}

  /** `{"channel","time","event"}`: the SSE `data:` of an `event: ephemeral`. */
  envelope(): string {
    const { channel, time, json } = this.event;
    return `{"channel":"${channel}","time":${time},"event":${json}}`;
  }

  /** The WebSocket frame of `{"op":"ephemeral","channel","time","event"}`. */
  wsFrame(): Buffer {
    const { channel, time, json } = this.event;
    return (this.wsBytes ??= textFrame(`{"op":"ephemeral","channel":"${channel}","time":${time},"event":${json}}`));
  }

  /** A named SSE event with no `id:` line, so that EventSource's Last-Event-ID stays on the last stored event. */
  sseFrame(): Buffer {
    return (this.sseBytes ??= Buffer.from(`event: ephemeral\ndata: ${this.envelope()}\n\n`));
  }
}

/**
 * Sends an ephemeral event to the live subscriptions matching its channel, once per subscriber (`mark`
 * is a fresh fan-out mark, as for stored events). Live only: a subscription still writing its replay
 * (`held`) is skipped, so an ephemeral never lands inside a replay or among the held events that follow
 * it. Returns how many subscribers were sent it.
 */
export function fanOutEphemeral(index: SubscriptionIndex, event: EphemeralEvent, mark: number): number {
  const delivery = new EphemeralDelivery(event);
  let sent = 0;
  index.forEachMatch(event.channel, (sub) => {
    const subscriber = sub.subscriber;
    if (sub.held || sub.cancelled || !subscriber.deliverEphemeral || subscriber.deliveryMark === mark) return;
    subscriber.deliveryMark = mark;
    subscriber.deliverEphemeral(delivery);
    sent++;
  });
  return sent;
}
