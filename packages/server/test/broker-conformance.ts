import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Broker, EphemeralEvent, StoredEvent } from '../src/index.js';

/** A broker engine as the suite needs it: two nodes that share one backend, like two hubs on one Redis. */
export type OpenBrokers = () => Promise<[Broker, Broker]>;

interface Received {
  epoch: string;
  event: StoredEvent;
}

function collect(broker: Broker): { received: Received[]; stop: () => void } {
  const received: Received[] = [];
  const stop = broker.onEvents((epoch, events) => {
    for (const event of events) received.push({ epoch, event });
  });
  return { received, stop };
}

function collectEphemeral(broker: Broker): { received: EphemeralEvent[]; stop: () => void } {
  const received: EphemeralEvent[] = [];
  const stop = broker.onEphemeral((event) => received.push(event));
  return { received, stop };
}

async function eventually(test: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const stored = (channel: string, offset: number): StoredEvent => ({ channel, offset, time: Date.now(), json: JSON.stringify({ type: 't', data: { offset } }) });

/**
 * The contract every fan-out engine must keep (see src/broker/types.ts). A new engine (Redis, …) is
 * added by calling this with a factory of two nodes on one backend.
 */
export function describeBrokerConformance(engine: string, open: OpenBrokers): void {
  const opened: Broker[] = [];
  const pair = async () => {
    const brokers = await open();
    opened.push(...brokers);
    return brokers;
  };

  describe(`Broker conformance: ${engine}`, () => {
    after(async () => {
      for (const broker of opened) await broker.close();
    });

    it('carries published events to every node with interest, this one included, each once and in offset order', async () => {
      const [a, b] = await pair();
      await a.subscribe('order');
      await b.subscribe('order');
      const onA = collect(a);
      const onB = collect(b);
      // Back to back, without waiting: order must still hold.
      await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? b : a).publish('e1', [stored('order', i + 1)])));
      for (const side of [onA, onB]) {
        await eventually(() => side.received.filter((r) => r.event.channel === 'order').length >= 200, '200 events');
        const offsets = side.received.filter((r) => r.event.channel === 'order').map((r) => r.event.offset);
        assert.equal(offsets.length, 200, 'each once');
        assert.deepEqual([...offsets].sort((x, y) => x - y), Array.from({ length: 200 }, (_, i) => i + 1));
      }
      // One publisher's events of one channel keep their order on every node.
      await a.publish('e1', [stored('order', 201), stored('order', 202)]);
      await a.publish('e1', [stored('order', 203)]);
      for (const side of [onA, onB]) {
        await eventually(() => side.received.some((r) => r.event.offset === 203), 'the last event');
        assert.deepEqual(side.received.filter((r) => r.event.offset > 200).map((r) => r.event.offset), [201, 202, 203]);
        assert.ok(side.received.every((r) => r.epoch === 'e1'), 'the epoch travels with the events');
        assert.equal(side.received.at(-1)!.event.json, JSON.stringify({ type: 't', data: { offset: 203 } }), 'the stored text, unchanged');
      }
      onA.stop();
      onB.stop();
    });

    it('delivers events for pattern interest', async () => {
      const [a, b] = await pair();
      await b.subscribe('pat.*.x');
      await b.subscribe('deep.>');
      const onB = collect(b);
      await a.publish('e1', [stored('pat.1.x', 1)]);
      await a.publish('e1', [stored('deep.a.b.c', 1)]);
      await eventually(() => onB.received.length >= 2, 'pattern deliveries');
      assert.deepEqual(onB.received.map((r) => r.event.channel).sort(), ['deep.a.b.c', 'pat.1.x']);
      onB.stop();
    });

    it('delivers what is published right after subscribe resolves (no window before deliveries flow)', async () => {
      const [a, b] = await pair();
      for (let i = 1; i <= 20; i++) {
        const channel = `window.${i}`;
        const onB = collect(b);
        await b.subscribe(channel);
        await a.publish('e1', [stored(channel, 1)]);
        await eventually(() => onB.received.some((r) => r.event.channel === channel), `the first event of ${channel}`);
        onB.stop();
      }
    });

    it('counts interest: after one of two unsubscribes, events still arrive', async () => {
      const [a, b] = await pair();
      await b.subscribe('counted');
      await b.subscribe('counted');
      b.unsubscribe('counted');
      const onB = collect(b);
      await a.publish('e1', [stored('counted', 1)]);
      await eventually(() => onB.received.length === 1, 'the event');
      onB.stop();
    });

    it('gives every listener the events, and a removed listener none', async () => {
      const [a] = await pair();
      await a.subscribe('listeners');
      const first = collect(a);
      const second = collect(a);
      second.stop();
      await a.publish('e1', [stored('listeners', 1)]);
      await eventually(() => first.received.length === 1, 'the first listener');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(second.received.length, 0);
      first.stop();
    });

    it('carries an ephemeral event to every node with interest, this one included, once, and never as a stored event', async () => {
      const [a, b] = await pair();
      await a.subscribe('eph');
      await b.subscribe('eph');
      await b.subscribe('eph.>');
      await b.subscribe('*');
      const onA = collectEphemeral(a);
      const onB = collectEphemeral(b);
      const storedOnB = collect(b);
      await a.publish('e1', [stored('eph', 1)]);
      // Two equal ones in a row (a cursor that did not move) are two events, not a copy of one.
      await a.publishEphemeral({ channel: 'eph', time: 7, json: '{"type":"cursor"}' });
      await a.publishEphemeral({ channel: 'eph', time: 7, json: '{"type":"cursor"}' });
      await b.publishEphemeral({ channel: 'eph', time: 8, json: '{"type":"typing","data":{"who":"b"}}' });
      await a.publish('e1', [stored('eph', 2)]);
      for (const side of [onA, onB]) await eventually(() => side.received.length >= 3, 'three ephemeral events');
      await eventually(() => storedOnB.received.length >= 2, 'the stored events');
      await new Promise((r) => setTimeout(r, 50));
      for (const side of [onA, onB]) {
        const texts = side.received.map((e) => `${e.channel} ${e.time} ${e.json}`).sort();
        assert.deepEqual(texts, ['eph 7 {"type":"cursor"}', 'eph 7 {"type":"cursor"}', 'eph 8 {"type":"typing","data":{"who":"b"}}'], 'each once, the text unchanged');
      }
      assert.deepEqual(storedOnB.received.map((r) => r.event.offset), [1, 2], 'stored listeners see only the stored events');
      onA.stop();
      onB.stop();
      storedOnB.stop();
    });

    it('delivers ephemeral events for pattern interest', async () => {
      const [a, b] = await pair();
      await b.subscribe('cur.*.x');
      const onB = collectEphemeral(b);
      await a.publishEphemeral({ channel: 'cur.1.x', time: 1, json: '{"type":"p"}' });
      await eventually(() => onB.received.length === 1, 'the pattern delivery');
      assert.equal(onB.received[0]!.channel, 'cur.1.x');
      onB.stop();
    });

    it('refuses to publish or subscribe once closed, and closes twice safely', async () => {
      const [a, b] = await pair();
      await a.close();
      await a.close();
      await assert.rejects(a.publish('e1', [stored('closed', 1)]), (error: Error & { code?: string }) => typeof error.code === 'string');
      await assert.rejects(a.subscribe('closed'), (error: Error & { code?: string }) => typeof error.code === 'string');
      await assert.rejects(a.publishEphemeral({ channel: 'closed', time: 1, json: '{}' }), (error: Error & { code?: string }) => typeof error.code === 'string');
      // The other node is unharmed.
      await b.subscribe('closed');
      const onB = collect(b);
      await b.publish('e1', [stored('closed', 1)]);
      await eventually(() => onB.received.length === 1, 'the event on the other node');
      onB.stop();
    });
  });
}
