import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCodes } from '@herald/protocol';
import { WebSocket } from 'ws';
import { postEvents, startHub, type TestHub } from './support/hub.js';
import { TestClient } from './support/ws-client.js';

const offsets = (events: Array<Record<string, any>>) => events.map((e) => e.offset);

describe('WebSocket protocol', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub({ retentionCount: 5 });
  });
  after(() => hub.dispose());

  it('says hello with a client id, the heartbeat and the protocol version', async () => {
    const client = await TestClient.connect(hub.url);
    const hello = await client.waitFor((m) => m.op === 'hello');
    assert.equal(typeof hello.clientId, 'string');
    assert.equal(hello.heartbeatMs, hub.config.heartbeatMs);
    assert.equal(hello.version, 1);
    assert.deepEqual(await client.request({ op: 'ping' }), { op: 'pong', id: 1 });
    client.close();
  });

  it('delivers a WebSocket publish to a subscriber, with offset, epoch, channel and receive time', async () => {
    const subscriber = await TestClient.connect(hub.url);
    const publisher = await TestClient.connect(hub.url);
    const subscribed = await subscriber.request({ op: 'subscribe', channel: 'rt.one' });
    assert.equal(subscribed.op, 'subscribed');
    assert.equal(subscribed.offset, 0);
    const published = await publisher.request({ op: 'publish', channel: 'rt.one', event: { type: 'log', data: { n: 1 } } });
    assert.deepEqual(published, { op: 'published', id: 1, channel: 'rt.one', offset: 1, epoch: subscribed.epoch });
    const [event] = await subscriber.waitForEvents(1);
    assert.equal(event!.channel, 'rt.one');
    assert.equal(event!.offset, 1);
    assert.equal(event!.epoch, subscribed.epoch);
    assert.equal(typeof event!.time, 'number');
    assert.deepEqual(event!.event, { type: 'log', severity: 'info', data: { n: 1 } });
    subscriber.close();
    publisher.close();
  });

  it('delivers an HTTP publish to a WebSocket subscriber', async () => {
    const client = await TestClient.connect(hub.url);
    await client.request({ op: 'subscribe', channel: 'rt.http' });
    const { status, json } = await postEvents(hub.url, 'rt.http', [{ type: 'a' }, { type: 'b', severity: 'error' }]);
    assert.equal(status, 201);
    assert.deepEqual(json.offsets, [1, 2]);
    const events = await client.waitForEvents(2);
    assert.deepEqual(events.map((e) => [e.offset, e.event.type, e.event.severity]), [[1, 'a', 'info'], [2, 'b', 'error']]);
    client.close();
  });

  it('resumes with exactly the missed events in order, then live, with recovered:true', async () => {
    const first = await TestClient.connect(hub.url);
    const sub = await first.request({ op: 'subscribe', channel: 'resume.ok' });
    await postEvents(hub.url, 'resume.ok', [{ type: '1' }, { type: '2' }]);
    const seen = await first.waitForEvents(2);
    first.close();
    await first.closed;

    await postEvents(hub.url, 'resume.ok', [{ type: '3' }, { type: '4' }]);
    const second = await TestClient.connect(hub.url);
    const reply = await second.request({ op: 'subscribe', channel: 'resume.ok', since: { offset: seen.at(-1)!.offset, epoch: sub.epoch } });
    assert.equal(reply.recovered, true);
    assert.equal(reply.replayed, 2);
    assert.equal(reply.offset, 4);
    await postEvents(hub.url, 'resume.ok', { type: '5' });
    const events = await second.waitForEvents(3);
    assert.deepEqual(offsets(events), [3, 4, 5]);
    assert.deepEqual(events.map((e) => e.event.type), ['3', '4', '5']);
    // The reply comes before the replayed events.
    assert.ok(second.messages.indexOf(reply) < second.messages.indexOf(events[0]!));
    second.close();
  });

  it('answers recovered:false, replaying nothing, when retention dropped part of the gap', async () => {
    const client = await TestClient.connect(hub.url);
    const { json } = await postEvents(hub.url, 'resume.gone', Array.from({ length: 8 }, (_, i) => ({ type: `e${i}` })));
    const reply = await client.request({ op: 'subscribe', channel: 'resume.gone', since: { offset: 1, epoch: json.epoch } });
    assert.equal(reply.recovered, false);
    assert.equal(reply.replayed, 0);
    assert.equal(reply.offset, 8);
    await postEvents(hub.url, 'resume.gone', { type: 'live' });
    const events = await client.waitForEvents(1);
    assert.deepEqual(offsets(events), [9]);
    client.close();
  });

  it('answers recovered:false when the epoch changed (channel reset)', async () => {
    const { json } = await postEvents(hub.url, 'resume.reset', [{ type: 'a' }, { type: 'b' }]);
    const reset = await fetch(`${hub.url}/api/channels/resume.reset`, { method: 'DELETE' }).then((r) => r.json() as Promise<any>);
    assert.notEqual(reset.epoch, json.epoch);
    const client = await TestClient.connect(hub.url);
    const reply = await client.request({ op: 'subscribe', channel: 'resume.reset', since: { offset: 1, epoch: json.epoch } });
    assert.equal(reply.recovered, false);
    assert.equal(reply.epoch, reset.epoch);
    client.close();
  });

  it('delivers to pattern subscriptions (* one segment, > the rest), once per connection', async () => {
    const client = await TestClient.connect(hub.url);
    await client.request({ op: 'subscribe', channel: 'pat.*' });
    await client.request({ op: 'subscribe', channel: 'pat.>' });
    await client.request({ op: 'subscribe', channel: 'pat.a' });
    await postEvents(hub.url, 'pat.a', { type: 'one' });
    await postEvents(hub.url, 'pat.b.deep', { type: 'deep' });
    await postEvents(hub.url, 'other', { type: 'no' });
    await postEvents(hub.url, 'pat.c', { type: 'last' });
    const events = await client.waitForEvents(3);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(client.events().map((e) => `${e.channel}:${e.event.type}`), ['pat.a:one', 'pat.b.deep:deep', 'pat.c:last']);
    assert.equal(events.length, 3);
    client.close();
  });

  it('resumes a pattern from per-channel positions and from a time for channels it had not seen', async () => {
    const a = await postEvents(hub.url, 'presume.a', [{ type: 'a1' }, { type: 'a2' }]);
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    await postEvents(hub.url, 'presume.a', { type: 'a3' });
    await postEvents(hub.url, 'presume.b', { type: 'b1' });
    const client = await TestClient.connect(hub.url);
    const reply = await client.request({
      op: 'subscribe',
      channel: 'presume.*',
      since: { positions: { 'presume.a': { offset: 2, epoch: a.json.epoch } }, time: since },
    });
    assert.equal(reply.recovered, true);
    assert.equal(reply.replayed, 2);
    const events = await client.waitForEvents(2);
    assert.deepEqual(events.map((e) => `${e.channel}:${e.offset}`).sort(), ['presume.a:3', 'presume.b:1']);
    client.close();
  });

  it('starts with the newest N events across a pattern\'s channels, oldest first, then live', async () => {
    for (let round = 1; round <= 3; round++) {
      for (const c of ['a', 'b', 'c']) await postEvents(hub.url, `lastn.${c}`, { type: `${c}${round}` });
    }
    await postEvents(hub.url, 'elsewhere', { type: 'not matched' });
    const client = await TestClient.connect(hub.url);
    const reply = await client.request({ op: 'subscribe', channel: 'lastn.*', since: { last: 4 } });
    assert.equal(reply.replayed, 4);
    assert.equal(reply.recovered, undefined, 'a start, not a resume');
    const replayed = await client.waitForEvents(4);
    assert.deepEqual(replayed.map((e) => e.event.type), ['c2', 'a3', 'b3', 'c3']);
    await postEvents(hub.url, 'lastn.b', { type: 'b4' });
    const live = (await client.waitForEvents(5)).at(-1);
    assert.deepEqual([live!.channel, live!.offset, live!.event.type], ['lastn.b', 4, 'b4']);
    client.close();
  });

  it('starts an exact channel with its newest N events, fewer when it holds fewer', async () => {
    await postEvents(hub.url, 'lastn.exact', [1, 2, 3, 4, 5, 6, 7].map((n) => ({ type: `e${n}` })));
    const client = await TestClient.connect(hub.url);
    await client.request({ op: 'subscribe', channel: 'lastn.exact', since: { last: 3 } });
    assert.deepEqual(offsets(await client.waitForEvents(3)), [5, 6, 7]);
    const all = await TestClient.connect(hub.url);
    const reply = await all.request({ op: 'subscribe', channel: 'lastn.exact', since: { last: 50 } });
    assert.equal(reply.offset, 7);
    assert.deepEqual(offsets(await all.waitForEvents(5)), [3, 4, 5, 6, 7], 'the five retained');
    const refused = await all.request({ op: 'subscribe', channel: 'lastn.other', since: { last: 0 } });
    assert.equal(refused.op, 'error');
    assert.match(refused.message, /since\.last must be a whole number from 1 to 1000/);
    client.close();
    all.close();
  });

  it('stores an event published twice with the same id once, answering the original offset', async () => {
    const client = await TestClient.connect(hub.url);
    await client.request({ op: 'subscribe', channel: 'idem' });
    const first = await client.request({ op: 'publish', channel: 'idem', event: { type: 't', id: 'job-1' } });
    const again = await client.request({ op: 'publish', channel: 'idem', event: { type: 't', id: 'job-1' } });
    const http = await postEvents(hub.url, 'idem', { type: 't', id: 'job-1' });
    assert.equal(first.offset, 1);
    assert.equal(again.offset, 1);
    assert.equal(again.duplicate, true);
    assert.deepEqual(http.json.offsets, [1]);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(client.events('idem').length, 1);
    client.close();
  });

  // A second connection with the id (and the same credentials: everyone's, on an open hub) takes it over
  // rather than being refused with 4002: it is most often the same client back after a network drop,
  // whose old connection the heartbeat has not found dead yet (and it must get that client's direct messages).
  it('lets a client choose its id; a new connection with an id in use replaces the old one (4006)', async () => {
    const first = await TestClient.connect(hub.url, '?clientId=worker-7');
    assert.equal((await first.waitFor((m) => m.op === 'hello')).clientId, 'worker-7');
    const second = await TestClient.connect(hub.url, '?clientId=worker-7');
    assert.equal((await second.waitFor((m) => m.op === 'hello')).clientId, 'worker-7');
    assert.equal((await first.closed).code, CloseCodes.replaced.code);
    const invalid = await TestClient.connect(hub.url, '?clientId=' + encodeURIComponent('no spaces'));
    assert.equal((await invalid.closed).code, CloseCodes.invalidClientId.code);
    second.close();
    await second.closed;
    const third = await TestClient.connect(hub.url, '?clientId=worker-7');
    assert.equal((await third.waitFor((m) => m.op === 'hello')).clientId, 'worker-7');
    third.close();
  });

  it('answers an upgrade on any path other than /ws with HTTP 404', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${hub.url.replace('http', 'ws')}/elsewhere`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('upgrade was accepted')));
      ws.on('error', () => {});
    });
    assert.equal(status, 404);
  });

  it('accepts a JSON array of commands in one frame', async () => {
    const client = await TestClient.connect(hub.url);
    client.sendRaw(JSON.stringify([{ op: 'ping', id: 'a' }, { op: 'subscribe', id: 'b', channel: 'batch' }]));
    await client.waitFor((m) => m.id === 'a' && m.op === 'pong');
    await client.waitFor((m) => m.id === 'b' && m.op === 'subscribed');
    assert.deepEqual(await client.request({ op: 'unsubscribe', channel: 'batch' }), { op: 'unsubscribed', id: 1, channel: 'batch' });
    client.close();
  });
});

describe('heartbeat', () => {
  it('terminates a peer that answers no pings for two intervals', async () => {
    const hub = await startHub({ heartbeatMs: 50 });
    try {
      const silent = await TestClient.connect(hub.url, '', { autoPong: false });
      const alive = await TestClient.connect(hub.url);
      const { code } = await silent.closed;
      assert.equal(code, 1006, 'the hub drops the TCP connection of a dead peer');
      assert.equal(alive.ws.readyState, alive.ws.OPEN, 'a peer that answers pings stays');
      alive.close();
    } finally {
      await hub.dispose();
    }
  });
});
