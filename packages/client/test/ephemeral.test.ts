import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import { HeraldClient, type DeliveredEvent, type EphemeralEvent, type Subscription, type TransportName, type WebSocketConstructor } from '@herald/client';
import { startHub, type TestHub } from '../../server/test/support/hub.js';
import { until } from '../../server/test/support/process.js';

function clientOf(url: string, transports: TransportName[] = ['websocket']): HeraldClient {
  return new HeraldClient({ url, transports, WebSocket: WebSocket as unknown as WebSocketConstructor, EventSource: EventSource as any, fetch, backoff: { initialDelayMs: 50, maxDelayMs: 300 } });
}

/** Records what one subscription is given: stored events (with offsets) and ephemeral ones, apart. */
function record<T>(sub: Subscription<T>): { events: DeliveredEvent<T>[]; ephemeral: EphemeralEvent<T>[] } {
  const seen = { events: [] as DeliveredEvent<T>[], ephemeral: [] as EphemeralEvent<T>[] };
  sub.on('event', (e) => seen.events.push(e));
  sub.on('ephemeral', (e) => seen.ephemeral.push(e));
  return seen;
}

describe('@herald/client: ephemeral events', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub();
  });
  after(() => hub.dispose());

  it('publishes them over WebSocket and hands them to every local subscription apart from events, positions untouched', async () => {
    const watcher = clientOf(hub.url).connect();
    const publisher = clientOf(hub.url).connect();
    try {
      // Two subscriptions of one channel share one hub subscription; a pattern has one of its own.
      const first = watcher.subscribe('ce.doc');
      const second = watcher.subscribe('ce.doc');
      const pattern = watcher.subscribe('ce.*');
      const seen = [first, second, pattern].map(record);
      await until(() => [first, second, pattern].every((s) => s.state === 'subscribed') && publisher.state === 'connected', 'subscribed');
      assert.equal((await publisher.publish('ce.doc', { type: 'note' })).offset, 1);
      const reply = await publisher.publish('ce.doc', { type: 'cursor', data: { x: 3 } }, { ephemeral: true });
      assert.deepEqual(reply, { ephemeral: true });
      assert.equal((await publisher.publish('ce.doc', { type: 'note' })).offset, 2, 'the ephemeral event took no offset');
      await until(() => seen.every((s) => s.events.length === 2), 'both stored events everywhere');
      for (const s of seen) {
        assert.deepEqual(s.events.map((e) => e.offset), [1, 2]);
        assert.equal(s.ephemeral.length, 1, 'once per subscription');
        const [ephemeral] = s.ephemeral;
        assert.equal(ephemeral!.channel, 'ce.doc');
        assert.equal(typeof ephemeral!.time, 'number');
        assert.deepEqual(ephemeral!.event.data, { x: 3 });
        assert.equal(ephemeral!.event.id, undefined, 'sent without an idempotency id (it is never retried)');
        assert.equal('offset' in ephemeral!, false);
      }
      assert.deepEqual(first.positions.get('ce.doc')?.offset, 2);
    } finally {
      watcher.close();
      publisher.close();
    }
  });

  it('reach SSE subscribers and never long-poll ones; publishing them from either goes over HTTP', async () => {
    const sse = clientOf(hub.url, ['sse']).connect();
    const poll = clientOf(hub.url, ['poll']).connect();
    try {
      const overSse = record(sse.subscribe('cp.doc'));
      const overPoll = record(poll.subscribe('cp.doc'));
      await until(() => sse.state === 'connected' && poll.state === 'connected', 'both transports delivering');
      assert.equal((await poll.publish('cp.doc', { type: 'note' })).offset, 1);
      await until(() => overSse.events.length === 1 && overPoll.events.length === 1, 'the first stored event');
      assert.deepEqual(await poll.publish('cp.doc', { type: 'typing', data: { who: 'p' } }, { ephemeral: true }), { ephemeral: true });
      assert.deepEqual(await sse.publish('cp.doc', { type: 'typing', data: { who: 's' } }, { ephemeral: true }), { ephemeral: true });
      assert.equal((await sse.publish('cp.doc', { type: 'note' })).offset, 2);
      await until(() => overSse.events.length === 2 && overPoll.events.length === 2, 'the second stored event');
      assert.deepEqual(overSse.ephemeral.map((e) => e.event.data), [{ who: 'p' }, { who: 's' }], 'SSE delivers them, in order');
      assert.deepEqual(overPoll.ephemeral, [], 'a long-poll reads history: it cannot');
      for (const seen of [overSse, overPoll]) assert.deepEqual(seen.events.map((e) => e.offset), [1, 2]);
    } finally {
      sse.close();
      poll.close();
    }
  });
});
