import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { HeraldClient, HeraldError, type RequestInfo, type ServeHandler, type WebSocketConstructor } from '@herald/client';
import { startHub, type TestHub } from '../../server/test/support/hub.js';
import { until } from '../../server/test/support/process.js';

/** A client connected over WebSocket; it reconnects 50 ms after a drop. */
async function connected(hub: TestHub): Promise<HeraldClient> {
  const client = new HeraldClient({ url: hub.url, WebSocket: WebSocket as unknown as WebSocketConstructor, backoff: { initialDelayMs: 50, maxDelayMs: 50 } });
  client.connect();
  await until(() => client.state === 'connected', 'the client to connect');
  return client;
}

/** Cuts the client's socket (not the client): the hub sees the connection close, the client reconnects. */
function killSocket(client: HeraldClient): void {
  (client as unknown as { ws: WebSocket }).ws.terminate();
}

async function eventually(test: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What a request to `channel` gets now: its reply, or the code it was refused with. */
const outcome = (hub: TestHub, channel: string, type = 'probe') =>
  new HeraldClient({ url: hub.url }).request(channel, { type }, { timeoutMs: 2000 }).catch((e: HeraldError) => e.code);

/**
 * `client.serve` with requests of type `probe` answered before `handler` sees them, and once the hub has
 * the registration (a `serve` is answered asynchronously): the test's own handler counts only its requests.
 */
async function serve(hub: TestHub, client: HeraldClient, channel: string, handler: ServeHandler, probeChannel = channel): Promise<() => void> {
  const stop = client.serve(channel, (data, info) => (info.type === 'probe' ? 'probed' : handler(data, info)));
  await eventually(async () => (await outcome(hub, probeChannel)) === 'probed', `a responder for ${probeChannel}`);
  return stop;
}

const codeOf = (code: string) => (error: unknown) => error instanceof HeraldError && error.code === code;

describe('request/reply through @herald/client', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub();
  });
  after(() => hub.dispose());

  it('round trip client to client over WebSocket: the handler sees the type, the channel, the sender and the deadline', async () => {
    const responder = await connected(hub);
    const requester = await connected(hub);
    const seen: RequestInfo[] = [];
    const stop = await serve(hub, responder, 'nav.*', async (data: { to: string }, info) => {
      seen.push(info);
      return { ok: true, at: data.to };
    }, 'nav.main');
    const before = Date.now();
    assert.deepEqual(await requester.request('nav.main', { type: 'navigate', data: { to: '/settings' } }, { timeoutMs: 3000 }), { ok: true, at: '/settings' });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.type, 'navigate');
    assert.equal(seen[0]!.channel, 'nav.main', 'the concrete channel, though a pattern is served');
    assert.equal(seen[0]!.from.clientId, requester.clientId);
    assert.ok(seen[0]!.deadline >= before + 3000 && seen[0]!.deadline <= Date.now() + 3000, `deadline ${seen[0]!.deadline}`);
    stop();
    responder.close();
    requester.close();
  });

  it('a client that is not connected, or not over WebSocket, sends its request over HTTP', async () => {
    const responder = await connected(hub);
    const stop = await serve(hub, responder, 'rpc.http', (data: number[]) => data.reduce((a, b) => a + b, 0));
    const requester = new HeraldClient({ url: hub.url });
    assert.equal(requester.state, 'disconnected');
    assert.equal(await requester.request('rpc.http', { type: 'sum', data: [1, 2, 3] }), 6);
    // Connected, but on the long-poll fallback: requests go over HTTP too.
    const polling = new HeraldClient({ url: hub.url, transports: ['poll'] });
    polling.connect();
    await until(() => polling.state === 'connected', 'the poll client to connect');
    assert.equal(polling.transport, 'poll');
    assert.equal(await polling.request('rpc.http', { type: 'sum', data: [4, 5] }), 9);
    polling.close();
    stop();
    responder.close();
  });

  it('rejects with no_responder when nothing serves the channel, over WebSocket and HTTP', async () => {
    const requester = await connected(hub);
    await assert.rejects(requester.request('rpc.nobody', { type: 'x' }), codeOf('no_responder'));
    await assert.rejects(new HeraldClient({ url: hub.url }).request('rpc.nobody', { type: 'x' }), codeOf('no_responder'));
    requester.close();
  });

  it('rejects with timeout when the handler does not answer in time', async () => {
    const responder = await connected(hub);
    const requester = await connected(hub);
    let release!: () => void;
    const stop = await serve(hub, responder, 'rpc.slow', (data: string) => (data === 'hang' ? new Promise<string>((resolve) => (release = () => resolve('late'))) : 'ok'));
    await assert.rejects(requester.request('rpc.slow', { type: 'wait', data: 'hang' }, { timeoutMs: 200 }), codeOf('timeout'));
    // The late reply is refused by the hub and does not disturb the responder.
    release();
    assert.equal(await requester.request('rpc.slow', { type: 'wait', data: 'now' }), 'ok');
    stop();
    responder.close();
    requester.close();
  });

  it('a handler that throws refuses the request: responder_error with its message', async () => {
    const responder = await connected(hub);
    const requester = await connected(hub);
    const stop = await serve(hub, responder, 'rpc.fail', () => {
      throw new Error('the door is locked');
    });
    await assert.rejects(requester.request('rpc.fail', { type: 'open' }), (e: HeraldError) => e.code === 'responder_error' && e.message.includes('the door is locked'));
    await assert.rejects(new HeraldClient({ url: hub.url }).request('rpc.fail', { type: 'open' }), codeOf('responder_error'));
    stop();
    responder.close();
    requester.close();
  });

  it('serves again after its connection is dropped and comes back', async () => {
    const responder = await connected(hub);
    const requester = new HeraldClient({ url: hub.url });
    const stop = await serve(hub, responder, 'rpc.back', () => 'here');
    const oldId = responder.clientId;
    // Told by its state events, not by polling the state: on loopback with a 0–50 ms backoff the client
    // can be connected again before a poll 10 ms later looks (a loaded run waited for a drop it missed).
    const dropped = new Promise<void>((resolve) => {
      const off = responder.on('state', (change) => change.from === 'connected' && (off(), resolve()));
    });
    killSocket(responder);
    await dropped;
    await until(() => responder.state === 'connected', 'the responder to reconnect', 10_000);
    assert.equal(responder.clientId, oldId);
    await eventually(async () => (await outcome(hub, 'rpc.back')) === 'probed', 'the serve to be announced again');
    assert.equal(await requester.request('rpc.back', { type: 'where' }), 'here');
    stop();
    responder.close();
  });

  it('a request whose connection drops before the reply rejects, and is not sent again', async () => {
    const responder = await connected(hub);
    const requester = await connected(hub);
    let calls = 0;
    const stop = await serve(hub, responder, 'rpc.once', () => {
      calls++;
      // The first one is still being worked on when its requester goes away.
      return calls === 1 ? new Promise<string>((resolve) => setTimeout(() => resolve('late'), 500)) : 'second';
    });
    const answer = requester.request('rpc.once', { type: 'charge' }, { timeoutMs: 5000 });
    await until(() => calls === 1, 'the request to reach the handler');
    killSocket(requester);
    await assert.rejects(answer, codeOf('disconnected'));
    await until(() => requester.state === 'connected', 'the requester to reconnect', 10_000);
    // A resent request would go out on the new connection before this one, and reach the handler first.
    assert.equal(await requester.request('rpc.once', { type: 'charge' }), 'second');
    assert.equal(calls, 2);
    stop();
    responder.close();
    requester.close();
  });

  it('stop() unserves: then requests get no_responder; stop() twice is harmless', async () => {
    const responder = await connected(hub);
    const stop = await serve(hub, responder, 'rpc.stop', () => 'yes');
    assert.equal(await new HeraldClient({ url: hub.url }).request('rpc.stop', { type: 'q' }), 'yes');
    stop();
    stop();
    await eventually(async () => (await outcome(hub, 'rpc.stop')) === 'no_responder', 'the unserve to reach the hub');
    responder.close();
  });

  it('serving a channel twice throws at once, with what to do', async () => {
    const client = new HeraldClient({ url: hub.url });
    const stop = client.serve('rpc.twice', () => 1);
    assert.throws(() => client.serve('rpc.twice', () => 2), /already served by this client; call the stop function/);
    stop();
    client.serve('rpc.twice', () => 3)();
  });
});
