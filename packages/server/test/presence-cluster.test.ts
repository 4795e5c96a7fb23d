import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { after, describe, it } from 'node:test';
import { startServer, type HeraldServer } from '../src/index.js';
import { PRESENCE_REAP_MS, PRESENCE_TTL_MS } from '../src/presence/redis-directory.js';
import { getJson, postEvents, scratchDirs } from './support/hub.js';
import { spawnHub, type HubProcess } from './support/process.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL, startOwnRedis } from './support/redis.js';
import { SseReader } from './support/sse-reader.js';
import { TestClient, type Message } from './support/ws-client.js';

const available = await redisAnswers(SHARED_REDIS_URL);
const prefixes = scratchPrefixes();
const dirs = scratchDirs('herald-presence-cluster-');

async function connect(base: string, clientId: string): Promise<TestClient> {
  const client = await TestClient.connect(base, `?clientId=${clientId}`);
  await client.waitFor((m) => m.op === 'hello');
  return client;
}

async function subscribed(client: TestClient, command: Message): Promise<void> {
  const reply = await client.request({ op: 'subscribe', ...command });
  assert.equal(reply.op, 'subscribed', JSON.stringify(reply));
}

const ids = (clients: Message[]): string[] => clients.map((c) => c.clientId as string);
const heard = (client: TestClient, op: 'join' | 'leave') => client.messages.filter((m) => m.op === op).map((m) => m.client.clientId);
const heardSse = (reader: SseReader, op: 'join' | 'leave') => reader.named(op).map((m) => m.data.client.clientId);

/** Retries `check` (an assertion) every 50 ms until it passes; fails with its last error after `timeoutMs`. */
async function eventually(check: () => Promise<void> | void, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The whole presence of `channel` as `base` answers it over HTTP, a page of `limit` at a time. */
async function allPages(base: string, channel: string, limit: number): Promise<{ count: number; clients: Message[]; pages: number }> {
  const clients: Message[] = [];
  let next: string | null = null;
  let count = 0;
  let pages = 0;
  do {
    const res = await getJson(`${base}/api/channels/${channel}/presence?limit=${limit}${next ? `&after=${next}` : ''}`);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    clients.push(...res.json.clients);
    count = res.json.count;
    next = res.json.next;
    pages++;
  } while (next !== null);
  return { count, clients, pages };
}

if (!available) {
  const message = `no Redis answers at ${SHARED_REDIS_URL}`;
  if (process.env.CI === 'true') it('presence across hubs needs a Redis', () => assert.fail(message));
  else it(`presence across hubs skipped: ${message}`, (t) => t.skip(message));
} else {
  const open: HeraldServer[] = [];
  const children: HubProcess[] = [];
  after(async () => {
    await Promise.all(children.map((child) => child.kill()));
    await Promise.all(open.map((hub) => hub.close()));
  });
  const start = async (redisUrl: string, prefix: string) => {
    const hub = await startServer({ port: 0, logLevel: 'silent', store: 'redis', redisUrl, redisPrefix: prefix, dataDir: dirs() });
    open.push(hub);
    return hub;
  };

  describe('presence across the hubs of one Redis', () => {
    it('three clients on three hubs come and go: every hub lists the same entries, counts them, pages across hubs, and shows them as watching', async () => {
      const prefix = prefixes();
      const hubs = [await start(SHARED_REDIS_URL, prefix), await start(SHARED_REDIS_URL, prefix), await start(SHARED_REDIS_URL, prefix)];
      const channel = 'pc.room';
      assert.equal((await postEvents(hubs[0]!.url, channel, { type: 'x' })).status, 201);
      const alpha = await connect(hubs[0]!.url, 'alpha');
      await subscribed(alpha, { channel });
      const beta = await connect(hubs[1]!.url, 'beta');
      await subscribed(beta, { channel });
      const stream = await SseReader.open(`${hubs[2]!.url}/api/channels/${channel}/stream`);
      const streamId = (await stream.waitFor((m) => m.event === 'subscribed')).data.clientId as string;
      const gamma = await connect(hubs[2]!.url, 'gamma');
      await subscribed(gamma, { channel });
      const everyone = ['alpha', 'beta', streamId, 'gamma'];

      // Listed before each subscribe was answered: no waiting needed, on any hub.
      let reference: Message | undefined;
      for (const [i, hub] of hubs.entries()) {
        const asker = [alpha, beta, gamma][i]!;
        const overWs = await asker.request({ op: 'presence', channel });
        assert.equal(overWs.op, 'presence', JSON.stringify(overWs));
        assert.equal(overWs.count, 4, `hub ${i} counts the subscribers of every hub`);
        assert.deepEqual(ids(overWs.clients), everyone, `hub ${i} lists them oldest first`);
        assert.deepEqual(overWs.clients.map((c: Message) => c.transport), ['websocket', 'websocket', 'sse', 'websocket']);
        reference ??= overWs;
        assert.deepEqual(overWs.clients, reference.clients, 'the same entries on every hub');
        const overHttp = await getJson(`${hub.url}/api/channels/${channel}/presence`);
        assert.deepEqual(overHttp.json, { channel, count: 4, clients: reference.clients, next: null });
        const list = await getJson(`${hub.url}/api/channels?prefix=pc.room`);
        const row = list.json.channels.find((c: Message) => c.name === channel);
        assert.equal(row.watching, 4, `hub ${i}: watching counts every hub`);
        assert.equal(row.subscribers, [1, 1, 2][i], `hub ${i}: subscribers still counts this hub's own`);
      }

      // A page of one from each hub in turn, each going on from the cursor another hub gave.
      const seen: string[] = [];
      let next: string | null = null;
      for (let page = 0; page < 4; page++) {
        const hub = hubs[page % 3]!;
        const res = await getJson(`${hub.url}/api/channels/${channel}/presence?limit=1${next ? `&after=${next}` : ''}`);
        assert.equal(res.json.count, 4);
        assert.equal(res.json.clients.length, 1);
        seen.push(res.json.clients[0].clientId);
        next = res.json.next;
        assert.equal(next === null, page === 3, `page ${page + 1} of 4 ${page === 3 ? 'is the last' : 'has a next'}`);
      }
      assert.deepEqual(seen, everyone, 'pages from different hubs join up: each subscriber once, in order');

      // They go: an unsubscribe on B, an SSE stream closed on C, a connection closed on A.
      assert.equal((await beta.request({ op: 'unsubscribe', channel })).op, 'unsubscribed');
      stream.close();
      alpha.close();
      for (const hub of hubs) {
        await eventually(async () => {
          const all = await allPages(hub.url, channel, 1);
          assert.deepEqual(ids(all.clients), ['gamma']);
          assert.equal(all.count, 1);
        });
      }
      beta.close();
      gamma.close();
    });

    it('a watcher on hub A hears each join and leave of clients on hubs B and C once (WebSocket and SSE watchers), and none about itself', async () => {
      const prefix = prefixes();
      const [a, b, c] = [await start(SHARED_REDIS_URL, prefix), await start(SHARED_REDIS_URL, prefix), await start(SHARED_REDIS_URL, prefix)];
      const channel = 'pc.watched';
      const watcher = await connect(a.url, 'watcher');
      await subscribed(watcher, { channel, presence: true });
      const sseWatcher = await SseReader.open(`${a.url}/api/channels/${channel}/stream?presence=1`);
      const sseId = (await sseWatcher.waitFor((m) => m.event === 'subscribed')).data.clientId as string;
      await watcher.waitFor((m) => m.op === 'join' && m.client.clientId === sseId, 'the SSE watcher joining on the same hub');

      const onB = await connect(b.url, 'on-b');
      await subscribed(onB, { channel });
      const onC = await SseReader.open(`${c.url}/api/channels/${channel}/stream`);
      const onCId = (await onC.waitFor((m) => m.event === 'subscribed')).data.clientId as string;
      const onA = await connect(a.url, 'on-a');
      await subscribed(onA, { channel });
      for (const id of ['on-b', onCId, 'on-a']) {
        await watcher.waitFor((m) => m.op === 'join' && m.client.clientId === id, `${id} joining (WebSocket watcher)`);
        await sseWatcher.waitFor((m) => m.event === 'join' && m.data.client.clientId === id, `${id} joining (SSE watcher)`);
      }
      const joinOfC = watcher.messages.find((m) => m.op === 'join' && m.client.clientId === onCId)!;
      assert.deepEqual(Object.keys(joinOfC).sort(), ['channel', 'client', 'op']);
      assert.equal(joinOfC.channel, channel);
      assert.equal(joinOfC.client.transport, 'sse');

      assert.equal((await onB.request({ op: 'unsubscribe', channel })).op, 'unsubscribed');
      onC.close();
      onA.close();
      for (const id of ['on-b', onCId, 'on-a']) {
        await watcher.waitFor((m) => m.op === 'leave' && m.client.clientId === id, `${id} leaving (WebSocket watcher)`);
        await sseWatcher.waitFor((m) => m.event === 'leave' && m.data.client.clientId === id, `${id} leaving (SSE watcher)`);
      }
      // A ping answered by A after the last leave: anything more (a copy through Redis) would be here by now.
      await watcher.request({ op: 'ping' });
      await sseWatcher.waitFor((m) => m.event === 'leave' && m.data.client.clientId === 'on-a');
      assert.deepEqual(heard(watcher, 'join').sort(), [sseId, 'on-b', onCId, 'on-a'].sort(), 'each join once: the own hub announces its own, not again through Redis');
      assert.deepEqual(heard(watcher, 'leave').sort(), ['on-b', onCId, 'on-a'].sort());
      assert.deepEqual(heardSse(sseWatcher, 'join').sort(), ['on-b', onCId, 'on-a'].sort(), 'the SSE watcher hears nothing about itself');
      assert.deepEqual(heardSse(sseWatcher, 'leave').sort(), ['on-b', onCId, 'on-a'].sort());
      const leaveOfB = watcher.messages.find((m) => m.op === 'leave' && m.client.clientId === 'on-b')!;
      const joinOfB = watcher.messages.find((m) => m.op === 'join' && m.client.clientId === 'on-b')!;
      assert.deepEqual(leaveOfB.client, joinOfB.client, 'a leave carries the entry its join did');

      // A hub that closes gracefully takes its subscribers out at once: their leaves come well before a reap would.
      const late = await connect(b.url, 'late');
      await subscribed(late, { channel });
      await watcher.waitFor((m) => m.op === 'join' && m.client.clientId === 'late');
      const closing = Date.now();
      await b.close();
      await watcher.waitFor((m) => m.op === 'leave' && m.client.clientId === 'late', 'the leave of a subscriber of a hub that closed', PRESENCE_TTL_MS);
      assert.ok(Date.now() - closing < PRESENCE_TTL_MS, 'gone with the close, not reaped later');
      assert.deepEqual(ids((await watcher.request({ op: 'presence', channel })).clients), ['watcher', sseId]);
      watcher.close();
      sseWatcher.close();
    });

    it(`a hub killed without closing leaves presence within about ${PRESENCE_REAP_MS} ms (the TTL and one check), and watchers on the other hubs hear a leave for each of its subscribers`, async () => {
      const prefix = prefixes();
      const watching = await start(SHARED_REDIS_URL, prefix);
      const doomed = await spawnHub(dirs(), ['--store', 'redis', '--redis', SHARED_REDIS_URL, '--redis-prefix', prefix]);
      children.push(doomed);
      const channel = 'pc.killed';
      const watcher = await connect(watching.url, 'watcher');
      await subscribed(watcher, { channel, presence: true });
      const sseWatcher = await SseReader.open(`${watching.url}/api/channels/${channel}/stream?presence=1`);
      await sseWatcher.waitFor((m) => m.event === 'subscribed');
      const victims = [await connect(doomed.url, 'victim-1'), await connect(doomed.url, 'victim-2')];
      for (const victim of victims) await subscribed(victim, { channel });
      for (const id of ['victim-1', 'victim-2']) await watcher.waitFor((m) => m.op === 'join' && m.client.clientId === id, `${id} joining`);
      assert.equal((await watcher.request({ op: 'presence', channel })).count, 4);

      const killed = Date.now();
      await doomed.kill();
      // Bounded by the documented time, with room for a loaded machine (the check is that it happens at all).
      const bound = PRESENCE_REAP_MS + 5000;
      for (const id of ['victim-1', 'victim-2']) {
        await watcher.waitFor((m) => m.op === 'leave' && m.client.clientId === id, `${id} leaving after the kill`, bound);
        await sseWatcher.waitFor((m) => m.event === 'leave' && m.data.client.clientId === id, `${id} leaving (SSE)`, bound);
      }
      const took = Date.now() - killed;
      console.log(`# presence: a killed hub's subscribers left after ${took} ms (documented bound ${PRESENCE_REAP_MS} ms)`);
      const left = await watcher.request({ op: 'presence', channel });
      assert.equal(left.count, 2);
      assert.deepEqual(ids(left.clients).sort(), ['watcher', (await sseWatcher.waitFor((m) => m.event === 'subscribed')).data.clientId].sort());
      await watcher.request({ op: 'ping' });
      assert.equal(heard(watcher, 'leave').length, 2, 'one leave each, although every hub may try to reap');
      watcher.close();
      sseWatcher.close();
    });

    it('a hub that stalls past the TTL is reaped (watchers hear leaves), and when it wakes up its subscribers are listed and announced again', async () => {
      const prefix = prefixes();
      const watching = await start(SHARED_REDIS_URL, prefix);
      const stalled = await spawnHub(dirs(), ['--store', 'redis', '--redis', SHARED_REDIS_URL, '--redis-prefix', prefix]);
      children.push(stalled);
      const channel = 'pc.stalled';
      const watcher = await connect(watching.url, 'watcher');
      await subscribed(watcher, { channel, presence: true });
      const sleeper = await connect(stalled.url, 'sleeper');
      await subscribed(sleeper, { channel });
      await watcher.waitFor((m) => m.op === 'join' && m.client.clientId === 'sleeper');
      process.kill(stalled.child.pid!, 'SIGSTOP');
      try {
        await watcher.waitFor((m) => m.op === 'leave' && m.client.clientId === 'sleeper', 'the stalled hub reaped', PRESENCE_REAP_MS + 5000);
        assert.deepEqual(ids((await watcher.request({ op: 'presence', channel })).clients), ['watcher']);
      } finally {
        process.kill(stalled.child.pid!, 'SIGCONT');
      }
      // Its next beat finds its entries gone and that it was reaped: written again, and announced.
      await eventually(() => assert.equal(heard(watcher, 'join').filter((id) => id === 'sleeper').length, 2), 10_000);
      assert.deepEqual(ids((await watcher.request({ op: 'presence', channel })).clients), ['watcher', 'sleeper']);
      sleeper.close();
      await watcher.waitFor((m) => m.op === 'leave' && heard(watcher, 'leave').length === 2, 'its leave when it really goes');
      watcher.close();
    });

    it('a dead hub with more entries than one reaping step is reaped in chunks, by three hubs at once, with exactly one leave per entry', async () => {
      const prefix = prefixes();
      const hubs = [await start(SHARED_REDIS_URL, prefix), await start(SHARED_REDIS_URL, prefix), await start(SHARED_REDIS_URL, prefix)];
      const channel = 'pc.ghosts';
      const watcher = await connect(hubs[0]!.url, 'watcher');
      await subscribed(watcher, { channel, presence: true });
      const others = [await connect(hubs[1]!.url, 'other-1'), await connect(hubs[2]!.url, 'other-2')];
      for (const other of others) await subscribed(other, { channel });
      // A hub that died long ago, written as the directory's layout (cluster.md#presence) says.
      const GHOSTS = 700;
      const admin = new Redis(SHARED_REDIS_URL);
      try {
        const tag = `{${prefix}:presence}`;
        const [seconds] = await admin.time();
        const multi = admin.multi();
        for (let i = 0; i < GHOSTS; i++) {
          const member = `ghost-host-1-abcdef:${i + 1} ${JSON.stringify({ clientId: `ghost-${i}`, since: 1, transport: 'websocket' })}`;
          multi.zadd(`${tag}:ch:${channel}`, i + 1, member).hset(`${tag}:node:ghost-host-1-abcdef`, member, channel);
        }
        await multi.zadd(`${tag}:nodes`, Number(seconds) * 1000 - 60_000, 'ghost-host-1-abcdef').exec();
      } finally {
        admin.disconnect();
      }
      await eventually(async () => assert.equal((await getJson(`${hubs[1]!.url}/api/channels/${channel}/presence?limit=3`)).json.count, 3), PRESENCE_REAP_MS + 5000);
      await eventually(() => assert.equal(heard(watcher, 'leave').length, GHOSTS), 5000);
      await watcher.request({ op: 'ping' });
      const leaves = heard(watcher, 'leave');
      assert.equal(new Set(leaves).size, GHOSTS, 'every ghost left');
      assert.equal(leaves.length, GHOSTS, 'once each, though three hubs reap');
      assert.deepEqual(ids((await watcher.request({ op: 'presence', channel })).clients), ['watcher', 'other-1', 'other-2'], 'the live ones stay');
      for (const client of [watcher, ...others]) client.close();
    });

    it('after a FLUSHALL or a restart of its Redis presence comes back complete without a spurious leave or join; while Redis is stopped it answers storage_unavailable, and a leave made meanwhile is heard after', async () => {
      const own = await startOwnRedis();
      try {
        const [a, b] = [await start(own.url, 'flushed'), await start(own.url, 'flushed')];
        const channel = 'pc.flushed';
        const watcher = await connect(a.url, 'watcher');
        await subscribed(watcher, { channel, presence: true });
        const others = [await connect(b.url, 'b-1'), await connect(b.url, 'b-2'), await connect(a.url, 'a-1')];
        for (const other of others) await subscribed(other, { channel });
        for (const id of ['b-1', 'b-2', 'a-1']) await watcher.waitFor((m) => m.op === 'join' && m.client.clientId === id);
        const before = await allPages(a.url, channel, 2);
        assert.deepEqual(ids(before.clients), ['watcher', 'b-1', 'b-2', 'a-1']);
        const oldCursor = (await getJson(`${b.url}/api/channels/${channel}/presence?limit=1`)).json.next as string;
        assert.equal(typeof oldCursor, 'string');

        await own.admin.flushall();
        for (const hub of [a, b]) {
          await eventually(async () => {
            const all = await allPages(hub.url, channel, 2);
            assert.equal(all.count, 4);
            assert.deepEqual(ids(all.clients).sort(), ['a-1', 'b-1', 'b-2', 'watcher']);
          });
        }
        // A cursor handed out before the flush still pages: the sequence went on above it, not from 1.
        const resumed = await getJson(`${b.url}/api/channels/${channel}/presence?after=${oldCursor}`);
        assert.equal(resumed.json.count, 4);
        assert.deepEqual(ids(resumed.json.clients).sort(), ['a-1', 'b-1', 'b-2', 'watcher'], 'a cursor from before the flush lists everyone written again after it');
        await watcher.request({ op: 'ping' });
        assert.deepEqual(heard(watcher, 'leave'), [], 'nobody left: no leave heard');
        assert.deepEqual(heard(watcher, 'join').sort(), ['a-1', 'b-1', 'b-2'], 'nobody came again: no join heard twice');

        // Redis stops answering: presence says so instead of answering with one hub's part.
        process.kill(own.child.pid!, 'SIGSTOP');
        try {
          const res = await getJson(`${a.url}/api/channels/${channel}/presence`);
          assert.equal(res.status, 503);
          assert.equal(res.json.error.code, 'storage_unavailable');
          const overWs = await watcher.request({ op: 'presence', channel });
          assert.equal(overWs.code, 'storage_unavailable');
          // A subscriber leaves while its hub cannot tell Redis.
          others[1]!.close();
          await others[1]!.closed;
        } finally {
          process.kill(own.child.pid!, 'SIGCONT');
        }
        await watcher.waitFor((m) => m.op === 'leave' && m.client.clientId === 'b-2', 'the leave of b-2 once Redis answers again', 15_000);
        for (const hub of [a, b]) {
          await eventually(async () => assert.deepEqual(ids((await allPages(hub.url, channel, 100)).clients).sort(), ['a-1', 'b-1', 'watcher']), 15_000);
        }
        // Redis restarted empty: every hub writes its entries again once it is back.
        await own.restart();
        for (const hub of [a, b]) {
          await eventually(async () => {
            const all = await allPages(hub.url, channel, 100);
            assert.deepEqual(ids(all.clients).sort(), ['a-1', 'b-1', 'watcher']);
          }, 15_000);
        }
        await watcher.request({ op: 'ping' });
        assert.deepEqual(heard(watcher, 'leave'), ['b-2'], 'only the one who left was heard leaving, through the pause and the restart');
        for (const client of [watcher, ...others]) client.close();
      } finally {
        await own.stop();
      }
    });
  });
}
