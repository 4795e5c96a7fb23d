import type { Broker } from './broker/types.js';
import { Delivery } from './fanout/delivery.js';
import { SubscriptionIndex } from './fanout/subscription-index.js';
import type { Subscription } from './fanout/subscription.js';
import { recoverChannel, recoverPattern, type Since } from './recovery.js';
import type { AppendInput, AppendResult, EventStore, StoredEvent } from './store/types.js';

/**
 * Lets a feature take part in publishing without the hub knowing it: `beforeAppend` may refuse events
 * (throw a HeraldError) before anything is stored; `afterAppend` sees stored events in offset order
 * before any subscriber does, so state derived from them is never behind what subscribers were sent.
 */
export interface PublishHook {
  beforeAppend?(channel: string, inputs: readonly AppendInput[]): void;
  afterAppend?(channel: string, epoch: string, stored: readonly StoredEvent[]): void;
}

/** State a subscriber can ask for instead of history: consistent with `offset`, events after it follow. */
export type SnapshotProvider = (channel: string) => { snapshot: unknown; offset: number } | undefined;

export interface SubscribeOutcome {
  subscription: Subscription;
  /** Exact channels: the position the subscription starts after. */
  epoch?: string;
  offset?: number;
  /** Only when `since` was given. */
  recovered?: boolean;
  /** Only when a snapshot was asked for: the state up to and including `offset` (null if none yet). */
  snapshot?: unknown;
  replay: Delivery[];
  /** Highest offset the reply and replay account for, per channel; held live events above it follow. */
  coveredUpTo: (channel: string) => number;
}

/**
 * The transport-free core: publishing goes store → broker → fan-out; subscribing registers first and
 * reads history second, so no event can fall between the replay and the live stream.
 */
export class Hub {
  readonly index = new SubscriptionIndex();
  eventsIn = 0;
  eventsOut = 0;
  readonly hooks: PublishHook[] = [];
  snapshots: SnapshotProvider | undefined;
  private mark = 0;
  // Fields used by the fan-out visitor, so that the hot loop allocates no closure per event.
  private currentDelivery: Delivery | undefined;
  private readonly visit = (sub: Subscription): void => this.deliverTo(sub);

  constructor(
    readonly store: EventStore,
    private readonly broker: Broker,
    private readonly maxRecoveryEvents: number,
  ) {
    broker.onEvents((epoch, events) => this.fanOut(epoch, events));
  }

  /** Stores events (group-committed by the store), then hands the new ones to the broker. */
  async publish(channel: string, inputs: AppendInput[]): Promise<AppendResult> {
    for (const hook of this.hooks) hook.beforeAppend?.(channel, inputs);
    const result = await this.store.append(channel, inputs);
    if (result.stored.length > 0) {
      this.eventsIn += result.stored.length;
      for (const hook of this.hooks) hook.afterAppend?.(channel, result.epoch, result.stored);
      this.broker.publish(result.epoch, result.stored);
    }
    return result;
  }

  /**
   * Starts a subscription: it is indexed at once (holding live events), then history is read. The caller
   * sends the reply and `replay`, then calls `subscription.goLive(outcome.coveredUpTo)`; live events that
   * arrive while the replay is being written stay held until then.
   */
  async subscribe(subscription: Subscription, since: Since | undefined): Promise<SubscribeOutcome> {
    const { channel, isPattern } = subscription;
    this.index.add(subscription);
    try {
      if (isPattern) {
        if (since?.kind !== 'pattern') {
          subscription.held = undefined;
          return { subscription, replay: [], coveredUpTo: () => 0 };
        }
        const result = await recoverPattern(this.store, channel, since.position, this.maxRecoveryEvents);
        return { subscription, recovered: result.recovered, replay: result.replay, coveredUpTo: (c) => result.covered.get(c) ?? 0 };
      }
      if (since?.kind === 'snapshot') {
        const position = await this.store.position(channel);
        // Taken after the subscription started holding live events: everything after `offset` follows.
        const taken = this.snapshots?.(channel);
        const offset = taken?.offset ?? position.latest;
        return { subscription, epoch: position.epoch, offset, snapshot: taken?.snapshot ?? null, replay: [], coveredUpTo: () => offset };
      }
      if (since?.kind !== 'channel') {
        const position = await this.store.position(channel);
        return { subscription, epoch: position.epoch, offset: position.latest, replay: [], coveredUpTo: () => position.latest };
      }
      const result = await recoverChannel(this.store, channel, since.position, this.maxRecoveryEvents);
      return {
        subscription,
        epoch: result.epoch,
        offset: result.latest,
        recovered: result.recovered,
        replay: result.events.map((e) => new Delivery(result.epoch, e)),
        coveredUpTo: () => result.latest,
      };
    } catch (error) {
      this.index.remove(subscription);
      throw error;
    }
  }

  unsubscribe(subscription: Subscription): void {
    subscription.cancelled = true;
    this.index.remove(subscription);
  }

  private fanOut(epoch: string, events: readonly StoredEvent[]): void {
    for (const stored of events) {
      this.currentDelivery = new Delivery(epoch, stored);
      this.mark++;
      this.index.forEachMatch(stored.channel, this.visit);
    }
    this.currentDelivery = undefined;
  }

  private deliverTo(sub: Subscription): void {
    const delivery = this.currentDelivery!;
    if (sub.held) {
      sub.held.push(delivery);
      return;
    }
    const subscriber = sub.subscriber;
    if (subscriber.deliveryMark === this.mark) return;
    subscriber.deliveryMark = this.mark;
    this.eventsOut++;
    subscriber.deliver(delivery);
  }
}
