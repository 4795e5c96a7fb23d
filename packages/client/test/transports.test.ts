import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import { HeraldClient, type DeliveredEvent, type StateChange, type WebSocketConstructor } from '@herald/client';
import { startBufferingProxy } from '../../server/test/support/buffering-proxy.js';
import { postEvents, startHub } from '../../server/test/support/hub.js';
import { until } from '../../server/test/support/process.js';

const fastBackoff = { initialDelayMs: 50, maxDelayMs: 300 };
const describeState = (s: StateChange) => `${s.to}${s.transport ? `(${s.transport})` : ''}`;

/** A client through `url` that records every state change and every event of one channel from its start. */
function watch(url: string, channel: string, options: { websocketRetryMs?: number } = {}) {
  const states: string[] = [];
  const events: DeliveredEvent[] = [];
  const client = new HeraldClient({
    url,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    EventSource: EventSource as any,
    backoff: fastBackoff,
    ...options,
  });
  client.on('state', (s) => states.push(describeState(s)));
  const sub = client.subscribe(channel, (e) => events.push(e), { since: { offset: 0 } });
  client.connect();
  return { client, sub, states, events, types: () => events.map((e) => e.event.type) };
}

const publish = (url: string, channel: string, ...types: string[]) => postEvents(url, channel, types.map((type) => ({ type })));

describe('transports that never lie', () => {
  it('treats an SSE stream silent for two heartbeats as failed and falls back to long-poll: nothing missed, no flap', async () => {
    const hub = await startHub({ heartbeatMs: 200 });
    const proxy = await startBufferingProxy(hub.url);
    const { client, sub, states, types } = watch(proxy.url, 't.silent');
    try {
      await publish(hub.url, 't.silent', 'before-1', 'before-2');
      await until(() => proxy.heldStreams() >= 1, 'the SSE attempt (its stream held by the proxy)');
      await publish(hub.url, 't.silent', 'during');
      await until(() => client.transport === 'poll' && sub.state === 'subscribed', 'the long-poll fallback');
      await publish(hub.url, 't.silent', 'after-1');
      await publish(hub.url, 't.silent', 'after-2');
      await until(() => types().length >= 5, 'every event');
      assert.deepEqual(types(), ['before-1', 'before-2', 'during', 'after-1', 'after-2']);
      assert.equal(proxy.refused(), 2, 'WebSocket was tried twice before falling back');
      assert.deepEqual(states, ['connecting', 'connected(poll)'], 'connecting until a transport delivered: never connected over the stalled SSE, never disconnected');
      // Publishing goes over HTTP on the fallback.
      assert.equal((await client.publish('t.silent', { type: 'from-client' })).offset, 6);
      await until(() => types().length === 6, 'the client\'s own event');
    } finally {
      client.close();
      await proxy.close();
      await hub.dispose();
    }
  });

  it('probes WebSocket in the background without a change of state, then switches with no gap and no duplicate', async () => {
    const hub = await startHub({ heartbeatMs: 200 });
    const proxy = await startBufferingProxy(hub.url);
    const { client, states, types } = watch(proxy.url, 't.probe', { websocketRetryMs: 100 });
    try {
      await until(() => client.transport === 'poll' && client.state === 'connected', 'the long-poll fallback');
      await publish(hub.url, 't.probe', 'poll-1');
      // Probes come and go (each refused by the proxy) while the state stays put.
      const refusedBefore = proxy.refused();
      await until(() => proxy.refused() >= refusedBefore + 3, 'three refused probes');
      await publish(hub.url, 't.probe', 'poll-2');
      await until(() => types().length === 2, 'events over long-poll');
      assert.deepEqual(states, ['connecting', 'connected(poll)'], 'probing changed nothing visible');

      proxy.allowUpgrades();
      let n = 0;
      const publishing = (async () => {
        while (client.transport !== 'websocket') await publish(hub.url, 't.probe', `switch-${++n}`);
      })();
      await until(() => client.transport === 'websocket', 'the switch to WebSocket');
      await publishing;
      await publish(hub.url, 't.probe', 'ws-1');
      const expected = ['poll-1', 'poll-2', ...Array.from({ length: n }, (_, i) => `switch-${i + 1}`), 'ws-1'];
      await until(() => types().length >= expected.length, 'every event after the switch');
      assert.deepEqual(types(), expected, 'every event once, in order, across the switch');
      assert.deepEqual(states, ['connecting', 'connected(poll)', 'connected(websocket)'], 'the switch is announced, with no connecting or disconnected in between');
    } finally {
      client.close();
      await proxy.close();
      await hub.dispose();
    }
  });

  it('on a direct path, a client offered only SSE and poll stays on SSE: its heartbeats arrive', async () => {
    const hub = await startHub({ heartbeatMs: 100 });
    const client = new HeraldClient({ url: hub.url, EventSource: EventSource as any, transports: ['sse', 'poll'] });
    const states: string[] = [];
    client.on('state', (s) => states.push(describeState(s)));
    const events: string[] = [];
    client.subscribe('t.direct', (e) => events.push(e.event.type));
    client.connect();
    try {
      await until(() => client.state === 'connected', 'connected');
      // Several heartbeat intervals of a quiet channel (counted on a stream of our own): no silence is declared.
      const clock = new EventSource(`${hub.url}/api/channels/t.clock/stream`);
      let beats = 0;
      clock.addEventListener('heartbeat', () => beats++);
      await until(() => beats >= 6, 'six heartbeats');
      clock.close();
      await publish(hub.url, 't.direct', 'live');
      await until(() => events.length === 1, 'the live event');
      assert.equal(client.transport, 'sse');
      assert.deepEqual(states, ['connecting', 'connected(sse)']);
    } finally {
      client.close();
      await hub.dispose();
    }
  });
});
