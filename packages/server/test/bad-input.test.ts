import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCodes } from '@herald/protocol';
import { getJson, postEvents, startHub, type TestHub } from './support/hub.js';
import { Bystander } from './support/bystander.js';
import { TestClient } from './support/ws-client.js';

const offsets = (events: Array<Record<string, any>>) => events.map((e) => e.offset);

/**
 * Every bad input gets its documented answer, and a bystander subscribed throughout receives every
 * event published around the trouble, in order: the hub is neither crashed nor stalled.
 */
describe('bad input', () => {
  let hub: TestHub;
  let bystander: Bystander;

  const publishMarker = () => bystander.mark();

  before(async () => {
    hub = await startHub({ maxMessageBytes: 4096, maxFrameBytes: 16 * 1024, maxSubscriptions: 3, maxOutboundBytes: 64 * 1024 });
    bystander = await Bystander.start(hub.url);
  });

  after(async () => {
    await bystander.verify();
    await hub.dispose();
  });

  const commandErrors: Array<[string, string | Buffer, string, RegExp]> = [
    ['malformed JSON', '{"op":"ping"', 'bad_json', /not valid JSON/],
    ['a command that is not an object', '42', 'bad_request', /object/],
    ['a missing op', '{"id":"raw"}', 'bad_request', /op is required/],
    ['an unknown op', '{"op":"explode","id":"raw"}', 'unknown_op', /unknown op "explode"/],
    ['a subscribe without channel', '{"op":"subscribe","id":"raw"}', 'invalid_channel', /channel/],
    ['an invalid channel name', '{"op":"subscribe","id":"raw","channel":"a..b"}', 'invalid_channel', /empty segment/],
    ['a wildcard in a publish', '{"op":"publish","id":"raw","channel":"runs.*","event":{"type":"x"}}', 'invalid_channel', /wildcard/],
    ['a publish without event', '{"op":"publish","id":"raw","channel":"x"}', 'bad_request', /event is required/],
    ['an event without type', '{"op":"publish","id":"raw","channel":"x","event":{"data":1}}', 'invalid_event', /type/],
    ['an unknown severity', '{"op":"publish","id":"raw","channel":"x","event":{"type":"t","severity":"fatal"}}', 'invalid_event', /severity/],
    ['a malformed since', '{"op":"subscribe","id":"raw","channel":"x","since":{"offset":-1}}', 'bad_request', /offset/],
    ['an unsubscribe of nothing', '{"op":"unsubscribe","id":"raw","channel":"nothing"}', 'not_subscribed', /not subscribed/],
    ['a binary frame', Buffer.from('{"op":"ping"}'), 'bad_request', /binary/],
  ];

  for (const [what, frame, code, message] of commandErrors) {
    it(`answers ${what} with ${code} and keeps the connection`, async () => {
      const client = await TestClient.connect(hub.url);
      client.sendRaw(frame, Buffer.isBuffer(frame));
      const error = await client.waitFor((m) => m.op === 'error');
      assert.equal(error.code, code);
      assert.match(error.message, message);
      assert.deepEqual(await client.request({ op: 'ping' }), { op: 'pong', id: 1 }, 'the connection still works');
      await publishMarker();
      client.close();
    });
  }

  it('echoes the command id in the error reply', async () => {
    const client = await TestClient.connect(hub.url);
    const reply = await client.request({ op: 'subscribe', channel: 'bad name' });
    assert.equal(reply.op, 'error');
    assert.equal(reply.code, 'invalid_channel');
    client.close();
  });

  it('refuses a second subscription to the same channel, and subscriptions past the cap', async () => {
    const client = await TestClient.connect(hub.url);
    for (const channel of ['a', 'b', 'c']) assert.equal((await client.request({ op: 'subscribe', channel })).op, 'subscribed');
    assert.equal((await client.request({ op: 'subscribe', channel: 'a' })).code, 'already_subscribed');
    assert.equal((await client.request({ op: 'subscribe', channel: 'd' })).code, 'too_many_subscriptions');
    await publishMarker();
    client.close();
  });

  it('refuses a publish over the message cap alone (too_large): the connection and the commands around it are unharmed', async () => {
    const client = await TestClient.connect(hub.url);
    await client.waitFor((m) => m.op === 'hello');
    client.sendRaw(JSON.stringify([
      { op: 'publish', id: 'a', channel: 'sizes', event: { type: 'before' } },
      { op: 'publish', id: 'b', channel: 'sizes', event: { type: 't', data: 'x'.repeat(5000) } },
      { op: 'publish', id: 'c', channel: 'sizes', event: { type: 'after' } },
    ]));
    const replies = await Promise.all(['a', 'b', 'c'].map((id) => client.waitFor((m) => m.id === id)));
    assert.deepEqual(replies.map((r) => r.op === 'error' ? r.code : r.op), ['published', 'too_large', 'published']);
    assert.equal((await client.request({ op: 'ping' })).op, 'pong', 'still connected');
    const stored = (await getJson(`${hub.url}/api/channels/sizes/events`)).json.events.map((e: any) => e.event.type);
    assert.deepEqual(stored, ['before', 'after']);
    client.close();
  });

  it('closes a connection that sends a frame over the frame cap with 1009', async () => {
    const client = await TestClient.connect(hub.url);
    client.sendRaw(JSON.stringify({ op: 'publish', channel: 'big', event: { type: 't', data: 'x'.repeat(20_000) } }));
    assert.equal((await client.closed).code, CloseCodes.tooBig.code);
    await publishMarker();
    assert.equal((await getJson(`${hub.url}/api/channels/big/events`)).json.events.length, 0, 'nothing of it was stored');
  });

  it('closes a client that stops reading with 4001 once its outbound buffer passes the cap', async () => {
    const slow = await TestClient.connect(hub.url);
    await slow.request({ op: 'subscribe', channel: 'flood' });
    // The client stops reading from its socket, as a frozen browser tab would.
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const payload = 'y'.repeat(3000);
    let sent = 0;
    while ((await getJson(`${hub.url}/api/stats`)).json.slowConsumerCloses === 0 && sent < 5000) {
      await postEvents(hub.url, 'flood', Array.from({ length: 50 }, () => ({ type: 'chunk', data: payload })));
      sent += 50;
    }
    await publishMarker();
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    assert.equal((await slow.closed).code, CloseCodes.slowConsumer.code);
    // It can resume from the last offset it processed: history still holds the rest.
    const lastSeen = slow.events('flood').at(-1)?.offset ?? 0;
    const resumed = await TestClient.connect(hub.url);
    const reply = await resumed.request({ op: 'subscribe', channel: 'flood', since: { offset: lastSeen } });
    assert.ok(sent < 5000, 'the slow consumer was closed before the test gave up');
    assert.equal(reply.recovered, true);
    assert.equal(reply.replayed, sent - lastSeen);
    const replayed = await resumed.waitForEvents(sent - lastSeen, 'flood');
    assert.deepEqual(offsets(replayed), Array.from({ length: sent - lastSeen }, (_, i) => lastSeen + i + 1));
    resumed.close();
  });
});

describe('bad HTTP input', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub({ maxMessageBytes: 1024, maxBodyBytes: 64 * 1024 });
  });
  after(() => hub.dispose());

  const cases: Array<[string, string, unknown, number, string]> = [
    ['malformed JSON', 'ok', '{"type":', 400, 'bad_json'],
    ['an empty body', 'ok', '', 400, 'bad_request'],
    ['an empty array', 'ok', [], 400, 'bad_request'],
    ['a body that is not an event', 'ok', '"text"', 400, 'bad_request'],
    ['an invalid channel', 'no..pe', { type: 't' }, 400, 'invalid_channel'],
    ['a wildcard channel', 'runs.*', { type: 't' }, 400, 'invalid_channel'],
    ['a channel over 160 characters', 'c'.repeat(161), { type: 't' }, 400, 'invalid_channel'],
    ['an invalid event in a batch', 'ok', [{ type: 'fine' }, { data: 1 }], 400, 'invalid_event'],
    ['an event over the message cap', 'ok', { type: 't', data: 'z'.repeat(2000) }, 413, 'too_large'],
    ['a body over the body cap', 'ok', Array.from({ length: 100 }, () => ({ type: 't', data: 'z'.repeat(900) })), 413, 'too_large'],
    ['more than 1 000 events', 'ok', Array.from({ length: 1001 }, () => ({ type: 't' })), 400, 'too_many_events'],
  ];
  for (const [what, channel, body, status, code] of cases) {
    it(`answers ${what} with ${status} ${code} and stores nothing`, async () => {
      const response = await postEvents(hub.url, channel, body);
      assert.equal(response.status, status);
      assert.equal(response.json.error.code, code);
      assert.equal(typeof response.json.error.message, 'string');
      assert.equal((await getJson(`${hub.url}/api/channels/ok/events`)).json.events.length, 0);
    });
  }

  it('answers unknown routes and bad query parameters with documented codes', async () => {
    assert.deepEqual((await getJson(`${hub.url}/api/nothing`)).json.error.code, 'not_found');
    const bad = await getJson(`${hub.url}/api/channels/ok/events?limit=0`);
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'bad_request');
  });
});
