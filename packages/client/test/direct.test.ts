import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { HeraldClient, HeraldError, type DirectMessage, type WebSocketConstructor } from '@herald/client';
import { startHub, type TestHub } from '../../server/test/support/hub.js';
import { until } from '../../server/test/support/process.js';

/** A connected client that records its direct messages; `backoff` decides how long it stays away after a drop. */
async function recipient(hub: TestHub, backoff = { initialDelayMs: 50, maxDelayMs: 50 }) {
  const received: DirectMessage[] = [];
  // random 1: the backoff's ceiling exactly, so "away for 2 s" is what the test says.
  const client = new HeraldClient({ url: hub.url, WebSocket: WebSocket as unknown as WebSocketConstructor, backoff, random: () => 1 });
  client.on('direct', (m) => received.push(m));
  client.connect();
  await until(() => client.state === 'connected', 'the client to connect');
  return { client, received, ns: () => received.map((m) => (m.event.data as { n: number }).n) };
}

/** Cuts the client's socket (not the client): the hub sees the connection close, the client reconnects. */
function killSocket(client: HeraldClient): void {
  (client as unknown as { ws: WebSocket }).ws.terminate();
}

describe('direct messages through @herald/client', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub();
  });
  after(() => hub.dispose());

  it('keeps its hub-given id across a reconnect, and a message sent while it was away 2 s arrives exactly once', async () => {
    const target = await recipient(hub, { initialDelayMs: 2000, maxDelayMs: 2000 });
    const id = target.client.clientId!;
    assert.ok(id);
    // Not connected: this one sends over HTTP.
    const sender = new HeraldClient({ url: hub.url });
    assert.deepEqual(await sender.send(id, { type: 'm', data: { n: 1 } }), { status: 'delivered' });
    await until(() => target.received.length === 1, 'the live message');
    assert.deepEqual(target.received[0]!.from, {});

    killSocket(target.client);
    await until(() => hub.hub.direct.isAway(id), 'the hub to see the connection close');
    assert.deepEqual(await sender.send(id, { type: 'm', data: { n: 2 } }), { status: 'queued' });

    await until(() => target.client.state === 'connected', 'the client to reconnect', 10_000);
    assert.equal(target.client.clientId, id, 'the same client id after the reconnect');
    await until(() => target.received.length === 2, 'the kept message');
    // A live one after it: once it is here, anything sent twice would be too.
    const live = new HeraldClient({ url: hub.url, WebSocket: WebSocket as unknown as WebSocketConstructor });
    live.connect();
    await until(() => live.state === 'connected', 'the sender to connect');
    assert.deepEqual(await live.send(id, { type: 'm', data: { n: 3 } }), { status: 'delivered' });
    await until(() => target.received.length >= 3, 'the last message');
    assert.deepEqual(target.ns(), [1, 2, 3]);
    assert.equal(target.received[2]!.from.clientId, live.clientId, 'over WebSocket the sender is named');
    target.client.close();
    live.close();
  });

  it('a client opening with an id in use replaces the old connection, which stops (4006) instead of fighting for it', async () => {
    const first = await recipient(hub);
    const id = first.client.clientId!;
    const codes: Array<number | undefined> = [];
    first.client.on('state', (s) => codes.push(s.code));
    const second = new HeraldClient({ url: hub.url, WebSocket: WebSocket as unknown as WebSocketConstructor, clientId: id });
    const received: DirectMessage[] = [];
    second.on('direct', (m) => received.push(m));
    second.connect();
    await until(() => second.state === 'connected' && first.client.state === 'disconnected', 'the takeover');
    assert.deepEqual(codes, [4006], 'closed as replaced, and no reconnect scheduled');
    assert.deepEqual(await new HeraldClient({ url: hub.url }).send(id, { type: 'm', data: { n: 7 } }), { status: 'delivered' });
    await until(() => received.length === 1, 'the message on the new connection');
    assert.deepEqual(first.received, []);
    first.client.close();
    second.close();
  });

  it('rejects a send to an unknown client id with unknown_client, over WebSocket and HTTP', async () => {
    const { client } = await recipient(hub);
    await assert.rejects(client.send('nobody-here', { type: 'm' }), (e: HeraldError) => e.code === 'unknown_client');
    await assert.rejects(new HeraldClient({ url: hub.url }).send('nobody-here', { type: 'm' }), (e: HeraldError) => e.code === 'unknown_client');
    client.close();
  });
});
