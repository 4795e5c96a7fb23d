import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { CloseCodes } from '@herald/protocol';
import { mintToken } from '../src/index.js';
import { bearer, postEvents, request, scratchDirs, startHub, type TestHub } from './support/hub.js';
import { spawnHub, until } from './support/process.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL, startOwnRedis } from './support/redis.js';
import { TestClient, type Message } from './support/ws-client.js';

/**
 * Direct messages across hubs on one Redis (docs/cluster.md#direct-messages-and-requests): a client
 * id is found on whichever hub holds it, its kept mail follows it to another hub, and a connection with
 * its id and credentials on another hub replaces it.
 */
const available = await redisAnswers(SHARED_REDIS_URL);
const prefixes = scratchPrefixes();
const dirs = scratchDirs('herald-direct-cluster-');
const SECRET = 'direct-cluster-secret-that-is-long-enough-0123';

async function sendHttp(hub: TestHub, to: string, event: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const { status, text } = await request('POST', `${hub.url}/api/clients/${encodeURIComponent(to)}/events`, JSON.stringify(event), headers);
  return { status, json: JSON.parse(text) };
}

async function connectAs(hub: TestHub, clientId: string, headers: Record<string, string> = {}): Promise<TestClient> {
  const client = await TestClient.connect(hub.url, `?clientId=${encodeURIComponent(clientId)}`, { headers });
  assert.equal((await client.waitFor((m) => m.op === 'hello')).clientId, clientId);
  return client;
}

const directs = (client: TestClient) => client.messages.filter((m) => m.op === 'direct');
const ns = (messages: Message[]) => messages.map((m) => m.event.data.n);
const settled = (client: TestClient) => client.request({ op: 'ping' });

/** Hubs on the shared Redis under one new prefix, closed when the file ends. */
const open: TestHub[] = [];
after(async () => {
  await Promise.all(open.map((hub) => hub.dispose()));
});
async function cluster(count: number, extra: Parameters<typeof startHub>[0] = {}): Promise<TestHub[]> {
  const redisPrefix = prefixes();
  const hubs: TestHub[] = [];
  for (let i = 0; i < count; i++) hubs.push(await startHub({ store: 'redis', redisUrl: SHARED_REDIS_URL, redisPrefix, ...extra }));
  open.push(...hubs);
  return hubs;
}

if (!available) {
  const message = `no Redis answers at ${SHARED_REDIS_URL}`;
  if (process.env.CI === 'true') it('direct messages across hubs need a Redis', () => assert.fail(message));
  else it(`direct messages across hubs skipped: ${message}`, (t) => t.skip(message));
} else {
  describe('direct messages across hubs', () => {
    it('a send over HTTP and WebSocket to hub B reaches the client on hub A, and nobody else on either hub', async () => {
      const [a, b] = await cluster(2);
      const alice = await connectAs(a!, 'alice-x');
      const neighbour = await connectAs(a!, 'neighbour-x');
      const watchers = [await TestClient.connect(a!.url), await TestClient.connect(b!.url)];
      for (const w of watchers) assert.equal((await w.request({ op: 'subscribe', channel: '>' })).op, 'subscribed');
      const sender = await connectAs(b!, 'sender-x');

      assert.deepEqual(await sender.request({ op: 'send', to: 'alice-x', event: { type: 'secret', data: { n: 1 } } }), { op: 'sent', id: 1, to: 'alice-x', status: 'delivered' });
      const http = await sendHttp(b!, 'alice-x', { type: 'secret', data: { n: 2 } });
      assert.deepEqual([http.status, http.json], [200, { to: 'alice-x', status: 'delivered' }]);
      await alice.waitFor((m) => m.op === 'direct' && m.event.data.n === 2);
      assert.deepEqual(ns(directs(alice)), [1, 2]);
      assert.deepEqual(directs(alice)[0]!.from, { clientId: 'sender-x' }, 'it shows as from the sender on the other hub');

      // Published after the sends: a watcher that has it would have had anything sent before it.
      assert.equal((await postEvents(b!.url, 'after.sends', { type: 'marker' })).status, 201);
      for (const w of watchers) await w.waitForEvents(1, 'after.sends');
      await settled(neighbour);
      for (const c of [neighbour, ...watchers, sender]) assert.deepEqual(c.messages.filter((m) => m.op === 'direct' || m.event?.type === 'secret'), []);
      for (const c of [alice, neighbour, ...watchers, sender]) c.close();
    });

    it('mail sent via hub B while the client is away from hub A is queued (202) and reaches it once, in order, when it reconnects to hub C', async () => {
      const [a, b, c] = await cluster(3);
      const bob = await connectAs(a!, 'bob-x');
      bob.close();
      await bob.closed;
      await until(() => a!.hub.direct.isAway('bob-x'), 'hub A to see bob leave');
      for (const n of [1, 2]) assert.deepEqual((await sendHttp(b!, 'bob-x', { type: 'm', data: { n } })).json, { to: 'bob-x', status: 'queued' });
      const ws = await connectAs(c!, 'ws-sender');
      assert.equal((await ws.request({ op: 'send', to: 'bob-x', event: { type: 'm', data: { n: 3 } } })).status, 'queued');

      // Away a while (the directory entry and the kept mail outlive it), then back on a third hub.
      await new Promise((r) => setTimeout(r, 2000));
      const back = await connectAs(c!, 'bob-x');
      await back.waitFor((m) => m.op === 'direct' && m.event.data.n === 3);
      assert.equal(back.messages[0]!.op, 'hello', 'the kept mail comes after hello');
      assert.deepEqual(ns(directs(back)), [1, 2, 3]);
      assert.equal(a!.hub.direct.isAway('bob-x'), false, 'hub A no longer keeps mail for it');
      assert.deepEqual(a!.hub.direct.queued, { messages: 0, bytes: 0 });
      // Sent from the hub it left: now it goes to hub C.
      assert.equal((await sendHttp(a!, 'bob-x', { type: 'm', data: { n: 4 } })).json.status, 'delivered');
      await back.waitFor((m) => m.op === 'direct' && m.event.data.n === 4);
      await settled(back);
      assert.deepEqual(ns(directs(back)), [1, 2, 3, 4], 'each once');
      back.close();
      ws.close();
    });

    it('an unknown client id is 404 unknown_client on every hub, over HTTP and WebSocket', async () => {
      const hubs = await cluster(3);
      for (const hub of hubs) {
        const answer = await sendHttp(hub, 'nobody-anywhere', { type: 'm' });
        assert.deepEqual([answer.status, answer.json.error.code], [404, 'unknown_client']);
        const client = await TestClient.connect(hub.url);
        assert.equal((await client.request({ op: 'send', to: 'nobody-anywhere', event: { type: 'm' } })).code, 'unknown_client');
        client.close();
      }
    });

    it('a connection with the id on another hub takes it over: the old one is closed with 4006 and the mail goes to the new one', async () => {
      const [a, b] = await cluster(2);
      const old = await connectAs(a!, 'worker-x');
      const replacement = await connectAs(b!, 'worker-x');
      assert.equal((await old.closed).code, CloseCodes.replaced.code);
      for (const hub of [a!, b!]) assert.equal((await sendHttp(hub, 'worker-x', { type: 'm', data: { n: 1 } })).json.status, 'delivered');
      await replacement.waitFor(() => directs(replacement).length === 2);
      assert.deepEqual(directs(old), []);
      replacement.close();
    });
  });

  describe('direct messages to a client whose hub went away', () => {
    it('a hub shut down: its clients are unknown_client from the others at once (its kept mail went with it)', async () => {
      const [a, b] = await cluster(2);
      const onA = await connectAs(a!, 'leaving-x');
      assert.equal((await sendHttp(b!, 'leaving-x', { type: 'm' })).status, 200);
      await a!.close();
      await onA.closed;
      const answer = await sendHttp(b!, 'leaving-x', { type: 'm' });
      assert.deepEqual([answer.status, answer.json.error.code], [404, 'unknown_client']);
    });

    it('a hub SIGKILLed: sends to its client are never 2xx; 503 while the hub may still be alive, then 404 unknown_client', async () => {
      const prefix = prefixes();
      const [b] = await cluster(1, { redisPrefix: prefix });
      const doomed = await spawnHub(dirs(), ['--redis', SHARED_REDIS_URL, '--redis-prefix', prefix]);
      try {
        const client = await TestClient.connect(doomed.url, '?clientId=doomed-x');
        await client.waitFor((m) => m.op === 'hello');
        assert.equal((await sendHttp(b!, 'doomed-x', { type: 'm' })).status, 200);
        await doomed.kill();
        const seen = new Set<string>();
        const deadline = Date.now() + 20_000;
        for (;;) {
          const answer = await sendHttp(b!, 'doomed-x', { type: 'm' });
          seen.add(`${answer.status} ${answer.json.error?.code}`);
          if (answer.status === 404 || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        assert.ok([...seen].every((s) => s === '503 storage_unavailable' || s === '404 unknown_client'), [...seen].join(', '));
        assert.ok(seen.has('404 unknown_client'), `unknown_client once the hub left the node registry: ${[...seen].join(', ')}`);
      } finally {
        await doomed.kill();
      }
    });
  });

  describe('direct messages across hubs with credentials required', () => {
    it('another credential with the id on another hub neither replaces the connection nor gets its mail', async () => {
      const [a, b] = await cluster(2, { jwtSecret: SECRET });
      const token = (subject: string, admin = false) => mintToken(SECRET, { subject, grant: { subscribe: [], publish: [], admin }, ttlSeconds: 600 });
      const admin = await token('root', true);
      const alice = await connectAs(a!, 'inbox-x', bearer(await token('alice')));
      const mallory = await connectAs(b!, 'inbox-x', bearer(await token('mallory')));
      for (const hub of [a!, b!]) assert.equal((await sendHttp(hub, 'inbox-x', { type: 'm', data: { n: 1 } }, bearer(admin))).json.status, 'delivered');
      await alice.waitFor(() => directs(alice).length === 2);
      await settled(mallory);
      assert.deepEqual(directs(mallory), [], 'mail goes to the credential that holds the id');
      assert.equal(alice.ws.readyState, alice.ws.OPEN, 'another credential does not replace the connection');
      const aliceAgain = await connectAs(b!, 'inbox-x', bearer(await token('alice')));
      assert.equal((await alice.closed).code, CloseCodes.replaced.code, 'the same credential does');
      assert.equal((await sendHttp(a!, 'inbox-x', { type: 'm', data: { n: 2 } }, bearer(admin))).json.status, 'delivered');
      await aliceAgain.waitFor((m) => m.op === 'direct' && m.event.data.n === 2);
      await settled(mallory);
      assert.deepEqual(directs(mallory), []);
      mallory.close();
      aliceAgain.close();
    });
  });

  describe('direct messages across hubs when Redis fails', () => {
    it('a send to a client on another hub is 503 storage_unavailable, never a 2xx; a send to a client on the same hub is still delivered', async () => {
      const redis = await startOwnRedis();
      try {
        const a = await startHub({ store: 'redis', redisUrl: redis.url, redisPrefix: 'down' });
        const b = await startHub({ store: 'redis', redisUrl: redis.url, redisPrefix: 'down' });
        open.push(a, b);
        const onA = await connectAs(a, 'on-a');
        const onB = await connectAs(b, 'on-b');
        assert.equal((await sendHttp(b, 'on-a', { type: 'm', data: { n: 1 } })).status, 200);
        await redis.stop();
        const remote = await sendHttp(b, 'on-a', { type: 'm', data: { n: 2 } });
        assert.deepEqual([remote.status, remote.json.error?.code], [503, 'storage_unavailable']);
        const ws = await onB.request({ op: 'send', to: 'unknown-while-down', event: { type: 'm' } });
        assert.equal(ws.code, 'storage_unavailable', 'unknown or not cannot be told without Redis');
        assert.deepEqual((await sendHttp(b, 'on-b', { type: 'm', data: { n: 3 } })).json, { to: 'on-b', status: 'delivered' });
        await onB.waitFor((m) => m.op === 'direct' && m.event.data.n === 3);
        await settled(onA);
        assert.deepEqual(ns(directs(onA)), [1], 'nothing answered 503 arrived');
        onA.close();
        onB.close();
      } finally {
        await redis.stop();
      }
    });
  });
}
