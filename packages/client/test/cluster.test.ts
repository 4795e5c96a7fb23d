import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { createClient, type WebSocketConstructor } from '../src/index.js';
import { startServer } from '../../server/src/index.js';
import { postEvents, scratchDirs } from '../../server/test/support/hub.js';
import { spawnHub, until } from '../../server/test/support/process.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL } from '../../server/test/support/redis.js';

const available = await redisAnswers(SHARED_REDIS_URL);
const prefixes = scratchPrefixes();
const dirs = scratchDirs('herald-cluster-client-');

if (!available) {
  const message = `no Redis answers at ${SHARED_REDIS_URL}`;
  if (process.env.CI === 'true') it('the client across hubs needs a Redis', () => assert.fail(message));
  else it(`the client across hubs skipped: ${message}`, (t) => t.skip(message));
} else {
  describe('@herald/client with several hubs of one cluster', () => {
    it('moves to the next hub when its hub goes away, and resumes there with no gap and no duplicate', async () => {
      const config = { port: 0, logLevel: 'silent' as const, store: 'redis' as const, redisUrl: SHARED_REDIS_URL, redisPrefix: prefixes() };
      const first = await startServer(config);
      const second = await startServer(config);
      const client = createClient({ url: [first.url, second.url], WebSocket: WebSocket as unknown as WebSocketConstructor, backoff: { initialDelayMs: 20, maxDelayMs: 200 } });
      try {
        const offsets: number[] = [];
        const sub = client.subscribe('multi', (e) => offsets.push(e.offset));
        client.connect();
        await until(() => sub.state === 'subscribed', 'the subscription on the first hub');
        assert.equal(client.url, first.url);
        for (let n = 1; n <= 5; n++) assert.equal((await postEvents(second.url, 'multi', { type: 'n', data: { n } })).status, 201);
        await until(() => offsets.length === 5, 'five events through the other hub, live');

        // The first hub goes away (graceful: 1012); events keep coming through the second meanwhile.
        const closing = first.close();
        for (let n = 6; n <= 10; n++) assert.equal((await postEvents(second.url, 'multi', { type: 'n', data: { n } })).status, 201);
        await closing;
        await until(() => offsets.length >= 10, 'the events published while the client moved');
        for (let n = 11; n <= 12; n++) assert.equal((await postEvents(second.url, 'multi', { type: 'n', data: { n } })).status, 201);
        await until(() => offsets.length >= 12, 'live events on the second hub');
        assert.equal(client.url, second.url, 'the client moved to the second hub');
        assert.deepEqual(offsets, Array.from({ length: 12 }, (_, i) => i + 1), 'every event once, in order');
      } finally {
        client.close();
        await first.close();
        await second.close();
      }
    });

    it('three herald serve processes: publishers on two nodes, the node of the client SIGKILLed mid-stream — every event once, in one order', async () => {
      const prefix = prefixes();
      const nodes = await Promise.all([0, 1, 2].map(() => spawnHub(dirs(), ['--store', 'redis', '--redis', SHARED_REDIS_URL, '--redis-prefix', prefix])));
      const client = createClient({ url: nodes.map((n) => n.url), WebSocket: WebSocket as unknown as WebSocketConstructor, backoff: { initialDelayMs: 20, maxDelayMs: 200 } });
      try {
        const seen: Array<{ offset: number; n: number }> = [];
        const sub = client.subscribe<{ n: number }>('killed', (e) => seen.push({ offset: e.offset, n: e.event.data!.n }));
        client.connect();
        await until(() => sub.state === 'subscribed', 'the subscription on the first node');
        assert.equal(client.url, nodes[0]!.url);
        const acknowledged = new Map<number, number>();
        for (let n = 1; n <= 120; n++) {
          // Two publishers' nodes, neither of them the client's.
          const { status, json } = await postEvents(nodes[1 + (n % 2)]!.url, 'killed', { type: 'n', data: { n } });
          assert.equal(status, 201);
          acknowledged.set(json.offsets[0], n);
          if (n === 50) await nodes[0]!.kill(); // SIGKILL: no close frame, the client sees 1006
        }
        await until(() => seen.length >= 120, 'all 120 events at the client', 15_000);
        await new Promise((r) => setTimeout(r, 100));
        assert.notEqual(client.url, nodes[0]!.url, 'the client moved to another node');
        assert.deepEqual(seen.map((e) => e.offset), Array.from({ length: 120 }, (_, i) => i + 1), 'every offset once, in order');
        assert.deepEqual(seen.map((e) => e.n), seen.map((e) => acknowledged.get(e.offset)), 'each offset is the event that was acknowledged with it');
      } finally {
        client.close();
        await Promise.all(nodes.map((n) => n.kill()));
      }
    });
  });
}
