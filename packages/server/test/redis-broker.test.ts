import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { HeraldError, RedisBroker, startServer, type StoredEvent } from '../src/index.js';
import { decodeBatch, decodeEphemeral, decodePresence, encodeBatch, encodeEphemeral, encodePresence, isEphemeralPayload, isPresencePayload } from '../src/broker/redis-codec.js';
import { getJson, postEvents } from './support/hub.js';
import { TestClient } from './support/ws-client.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL, startOwnRedis } from './support/redis.js';

const stored = (channel: string, offset: number, json = JSON.stringify({ type: 't', data: { offset } })): StoredEvent => ({ channel, offset, time: 1_700_000_000_000 + offset, json });

function collect(broker: RedisBroker): { received: Array<{ epoch: string; event: StoredEvent }>; gaps: string[] } {
  const received: Array<{ epoch: string; event: StoredEvent }> = [];
  const gaps: string[] = [];
  broker.onEvents((epoch, events) => {
    for (const event of events) received.push({ epoch, event });
  });
  broker.onGap((reason) => gaps.push(reason));
  return { received, gaps };
}

async function eventually(test: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const settle = (ms = 100) => new Promise((r) => setTimeout(r, ms));

describe('redis-codec', () => {
  it('carries the stored JSON texts unchanged, whatever they hold', () => {
    const texts = ['{"a":"quote \\" and \\\\ and \\n"}', '{"é":"日本語 😀"}', '{ "spaced" : 1.0 }\n', '[]'];
    const events = texts.map((json, i) => stored('c.d', i + 7, json));
    const payload = encodeBatch('5eca612270e3', events);
    assert.deepEqual(decodeBatch('c.d', payload), { epoch: '5eca612270e3', events });
    assert.ok(payload.endsWith(`\n${texts.join('')}`), 'no escaping: a header line, then the texts as they are');
  });

  it('carries an ephemeral event in a frame of its own, which is never read as stored events', () => {
    const payload = encodeEphemeral('ab12', 3, 1_700_000_000_123, '{"type":"cursor","data":{"q":"\\n\\""}}');
    assert.ok(isEphemeralPayload(payload));
    assert.deepEqual(decodeEphemeral(payload), { time: 1_700_000_000_123, json: '{"type":"cursor","data":{"q":"\\n\\""}}' });
    assert.equal(decodeBatch('c', payload), undefined, 'not a batch of stored events');
    assert.equal(decodeEphemeral(encodeBatch('e1', [stored('c', 1)])), undefined, 'and a batch is not an ephemeral event');
    assert.notEqual(encodeEphemeral('ab12', 4, 1, '{}'), encodeEphemeral('ab12', 5, 1, '{}'), 'equal events, distinct payloads');
    for (const garbage of ['x1 ab:1 5\n', 'x1 ab 5\n{}', 'x1 ab:1 -5\n{}', 'x1 ab:1 5{}']) assert.equal(decodeEphemeral(garbage), undefined, garbage);
    assert.throws(() => encodeEphemeral('ab12', 1, 1.5, '{}'), /whole milliseconds/);
  });

  it('carries a presence change in a frame of its own, read neither as stored nor as ephemeral events', () => {
    const json = '{"clientId":"a b","since":1,"transport":"sse"}';
    const payload = encodePresence('leave', 'host-1-ab12:7', json);
    assert.ok(isPresencePayload(payload) && !isEphemeralPayload(payload));
    assert.deepEqual(decodePresence(payload), { op: 'leave', node: 'host-1-ab12', json });
    assert.equal(decodeBatch('c', payload), undefined);
    assert.equal(decodeEphemeral(payload), undefined);
    for (const garbage of ['p1 join x:1\n', 'p1 stay x:1\n{}', 'p1 join x\n{}', 'p1 join x:1 {}', encodeEphemeral('ab', 1, 1, '{}')]) assert.equal(decodePresence(garbage), undefined, garbage);
  });

  it('reads nothing it did not write', () => {
    for (const garbage of ['', 'hello', '{"e":"x","v":[]}', 'h1\n', 'h1 e 1:2:5\n{}', 'h1 e 1:2:2\n{}{}', 'h2 e 1:2:2\n{}', 'h1 e x:2:2\n{}']) {
      assert.equal(decodeBatch('c', garbage), undefined, garbage);
    }
    assert.throws(() => encodeBatch('two words', [stored('c', 1)]), /epoch/);
  });
});

if (!(await redisAnswers(SHARED_REDIS_URL))) {
  const message = `no Redis answers at ${SHARED_REDIS_URL} (set HERALD_TEST_REDIS to another one)`;
  // In CI a missing Redis is a broken environment, not a reason to pass.
  if (process.env.CI === 'true') it('RedisBroker tests need a Redis', () => assert.fail(message));
  else it(`RedisBroker tests skipped: ${message}`, (t) => t.skip(message));
} else {
  const prefixes = scratchPrefixes();
  const brokers: RedisBroker[] = [];
  const admin = new Redis(SHARED_REDIS_URL);
  after(async () => {
    for (const broker of brokers) await broker.close();
    admin.disconnect();
  });
  const open = (prefix: string, url = SHARED_REDIS_URL, more: { commandTimeoutMs?: number } = {}) => {
    const broker = new RedisBroker({ url, prefix, ...more });
    brokers.push(broker);
    return broker;
  };
  const pair = (url = SHARED_REDIS_URL): [RedisBroker, RedisBroker] => {
    const prefix = prefixes();
    return [open(prefix, url), open(prefix, url)];
  };

  describe('RedisBroker: subscriptions', () => {
    it('delivers only the channels a pattern matches, though its Redis glob matches more', async () => {
      const [a, b] = pair();
      const onB = collect(b);
      await b.subscribe('runs.*');
      await b.subscribe('deep.>');
      for (const channel of ['runs.a.b', 'runs.x', 'deep', 'deep.a.b', 'runsx.y']) await a.publish('e1', [stored(channel, 1)]);
      await eventually(() => onB.received.length >= 2, 'the matching events');
      await settle();
      assert.deepEqual(onB.received.map((r) => r.event.channel), ['runs.x', 'deep.a.b']);
    });

    it('delivers each event once to a hub with interest through a name and two patterns, in order', async () => {
      const [a, b] = pair();
      const onB = collect(b);
      await b.subscribe('dup.x');
      await b.subscribe('dup.*');
      await b.subscribe('dup.>');
      await b.subscribe('*.x');
      for (let i = 1; i <= 50; i++) void a.publish('e1', [stored('dup.x', i)]);
      await a.publish('e1', [stored('dup.x', 51), stored('dup.x', 52)]);
      await eventually(() => onB.received.some((r) => r.event.offset === 52), 'the last event');
      await settle();
      assert.deepEqual(onB.received.map((r) => r.event.offset), Array.from({ length: 52 }, (_, i) => i + 1));
      // With the name gone, the patterns still deliver, still once.
      b.unsubscribe('dup.x');
      await a.publish('e1', [stored('dup.x', 53)]);
      await eventually(() => onB.received.some((r) => r.event.offset === 53), 'the event after the name went');
      await settle();
      assert.equal(onB.received.filter((r) => r.event.offset === 53).length, 1);
    });

    it('takes subscriptions made while its connection is still connecting (none refused "in subscriber mode")', async () => {
      // ioredis writes SUBSCRIBE during the handshake: made then, it used to precede the ready check's
      // INFO, which ioredis then refused, dropping the connection with the subscription (198 of 200).
      for (let n = 0; n < 20; n++) {
        const broker = open(prefixes());
        const onIt = collect(broker);
        const subscriber = (broker as unknown as { subscriber: NodeJS.EventEmitter }).subscriber;
        await new Promise((resolve) => subscriber.once('connect', resolve));
        await broker.subscribe('early.>');
        await broker.subscribe('early.one');
        await broker.publish('e1', [stored('early.one', 1)]);
        await eventually(() => onIt.received.length === 1, 'the event through both subscriptions, once');
      }
    });

    it('removes the Redis subscription when the last interest ends, and keeps it while one is left', async () => {
      const prefix = prefixes();
      const [a, b] = [open(prefix), open(prefix)];
      const onB = collect(b);
      await b.subscribe('gone');
      await b.subscribe('gone');
      await b.subscribe('gone.*');
      b.unsubscribe('gone');
      const numsub = async () => Number(((await admin.pubsub('NUMSUB', `${prefix}:ev:gone`)) as [string, number])[1]);
      assert.equal(await numsub(), 1);
      b.unsubscribe('gone');
      b.unsubscribe('gone.*');
      b.unsubscribe('never'); // an unsubscribe too many is harmless
      await eventually(() => b.interests().size === 0, 'no interest');
      const deadline = Date.now() + 5000;
      while ((await numsub()) !== 0) {
        assert.ok(Date.now() < deadline, 'the SUBSCRIBE was undone');
        await settle(10);
      }
      const patterns = (await admin.pubsub('CHANNELS', `${prefix}:*`)) as string[];
      assert.deepEqual(patterns, []);
      await a.publish('e1', [stored('gone', 1), stored('gone.1', 1)]);
      await settle();
      assert.equal(onB.received.length, 0);
    });

    it('keeps prefixes apart, also one with glob characters in it', async () => {
      const odd = `${prefixes()}[*?]\\`;
      const [a, b] = [open(odd), open(odd)];
      const other = open(`${odd.slice(0, -5)}x`);
      const onB = collect(b);
      const onOther = collect(other);
      await b.subscribe('p.>');
      await other.subscribe('p.>');
      await other.subscribe('>');
      await a.publish('e1', [stored('p.q', 1)]);
      await eventually(() => onB.received.length === 1, 'the event under the odd prefix');
      await settle();
      assert.equal(onOther.received.length, 0);
      assert.throws(() => new RedisBroker({ url: SHARED_REDIS_URL, prefix: 'a b' }), /prefix/);
    });

    it('carries 1 000 events published back to back by one node to the other in order', async () => {
      const [a, b] = pair();
      const onB = collect(b);
      await b.subscribe('many');
      await b.subscribe('>');
      const publishes = Array.from({ length: 1000 }, (_, i) => a.publish('e1', [stored('many', i + 1)]));
      await Promise.all(publishes);
      await eventually(() => onB.received.length >= 1000, '1 000 events');
      await settle();
      assert.deepEqual(onB.received.map((r) => r.event.offset), Array.from({ length: 1000 }, (_, i) => i + 1));
    });

    it('announces a gap, and delivers nothing, for a message it cannot read', async () => {
      const prefix = prefixes();
      const b = open(prefix);
      const onB = collect(b);
      await b.subscribe('foreign');
      await b.subscribe('*');
      await admin.publish(`${prefix}:ev:foreign`, '{"not":"ours"}');
      await eventually(() => onB.gaps.length > 0, 'the gap');
      await settle();
      assert.equal(onB.gaps.length, 1, 'once for the message and its copy');
      assert.match(onB.gaps[0]!, /format/);
      assert.equal(onB.received.length, 0);
    });

    it('hands a presence change on a channel of interest to its presence listeners only: no event, no gap', async () => {
      const prefix = prefixes();
      const b = open(prefix);
      const onB = collect(b);
      const heard: unknown[] = [];
      b.onPresence((announcement) => heard.push(announcement));
      await b.subscribe('room');
      await admin.publish(`${prefix}:ev:other`, encodePresence('join', 'n1:1', '{"clientId":"x"}'));
      await admin.publish(`${prefix}:ev:room`, encodePresence('join', 'n1:2', '{"clientId":"y"}'));
      await eventually(() => heard.length > 0, 'the join');
      await settle();
      assert.deepEqual(heard, [{ channel: 'room', op: 'join', node: 'n1', json: '{"clientId":"y"}' }], 'only the channel it has interest in');
      assert.deepEqual(onB.gaps, []);
      assert.equal(onB.received.length, 0);
    });
  });

  describe('--store redis: live across hubs', () => {
    it('sends a subscriber of one hub, live and once, what is published through another hub', async () => {
      const config = { port: 0, logLevel: 'silent' as const, store: 'redis' as const, redisUrl: SHARED_REDIS_URL, redisPrefix: prefixes() };
      const [a, b] = [await startServer(config), await startServer(config)];
      const watcher = await TestClient.connect(b.url);
      try {
        assert.equal((await watcher.request({ op: 'subscribe', channel: 'runs.live' })).op, 'subscribed');
        assert.equal((await watcher.request({ op: 'subscribe', channel: 'runs.>' })).op, 'subscribed');
        for (let i = 1; i <= 3; i++) assert.equal((await postEvents(a.url, 'runs.live', { type: 'note', data: { i } })).status, 201);
        const events = await watcher.waitForEvents(3, 'runs.live');
        await settle();
        // Once, in offset order, though this hub has interest through a name and a pattern.
        assert.equal(watcher.events('runs.live').length, 3);
        assert.deepEqual(events.map((e) => e.offset), [1, 2, 3]);
        assert.deepEqual(events.map((e) => e.event.data.i), [1, 2, 3]);
      } finally {
        watcher.close();
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  describe('--store redis: ephemeral events across hubs', () => {
    it('sends a subscriber of another hub an ephemeral event, and the stored events around it stay gap-free on both hubs', async () => {
      const config = { port: 0, logLevel: 'silent' as const, store: 'redis' as const, redisUrl: SHARED_REDIS_URL, redisPrefix: prefixes() };
      const [a, b] = [await startServer(config), await startServer(config)];
      const onA = await TestClient.connect(a.url);
      const onB = await TestClient.connect(b.url);
      const publisher = await TestClient.connect(a.url);
      try {
        for (const watcher of [onA, onB]) assert.equal((await watcher.request({ op: 'subscribe', channel: 'doc.1' })).op, 'subscribed');
        assert.equal((await onB.request({ op: 'subscribe', channel: 'doc.*' })).op, 'subscribed');
        const offsets: number[] = [];
        for (let i = 1; i <= 20; i++) {
          const reply = await publisher.request({ op: 'publish', channel: 'doc.1', event: { type: i % 2 ? 'note' : 'cursor', data: { i } }, ephemeral: i % 2 === 0 });
          if (reply.offset !== undefined) offsets.push(reply.offset);
          else assert.equal(reply.ephemeral, true);
        }
        assert.deepEqual(offsets, Array.from({ length: 10 }, (_, i) => i + 1), 'ten stored events, offsets 1–10');
        for (const watcher of [onA, onB]) {
          await watcher.waitForEvents(10, 'doc.1');
          await watcher.waitFor(() => watcher.messages.filter((m) => m.op === 'ephemeral').length >= 10, 'ten ephemeral events');
          await settle();
          assert.deepEqual(watcher.events('doc.1').map((e) => e.offset), offsets, 'every stored event once, in order');
          const ephemeral = watcher.messages.filter((m) => m.op === 'ephemeral');
          assert.deepEqual(ephemeral.map((m) => m.event.data.i), [2, 4, 6, 8, 10, 12, 14, 16, 18, 20], 'every ephemeral event once (hub B has two matching subscriptions)');
          assert.ok(ephemeral.every((m) => m.offset === undefined && m.channel === 'doc.1'));
        }
        const history = await getJson(`${b.url}/api/channels/doc.1/events`);
        assert.deepEqual(history.json.events.map((e: { offset: number }) => e.offset), offsets, 'history holds the stored events only');
      } finally {
        for (const client of [onA, onB, publisher]) client.close();
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  describe('--store redis: a hub that lost its pub/sub connection (own redis-server)', () => {
    it('sends its subscriber what was published through another hub meanwhile, in order and once, before later events', async () => {
      const own = await startOwnRedis();
      const config = { port: 0, logLevel: 'silent' as const, store: 'redis' as const, redisUrl: own.url, redisPrefix: 'gap' };
      const [a, b] = [await startServer(config), await startServer(config)];
      const watcher = await TestClient.connect(b.url);
      try {
        assert.equal((await watcher.request({ op: 'subscribe', channel: 'runs.gap' })).op, 'subscribed');
        const publishing = (async () => {
          for (let i = 1; i <= 200; i++) {
            assert.equal((await postEvents(a.url, 'runs.gap', { type: 'note', data: { i } })).status, 201);
            if (i === 40 || i === 120) await own.admin.client('KILL', 'TYPE', 'pubsub'); // both hubs' subscriber connections
          }
        })();
        await publishing;
        const events = await watcher.waitForEvents(200, 'runs.gap');
        await settle();
        assert.deepEqual(
          watcher.events('runs.gap').map((e) => e.offset),
          Array.from({ length: 200 }, (_, i) => i + 1),
          'every event once and in order, the ones published while the connection was down included',
        );
        assert.deepEqual(events.map((e) => e.event.data.i), Array.from({ length: 200 }, (_, i) => i + 1));
      } finally {
        watcher.close();
        await Promise.all([a.close(), b.close()]);
        await own.stop();
      }
    });
  });

  describe('RedisBroker: Redis faults (own redis-server)', () => {
    it('announces a gap once the subscriber connection is back after it was killed, and delivers again', async () => {
      const own = await startOwnRedis();
      try {
        const [a, b] = pair(own.url);
        const onB = collect(b);
        await b.subscribe('k.1');
        await b.subscribe('k.*');
        await a.publish('e1', [stored('k.1', 1)]);
        await eventually(() => onB.received.length === 1, 'the first event');
        // Published right after the gap is announced: delivered, as the hub's refill relies on.
        let afterGap: Promise<void> | undefined;
        b.onGap(() => (afterGap = a.publish('e1', [stored('k.1', 3)])));
        await own.admin.client('KILL', 'TYPE', 'pubsub');
        await eventually(() => onB.gaps.length > 0, 'the gap');
        assert.match(onB.gaps[0]!, /lost/);
        await afterGap;
        await eventually(() => onB.received.some((r) => r.event.offset === 3), 'the event published as the gap was announced');
        await a.publish('e1', [stored('k.1', 4)]);
        await eventually(() => onB.received.some((r) => r.event.offset === 4), 'the next event');
        await settle();
        const offsets = onB.received.map((r) => r.event.offset);
        assert.deepEqual(offsets, [1, 3, 4], 'once each, through the name and the pattern');
      } finally {
        await own.stop();
      }
    });

    it('refuses publishes with storage_unavailable within 3 s while Redis is stopped, and carries them again after', async () => {
      const own = await startOwnRedis();
      try {
        const [a, b] = pair(own.url);
        const onA = collect(a);
        const onB = collect(b);
        await b.subscribe('stall');
        await a.publish('e1', [stored('stall', 1)]);
        await eventually(() => onB.received.length === 1, 'the first event');
        process.kill(own.child.pid!, 'SIGSTOP');
        const stoppedAt = Date.now();
        let error: unknown;
        try {
          error = await a.publish('e1', [stored('stall', 2)]).then(
            () => undefined,
            (e: unknown) => e,
          );
          const ms = Date.now() - stoppedAt;
          assert.ok(error instanceof HeraldError && error.code === 'storage_unavailable', `refused with storage_unavailable (${String(error)})`);
          assert.ok(ms <= 3000, `refused within 3 s (took ${ms} ms)`);
          await settle(Math.max(0, 3000 - (Date.now() - stoppedAt)));
        } finally {
          process.kill(own.child.pid!, 'SIGCONT');
        }
        await a.publish('e1', [stored('stall', 3)]);
        await eventually(() => onB.received.some((r) => r.event.offset === 3), 'the event after Redis woke up');
        assert.equal(onA.gaps.length, 1, 'the publishing node announces that its failed publish may have reached no one');
        assert.match(onA.gaps[0]!, /publish/);
      } finally {
        await own.stop();
      }
    });

    it('refuses publish and subscribe within 3 s while Redis is down, and works once it is back', async () => {
      const own = await startOwnRedis();
      try {
        const [a, b] = pair(own.url);
        const onB = collect(b);
        await b.subscribe('down');
        process.kill(own.child.pid!, 'SIGKILL');
        await new Promise((r) => own.child.once('exit', r));
        for (const attempt of [() => a.publish('e1', [stored('down', 1)]), () => b.subscribe('down.more')]) {
          const started = Date.now();
          await assert.rejects(attempt(), (e: unknown) => e instanceof HeraldError && e.code === 'storage_unavailable');
          assert.ok(Date.now() - started <= 3000, `refused within 3 s (took ${Date.now() - started} ms)`);
        }
        b.unsubscribe('down.more'); // as the hub does after a refused subscribe
        await own.restart();
        await eventually(() => onB.gaps.length > 0, 'the gap after Redis came back');
        await eventually(
          () => {
            void a.publish('e1', [stored('down', 2)]).catch(() => {});
            return onB.received.some((r) => r.event.offset === 2);
          },
          'deliveries again',
        );
      } finally {
        await own.stop();
      }
    });
  });
}
