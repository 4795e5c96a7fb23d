import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Defaults } from '@herald/protocol';
import { mintToken } from '../src/index.js';
import { Bystander } from './support/bystander.js';
import { bearer, getJson, postEvents, request, startHub, type TestHub } from './support/hub.js';
import { SseReader } from './support/sse-reader.js';
import { TestClient, type Message } from './support/ws-client.js';

const SECRET = 'presence-test-secret-that-is-long-enough-0123';

async function connect(hub: TestHub, clientId: string): Promise<TestClient> {
  const client = await TestClient.connect(hub.url, `?clientId=${clientId}`);
  await client.waitFor((m) => m.op === 'hello');
  return client;
}

async function subscribed(client: TestClient, command: Message): Promise<void> {
  const reply = await client.request({ op: 'subscribe', ...command });
  assert.equal(reply.op, 'subscribed', JSON.stringify(reply));
}

const ids = (clients: Array<{ clientId: string }>) => clients.map((c) => c.clientId);
/** The client ids a WebSocket watcher heard join or leave, in order. */
const heard = (client: TestClient, op: 'join' | 'leave') => client.messages.filter((m) => m.op === op).map((m) => m.client.clientId);
const heardSse = (reader: SseReader, op: 'join' | 'leave') => reader.named(op).map((m) => m.data.client.clientId);

describe('presence: who is subscribed to a channel', () => {
  let hub: TestHub;
  before(async () => (hub = await startHub()));
  after(() => hub.dispose());

  it('lists three clients coming and going (WebSocket and SSE), and tells WebSocket and SSE watchers each join and leave once', async () => {
    const channel = 'p.room';
    const watcher = await connect(hub, 'watcher');
    await subscribed(watcher, { channel, presence: true });
    const sseWatcher = await SseReader.open(`${hub.url}/api/channels/${channel}/stream?presence=1`);
    const sseWatcherId = (await sseWatcher.waitFor((m) => m.event === 'subscribed')).data.clientId as string;
    assert.match(sseWatcherId, /^[0-9a-f-]{36}$/, 'an SSE stream is given a client id, told in its subscribed event');
    await watcher.waitFor((m) => m.op === 'join' && m.client.clientId === sseWatcherId, 'the SSE watcher joining');

    // Three clients come: two WebSocket connections and an SSE stream (which did not ask for presence).
    const alpha = await connect(hub, 'alpha');
    await subscribed(alpha, { channel });
    const beta = await connect(hub, 'beta');
    await subscribed(beta, { channel });
    const stream = await SseReader.open(`${hub.url}/api/channels/${channel}/stream`);
    const streamId = (await stream.waitFor((m) => m.event === 'subscribed')).data.clientId as string;
    for (const id of ['alpha', 'beta', streamId]) {
      await watcher.waitFor((m) => m.op === 'join' && m.client.clientId === id, `${id} joining (WebSocket watcher)`);
      await sseWatcher.waitFor((m) => m.event === 'join' && m.data.client.clientId === id, `${id} joining (SSE watcher)`);
    }
    const streamJoin = watcher.messages.find((m) => m.op === 'join' && m.client.clientId === streamId)!;
    assert.deepEqual(Object.keys(streamJoin).sort(), ['channel', 'client', 'op']);
    assert.equal(streamJoin.channel, channel);
    assert.equal(streamJoin.client.transport, 'sse');
    assert.equal(streamJoin.client.user, undefined, 'an open hub names no users');

    const everyone = ['watcher', sseWatcherId, 'alpha', 'beta', streamId];
    const overWs = await alpha.request({ op: 'presence', channel });
    assert.equal(overWs.op, 'presence');
    assert.equal(overWs.channel, channel);
    assert.equal(overWs.count, 5);
    assert.deepEqual(ids(overWs.clients), everyone, 'oldest subscription first');
    assert.equal(overWs.next, undefined, 'one page holds them all');
    assert.deepEqual(overWs.clients.map((c: Message) => c.transport), ['websocket', 'sse', 'websocket', 'websocket', 'sse']);
    for (const [i, entry] of overWs.clients.entries()) {
      assert.ok(Number.isInteger(entry.since) && entry.since <= Date.now() && (i === 0 || entry.since >= overWs.clients[i - 1].since), 'since: when each subscription began');
    }
    const overHttp = await getJson(`${hub.url}/api/channels/${channel}/presence`);
    assert.equal(overHttp.status, 200);
    assert.deepEqual(overHttp.json, { channel, count: 5, clients: overWs.clients, next: null });

    // They go: an unsubscribe, an SSE stream closed by its reader, a WebSocket connection closed.
    assert.equal((await beta.request({ op: 'unsubscribe', channel })).op, 'unsubscribed');
    stream.close();
    alpha.close();
    for (const id of ['beta', streamId, 'alpha']) {
      await watcher.waitFor((m) => m.op === 'leave' && m.client.clientId === id, `${id} leaving (WebSocket watcher)`);
      await sseWatcher.waitFor((m) => m.event === 'leave' && m.data.client.clientId === id, `${id} leaving (SSE watcher)`);
    }
    const left = await watcher.request({ op: 'presence', channel });
    assert.equal(left.count, 2);
    assert.deepEqual(ids(left.clients), ['watcher', sseWatcherId]);

    // Each change once, none about the watcher itself; SSE join/leave carry no id (Last-Event-ID is untouched).
    assert.deepEqual(heard(watcher, 'join'), [sseWatcherId, 'alpha', 'beta', streamId]);
    assert.deepEqual(heard(watcher, 'leave'), ['beta', streamId, 'alpha']);
    assert.deepEqual(heardSse(sseWatcher, 'join'), ['alpha', 'beta', streamId]);
    assert.deepEqual(heardSse(sseWatcher, 'leave'), ['beta', streamId, 'alpha']);
    assert.ok([...sseWatcher.named('join'), ...sseWatcher.named('leave')].every((m) => m.id === undefined));
    const leaveOfBeta = watcher.messages.find((m) => m.op === 'leave' && m.client.clientId === 'beta')!;
    assert.deepEqual(leaveOfBeta.client, overWs.clients[3], 'a leave carries the entry its join did');
    sseWatcher.close();
    watcher.close();
    beta.close();
  });

  it('counts exact subscribers as watching in /api/channels, and lists no pattern subscriber', async () => {
    const channel = 'p.counted';
    await postEvents(hub.url, channel, { type: 'x' });
    const dashboard = await connect(hub, 'dashboard');
    await subscribed(dashboard, { channel: 'p.>' });
    const viewer = await connect(hub, 'viewer');
    await subscribed(viewer, { channel });
    const presence = await viewer.request({ op: 'presence', channel });
    assert.deepEqual(ids(presence.clients), ['viewer'], 'the pattern subscriber is not watching the channel');
    const list = await getJson(`${hub.url}/api/channels?prefix=p.counted`);
    const row = list.json.channels.find((c: Message) => c.name === channel);
    assert.equal(row.subscribers, 2, 'subscribers still counts every matching subscription');
    assert.equal(row.watching, 1);
    dashboard.close();
    viewer.close();
  });

  it('refuses a presence question or flag it cannot answer, with a code and a sentence', async () => {
    const client = await connect(hub, 'asker');
    const cases: Array<[Message, string]> = [
      [{ op: 'presence', channel: 'p.>' }, 'bad_request'],
      [{ op: 'presence', channel: 'a..b' }, 'invalid_channel'],
      [{ op: 'presence' }, 'invalid_channel'],
      [{ op: 'presence', channel: 'p.x', limit: 0 }, 'bad_request'],
      [{ op: 'presence', channel: 'p.x', limit: Defaults.maxPresencePage + 1 }, 'bad_request'],
      [{ op: 'presence', channel: 'p.x', limit: 1.5 }, 'bad_request'],
      [{ op: 'presence', channel: 'p.x', after: 'abc' }, 'bad_request'],
      [{ op: 'presence', channel: 'p.x', after: 5 }, 'bad_request'],
      [{ op: 'subscribe', channel: 'p.*', presence: true }, 'bad_request'],
      [{ op: 'subscribe', channel: 'p.x', presence: 'yes' }, 'bad_request'],
    ];
    for (const [command, code] of cases) {
      const reply = await client.request(command);
      assert.equal(reply.op, 'error', JSON.stringify(command));
      assert.equal(reply.code, code, JSON.stringify(command));
      assert.ok(reply.message.length > 10);
    }
    for (const query of ['limit=0', 'limit=101', 'after=x', 'after=-1', 'after=0']) {
      const res = await request('GET', `${hub.url}/api/channels/p.x/presence?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(JSON.parse(res.text).error.code, 'bad_request', query);
    }
    assert.equal((await request('GET', `${hub.url}/api/channels/p.%3E/presence`)).status, 400);
    for (const query of ['presence=yes', 'presence=1&x']) {
      const res = await request('GET', `${hub.url}/api/channels/${query.includes('x') ? 'p.*' : 'p.x'}/stream?${query.replace('&x', '')}`);
      assert.equal(res.status, 400, query);
    }
    // An empty channel: nobody, and no next.
    assert.deepEqual((await getJson(`${hub.url}/api/channels/p.empty/presence`)).json, { channel: 'p.empty', count: 0, clients: [], next: null });
    client.close();
  });
});

describe('presence: a crowded channel answers a page at a time', () => {
  let hub: TestHub;
  const crowd: TestClient[] = [];
  const CROWD = 200;
  before(async () => {
    hub = await startHub();
    for (let i = 0; i < CROWD; i++) {
      const client = await connect(hub, `c${String(i).padStart(3, '0')}`);
      await subscribed(client, { channel: 'p.crowd' });
      crowd.push(client);
    }
  });
  after(async () => {
    for (const client of crowd) client.close();
    await hub.dispose();
  });

  it(`with ${CROWD} watchers: count, a page, and next — each subscriber once, in order, while some leave between pages`, async () => {
    const first = await crowd[0]!.request({ op: 'presence', channel: 'p.crowd' });
    assert.equal(first.count, CROWD);
    assert.equal(first.clients.length, Defaults.maxPresencePage, 'the default page is the largest page');
    assert.equal(typeof first.next, 'string');

    const seen: string[] = [];
    const url = (after: string | null) => `${hub.url}/api/channels/p.crowd/presence?limit=7${after ? `&after=${after}` : ''}`;
    let page = (await getJson(url(null))).json;
    seen.push(...ids(page.clients));
    // Between the first and second page, five that were listed and five not yet listed leave.
    const leaving = [1, 3, 5, 150, 151, 152, 190, 197, 198, 199];
    for (const i of leaving) assert.equal((await crowd[i]!.request({ op: 'unsubscribe', channel: 'p.crowd' })).op, 'unsubscribed');
    let pages = 1;
    while (page.next !== null) {
      page = (await getJson(url(page.next))).json;
      assert.equal(page.count, CROWD - leaving.length);
      assert.ok(page.clients.length <= 7);
      seen.push(...ids(page.clients));
      pages++;
    }
    const expected = crowd.map((_, i) => `c${String(i).padStart(3, '0')}`).filter((_, i) => i < 7 || !leaving.includes(i));
    assert.deepEqual(seen, expected, 'everyone still there listed once, in order; nobody who left before their page');
    assert.equal(pages, 1 + Math.ceil((expected.length - 7) / 7), 'full pages until the last');
  });
});

describe('presence: a flood of subscribes to a watched channel is bounded', () => {
  it('charges each subscribe to a watched channel two events of the rate, so watchers hear a bounded number of joins and a bystander keeps getting its events', async () => {
    const RATE = 200;
    const BURST = 1000;
    const hub = await startHub({ maxEventsPerSecond: RATE, maxEventsBurst: BURST, maxIpEventsPerSecond: 0 });
    try {
      const bystander = await Bystander.start(hub.url);
      const watchers: TestClient[] = [];
      for (let i = 0; i < 10; i++) {
        const watcher = await connect(hub, `w${i}`);
        await subscribed(watcher, { channel: 'p.busy', presence: true });
        watchers.push(watcher);
      }
      const flooder = await connect(hub, 'flooder');
      const started = Date.now();
      let refused = 0;
      let admitted = 0;
      for (let round = 0; round < 20; round++) {
        // 50 subscribe/unsubscribe pairs per frame, as fast as the hub answers them.
        const frame = Array.from({ length: 50 }, (_, i) => [
          { op: 'subscribe', channel: 'p.busy', id: `s${round}-${i}` },
          { op: 'unsubscribe', channel: 'p.busy', id: `u${round}-${i}` },
        ]).flat();
        flooder.sendRaw(JSON.stringify(frame));
        await bystander.mark();
        await flooder.waitFor((m) => m.id === `s${round}-49`);
        await flooder.waitFor((m) => m.id === `u${round}-49`);
      }
      const elapsedSeconds = (Date.now() - started) / 1000;
      for (const m of flooder.messages) {
        if (typeof m.id !== 'string' || !m.id.startsWith('s')) continue;
        if (m.code === 'rate_limited') {
          assert.ok(m.retryAfterMs > 0);
          refused++;
          // Admitted, and unsubscribed before its start was answered.
        } else if (m.code === 'not_subscribed' || m.op === 'subscribed') admitted++;
      }
      assert.equal(admitted + refused, 1000);
      assert.ok(refused > 0, 'the flood was refused past the rate');
      console.log(`# presence flood: ${admitted} of 1000 subscribes admitted, ${refused} refused (rate_limited) in ${elapsedSeconds.toFixed(2)} s`);
      // Two tokens per admitted subscribe, from a bucket of BURST refilled at RATE per second.
      assert.ok(admitted * 2 <= BURST + RATE * elapsedSeconds + 2, `${admitted} subscribes admitted in ${elapsedSeconds} s`);
      await bystander.verify();
      // Every watcher heard exactly the admitted joins and leaves (and nothing was lost on the way).
      const pong = await Promise.all(watchers.map((w) => w.request({ op: 'ping' })));
      assert.equal(pong.length, 10);
      for (const watcher of watchers) {
        const joins = watcher.messages.filter((m) => m.op === 'join' && m.client.clientId === 'flooder').length;
        const leaves = watcher.messages.filter((m) => m.op === 'leave' && m.client.clientId === 'flooder').length;
        assert.equal(joins, admitted);
        assert.equal(leaves, admitted);
      }
      for (const client of [...watchers, flooder]) client.close();
    } finally {
      await hub.dispose();
    }
  });
});

describe('presence with credentials: follows the access policy', () => {
  let hub: TestHub;
  let alice: string;
  let bob: string;
  let nobody: string;
  before(async () => {
    hub = await startHub({ jwtSecret: SECRET });
    alice = await mintToken(SECRET, { subject: 'alice', grant: { subscribe: ['runs.team-a.>'], publish: ['runs.team-a.>'], admin: false }, ttlSeconds: 600 });
    bob = await mintToken(SECRET, { subject: 'bob', grant: { subscribe: ['runs.team-b.>'], publish: ['runs.team-b.>'], admin: false }, ttlSeconds: 600 });
    nobody = await mintToken(SECRET, { subject: 'nobody', grant: { subscribe: [], publish: [], admin: false }, ttlSeconds: 600 });
  });
  after(() => hub.dispose());

  async function signedIn(token: string): Promise<TestClient> {
    const client = await TestClient.connect(hub.url);
    client.sendRaw(JSON.stringify({ op: 'auth', token }));
    await client.waitFor((m) => m.op === 'hello');
    return client;
  }

  it('a token allowed team-a sees team-a presence with subject names, not team-b; a zero-grant token sees nothing (WebSocket and HTTP)', async () => {
    const a = await signedIn(alice);
    await subscribed(a, { channel: 'runs.team-a.build', presence: true });
    const b = await SseReader.open(`${hub.url}/api/channels/runs.team-b.build/stream`, bearer(bob));
    const bobsId = (await b.waitFor((m) => m.event === 'subscribed')).data.clientId;
    const aliceSse = await SseReader.open(`${hub.url}/api/channels/runs.team-a.build/stream`, bearer(alice));
    const join = await a.waitFor((m) => m.op === 'join');
    assert.equal(join.client.user, 'alice', 'entries name the credential when the hub requires one');
    assert.equal(join.client.transport, 'sse');
    aliceSse.close();
    await a.waitFor((m) => m.op === 'leave');

    const own = await a.request({ op: 'presence', channel: 'runs.team-a.build' });
    assert.equal(own.op, 'presence');
    assert.equal(own.clients[0].user, 'alice');
    const other = await a.request({ op: 'presence', channel: 'runs.team-b.build' });
    assert.equal(other.code, 'forbidden');
    assert.equal((await a.request({ op: 'subscribe', channel: 'runs.team-b.build', presence: true })).code, 'forbidden');

    const overHttp = await getJson(`${hub.url}/api/channels/runs.team-b.build/presence`, bearer(bob));
    assert.equal(overHttp.status, 200);
    assert.deepEqual(overHttp.json.clients.map((c: Message) => [c.clientId, c.user, c.transport]), [[bobsId, 'bob', 'sse']]);
    assert.equal((await request('GET', `${hub.url}/api/channels/runs.team-b.build/presence`, undefined, bearer(alice))).status, 403);

    const zero = await signedIn(nobody);
    assert.equal((await zero.request({ op: 'presence', channel: 'runs.team-a.build' })).code, 'forbidden');
    assert.equal((await request('GET', `${hub.url}/api/channels/runs.team-a.build/presence`, undefined, bearer(nobody))).status, 403);
    assert.equal((await request('GET', `${hub.url}/api/channels/runs.team-a.build/presence`)).status, 401);

    // The channel list's watching count is only shown for channels the caller may read.
    assert.equal((await postEvents(hub.url, 'runs.team-a.build', { type: 'x' })).status, 401);
    const published = await request('POST', `${hub.url}/api/channels/runs.team-a.build/events`, '{"type":"x"}', bearer(alice));
    assert.equal(published.status, 201);
    const list = await getJson(`${hub.url}/api/channels`, bearer(alice));
    assert.deepEqual(list.json.channels.map((c: Message) => [c.name, c.watching]), [['runs.team-a.build', 1]]);
    b.close();
    a.close();
    zero.close();
  });
});
