import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  AccessPolicy,
  Hub,
  KeyStore,
  MemoryStore,
  prepareEvents,
  Subscription,
  SYSTEM,
  TokenVerifier,
  type Broker,
  type BrokerGapListener,
  type BrokerListener,
  type StoredEvent,
  type Subscriber,
} from '../src/index.js';
import type { Delivery } from '../src/fanout/delivery.js';
import { LiveOrder } from '../src/fanout/live-order.js';
import { tempDir } from './support/hub.js';

/**
 * Two hubs in one process on one history, joined by a broker that loses and repeats deliveries the way
 * pub/sub between hubs can (a subscriber connection that reconnects misses what was published
 * meanwhile; a hub hears its own publishes back). Whatever the broker does, a subscriber must get
 * every event once, in order.
 */
class FlakyBus {
  readonly brokers = new Set<FlakyBroker>();
}

class FlakyBroker implements Broker {
  readonly lossless = false;
  private readonly listeners = new Set<BrokerListener>();
  private readonly gapListeners = new Set<BrokerGapListener>();
  /** Decides, per delivery to this broker, whether it is dropped, sent twice or sent once. */
  fate: (events: readonly StoredEvent[]) => 'drop' | 'twice' | 'once' = () => 'once';

  constructor(private readonly bus: FlakyBus) {
    bus.brokers.add(this);
  }

  async publish(epoch: string, events: readonly StoredEvent[]): Promise<void> {
    for (const broker of this.bus.brokers) broker.receive(epoch, events);
  }

  async subscribe(): Promise<void> {}
  unsubscribe(): void {}
  // Ephemeral events are not what this broker tests: they go nowhere.
  async publishEphemeral(): Promise<void> {}
  onEphemeral(): () => void {
    return () => {};
  }

  onEvents(listener: BrokerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onGap(listener: BrokerGapListener): () => void {
    this.gapListeners.add(listener);
    return () => this.gapListeners.delete(listener);
  }

  /** Tells the hub it may have missed deliveries (as a reconnected subscriber connection would). */
  gap(): void {
    for (const listener of this.gapListeners) listener('the subscriber connection came back');
  }

  async close(): Promise<void> {
    this.bus.brokers.delete(this);
  }

  private receive(epoch: string, events: readonly StoredEvent[]): void {
    const fate = this.fate(events);
    if (fate === 'drop') return;
    // Later, as a network would: deliveries of one publisher may also arrive after the next publish.
    setImmediate(() => {
      for (const listener of this.listeners) listener(epoch, events);
      if (fate === 'twice') for (const listener of this.listeners) listener(epoch, events);
    });
  }
}

class Collector implements Subscriber {
  deliveryMark = 0;
  readonly offsets: number[] = [];
  deliver(delivery: Delivery): void {
    this.offsets.push(delivery.offset);
  }
}

async function until(test: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('live events across hubs through a broker that loses and repeats', () => {
  const dataDir = tempDir('herald-live-order-');
  const store = new MemoryStore({ maxCount: 100_000, maxAgeMs: 86_400_000 });
  const policy = new AccessPolicy(new KeyStore(dataDir, false), new TokenVerifier({}));
  const bus = new FlakyBus();
  const brokerA = new FlakyBroker(bus);
  const brokerB = new FlakyBroker(bus);
  const hubA = new Hub(store, brokerA, policy, 10_000);
  const hubB = new Hub(store, brokerB, policy, 10_000);
  after(async () => {
    await brokerA.close();
    await brokerB.close();
  });

  const subscribe = async (hub: Hub, channel: string, isPattern = false) => {
    const collector = new Collector();
    const subscription = new Subscription(collector, channel, isPattern);
    const outcome = await hub.subscribe(SYSTEM, subscription, undefined);
    subscription.goLive(outcome.coveredUpTo);
    return collector;
  };
  const publish = (hub: Hub, channel: string, n: number) => hub.publish(SYSTEM, channel, prepareEvents([{ type: 't', data: { n } }], 65536));

  it('gives a subscriber on the other hub every event once and in order, with a seventh lost and a fifth repeated', async () => {
    let count = 0;
    brokerB.fate = () => (++count % 7 === 0 ? 'drop' : count % 5 === 0 ? 'twice' : 'once');
    const onB = await subscribe(hubB, 'flaky');
    const patternOnB = await subscribe(hubB, 'flaky.>', true);
    const onA = await subscribe(hubA, 'flaky');
    for (let n = 1; n <= 300; n++) {
      await publish(n % 2 ? hubA : hubB, 'flaky', n);
      if (n % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    const expected = Array.from({ length: 300 }, (_, i) => i + 1);
    await until(() => onB.offsets.length >= 300 && onA.offsets.length >= 300, '300 events on both hubs');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(onB.offsets, expected, 'every event once, in order, on the hub whose broker lost and repeated');
    assert.deepEqual(onA.offsets, expected);
    assert.deepEqual(patternOnB.offsets, [], 'a pattern for other channels gets nothing');
  });

  it('refills what a disconnected broker missed when it reports the gap, even with nothing published after', async () => {
    brokerB.fate = () => 'once';
    const onB = await subscribe(hubB, 'quiet');
    await publish(hubA, 'quiet', 1);
    await until(() => onB.offsets.length === 1, 'the first event');
    brokerB.fate = () => 'drop'; // the subscriber connection is down
    for (let n = 2; n <= 40; n++) await publish(hubA, 'quiet', n);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(onB.offsets, [1], 'nothing arrived while it was down');
    brokerB.fate = () => 'once'; // back: it says it may have missed something
    brokerB.gap();
    await until(() => onB.offsets.length === 40, 'the missed events');
    await publish(hubA, 'quiet', 41);
    await until(() => onB.offsets.length === 41, 'the next live event');
    assert.deepEqual(onB.offsets, Array.from({ length: 41 }, (_, i) => i + 1));
  });

  it('starts again after a reset (a new epoch), without refilling the old history', async () => {
    brokerB.fate = () => 'once';
    const onB = await subscribe(hubB, 'again');
    for (let n = 1; n <= 3; n++) await publish(hubA, 'again', n);
    await until(() => onB.offsets.length === 3, 'three events');
    await hubA.reset(SYSTEM, 'again');
    for (let n = 1; n <= 2; n++) await publish(hubA, 'again', n);
    await until(() => onB.offsets.length === 5, 'the new epoch');
    assert.deepEqual(onB.offsets, [1, 2, 3, 1, 2]);
  });
});

/**
 * Hubs publish after their own append was answered, so two hubs' publishes of one channel can reach
 * Redis (and every hub) in the other order than their offsets. A LiveOrder over a scripted history.
 */
describe('live order when two hubs’ publishes cross', () => {
  const event = (offset: number, time = 10_000 + offset): StoredEvent => ({ channel: 'c', offset, time, json: `{"type":"t","data":${offset}}` });
  const setup = (history: { epoch: string; events: StoredEvent[] }, interestSince: number | undefined = 0) => {
    const emitted: string[] = [];
    const order = new LiveOrder({
      read: async (_channel, after, limit) => ({
        position: { epoch: history.epoch, latest: history.events.at(-1)?.offset ?? 0, earliest: history.events[0]?.offset ?? 1 },
        events: history.events.filter((e) => e.offset > after).slice(0, limit),
      }),
      emit: (epoch, events) => emitted.push(...events.map((e) => `${epoch}:${e.offset}`)),
      onLoss: () => {},
      interestSince: () => interestSince,
    });
    return { order, emitted };
  };
  const settle = () => new Promise((r) => setTimeout(r, 10));

  it('sends a channel’s first events in offset order when the second arrives first (it sent 2 and dropped 1 as heard twice)', async () => {
    const { order, emitted } = setup({ epoch: 'e1', events: [event(1), event(2)] });
    order.accept('e1', [event(2)]);
    order.accept('e1', [event(1)]);
    await settle();
    order.accept('e1', [event(3)]);
    assert.deepEqual(emitted, ['e1:1', 'e1:2', 'e1:3']);
  });

  it('does not send, at a channel’s first delivery, history stored before this hub’s interest in it began', async () => {
    const { order, emitted } = setup({ epoch: 'e1', events: [1, 2, 3, 4, 5].map((n) => event(n, n * 1000)) }, 5_000 + 1_000);
    order.accept('e1', [event(6, 7000)]);
    await settle();
    assert.deepEqual(emitted, ['e1:6']);
  });

  it('starts a new epoch at its offset 1 when its offset 2 arrives first (it sent 2 and dropped 1)', async () => {
    const history = { epoch: 'e1', events: [event(1), event(2), event(3)] };
    const { order, emitted } = setup(history);
    order.accept('e1', history.events);
    history.epoch = 'e2';
    history.events = [event(1), event(2)];
    order.accept('e2', [event(2)]);
    order.accept('e2', [event(1)]);
    await settle();
    order.accept('e2', [event(3)]);
    assert.deepEqual(emitted, ['e1:1', 'e1:2', 'e1:3', 'e2:1', 'e2:2', 'e2:3']);
  });

  it('drops a delivery of an epoch that history no longer holds (published before a reset, arriving after it)', async () => {
    const history = { epoch: 'e1', events: [event(1), event(2), event(3)] };
    const { order, emitted } = setup(history);
    order.accept('e1', [event(1), event(2)]);
    history.epoch = 'e2';
    history.events = [event(1), event(2)];
    order.accept('e2', [event(1), event(2)]);
    order.accept('e1', [event(3)]); // late: e1 is gone
    await settle();
    order.accept('e2', [event(3)]);
    assert.deepEqual(emitted, ['e1:1', 'e1:2', 'e2:1', 'e2:2', 'e2:3']);
  });
});
