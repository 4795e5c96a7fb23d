import assert from 'node:assert/strict';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createClient, type HeraldClient } from '@herald/client';
import { getJson, startHub, type TestHub } from '../../server/test/support/hub.js';

/**
 * A TCP proxy in front of the hub that, once armed, lets the next publish frame through and then cuts
 * the connection as the hub's reply comes back: the event is stored, the publisher never hears so.
 */
async function replyCutter(target: number): Promise<{ port: number; arm: () => Promise<void>; server: Server }> {
  let armed: (() => void) | undefined;
  const server = createServer((client: Socket) => {
    const hub = new Socket().connect(target, '127.0.0.1');
    let publishSeen = false;
    client.on('data', (chunk: Buffer) => {
      // Once armed, the next WebSocket frame from the client (anything but an HTTP request) is the publish.
      if (armed && !/^(GET|POST) /.test(chunk.toString('latin1', 0, 5))) publishSeen = true;
      hub.write(chunk);
    });
    hub.on('data', (chunk: Buffer) => {
      if (publishSeen && armed) {
        const done = armed;
        armed = undefined;
        client.destroy();
        hub.destroy();
        done();
        return;
      }
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      hub.destroy();
    };
    client.on('error', end).on('close', end);
    hub.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    arm: () => new Promise<void>((resolve) => (armed = resolve)),
    server,
  };
}

describe('client.publish', () => {
  let hub: TestHub;
  let proxy: Awaited<ReturnType<typeof replyCutter>>;
  let client: HeraldClient;

  before(async () => {
    hub = await startHub();
    proxy = await replyCutter(hub.port);
  });
  after(async () => {
    client?.close();
    proxy?.server.close();
    await hub?.dispose();
  });

  it('stores an event once when the reply is lost and the client sends it again', async () => {
    client = createClient({ url: `http://127.0.0.1:${proxy.port}`, WebSocket: WebSocket as never, backoff: { initialDelayMs: 20, maxDelayMs: 50 } });
    client.connect();
    await new Promise<void>((resolve) => client.on('state', (s) => s.to === 'connected' && resolve()));
    const cut = proxy.arm();
    const result = await client.publish('retry.lost-reply', { type: 'once', data: { n: 1 } });
    await cut;
    assert.equal(result.offset, 1);
    const { json } = await getJson(`${hub.url}/api/channels/retry.lost-reply/events?since=0`);
    assert.deepEqual(
      json.events.map((e: { offset: number; event: { type: string } }) => [e.offset, e.event.type]),
      [[1, 'once']],
      'stored once, though sent twice',
    );
  });

  it('keeps an id the caller chose, and does not retry what the hub refused', async () => {
    const first = await client.publish('retry.own-id', { type: 'mine', id: 'order-17' });
    const again = await client.publish('retry.own-id', { type: 'mine', id: 'order-17' });
    assert.equal(again.offset, first.offset);
    await assert.rejects(client.publish('bad channel name!', { type: 'x' }), (error: Error & { code?: string }) => error.code === 'invalid_channel');
  });
});
