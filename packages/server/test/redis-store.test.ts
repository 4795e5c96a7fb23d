import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { HeraldError, prepareEvents, RedisStore, startServer, type RetentionPolicy } from '../src/index.js';
import type { StoreHealth } from '../src/store/types.js';
import { describeStoreConformance } from './store-conformance.js';
import { getJson, postEvents } from './support/hub.js';
import { deleteKeys, redisAnswers, scratchPrefixes, SHARED_REDIS_URL, startOwnRedis } from './support/redis.js';

const retention: RetentionPolicy = { maxCount: 10_000, maxAgeMs: 86_400_000 };
const events = (...types: string[]) => prepareEvents(types.map((type) => ({ type })), 65536);
const withIds = (...ids: string[]) => prepareEvents(ids.map((id) => ({ type: 't', id })), 65536);

const available = await redisAnswers(SHARED_REDIS_URL);
if (!available) {
  const message = `no Redis answers at ${SHARED_REDIS_URL} (set HERALD_TEST_REDIS to another one)`;
  // In CI a missing Redis is a broken environment, not a reason to pass.
  if (process.env.CI === 'true') it('needs a Redis', () => assert.fail(message));
  else it(`RedisStore tests skipped: ${message}`, (t) => t.skip(message));
} else {
  const prefixes = scratchPrefixes();
  const stores: RedisStore[] = [];
  after(async () => {
    for (const store of stores) await store.close();
  });
  const open = (prefix = prefixes(), url = SHARED_REDIS_URL, more: Partial<RetentionPolicy> = {}) => {
    const store = new RedisStore({ url, prefix, retention: { ...retention, ...more } });
    stores.push(store);
    return store;
  };

  describeStoreConformance('redis', (policy) => new RedisStore({ url: SHARED_REDIS_URL, prefix: prefixes(), retention: policy }));

  describe('RedisStore: two hubs on one Redis', () => {
    it('hands out gap-free offsets 1..N, each once, in one epoch, to two nodes appending to one channel at once', async () => {
      const prefix = prefixes();
      const [a, b] = [open(prefix), open(prefix)];
      const calls = Array.from({ length: 600 }, (_, i) => (i % 2 === 0 ? a : b).append('shared', events(`e${i}`)));
      const results = await Promise.all(calls);
      const offsets = results.map((r) => r.offsets[0]!);
      assert.deepEqual([...offsets].sort((x, y) => x - y), Array.from({ length: 600 }, (_, i) => i + 1));
      assert.equal(new Set(results.map((r) => r.epoch)).size, 1, 'one epoch on both nodes');
      // Each node's own calls got increasing offsets, in the order they were made.
      for (const parity of [0, 1]) {
        const own = offsets.filter((_, i) => i % 2 === parity);
        assert.deepEqual(own, [...own].sort((x, y) => x - y));
      }
      const [pa, pb] = await Promise.all([a.position('shared'), b.position('shared')]);
      assert.deepEqual(pa, pb);
      assert.deepEqual(pa, { epoch: results[0]!.epoch, latest: 600, earliest: 1 });
      const page = await b.read('shared', 0, 1000);
      assert.deepEqual(page.events.map((e) => JSON.parse(e.json).type), offsets.map((_, k) => `e${offsets.indexOf(k + 1)}`));
    });

    it('stores an idempotency id published on node A and again on node B once', async () => {
      const prefix = prefixes();
      const [a, b] = [open(prefix), open(prefix)];
      const first = await a.append('idem', withIds('job-1'));
      const again = await b.append('idem', withIds('job-1', 'job-2'));
      assert.deepEqual(first.offsets, [1]);
      assert.deepEqual(again.offsets, [1, 2]);
      assert.deepEqual(again.duplicates, [true, false]);
      assert.equal((await a.read('idem', 0, 10)).events.length, 2);
    });

    it('counts a history stored before it kept an event count once, then keeps the count running', async () => {
      const prefix = prefixes();
      const store = open(prefix);
      await store.append('old.a', events('1', '2'));
      await store.append('old.b', events('1'));
      const client = new Redis(SHARED_REDIS_URL);
      try {
        await client.del(`${prefix}:events`); // as a hub of an older version left it
      } finally {
        client.disconnect();
      }
      await store.append('old.b', events('2')); // not counted: there is no count yet
      assert.equal((await store.totals()).events, 4);
      await store.append('old.c', events('1'));
      await store.reset('old.a');
      assert.equal((await store.totals()).events, 3);
    });

    it('gives a channel whose keys vanished a new epoch, never the old one again', async () => {
      const prefix = prefixes();
      const store = open(prefix);
      const before = await store.append('lost', events('1', '2'));
      const client = new Redis(SHARED_REDIS_URL);
      try {
        await client.del(`{${prefix}:lost}:meta`); // our own key: an eviction or an operator's DEL
      } finally {
        client.disconnect();
      }
      const position = await store.position('lost');
      assert.notEqual(position.epoch, before.epoch);
      const after = await store.append('lost', events('3'));
      assert.equal(after.epoch, position.epoch, 'the position given and the next append agree');
      assert.deepEqual(after.offsets, [1]);
      assert.deepEqual((await store.read('lost', 0, 10)).events.map((e) => e.offset), [1]);
    });
  });

  describe('RedisStore: the visible horizon', () => {
    it('never shows an event in a read before the promise of its append resolved in this process', async () => {
      const store = open();
      let resolved = 0;
      for (let round = 0; round < 50; round++) {
        const appends = Array.from({ length: 5 }, () => store.append('horizon', events('x')).then((r) => (resolved = Math.max(resolved, r.offsets[0]!))));
        await new Promise((r) => setImmediate(r)); // the pipeline is on its way to Redis
        const [page, position, scan] = await Promise.all([
          store.read('horizon', 0, 10_000),
          store.position('horizon'),
          store.scanByTime({ afterTime: 0, untilTime: Date.now() + 60_000, prefix: 'horizon', limit: 10_000 }),
        ]);
        const shown = Math.max(position.latest, ...page.events.map((e) => e.offset), ...scan.events.map((e) => e.offset));
        assert.ok(shown <= resolved, `round ${round}: history showed offset ${shown}, appends resolved up to ${resolved}`);
        await Promise.all(appends);
      }
    });
  });

  describe('RedisStore: Redis faults (own redis-server)', () => {
    it('starts every channel in a new epoch after FLUSHALL, offsets from 1', async () => {
      const own = await startOwnRedis();
      try {
        const store = open(prefixes(), own.url);
        const before = await store.append('f', events('1', '2', '3'));
        const unknown = (await store.position('never')).epoch;
        assert.equal(before.epoch, unknown, 'a new channel takes the store epoch');
        await own.admin.flushall();
        const after = await store.append('f', events('4'));
        assert.notEqual(after.epoch, before.epoch);
        assert.deepEqual(after.offsets, [1]);
        assert.notEqual((await store.position('never')).epoch, unknown, 'the store epoch is new too');
        assert.deepEqual((await store.read('f', 0, 10)).events.map((e) => JSON.parse(e.json).type), ['4']);
      } finally {
        await own.stop();
      }
    });

    it('refuses appends with storage_unavailable within 3 s while Redis is stopped, reports degraded, and recovers without losing what was acknowledged', async () => {
      const own = await startOwnRedis();
      try {
        const store = open(prefixes(), own.url);
        const changes: StoreHealth[] = [];
        store.onHealthChange((h) => changes.push(h));
        const acked: number[] = [];
        for (let i = 0; i < 20; i++) acked.push(...(await store.append('stall', events(`before${i}`))).offsets);

        process.kill(own.child.pid!, 'SIGSTOP');
        const stoppedAt = Date.now();
        let resumed = false;
        const resume = setTimeout(() => {
          process.kill(own.child.pid!, 'SIGCONT');
          resumed = true;
        }, 3000);
        try {
          const refusals = await Promise.all(
            Array.from({ length: 5 }, async (_, i) => {
              const started = Date.now();
              const error = await store.append('stall', events(`during${i}`)).then(
                () => undefined,
                (e: unknown) => e,
              );
              return { error, ms: Date.now() - started };
            }),
          );
          for (const { error, ms } of refusals) {
            assert.ok(error instanceof HeraldError && error.code === 'storage_unavailable', `refused with storage_unavailable (${String(error)})`);
            assert.ok(ms <= 3000, `refused within 3 s (took ${ms} ms)`);
          }
          assert.ok(!resumed, 'refused while Redis was still stopped');
          assert.equal(store.health().status, 'degraded');
          assert.match(store.health().reason ?? '', /timed out/i);
        } finally {
          await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (Date.now() - stoppedAt))));
          clearTimeout(resume);
          if (!resumed) process.kill(own.child.pid!, 'SIGCONT');
        }

        const deadline = Date.now() + 10_000;
        while (store.health().status !== 'ok') {
          assert.ok(Date.now() < deadline, 'health came back to ok once Redis answered');
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.deepEqual(changes.map((c) => c.status), ['degraded', 'ok'], 'one change each way for the episode');
        acked.push(...(await store.append('stall', events('after'))).offsets);
        const stored = (await store.read('stall', 0, 1000)).events;
        assert.deepEqual(
          stored.map((e) => e.offset),
          acked,
          'every acknowledged event is there, gap-free, and none of the refused ones (Redis ran them after their deadline)',
        );
        assert.ok(!stored.some((e) => JSON.parse(e.json).type.startsWith('during')));
      } finally {
        await own.stop();
      }
    });

    it('refuses appends at once while Redis is down, and takes them again (in new epochs) after it restarts empty', async () => {
      const own = await startOwnRedis();
      try {
        const store = open(prefixes(), own.url);
        const before = await store.append('r', events('1'));
        await own.stop();
        const started = Date.now();
        await assert.rejects(store.append('r', events('2')), (e: unknown) => e instanceof HeraldError && e.code === 'storage_unavailable');
        assert.ok(Date.now() - started <= 3000);
        assert.equal(store.health().status, 'degraded');
        await own.restart();
        const deadline = Date.now() + 10_000;
        while (store.health().status !== 'ok') {
          assert.ok(Date.now() < deadline, 'health came back to ok');
          await new Promise((r) => setTimeout(r, 50));
        }
        const after = await store.append('r', events('3'));
        assert.notEqual(after.epoch, before.epoch);
        assert.deepEqual(after.offsets, [1]);
      } finally {
        await own.stop();
      }
    });
  });

  describe('--store redis', () => {
    it('two hubs on one Redis and prefix share every channel: offsets, epochs, history; a stopped Redis is 503 storage_unavailable and /health degraded', async () => {
      const own = await startOwnRedis();
      const config = { port: 0, logLevel: 'silent' as const, store: 'redis' as const, redisUrl: own.url, redisPrefix: 'hubs' };
      const [a, b] = [await startServer(config), await startServer(config)];
      try {
        const first = await postEvents(a.url, 'runs.x', { type: 'note', id: 'once' });
        const second = await postEvents(b.url, 'runs.x', [{ type: 'note', id: 'once' }, { type: 'note' }]);
        assert.equal(first.status, 201, JSON.stringify(first.json));
        assert.deepEqual(first.json.offsets, [1]);
        assert.deepEqual(second.json.offsets, [1, 2]);
        assert.equal(second.json.epoch, first.json.epoch);
        const history = (await getJson(`${a.url}/api/channels/runs.x/events`)).json;
        assert.deepEqual(history.events.map((e: { offset: number }) => e.offset), [1, 2]);
        assert.equal((await getJson(`${b.url}/health`)).json.status, 'ok');

        process.kill(own.child.pid!, 'SIGSTOP');
        try {
          const refused = await postEvents(a.url, 'runs.x', { type: 'note' });
          assert.equal(refused.status, 503);
          assert.equal(refused.json.error.code, 'storage_unavailable');
          const health = (await getJson(`${a.url}/health`)).json;
          assert.equal(health.status, 'degraded');
          assert.match(health.reason, /timed out/i);
        } finally {
          process.kill(own.child.pid!, 'SIGCONT');
        }
      } finally {
        await Promise.all([a.close(), b.close()]);
        await own.stop();
      }
    });
  });

  describe('RedisStore', () => {
    it('keeps only its own keys under its prefix, and close is safe twice', async () => {
      const prefix = prefixes();
      const store = new RedisStore({ url: SHARED_REDIS_URL, prefix, retention });
      await store.append('k', withIds('x'));
      await store.close();
      await store.close();
      await assert.rejects(store.append('k', events('y')), /closed/);
      const client = new Redis(SHARED_REDIS_URL);
      try {
        const keys: string[] = [];
        for (const match of [`${prefix}:*`, `{${prefix}:*`]) {
          let cursor = '0';
          do {
            const [next, found] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
            keys.push(...found);
            cursor = next;
          } while (cursor !== '0');
        }
        assert.deepEqual(keys.sort(), [`${prefix}:bytes`, `${prefix}:channels`, `${prefix}:epoch`, `${prefix}:time`, `{${prefix}:k}:events`, `{${prefix}:k}:ids`, `{${prefix}:k}:meta`].sort());
        await deleteKeys(client, prefix);
      } finally {
        client.disconnect();
      }
    });

    it('refuses a key prefix that would break the hash tags, with a sentence', () => {
      assert.throws(() => new RedisStore({ url: SHARED_REDIS_URL, prefix: 'a{b}', retention }), /prefix "a\{b\}" must be/);
    });
  });
}
