import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloseCodes } from '@herald/protocol';
import { DEFAULT_DIRECT_LIMITS, MAX_AWAY_CLIENTS } from '../src/direct/mailbox.js';
import { mintToken } from '../src/index.js';
import { Bystander } from './support/bystander.js';
import { bearer, getJson, postEvents, request, startHub, type TestHub } from './support/hub.js';
import { until } from './support/process.js';
import { TestClient, type Message } from './support/ws-client.js';

const SECRET = 'direct-test-secret-that-is-long-enough-0123456789';

/** POST /api/clients/{to}/events. */
async function sendHttp(hub: TestHub, to: string, event: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const { status, text } = await request('POST', `${hub.url}/api/clients/${encodeURIComponent(to)}/events`, typeof event === 'string' ? event : JSON.stringify(event), headers);
  return { status, json: JSON.parse(text) };
}

async function connectAs(hub: TestHub, clientId: string, headers: Record<string, string> = {}): Promise<TestClient> {
  const client = await TestClient.connect(hub.url, `?clientId=${encodeURIComponent(clientId)}`, { headers });
  const hello = await client.waitFor((m) => m.op === 'hello');
  assert.equal(hello.clientId, clientId);
  return client;
}

/** Closes a client and waits until the hub holds its id as away (so what is sent next is kept, not written to a closing socket). */
async function leave(hub: TestHub, client: TestClient, clientId: string): Promise<void> {
  client.close();
  await client.closed;
  await until(() => hub.hub.direct.isAway(clientId), `the hub to see ${clientId} leave`);
}

const directs = (client: TestClient) => client.messages.filter((m) => m.op === 'direct');
const ns = (messages: Message[]) => messages.map((m) => m.event.data.n);

/** A ping's pong: the hub has written everything it sent this client before it. */
const settled = (client: TestClient) => client.request({ op: 'ping' });

describe('direct messages', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub();
  });
  after(() => hub.dispose());

  it('reach only their client: not a subscriber of every channel, not any history or channel list', async () => {
    const alice = await connectAs(hub, 'alice-1');
    const watcher = await TestClient.connect(hub.url);
    assert.equal((await watcher.request({ op: 'subscribe', channel: '>' })).op, 'subscribed');
    const sender = await TestClient.connect(hub.url);
    const senderId = (await sender.waitFor((m) => m.op === 'hello')).clientId;

    const sent = await sender.request({ op: 'send', to: 'alice-1', event: { type: 'secret', data: { n: 1 } } });
    assert.deepEqual(sent, { op: 'sent', id: 1, to: 'alice-1', status: 'delivered' });
    const http = await sendHttp(hub, 'alice-1', { type: 'secret', data: { n: 2 } });
    assert.deepEqual([http.status, http.json], [200, { to: 'alice-1', status: 'delivered' }]);

    const [first, second] = [await alice.waitFor((m) => m.op === 'direct'), await alice.waitFor((m) => m.op === 'direct' && m.event.data.n === 2)];
    assert.deepEqual(first.from, { clientId: senderId });
    assert.deepEqual(first.event, { type: 'secret', severity: 'info', data: { n: 1 } });
    assert.equal(typeof first.time, 'number');
    assert.deepEqual(second.from, {}, 'over HTTP there is no sending client id (and no user on an open hub)');

    // Published after the sends: once the watcher has it, it would have had anything sent before.
    assert.equal((await postEvents(hub.url, 'after.sends', { type: 'marker' })).status, 201);
    await watcher.waitForEvents(1, 'after.sends');
    assert.deepEqual(watcher.messages.filter((m) => m.op === 'direct' || m.event?.type === 'secret'), []);
    const newest = await getJson(`${hub.url}/api/channels/${encodeURIComponent('>')}/events?limit=1000`);
    assert.deepEqual(newest.json.events.filter((e: any) => e.event.type === 'secret'), [], 'no direct message is stored');
    const channels = await getJson(`${hub.url}/api/channels?prefix=clients`);
    assert.deepEqual(channels.json.channels, [], 'no clients.<id> channel was made');
    for (const c of [alice, watcher, sender]) c.close();
  });

  it('answers delivered, queued and unknown_client over WebSocket and HTTP; the kept mail arrives once, in order, after hello', async () => {
    const bob = await connectAs(hub, 'bob-1');
    const sender = await TestClient.connect(hub.url);
    assert.equal((await sender.request({ op: 'send', to: 'bob-1', event: { type: 'm', data: { n: 0 } } })).status, 'delivered');
    await leave(hub, bob, 'bob-1');

    assert.deepEqual(await sender.request({ op: 'send', to: 'bob-1', event: { type: 'm', data: { n: 1 } } }), { op: 'sent', id: 2, to: 'bob-1', status: 'queued' });
    const http = await sendHttp(hub, 'bob-1', { type: 'm', data: { n: 2 } });
    assert.deepEqual([http.status, http.json], [202, { to: 'bob-1', status: 'queued' }]);
    const unknown = await sender.request({ op: 'send', to: 'nobody-here', event: { type: 'm' } });
    assert.equal(unknown.code, 'unknown_client');
    const unknownHttp = await sendHttp(hub, 'nobody-here', { type: 'm' });
    assert.deepEqual([unknownHttp.status, unknownHttp.json.error.code], [404, 'unknown_client']);

    const back = await TestClient.connect(hub.url, '?clientId=bob-1');
    await back.waitFor((m) => m.op === 'direct' && m.event.data.n === 2);
    await settled(back);
    assert.equal(back.messages[0]!.op, 'hello', 'the kept mail comes right after hello');
    assert.deepEqual(ns(directs(back)), [1, 2]);
    assert.equal((await sender.request({ op: 'send', to: 'bob-1', event: { type: 'm', data: { n: 3 } } })).status, 'delivered');
    await back.waitFor((m) => m.op === 'direct' && m.event.data.n === 3);
    assert.deepEqual(ns(directs(back)), [1, 2, 3], 'each message exactly once');
    assert.deepEqual(hub.hub.direct.queued, { messages: 0, bytes: 0 });
    back.close();
    sender.close();
  });

  it('refuses bad input with documented codes', async () => {
    const client = await TestClient.connect(hub.url);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ event: { type: 'x' } }, 'bad_request'],
      [{ to: '', event: { type: 'x' } }, 'bad_request'],
      [{ to: 'has space', event: { type: 'x' } }, 'bad_request'],
      [{ to: 'x'.repeat(65), event: { type: 'x' } }, 'bad_request'],
      [{ to: 42, event: { type: 'x' } }, 'bad_request'],
      [{ to: 'someone' }, 'bad_request'],
      [{ to: 'someone', event: { data: 1 } }, 'invalid_event'],
      [{ to: 'someone', event: { type: 'x', data: 'd'.repeat(70_000) } }, 'too_large'],
    ];
    for (const [command, code] of cases) assert.equal((await client.request({ op: 'send', ...command })).code, code, JSON.stringify(command).slice(0, 80));
    assert.equal((await sendHttp(hub, 'someone', [{ type: 'x' }])).json.error.code, 'bad_request', 'one event per direct message');
    assert.equal((await sendHttp(hub, 'someone', { data: 1 })).json.error.code, 'invalid_event');
    assert.equal((await sendHttp(hub, 'has space', { type: 'x' })).json.error.code, 'bad_request');
    assert.equal((await sendHttp(hub, 'someone', '{"type":')).status, 400);
    client.close();
  });

  it('a new connection with the same id and credentials takes the id over: the old one is closed with 4006, the mail goes to the new one', async () => {
    const old = await connectAs(hub, 'worker-9');
    const replacement = await connectAs(hub, 'worker-9');
    assert.equal((await old.closed).code, CloseCodes.replaced.code);
    assert.equal((await sendHttp(hub, 'worker-9', { type: 'm', data: { n: 1 } })).json.status, 'delivered');
    await replacement.waitFor((m) => m.op === 'direct');
    assert.deepEqual(directs(old), []);
    replacement.close();
  });
});

describe('direct message queues are bounded', () => {
  it(`keeps at most --direct-queue-count per away id: the oldest are dropped`, async () => {
    const hub = await startHub({ directQueueCount: 3 });
    try {
      await leave(hub, await connectAs(hub, 'away-1'), 'away-1');
      for (let n = 1; n <= 5; n++) assert.equal((await sendHttp(hub, 'away-1', { type: 'm', data: { n } })).status, 202);
      assert.equal(hub.hub.direct.queued.messages, 3);
      const back = await connectAs(hub, 'away-1');
      await settled(back);
      assert.deepEqual(ns(directs(back)), [3, 4, 5]);
      back.close();
    } finally {
      await hub.dispose();
    }
  });

  it('keeps --direct-queue-bytes over all ids: the oldest of any id are dropped', async () => {
    const hub = await startHub({ maxMessageBytes: 1024, directQueueBytes: 2048 });
    try {
      await leave(hub, await connectAs(hub, 'a-1'), 'a-1');
      await leave(hub, await connectAs(hub, 'b-1'), 'b-1');
      const event = (n: number) => ({ type: 'm', data: { n, pad: 'p'.repeat(600) } });
      for (const n of [1, 2, 3]) assert.equal((await sendHttp(hub, 'a-1', event(n))).status, 202);
      for (const n of [4, 5]) assert.equal((await sendHttp(hub, 'b-1', event(n))).status, 202);
      assert.ok(hub.hub.direct.queued.bytes <= 2048, `${hub.hub.direct.queued.bytes} bytes kept`);
      const a = await connectAs(hub, 'a-1');
      const b = await connectAs(hub, 'b-1');
      await Promise.all([settled(a), settled(b)]);
      assert.deepEqual(ns(directs(a)), [3], 'the two oldest of all (of a-1) went first');
      assert.deepEqual(ns(directs(b)), [4, 5]);
      a.close();
      b.close();
    } finally {
      await hub.dispose();
    }
  });

  it('keeps mail --direct-queue-ms after the client left: then unknown_client, and its box is freed without a send', async () => {
    // Long enough for one loopback request between the leave and the send (the only timing assumed).
    const hub = await startHub({ directQueueMs: 1000 });
    try {
      await leave(hub, await connectAs(hub, 'gone-2'), 'gone-2');
      await leave(hub, await connectAs(hub, 'gone-1'), 'gone-1');
      assert.equal((await sendHttp(hub, 'gone-1', { type: 'm' })).status, 202);
      // Freed by the hub's one sweep timer, not by a send that looks.
      await until(() => hub.hub.direct.size === 0, 'both boxes to be freed');
      assert.deepEqual(hub.hub.direct.queued, { messages: 0, bytes: 0 });
      assert.equal((await sendHttp(hub, 'gone-1', { type: 'm' })).json.error.code, 'unknown_client');
      const back = await connectAs(hub, 'gone-1');
      await settled(back);
      assert.deepEqual(directs(back), [], 'mail past the window is not delivered');
      back.close();
    } finally {
      await hub.dispose();
    }
  });

  it(`holds at most ${MAX_AWAY_CLIENTS} away client ids: past it the longest away is forgotten`, async () => {
    const hub = await startHub();
    try {
      hub.hub.direct.configure({ ...DEFAULT_DIRECT_LIMITS, maxAway: 2 });
      for (const id of ['churn-1', 'churn-2', 'churn-3']) {
        const client = await connectAs(hub, id);
        client.close();
        await client.closed;
        await until(() => hub.hub.direct.isAway(id), `${id} to be away`);
      }
      assert.equal(hub.hub.direct.size, 2);
      assert.equal((await sendHttp(hub, 'churn-1', { type: 'm' })).json.error.code, 'unknown_client');
      assert.equal((await sendHttp(hub, 'churn-3', { type: 'm' })).status, 202);
    } finally {
      await hub.dispose();
    }
  });

  it('turns queueing off with 0: a send to an away id is unknown_client', async () => {
    const hub = await startHub({ directQueueMs: 0 });
    try {
      const client = await connectAs(hub, 'off-1');
      client.close();
      await client.closed;
      await until(() => hub.hub.direct.size === 0, 'the box to go with the connection');
      assert.equal((await sendHttp(hub, 'off-1', { type: 'm' })).json.error.code, 'unknown_client');
    } finally {
      await hub.dispose();
    }
  });

  it('counts sends against the publish rate limits', async () => {
    // One event a second after a burst of 1 000: the refill while the frame is handled is at most one.
    const hub = await startHub({ maxEventsPerSecond: 1, maxEventsBurst: 1000 });
    try {
      await connectAs(hub, 'rated-1');
      const sender = await TestClient.connect(hub.url);
      sender.sendRaw(JSON.stringify(Array.from({ length: 1050 }, () => ({ op: 'send', to: 'rated-1', event: { type: 'm' } }))));
      await settled(sender);
      const refused = sender.messages.filter((m) => m.code === 'rate_limited');
      assert.ok(refused.length >= 49 && refused.length <= 50, `${refused.length} refused`);
      assert.equal(typeof refused[0]!.retryAfterMs, 'number');
      sender.close();
    } finally {
      await hub.dispose();
    }
  });

  it('a bystander keeps getting its events while a client floods sends at an away id; the queue stays within its bounds', async () => {
    const hub = await startHub({ maxEventsPerSecond: 0, maxIpEventsPerSecond: 0, directQueueCount: 50 });
    const bystander = await Bystander.start(hub.url);
    try {
      await leave(hub, await connectAs(hub, 'target-1'), 'target-1');
      const flooder = await TestClient.connect(hub.url);
      await settled(flooder);
      const boxes = hub.hub.direct.size;
      for (let round = 0; round < 10; round++) {
        const batch = Array.from({ length: 500 }, (_, i) => ({ op: 'send', to: i % 10 === 0 ? `unknown-${i}` : 'target-1', event: { type: 'flood', data: { pad: 'f'.repeat(1000) } } }));
        flooder.sendRaw(JSON.stringify(batch));
        await bystander.mark();
        assert.ok(hub.hub.direct.queued.messages <= 50, `${hub.hub.direct.queued.messages} kept`);
      }
      await settled(flooder);
      const answers = flooder.messages.filter((m) => m.op === 'sent' || m.op === 'error');
      assert.equal(answers.length, 5000);
      assert.equal(answers.filter((m) => m.code === 'unknown_client').length, 500);
      assert.deepEqual(hub.hub.direct.queued.messages, 50);
      assert.equal(hub.hub.direct.size, boxes, 'unknown ids leave nothing behind');
      await bystander.verify();
      flooder.close();
    } finally {
      await hub.dispose();
    }
  });
});

describe('direct messages with credentials required', () => {
  let hub: TestHub;
  let admin: string;
  let teamA: string;
  let nobody: string;
  const token = (subject: string, publish: string[] = [], adminGrant = false) => mintToken(SECRET, { subject, grant: { subscribe: [], publish, admin: adminGrant }, ttlSeconds: 600 });
  before(async () => {
    hub = await startHub({ jwtSecret: SECRET });
    admin = await token('root', [], true);
    teamA = await token('dispatcher', ['clients.team-a.>']);
    nobody = await token('nobody');
  });
  after(() => hub.dispose());

  it('sending to client id X takes publish on clients.X (checked before the id is looked up); admin may message anyone', async () => {
    const worker = await connectAs(hub, 'team-a.w1', bearer(nobody));
    const other = await connectAs(hub, 'team-b.w1', bearer(nobody));
    const colon = await connectAs(hub, 'host:7', bearer(nobody));
    const sender = await TestClient.connect(hub.url, '', { headers: bearer(teamA) });
    const senderId = (await sender.waitFor((m) => m.op === 'hello')).clientId;

    assert.equal((await sender.request({ op: 'send', to: 'team-a.w1', event: { type: 'job' } })).status, 'delivered');
    const received = await worker.waitFor((m) => m.op === 'direct');
    assert.deepEqual(received.from, { clientId: senderId, user: 'dispatcher' });
    assert.equal((await sender.request({ op: 'send', to: 'team-a.nobody-here', event: { type: 'job' } })).code, 'unknown_client');
    for (const to of ['team-b.w1', 'team-b.not-connected', 'host:7', 'team-a']) {
      assert.equal((await sender.request({ op: 'send', to, event: { type: 'job' } })).code, 'forbidden', to);
      assert.equal((await sendHttp(hub, to, { type: 'job' }, bearer(teamA))).status, 403, to);
    }
    assert.equal((await sendHttp(hub, 'team-a.w1', { type: 'job' }, bearer(teamA))).json.status, 'delivered');
    assert.equal((await sendHttp(hub, 'team-a.w1', { type: 'job' })).status, 401, 'no credentials');
    for (const to of ['team-b.w1', 'host:7']) {
      const answer = await sendHttp(hub, to, { type: 'job' }, bearer(admin));
      assert.deepEqual([answer.status, answer.json.status], [200, 'delivered'], to);
    }
    const adminHttp = await other.waitFor((m) => m.op === 'direct');
    assert.deepEqual(adminHttp.from, { user: 'root' });
    await colon.waitFor((m) => m.op === 'direct');
    for (const c of [worker, other, colon, sender]) c.close();
  });

  it('mail kept for an away client id goes only to a reconnect with the same credentials; another credential with that id gets nothing', async () => {
    const alice = await token('alice');
    const mallory = await token('mallory');
    await leave(hub, await connectAs(hub, 'inbox-1', bearer(alice)), 'inbox-1');
    assert.equal((await sendHttp(hub, 'inbox-1', { type: 'm', data: { n: 1 } }, bearer(admin))).json.status, 'queued');

    // Mallory may take the id (ids are scoped to credentials: nobody locks another out), but not the mail.
    const squatter = await connectAs(hub, 'inbox-1', bearer(mallory));
    assert.equal((await sendHttp(hub, 'inbox-1', { type: 'm', data: { n: 2 } }, bearer(admin))).json.status, 'queued', 'still kept for alice');
    await settled(squatter);
    assert.deepEqual(directs(squatter), []);

    const back = await connectAs(hub, 'inbox-1', bearer(alice));
    await settled(back);
    assert.deepEqual(ns(directs(back)), [1, 2]);
    assert.equal((await sendHttp(hub, 'inbox-1', { type: 'm', data: { n: 3 } }, bearer(admin))).json.status, 'delivered');
    await back.waitFor((m) => m.op === 'direct' && m.event.data.n === 3);
    await settled(squatter);
    assert.deepEqual(directs(squatter), [], 'live mail goes to the owner only');
    assert.equal(squatter.ws.readyState, squatter.ws.OPEN, 'another credential does not replace the connection');
    squatter.close();
    back.close();
  });
});
