import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { LocalPeers, PEER_WATCH_MS, PeerGone, PeerSilent, RedisPeers } from '../src/cluster/peers.js';
import { HeraldError } from '../src/errors.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL } from './support/redis.js';

const available = await redisAnswers(SHARED_REDIS_URL);
const prefixes = scratchPrefixes();

describe('LocalPeers (one hub)', () => {
  it('reaches nobody: a send is heard by no hub, an ask fails with PeerGone', async () => {
    const peers = new LocalPeers('solo');
    assert.equal(await peers.send('other', { kind: 'x' }), false);
    await assert.rejects(peers.ask('other', { kind: 'x' }, 100), PeerGone);
  });
});

if (!available) {
  const message = `no Redis answers at ${SHARED_REDIS_URL}`;
  if (process.env.CI === 'true') it('the peer link needs a Redis', () => assert.fail(message));
  else it(`the peer link skipped: ${message}`, (t) => t.skip(message));
} else {
  describe('RedisPeers', () => {
    const publishers: Redis[] = [];
    const links: RedisPeers[] = [];
    after(async () => {
      await Promise.all(links.map((l) => l.close()));
      for (const p of publishers) p.disconnect();
    });
    const link = async (prefix: string, self: string, maxMessageBytes = 64 * 1024) => {
      const publisher = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: 0 });
      publishers.push(publisher);
      const peers = new RedisPeers({ url: SHARED_REDIS_URL, prefix, self, publisher, maxMessageBytes });
      links.push(peers);
      await peers.ready;
      return peers;
    };

    it('send says whether a hub listens; ask gets the handler answer, or its error with the same code', async () => {
      const prefix = prefixes();
      const a = await link(prefix, 'a');
      const b = await link(prefix, 'b');
      const heard: unknown[] = [];
      b.handle('note', (m, from) => void heard.push([from, m.n]));
      b.handle('double', (m) => ({ kind: 'doubled', n: Number(m.n) * 2 }));
      b.handle('refuse', () => {
        throw new HeraldError('unknown_client', 'nobody here');
      });
      assert.equal(await a.send('b', { kind: 'note', n: 1 }), true);
      assert.equal(await a.send('nobody', { kind: 'note', n: 2 }), false);
      assert.deepEqual(await a.ask('b', { kind: 'double', n: 21 }, 2000), { kind: 'doubled', n: 42 });
      await assert.rejects(a.ask('b', { kind: 'refuse' }, 2000), (e: unknown) => e instanceof HeraldError && e.code === 'unknown_client' && e.message === 'nobody here');
      await assert.rejects(a.ask('b', { kind: 'unheard-of' }, 2000), (e: unknown) => e instanceof HeraldError && e.code === 'not_supported');
      assert.deepEqual(heard, [['a', 1]]);
      const all: string[] = [];
      b.handle('hello-all', (_m, from) => void all.push(`b<-${from}`));
      a.handle('hello-all', () => void all.push('a heard itself'));
      await a.broadcast({ kind: 'hello-all' });
      await a.ask('b', { kind: 'double', n: 0 }, 2000);
      assert.deepEqual(all, ['b<-a'], 'a broadcast reaches the others, not the sender');
      assert.equal(a.waiting, 0, 'answered asks leave the table');
    });

    it('an ask to a hub that is gone fails at once (PeerGone); one that never answers fails after its timeout (PeerSilent)', async () => {
      const prefix = prefixes();
      const a = await link(prefix, 'a');
      const b = await link(prefix, 'b');
      b.handle('hang', () => new Promise<void>(() => {}));
      const started = Date.now();
      await assert.rejects(a.ask('gone', { kind: 'x' }, 5000), (e: unknown) => e instanceof PeerGone && !e.reached);
      assert.ok(Date.now() - started < 2000, 'not after the timeout');
      await assert.rejects(a.ask('b', { kind: 'hang' }, 300), PeerSilent);
      assert.equal(a.waiting, 0);
    });

    it('a hub that stops listening while it holds an ask fails it with PeerGone (reached) within the watch interval, not the timeout', async () => {
      const prefix = prefixes();
      const a = await link(prefix, 'a');
      const b = await link(prefix, 'b');
      let asked!: () => void;
      const got = new Promise<void>((resolve) => (asked = resolve));
      b.handle('hang', () => {
        asked();
        return new Promise<void>(() => {});
      });
      const started = Date.now();
      const answer = a.ask('b', { kind: 'hang' }, 30_000);
      await got;
      await b.close();
      await assert.rejects(answer, (e: unknown) => e instanceof PeerGone && e.reached);
      assert.ok(Date.now() - started < 10 * PEER_WATCH_MS, `failed after ${Date.now() - started} ms`);
    });

    it('messages over the size cap are refused to the sender (too_large) and a cancelled ask ends with timeout', async () => {
      const prefix = prefixes();
      const a = await link(prefix, 'a', 1024);
      const b = await link(prefix, 'b', 1024);
      b.handle('big', () => ({ kind: 'big', pad: 'x'.repeat(4096) }));
      b.handle('hang', () => new Promise<void>(() => {}));
      await assert.rejects(a.send('b', { kind: 'note', pad: 'x'.repeat(2000) }), (e: unknown) => e instanceof HeraldError && e.code === 'too_large');
      // The answer would pass the cap: the asker hears too_large instead of waiting for nothing.
      await assert.rejects(a.ask('b', { kind: 'big' }, 2000), (e: unknown) => e instanceof HeraldError && e.code === 'too_large');
      const cancel = new AbortController();
      const answer = a.ask('b', { kind: 'hang' }, 30_000, cancel.signal);
      cancel.abort();
      await assert.rejects(answer, (e: unknown) => e instanceof HeraldError && e.code === 'timeout');
      assert.equal(a.waiting, 0);
    });
  });
}
