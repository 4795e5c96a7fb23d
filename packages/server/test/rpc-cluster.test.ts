import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { request, scratchDirs, startHub, type TestHub } from './support/hub.js';
import { spawnHub, until } from './support/process.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL, startOwnRedis } from './support/redis.js';
import { TestClient, type Message } from './support/ws-client.js';

/**
 * Request/reply across hubs on one Redis (docs/cluster.md#direct-messages-and-requests): a requester on
 * one hub reaches a responder on another, and hears timeout, no_responder and responder_error as on one
 * hub — also when the responder's hub dies.
 */
const available = await redisAnswers(SHARED_REDIS_URL);
const prefixes = scratchPrefixes();
const dirs = scratchDirs('herald-rpc-cluster-');

async function post(url: string, path: string, body: unknown): Promise<{ status: number; json: any }> {
  const { status, text } = await request('POST', `${url}${path}`, JSON.stringify(body));
  return { status, json: JSON.parse(text) };
}

async function connect(url: string): Promise<TestClient> {
  const client = await TestClient.connect(url);
  await client.waitFor((m) => m.op === 'hello');
  return client;
}

/** A WebSocket responder of `channel` that answers every request with `answer(request)`. */
async function responder(url: string, channel: string, answer: (m: Message) => Record<string, unknown> | undefined = (m) => ({ data: { echo: m.data, by: url } })): Promise<TestClient> {
  const client = await connect(url);
  assert.equal((await client.request({ op: 'serve', channel })).op, 'serving');
  client.ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString()) as Message;
    const reply = m.op === 'request' ? answer(m) : undefined;
    if (reply) client.sendRaw(JSON.stringify({ op: 'reply', requestId: m.requestId, ...reply }));
  });
  return client;
}

/** Another hub learns of a responder through a broadcast: wait for it rather than race it. */
const knows = (hub: TestHub, channel: string) => until(() => hub.hub.servedElsewhere(channel), `the hub to hear that another serves ${channel}`);

const open: TestHub[] = [];
after(async () => {
  await Promise.all(open.map((hub) => hub.dispose()));
});
async function cluster(count: number, redisPrefix = prefixes()): Promise<TestHub[]> {
  const hubs: TestHub[] = [];
  for (let i = 0; i < count; i++) hubs.push(await startHub({ store: 'redis', redisUrl: SHARED_REDIS_URL, redisPrefix }));
  open.push(...hubs);
  return hubs;
}

if (!available) {
  const message = `no Redis answers at ${SHARED_REDIS_URL}`;
  if (process.env.CI === 'true') it('request/reply across hubs needs a Redis', () => assert.fail(message));
  else it(`request/reply across hubs skipped: ${message}`, (t) => t.skip(message));
} else {
  describe('request/reply across hubs', () => {
    it('a request on hub B is answered by a WebSocket responder on hub A, over WebSocket and HTTP', async () => {
      const [a, b] = await cluster(2);
      const serving = await responder(a!.url, 'rpc.x.*');
      await knows(b!, 'rpc.x.echo');
      const requester = await connect(b!.url);
      const reply = await requester.request({ op: 'request', channel: 'rpc.x.echo', type: 'q', data: 1, timeoutMs: 5000 });
      assert.deepEqual(reply, { op: 'reply', id: 1, channel: 'rpc.x.echo', data: { echo: 1, by: a!.url } });
      const asked = serving.messages.find((m) => m.op === 'request')!;
      assert.equal(asked.from.clientId, (requester.messages[0] as Message).clientId, 'the responder sees the requester on the other hub');
      assert.deepEqual(await post(b!.url, '/api/channels/rpc.x.echo/requests', { type: 'q', data: 2 }), { status: 200, json: { channel: 'rpc.x.echo', data: { echo: 2, by: a!.url } } });
      assert.equal(a!.hub.waitingRequests + b!.hub.waitingRequests, 0);
      serving.close();
      requester.close();
    });

    it('a request on hub B is answered by an HTTP long-poll responder on hub A', async () => {
      const [a, b] = await cluster(2);
      // The first poll registers the responder on hub A (it stays registered between polls).
      await request('GET', `${a!.url}/api/channels/rpc.poll/requests?wait=0&responder=p1`);
      await knows(b!, 'rpc.poll');
      const answer = post(b!.url, '/api/channels/rpc.poll/requests', { type: 'q', data: 'x', timeoutMs: 10_000 });
      let got: Message[] = [];
      while (got.length === 0) got = JSON.parse((await request('GET', `${a!.url}/api/channels/rpc.poll/requests?wait=5000&responder=p1`)).text).requests;
      assert.equal(got[0]!.data, 'x');
      const replied = await post(a!.url, `/api/channels/rpc.poll/requests/${got[0]!.requestId}/reply`, { data: 'y' });
      assert.equal(replied.status, 200);
      assert.deepEqual(await answer, { status: 200, json: { channel: 'rpc.poll', data: 'y' } });
    });

    it('timeout (504), responder_error (502) and no_responder (503) across hubs, as on one hub', async () => {
      const [a, b] = await cluster(2);
      const silent = await responder(a!.url, 'rpc.silent', () => undefined);
      const refusing = await responder(a!.url, 'rpc.refuse', () => ({ error: 'no such user' }));
      await knows(b!, 'rpc.silent');
      await knows(b!, 'rpc.refuse');
      const started = Date.now();
      const late = await post(b!.url, '/api/channels/rpc.silent/requests', { type: 'q', timeoutMs: 300 });
      assert.deepEqual([late.status, late.json.error.code], [504, 'timeout']);
      assert.ok(Date.now() - started < 3000, 'answered at its timeout, not later');
      const asked = await silent.waitFor((m) => m.op === 'request');
      assert.equal((await silent.request({ op: 'reply', requestId: asked.requestId, data: 1 })).code, 'timeout', 'its late reply is told timeout');
      const refused = await post(b!.url, '/api/channels/rpc.refuse/requests', { type: 'q' });
      assert.deepEqual([refused.status, refused.json.error], [502, { code: 'responder_error', message: 'no such user' }]);
      const requester = await connect(b!.url);
      for (const hub of [a!, b!]) {
        const none = await post(hub.url, '/api/channels/rpc.nobody/requests', { type: 'q' });
        assert.deepEqual([none.status, none.json.error.code], [503, 'no_responder']);
      }
      assert.equal((await requester.request({ op: 'request', channel: 'rpc.nobody', type: 'q' })).code, 'no_responder');
      // A responder that leaves hub A is known to have left: its channel is no_responder on hub B again.
      refusing.close();
      await until(() => !b!.hub.servedElsewhere('rpc.refuse'), 'hub B to hear the responder left');
      assert.equal((await post(b!.url, '/api/channels/rpc.refuse/requests', { type: 'q' })).json.error.code, 'no_responder');
      for (const c of [silent, requester]) c.close();
    });

    it('a requester on hub B that goes away cancels its request on hub A: the responder\'s reply is refused', async () => {
      const [a, b] = await cluster(2);
      const serving = await responder(a!.url, 'rpc.cancel', () => undefined);
      await knows(b!, 'rpc.cancel');
      const requester = await connect(b!.url);
      requester.sendRaw(JSON.stringify({ op: 'request', id: 1, channel: 'rpc.cancel', type: 'q', timeoutMs: 60_000 }));
      const asked = await serving.waitFor((m) => m.op === 'request');
      requester.close();
      await until(() => a!.hub.waitingRequests === 0, 'hub A to end the request');
      assert.equal((await serving.request({ op: 'reply', requestId: asked.requestId, data: 1 })).code, 'not_found');
      serving.close();
    });
  });

  describe('request/reply when a responder\'s hub dies', () => {
    it('a request held by a hub that is SIGKILLed is answered no_responder at once, and the next ones go to a responder on another hub', async () => {
      const prefix = prefixes();
      const [b, c] = await cluster(2, prefix);
      const doomed = await spawnHub(dirs(), ['--redis', SHARED_REDIS_URL, '--redis-prefix', prefix]);
      try {
        const onDoomed = await responder(doomed.url, 'rpc.die', () => undefined);
        await knows(b!, 'rpc.die');
        const started = Date.now();
        const held = post(b!.url, '/api/channels/rpc.die/requests', { type: 'q', timeoutMs: 30_000 });
        await onDoomed.waitFor((m) => m.op === 'request');
        await doomed.kill();
        const answer = await held;
        assert.deepEqual([answer.status, answer.json.error.code], [503, 'no_responder']);
        assert.ok(Date.now() - started < 15_000, `answered after ${Date.now() - started} ms, not at the request's timeout`);

        const survivor = await responder(c!.url, 'rpc.die');
        await until(() => b!.hub.servedElsewhere('rpc.die') && c!.hub.respondersHere('rpc.die') === 'free', 'hub C to serve');
        await knows(b!, 'rpc.die');
        for (let i = 0; i < 4; i++) {
          const replied = await post(b!.url, '/api/channels/rpc.die/requests', { type: 'q', data: i, timeoutMs: 5000 });
          assert.deepEqual(replied, { status: 200, json: { channel: 'rpc.die', data: { echo: i, by: c!.url } } }, `request ${i}`);
        }
        survivor.close();
      } finally {
        await doomed.kill();
      }
    });
  });

  describe('request/reply across hubs when Redis fails', () => {
    it('a request for a responder on another hub is 503 storage_unavailable; one a responder on the same hub serves is still answered', async () => {
      const redis = await startOwnRedis();
      try {
        const a = await startHub({ store: 'redis', redisUrl: redis.url, redisPrefix: 'down' });
        const b = await startHub({ store: 'redis', redisUrl: redis.url, redisPrefix: 'down' });
        open.push(a, b);
        const remote = await responder(a.url, 'rpc.far');
        const local = await responder(b.url, 'rpc.near');
        await knows(b, 'rpc.far');
        assert.equal((await post(b.url, '/api/channels/rpc.far/requests', { type: 'q' })).status, 200);
        await redis.stop();
        const far = await post(b.url, '/api/channels/rpc.far/requests', { type: 'q', timeoutMs: 5000 });
        assert.deepEqual([far.status, far.json.error?.code], [503, 'storage_unavailable']);
        const near = await post(b.url, '/api/channels/rpc.near/requests', { type: 'q', data: 7 });
        assert.deepEqual(near, { status: 200, json: { channel: 'rpc.near', data: { echo: 7, by: b.url } } });
        remote.close();
        local.close();
      } finally {
        await redis.stop();
      }
    });
  });
}
