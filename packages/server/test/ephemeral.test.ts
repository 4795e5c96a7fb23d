import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { mintToken, SYSTEM } from '../src/index.js';
import { fanOutEphemeral, type EphemeralDelivery } from '../src/fanout/ephemeral.js';
import { SubscriptionIndex } from '../src/fanout/subscription-index.js';
import { Subscription, type Subscriber } from '../src/fanout/subscription.js';
import { Bystander } from './support/bystander.js';
import { bearer, getJson, postEvents, request, startHub, type TestHub } from './support/hub.js';
import { TestClient, type Message } from './support/ws-client.js';

const ephemerals = (client: TestClient, channel?: string): Message[] => client.messages.filter((m) => m.op === 'ephemeral' && (channel === undefined || m.channel === channel));
/** The messages a client was sent for `channel`, stored and ephemeral, in the order they arrived. */
const stream = (client: TestClient, channel: string): string[] =>
  client.messages.filter((m) => (m.op === 'event' || m.op === 'ephemeral') && m.channel === channel).map((m) => (m.op === 'event' ? `event ${m.offset}` : `ephemeral ${m.event.data.n}`));

const postEphemeral = (base: string, channel: string, body: unknown, headers: Record<string, string> = {}) =>
  request('POST', `${base}/api/channels/${encodeURIComponent(channel)}/events?ephemeral=true`, JSON.stringify(body), headers).then(({ status, text }) => ({ status, json: JSON.parse(text) }));

/** A POST on `agent`'s socket (a keep-alive agent of one socket sends every request on the same connection). */
function postOn(agent: Agent, url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Reads an SSE response until `done(text)` holds, then closes it. */
function readStream(url: string, done: (text: string) => boolean, onOpen: () => Promise<void>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      let text = '';
      let opened = false;
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (!opened && text.includes('event: subscribed\n')) {
          opened = true;
          onOpen().catch(reject);
        }
        if (done(text)) {
          res.destroy();
          resolve(text);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ephemeral events', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub();
  });
  after(() => hub.dispose());

  it('reach exact and pattern subscribers live over WebSocket, once per connection, with no offset', async () => {
    const exact = await TestClient.connect(hub.url);
    const pattern = await TestClient.connect(hub.url);
    const both = await TestClient.connect(hub.url);
    const publisher = await TestClient.connect(hub.url);
    try {
      assert.equal((await exact.request({ op: 'subscribe', channel: 'cursor.doc1' })).op, 'subscribed');
      assert.equal((await pattern.request({ op: 'subscribe', channel: 'cursor.*' })).op, 'subscribed');
      assert.equal((await both.request({ op: 'subscribe', channel: 'cursor.doc1' })).op, 'subscribed');
      assert.equal((await both.request({ op: 'subscribe', channel: 'cursor.>' })).op, 'subscribed');
      const reply = await publisher.request({ op: 'publish', channel: 'cursor.doc1', event: { type: 'cursor', data: { n: 1, x: 10 } }, ephemeral: true });
      assert.deepEqual(reply, { op: 'published', id: reply.id, channel: 'cursor.doc1', ephemeral: true }, 'no offset, no epoch');
      for (const client of [exact, pattern, both]) {
        const message = await client.waitFor((m) => m.op === 'ephemeral', 'the ephemeral event');
        assert.deepEqual(Object.keys(message).sort(), ['channel', 'event', 'op', 'time']);
        assert.equal(message.channel, 'cursor.doc1');
        assert.deepEqual(message.event, { type: 'cursor', severity: 'info', data: { n: 1, x: 10 } }, 'checked and completed like a stored event');
        assert.ok(Math.abs(message.time - Date.now()) < 60_000, 'the receive time');
      }
      // A barrier: anything else the hub sent `both` for the publish came before this pong.
      await both.request({ op: 'ping' });
      assert.equal(ephemerals(both).length, 1, 'once, though two subscriptions of the connection match');
      assert.equal(exact.events().length + pattern.events().length + both.events().length, 0, 'never as a stored event');
    } finally {
      for (const client of [exact, pattern, both, publisher]) client.close();
    }
  });

  it('take no offset: stored, ephemeral, stored is offsets 1, 2, absent from history, resume, long-poll and pattern history', async () => {
    const live = await TestClient.connect(hub.url);
    const publisher = await TestClient.connect(hub.url);
    try {
      const subscribed = await live.request({ op: 'subscribe', channel: 'gap.free' });
      assert.equal(subscribed.offset, 0);
      const first = await publisher.request({ op: 'publish', channel: 'gap.free', event: { type: 'note', data: { n: 1 } } });
      assert.equal((await publisher.request({ op: 'publish', channel: 'gap.free', event: { type: 'typing', data: { n: 2 } }, ephemeral: true })).ephemeral, true);
      const http = await postEphemeral(hub.url, 'gap.free', [{ type: 'typing', data: { n: 3 } }, { type: 'typing', data: { n: 4 } }]);
      assert.deepEqual(http, { status: 200, json: { channel: 'gap.free', ephemeral: true, count: 2 } });
      const second = await publisher.request({ op: 'publish', channel: 'gap.free', event: { type: 'note', data: { n: 5 } } });
      assert.deepEqual([first.offset, second.offset], [1, 2], 'the stored events around the ephemeral ones are 1 and 2');
      await live.waitForEvents(2, 'gap.free');
      assert.deepEqual(stream(live, 'gap.free'), ['event 1', 'ephemeral 2', 'ephemeral 3', 'ephemeral 4', 'event 2'], 'live, in the order published');

      const history = await getJson(`${hub.url}/api/channels/gap.free/events`);
      assert.deepEqual(history.json.events.map((e: { offset: number }) => e.offset), [1, 2]);
      assert.equal(history.json.latest, 2);
      const patternHistory = await getJson(`${hub.url}/api/channels/gap.*/events`);
      assert.deepEqual(patternHistory.json.events.map((e: { event: { data: { n: number } } }) => e.event.data.n), [5, 1]);
      const poll = await getJson(`${hub.url}/api/channels/gap.free/poll?since=0@${first.epoch}`);
      assert.deepEqual(poll.json.events.map((e: { offset: number }) => e.offset), [1, 2], 'a long-poll reads history: no ephemeral');

      const resumer = await TestClient.connect(hub.url);
      try {
        const resumed = await resumer.request({ op: 'subscribe', channel: 'gap.free', since: { offset: 0, epoch: first.epoch } });
        assert.equal(resumed.recovered, true);
        assert.equal(resumed.replayed, 2);
        await resumer.waitForEvents(2, 'gap.free');
        await resumer.request({ op: 'ping' });
        assert.deepEqual(stream(resumer, 'gap.free'), ['event 1', 'event 2'], 'the resumer sees exactly 1, 2');
        const patternResumer = await TestClient.connect(hub.url);
        const resumedPattern = await patternResumer.request({ op: 'subscribe', channel: 'gap.*', since: { positions: { 'gap.free': { offset: 0, epoch: first.epoch } } } });
        assert.equal(resumedPattern.replayed, 2);
        await patternResumer.waitForEvents(2, 'gap.free');
        await patternResumer.request({ op: 'ping' });
        assert.deepEqual(stream(patternResumer, 'gap.free'), ['event 1', 'event 2']);
        patternResumer.close();
      } finally {
        resumer.close();
      }
    } finally {
      live.close();
      publisher.close();
    }
  });

  it('reach SSE streams as `event: ephemeral` with no id, between stored events that keep theirs', async () => {
    const sent = async () => {
      assert.equal((await postEvents(hub.url, 'sse.eph', { type: 'note', data: { n: 1 } })).status, 201);
      assert.equal((await postEphemeral(hub.url, 'sse.eph', { type: 'preview', data: { n: 2 } })).status, 200);
      assert.equal((await postEvents(hub.url, 'sse.eph', { type: 'note', data: { n: 3 } })).status, 201);
    };
    let opened = 0;
    let bothOpen: Promise<void> | undefined;
    // Published once both streams said `subscribed` (their subscriptions are live from then on).
    const onOpen = async () => {
      if (++opened === 2) await (bothOpen = sent());
    };
    const has3 = (text: string) => text.includes('"n":3');
    const [exact, pattern] = await Promise.all([readStream(`${hub.url}/api/channels/sse.eph/stream`, has3, onOpen), readStream(`${hub.url}/api/channels/sse.*/stream`, has3, onOpen)]);
    await bothOpen;
    const frames = (text: string) => text.split('\n\n').filter((f) => f.includes('"n":'));
    const [one, two, three] = frames(exact);
    assert.match(one!, /^id: 1@\w+\ndata: /);
    assert.equal(two, `event: ephemeral\ndata: ${two!.slice('event: ephemeral\ndata: '.length)}`, 'a named event with no id: line');
    const data = JSON.parse(two!.split('data: ')[1]!);
    assert.deepEqual(Object.keys(data).sort(), ['channel', 'event', 'time']);
    assert.deepEqual(data.event, { type: 'preview', severity: 'info', data: { n: 2 } });
    assert.match(three!, /^id: 2@\w+\ndata: /, 'the next stored event is offset 2');
    assert.deepEqual(frames(pattern).map((f) => f.split('\n')[0]!.replace(/^data: .*/, 'data')), ['data', 'event: ephemeral', 'data'], 'a pattern stream (no ids) gets it too');
  });

  it('are refused like stored events when too large or malformed, with a bystander unaffected', async () => {
    const small = await startHub({ maxMessageBytes: 1024 });
    const bystander = await Bystander.start(small.url);
    const client = await TestClient.connect(small.url);
    try {
      await bystander.mark();
      const big = { type: 'preview', data: { text: 'x'.repeat(2000) } };
      const ws = await client.request({ op: 'publish', channel: 'big', event: big, ephemeral: true });
      assert.equal(ws.code, 'too_large');
      assert.equal((await postEphemeral(small.url, 'big', big)).json.error.code, 'too_large');
      assert.equal((await postEphemeral(small.url, 'big', [{ type: 'ok' }, big])).status, 413, 'a batch is all or nothing');
      assert.equal((await client.request({ op: 'publish', channel: 'big', event: { data: 1 }, ephemeral: true })).code, 'invalid_event');
      assert.equal((await client.request({ op: 'publish', channel: 'big.*', event: { type: 'x' }, ephemeral: true })).code, 'invalid_channel');
      assert.equal((await client.request({ op: 'publish', channel: 'big', event: { type: 'x' }, ephemeral: 'yes' })).code, 'bad_request');
      const query = await request('POST', `${small.url}/api/channels/big/events?ephemeral=yes`, '{"type":"x"}');
      assert.equal(query.status, 400);
      assert.equal(JSON.parse(query.text).error.code, 'bad_request');
      await bystander.mark();
      await bystander.verify();
    } finally {
      client.close();
      await small.dispose();
    }
  });

  it('spend the same rate budget as stored events (rate_limited), with a bystander unaffected', async () => {
    const limited = await startHub({ maxEventsPerSecond: 1, maxEventsBurst: 1000, maxIpEventsPerSecond: 0 });
    const bystander = await Bystander.start(limited.url);
    const flooder = await TestClient.connect(limited.url);
    const watcher = await TestClient.connect(limited.url);
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await watcher.request({ op: 'subscribe', channel: 'rated' });
      await bystander.mark();
      // The connection's burst of 1000, spent on ephemeral events in one frame.
      flooder.sendRaw(JSON.stringify(Array.from({ length: 1000 }, (_, n) => ({ op: 'publish', id: `e${n}`, channel: 'rated', event: { type: 'cursor', data: { n } }, ephemeral: true }))));
      await flooder.waitFor((m) => m.id === 'e999', 'the last answer');
      assert.equal(flooder.messages.filter((m) => m.op === 'published' && m.ephemeral === true).length, 1000);
      // A stored publish waits as well: one budget for both.
      const stored = await flooder.request({ op: 'publish', channel: 'rated', event: { type: 'note' } });
      assert.equal(stored.code, 'rate_limited');
      assert.ok(stored.retryAfterMs > 0);
      const ephemeral = await flooder.request({ op: 'publish', channel: 'rated', event: { type: 'cursor' }, ephemeral: true });
      assert.equal(ephemeral.code, 'rate_limited');
      // Over HTTP, one keep-alive socket is a connection: every event of a batch counts.
      const batch = JSON.stringify(Array.from({ length: 1000 }, () => ({ type: 'cursor' })));
      assert.equal((await postOn(keepAlive, `${limited.url}/api/channels/rated/events?ephemeral=true`, batch)).status, 200);
      const refused = await postOn(keepAlive, `${limited.url}/api/channels/rated/events?ephemeral=true`, '{"type":"cursor"}');
      assert.equal(refused.status, 429);
      assert.equal(JSON.parse(refused.text).error.code, 'rate_limited');
      await watcher.waitFor(() => ephemerals(watcher, 'rated').length === 2000, 'the 2000 admitted ones');
      await watcher.request({ op: 'ping' });
      assert.equal(ephemerals(watcher, 'rated').length, 2000, 'the refused ones reached nobody');
      await bystander.mark();
      await bystander.verify();
    } finally {
      keepAlive.destroy();
      flooder.close();
      watcher.close();
      await limited.dispose();
    }
  });

  it('are dropped for a client that stops reading, rather than closing it, and a bystander keeps getting its events', async () => {
    const own = await startHub({ maxIpEventsPerSecond: 0 });
    const bystander = await Bystander.start(own.url);
    const slow = await TestClient.connect(own.url);
    try {
      await slow.request({ op: 'subscribe', channel: 'frozen' });
      // The client stops reading from its socket, as a frozen browser tab would.
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const batch = Array.from({ length: 10 }, (_, n) => ({ type: 'preview', data: { n, frame: 'y'.repeat(60_000) } }));
      let sent = 0;
      // 20 MB: far past the 1 MiB outbound cap and what the kernel's socket buffers hold.
      for (let i = 0; i < 34; i++, sent += batch.length) {
        assert.equal((await postEphemeral(own.url, 'frozen', batch)).status, 200);
        if (i % 10 === 0) await bystander.mark();
      }
      assert.equal((await getJson(`${own.url}/api/stats`)).json.slowConsumerCloses, 0, 'not closed for ephemeral events');
      assert.equal((await postEvents(own.url, 'frozen', { type: 'after' })).status, 201);
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      const [stored] = await slow.waitForEvents(1, 'frozen');
      assert.equal(stored!.offset, 1, 'still open: the stored event after the flood arrives');
      const got = ephemerals(slow, 'frozen').length;
      assert.ok(got < sent, `${got} of ${sent} ephemeral events were written: the rest were dropped at the cap`);
      await bystander.verify();
    } finally {
      slow.close();
      await own.dispose();
    }
  });

  it('never grow the store: 10 per second for 3 s leave its totals and the channel list as they were', async () => {
    const watcher = await TestClient.connect(hub.url);
    const publisher = await TestClient.connect(hub.url);
    try {
      await watcher.request({ op: 'subscribe', channel: 'live.*' });
      assert.equal((await postEvents(hub.url, 'live.stored', { type: 'note' })).status, 201);
      const before = await hub.hub.storedTotals(SYSTEM);
      for (let n = 0; n < 30; n++) {
        const channel = n % 2 ? 'live.stored' : 'live.never';
        assert.equal((await publisher.request({ op: 'publish', channel, event: { type: 'cursor', data: { n } }, ephemeral: true })).op, 'published');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await watcher.waitFor(() => ephemerals(watcher).length === 30, '30 ephemeral events');
      assert.deepEqual(await hub.hub.storedTotals(SYSTEM), before);
      const channels = await getJson(`${hub.url}/api/channels?prefix=live.`);
      assert.deepEqual(channels.json.channels.map((c: { name: string; offset: number }) => [c.name, c.offset]), [['live.stored', 1]], 'no channel made, no offset moved');
    } finally {
      watcher.close();
      publisher.close();
    }
  });

  it('may go to run channels without changing the run, and are checked like the run events they look like', async () => {
    const publisher = await TestClient.connect(hub.url);
    try {
      assert.equal((await publisher.request({ op: 'publish', channel: 'runs.eph', event: { type: 'run.started', data: { title: 'real' } } })).offset, 1);
      const preview = await publisher.request({ op: 'publish', channel: 'runs.eph', event: { type: 'run.completed', data: { status: 'failed' } }, ephemeral: true });
      assert.equal(preview.ephemeral, true);
      const wrong = await publisher.request({ op: 'publish', channel: 'runs.eph', event: { type: 'run.completed', data: { status: 'sideways' } }, ephemeral: true });
      assert.equal(wrong.code, 'invalid_event');
      const run = await getJson(`${hub.url}/api/runs/eph`);
      assert.equal(run.status, 200);
      assert.equal(run.json.status, 'running', 'an ephemeral run.completed does not complete the run');
    } finally {
      publisher.close();
    }
  });
});

describe('ephemeral events with credentials', () => {
  const SECRET = 'ephemeral-test-secret-that-is-long-enough-0123';
  let hub: TestHub;
  before(async () => {
    hub = await startHub({ jwtSecret: SECRET });
  });
  after(() => hub.dispose());

  it('need publish permission on the channel, over WebSocket and HTTP, and go to permitted subscribers', async () => {
    const nobody = await mintToken(SECRET, { subject: 'nobody', grant: { subscribe: ['open.>'], publish: [], admin: false }, ttlSeconds: 600 });
    const writer = await mintToken(SECRET, { subject: 'writer', grant: { subscribe: [], publish: ['open.>'], admin: false }, ttlSeconds: 600 });
    const refused = await TestClient.connect(hub.url, '', { headers: bearer(nobody) });
    const allowed = await TestClient.connect(hub.url, '', { headers: bearer(writer) });
    try {
      assert.equal((await refused.request({ op: 'subscribe', channel: 'open.x' })).op, 'subscribed');
      const before = hub.hub.access.decisions;
      assert.equal((await refused.request({ op: 'publish', channel: 'open.x', event: { type: 'x' }, ephemeral: true })).code, 'forbidden');
      assert.ok(hub.hub.access.decisions > before, 'the policy decided');
      const http = await postEphemeral(hub.url, 'open.x', { type: 'x' }, bearer(nobody));
      assert.equal(http.status, 403);
      assert.equal(http.json.error.code, 'forbidden');
      assert.equal((await postEphemeral(hub.url, 'open.x', { type: 'x' })).status, 401);
      assert.equal((await allowed.request({ op: 'publish', channel: 'closed', event: { type: 'x' }, ephemeral: true })).code, 'forbidden', 'only where publishing is allowed');
      assert.equal((await allowed.request({ op: 'publish', channel: 'open.x', event: { type: 'ok', data: { n: 1 } }, ephemeral: true })).ephemeral, true);
      assert.equal((await postEphemeral(hub.url, 'open.x', { type: 'ok', data: { n: 2 } }, bearer(writer))).status, 200);
      await refused.waitFor(() => ephemerals(refused, 'open.x').length === 2, 'the two permitted ephemeral events');
      assert.deepEqual(ephemerals(refused).map((m) => m.event.type), ['ok', 'ok'], 'none of the refused ones');
    } finally {
      refused.close();
      allowed.close();
    }
  });
});

describe('fanOutEphemeral', () => {
  class Recorder implements Subscriber {
    deliveryMark = 0;
    readonly got: string[] = [];
    deliver(): void {
      this.got.push('stored');
    }
    deliverEphemeral(delivery: EphemeralDelivery): void {
      this.got.push(delivery.envelope());
    }
  }

  it('skips subscriptions still writing their replay (held) and subscribers that take no ephemeral events', () => {
    const index = new SubscriptionIndex();
    const live = new Recorder();
    const replaying = new Recorder();
    const poll: Subscriber = { deliveryMark: 0, deliver: () => assert.fail('a stored delivery') };
    const liveSub = new Subscription(live, 'doc.*', true);
    liveSub.held = undefined;
    const heldSub = new Subscription(replaying, 'doc.1', false);
    const pollSub = new Subscription(poll, 'doc.1', false);
    pollSub.held = undefined;
    for (const sub of [liveSub, heldSub, pollSub]) index.add(sub);
    const sent = fanOutEphemeral(index, { channel: 'doc.1', time: 5, json: '{"type":"cursor"}' }, 1);
    assert.equal(sent, 1);
    assert.deepEqual(live.got, ['{"channel":"doc.1","time":5,"event":{"type":"cursor"}}']);
    assert.deepEqual(replaying.got, [], 'not sent while replaying');
    assert.deepEqual(heldSub.held, [], 'and not held for after the replay either');
    heldSub.goLive(() => 0);
    assert.deepEqual(replaying.got, []);
  });
});
