import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import { HeraldClient, type DeliveredEvent, type JoinMessage, type LeaveMessage, type TransportName, type WebSocketConstructor } from '@herald/client';
import { postEvents, startHub } from '../../server/test/support/hub.js';
import { until } from '../../server/test/support/process.js';

function connect(url: string, clientId: string, transports?: TransportName[]): HeraldClient {
  return new HeraldClient({ url, clientId, WebSocket: WebSocket as unknown as WebSocketConstructor, EventSource: EventSource as any, backoff: { initialDelayMs: 50, maxDelayMs: 300 }, ...(transports ? { transports } : {}) }).connect();
}

const changes = (list: Array<JoinMessage | LeaveMessage>) => list.map((m) => `${m.op} ${m.client.clientId}`);

describe('client.presence and presence: true', () => {
  it('lists who is there over WebSocket and HTTP, and routes joins and leaves only to the local subscriptions that asked', async () => {
    const hub = await startHub();
    const me = connect(hub.url, 'me');
    const others: HeraldClient[] = [];
    try {
      // A plain subscription first; one with presence joins it later (the hub subscription is upgraded in place).
      const plainEvents: DeliveredEvent[] = [];
      const plain = me.subscribe('c.room', (e) => plainEvents.push(e));
      const plainChanges: Array<JoinMessage | LeaveMessage> = [];
      plain.on('presence', (m) => plainChanges.push(m));
      await until(() => plain.state === 'subscribed', 'the plain subscription');
      await postEvents(hub.url, 'c.room', [{ type: 'a' }, { type: 'b' }]);
      await until(() => plainEvents.length === 2, 'two events');

      const heard: Array<JoinMessage | LeaveMessage> = [];
      const watching = me.subscribe('c.room', undefined, { presence: true });
      watching.on('presence', (m) => heard.push(m));
      await until(() => watching.state === 'subscribed', 'the presence subscription');
      await postEvents(hub.url, 'c.room', { type: 'c' });

      const ws = connect(hub.url, 'ws-peer');
      const sse = connect(hub.url, 'sse-peer', ['sse']);
      others.push(ws, sse);
      const wsSub = ws.subscribe('c.room');
      const sseSub = sse.subscribe('c.room');
      await until(() => heard.length === 2, 'two joins');
      assert.deepEqual(heard.map((m) => `${m.op} ${m.client.transport}`).sort(), ['join sse', 'join websocket']);
      assert.ok(heard.some((m) => m.client.clientId === 'ws-peer'), 'the WebSocket peer is listed by the client id it asked for');

      const overWs = await me.presence('c.room');
      assert.equal(me.transport, 'websocket');
      assert.equal(overWs.count, 3);
      assert.equal(overWs.clients[0]!.clientId, 'me');
      assert.deepEqual(overWs.clients.map((c) => c.transport).sort(), ['sse', 'websocket', 'websocket']);
      const page = await me.presence('c.room', { limit: 1 });
      assert.equal(page.clients.length, 1);
      const rest = await me.presence('c.room', { limit: 2, after: page.next });
      assert.equal(rest.next, undefined);
      assert.deepEqual([...page.clients, ...rest.clients], overWs.clients);
      // Over HTTP from a client with no WebSocket (the long-poll transport).
      const polling = connect(hub.url, 'poller', ['poll']);
      others.push(polling);
      assert.deepEqual(await polling.presence('c.room'), overWs);

      wsSub.unsubscribe();
      sseSub.unsubscribe();
      await until(() => heard.length === 4, 'two leaves');
      assert.deepEqual(changes(heard.slice(2)).sort(), changes(heard.slice(0, 2)).map((s) => s.replace('join', 'leave')).sort());
      assert.deepEqual(plainChanges, [], 'a subscription that did not ask hears no presence');
      await postEvents(hub.url, 'c.room', { type: 'd' });
      await until(() => plainEvents.length === 4, 'the plain subscription still live');
      assert.deepEqual(plainEvents.map((e) => e.offset), [1, 2, 3, 4], 'the upgrade to presence lost and repeated nothing');
      assert.throws(() => me.subscribe('c.*', undefined, { presence: true }), /exact channels only/);
    } finally {
      for (const client of [me, ...others]) client.close();
      await hub.dispose();
    }
  });

  it('an SSE client asks its stream for joins and leaves', async () => {
    const hub = await startHub();
    const me = connect(hub.url, 'me', ['sse']);
    const peer = connect(hub.url, 'peer');
    try {
      const heard: Array<JoinMessage | LeaveMessage> = [];
      const sub = me.subscribe('c.sse', undefined, { presence: true });
      sub.on('presence', (m) => heard.push(m));
      await until(() => sub.state === 'subscribed' && me.transport === 'sse', 'the SSE subscription');
      const peerSub = peer.subscribe('c.sse');
      await until(() => heard.length === 1, 'a join');
      peerSub.unsubscribe();
      await until(() => heard.length === 2, 'a leave');
      assert.deepEqual(changes(heard), ['join peer', 'leave peer']);
      const page = await me.presence('c.sse');
      assert.deepEqual(page.clients.map((c) => c.transport), ['sse']);
    } finally {
      me.close();
      peer.close();
      await hub.dispose();
    }
  });
});
