import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CloseCodes, shouldReconnect } from '@herald/protocol';
import type { HeraldConfig } from '../src/index.js';
import { Bystander } from './support/bystander.js';
import { getJson, postEvents, startHub, type TestHub } from './support/hub.js';
import { TestClient } from './support/ws-client.js';

/** An HTTP request from another loopback address (127.0.0.0/8 all reaches the hub): another client, as far as per-address quotas go. */
function requestFrom(localAddress: string, method: string, url: string, body?: string): Promise<{ status: number; json: any; headers: import('node:http').IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent: false, localAddress, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, json: text.startsWith('{') ? JSON.parse(text) : text, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const event = (n = 0) => ({ type: 'log', data: { n } });
const publish = (client: TestClient, channel: string, n = 0) => client.request({ op: 'publish', channel, event: event(n) });

/** A hub with `config` and a bystander subscribed throughout, which must get every marker. */
function withHub(config: Partial<HeraldConfig>): { hub: () => TestHub; bystander: () => Bystander } {
  let hub: TestHub;
  let bystander: Bystander;
  before(async () => {
    hub = await startHub(config);
    bystander = await Bystander.start(hub.url);
  });
  after(async () => {
    await bystander.verify();
    await hub.dispose();
  });
  return { hub: () => hub, bystander: () => bystander };
}

describe('channel and run quotas', () => {
  // The bystander's channel is one of the 4.
  const { hub, bystander } = withHub({ maxChannels: 4, maxNewChannelsPerMinute: 0 });

  it('refuses a channel past --max-channels with 507 quota_exceeded (HTTP and WebSocket); existing channels carry on', async () => {
    await bystander().mark();
    for (const name of ['c1', 'c2', 'c3']) assert.equal((await postEvents(hub().url, name, event())).status, 201);
    const refused = await postEvents(hub().url, 'c4', event());
    assert.equal(refused.status, 507);
    assert.equal(refused.json.error.code, 'quota_exceeded');
    assert.match(refused.json.error.message, /--max-channels/);
    const client = await TestClient.connect(hub().url);
    const reply = await publish(client, 'c4');
    assert.deepEqual([reply.op, reply.code], ['error', 'quota_exceeded']);
    assert.equal((await publish(client, 'c1', 1)).op, 'published', 'channels that hold history take events as before');
    assert.equal((await getJson(`${hub().url}/api/channels/c4/events`)).json.latest, 0, 'nothing was stored');
    await bystander().mark();

    // Deleting a channel frees its place.
    assert.equal((await requestFrom('127.0.0.1', 'DELETE', `${hub().url}/api/channels/c3`)).status, 200);
    assert.equal((await publish(client, 'c4')).op, 'published');
    client.close();
    await bystander().mark();
  });

});

describe('run quota', () => {
  const { hub, bystander } = withHub({ maxRuns: 2 });

  it('refuses a run past --max-runs with quota_exceeded', async () => {    assert.equal((await postEvents(hub().url, 'runs.r1', { type: 'run.started' })).status, 201);
    assert.equal((await postEvents(hub().url, 'runs.r2', { type: 'run.started' })).status, 201);
    const refused = await postEvents(hub().url, 'runs.r3', { type: 'run.started' });
    assert.deepEqual([refused.status, refused.json.error.code], [507, 'quota_exceeded']);
    assert.match(refused.json.error.message, /--max-runs/);
    const client = await TestClient.connect(hub().url);
    assert.equal((await client.request({ op: 'publish', channel: 'runs.r3', event: { type: 'run.started' } })).code, 'quota_exceeded');
    assert.equal((await client.request({ op: 'publish', channel: 'runs.r1', event: { type: 'log', data: { message: 'on' } } })).op, 'published');
    assert.equal((await publish(client, 'plain')).op, 'published', 'a channel that is not a run is not held to the run quota');
    client.close();
    await bystander().mark();
  });
});

describe('new channels per minute', () => {
  const { hub, bystander } = withHub({ maxNewChannelsPerMinute: 3 });

  it('refuses more new channels per minute than allowed with 429 rate_limited and Retry-After; existing channels are untouched', async () => {
    await bystander().mark(); // the first creation; two more fit
    assert.equal((await postEvents(hub().url, 'n1', event())).status, 201);
    const client = await TestClient.connect(hub().url);
    assert.equal((await publish(client, 'n2')).op, 'published');
    const refused = await requestFrom('127.0.0.1', 'POST', `${hub().url}/api/channels/n3/events`, JSON.stringify(event()));
    assert.deepEqual([refused.status, refused.json.error.code], [429, 'rate_limited']);
    assert.match(refused.json.error.message, /--max-new-channels-per-minute/);
    assert.ok(Number(refused.headers['retry-after']) >= 1 && Number(refused.headers['retry-after']) <= 20, `Retry-After: ${refused.headers['retry-after']}`);
    const reply = await publish(client, 'n3');
    assert.equal(reply.code, 'rate_limited');
    assert.ok(reply.retryAfterMs > 0 && reply.retryAfterMs <= 20_000, `retryAfterMs ${reply.retryAfterMs}`);
    for (let i = 0; i < 20; i++) assert.equal((await publish(client, 'n1', i)).op, 'published');
    client.close();
    await bystander().mark();
  });
});

describe('events per second', () => {
  const { hub, bystander } = withHub({ maxEventsPerSecond: 100, maxEventsBurst: 1000, maxIpEventsPerSecond: 200, maxIpEventsBurst: 1500 });

  it('answers a WebSocket publish over the connection\'s rate with rate_limited, and closes the connection with 4029 when it keeps on', async () => {
    const flooder = await TestClient.connect(hub().url, '', { localAddress: '127.0.0.2' });
    await flooder.waitFor((m) => m.op === 'hello');
    // Pipelined, without waiting: the burst passes, the rest is refused, and past a tenth of the burst
    // of refusals the connection is closed (once the publishes it had in flight are answered).
    flooder.sendRaw(JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ op: 'publish', id: i, channel: 'flood', event: event(i) }))));
    const closed = await flooder.closed;
    assert.equal(closed.code, CloseCodes.rateLimited.code);
    assert.ok(shouldReconnect(closed.code), 'clients reconnect (with backoff) after 4029');
    const published = flooder.messages.filter((m) => m.op === 'published').length;
    const refused = flooder.messages.filter((m) => m.op === 'error' && m.code === 'rate_limited');
    assert.ok(published >= 1000 && published < 1100, `${published} published: the burst, plus what the rate refilled`);
    // Patience is a tenth of the burst: about 100 refusals, then the close.
    assert.ok(refused.length >= 100 && refused.length < 200, `${refused.length} refused`);
    assert.ok(refused.every((m) => m.retryAfterMs > 0));
    assert.equal((await getJson(`${hub().url}/api/channels/flood/events?limit=1`)).json.latest, published, 'exactly the acknowledged events were stored');
    await bystander().mark();
  });

  it('answers an HTTP batch over the rate with 429 rate_limited and Retry-After', async () => {
    const batch = JSON.stringify(Array.from({ length: 1000 }, (_, i) => event(i)));
    // One keep-alive socket is one connection: a fresh socket per request still shares its address's budget.
    const first = await requestFrom('127.0.0.3', 'POST', `${hub().url}/api/channels/http-flood/events`, batch);
    assert.equal(first.status, 201);
    const second = await requestFrom('127.0.0.3', 'POST', `${hub().url}/api/channels/http-flood/events`, batch);
    assert.deepEqual([second.status, second.json.error.code], [429, 'rate_limited']);
    assert.match(second.json.error.message, /--max-ip-events-per-second/);
    assert.ok(Number(second.headers['retry-after']) >= 1, `Retry-After: ${second.headers['retry-after']}`);
    await bystander().mark();
  });

  it('shares the address\'s budget between its connections, and leaves other addresses alone', async () => {
    const a = await TestClient.connect(hub().url, '', { localAddress: '127.0.0.4' });
    const b = await TestClient.connect(hub().url, '', { localAddress: '127.0.0.4' });
    const other = await TestClient.connect(hub().url, '', { localAddress: '127.0.0.5' });
    const frame = () => JSON.stringify(Array.from({ length: 780 }, (_, i) => ({ op: 'publish', id: i, channel: 'shared', event: event(i) })));
    a.sendRaw(frame());
    b.sendRaw(frame());
    const answered = (c: TestClient) => c.waitFor(() => c.messages.filter((m) => m.op === 'published' || m.op === 'error').length === 780, 'every reply');
    await Promise.all([answered(a), answered(b)]);
    const ok = (c: TestClient) => c.messages.filter((m) => m.op === 'published').length;
    assert.ok(ok(a) + ok(b) >= 1500 && ok(a) + ok(b) < 1560, `${ok(a)} + ${ok(b)} published: the address's burst of 1 500`);
    assert.ok(b.messages.some((m) => m.code === 'rate_limited' && /address/.test(m.message)));
    assert.equal((await publish(other, 'shared')).op, 'published', 'another address has its own budget');
    for (const c of [a, b, other]) c.close();
    await bystander().mark();
  });
});

describe('connections per address', () => {
  const { hub, bystander } = withHub({ maxConnectionsPerIp: 3 });

  it('refuses a WebSocket upgrade or SSE stream past --max-connections-per-ip with 429 too_many_connections', async () => {
    // The bystander's socket is the first of 127.0.0.1's three.
    const second = await TestClient.connect(hub().url);
    const stream = await fetch(`${hub().url}/api/channels/by/stream`);
    assert.equal(stream.status, 200);
    assert.equal(await TestClient.upgradeStatus(hub().url, {}), 429);
    const refusedStream = await fetch(`${hub().url}/api/channels/by/stream`);
    assert.equal(refusedStream.status, 429);
    assert.equal(((await refusedStream.json()) as any).error.code, 'too_many_connections');
    // Another address has its own count.
    const elsewhere = await TestClient.connect(hub().url, '', { localAddress: '127.0.0.6' });
    assert.equal((await elsewhere.request({ op: 'ping' })).op, 'pong');
    await bystander().mark();

    // A closed connection frees its place.
    await stream.body!.cancel();
    second.close();
    await second.closed;
    let status: number | 'open' = 429;
    for (let i = 0; i < 50 && status !== 'open'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = await TestClient.upgradeStatus(hub().url, {});
    }
    assert.equal(status, 'open');
    elsewhere.close();
    await bystander().mark();
  });
});

describe('stored bytes', () => {
  // Events here are ~1 KB: a channel keeps about 4 of them, the hub about 12.
  const { hub, bystander } = withHub({ maxMessageBytes: 4096, maxChannelBytes: 4096, maxTotalBytes: 12_000 });
  const padded = (n: number) => ({ type: 'log', data: { n, pad: 'p'.repeat(1000) } });

  it('drops a channel\'s oldest events past --max-channel-bytes; a resume across them answers recovered:false', async () => {
    for (let i = 1; i <= 10; i++) assert.equal((await postEvents(hub().url, 'bytes', padded(i))).status, 201);
    const page = (await getJson(`${hub().url}/api/channels/bytes/events?since=0`)).json;
    assert.equal(page.latest, 10);
    assert.ok(page.earliest > 5 && page.earliest <= 8, `earliest ${page.earliest}`);
    const client = await TestClient.connect(hub().url);
    const reply = await client.request({ op: 'subscribe', channel: 'bytes', since: { offset: 1, epoch: page.epoch } });
    assert.deepEqual([reply.op, reply.recovered], ['subscribed', false]);
    const fromRetained = await client.request({ op: 'subscribe', channel: 'bytes.none', since: { offset: 0 } });
    assert.equal(fromRetained.op, 'subscribed');
    client.close();
    await bystander().mark();
  });

  it('refuses publishes past --max-total-bytes with 507 quota_exceeded and keeps everything acknowledged', async () => {
    const acknowledged: Array<[string, number]> = [];
    let refused: { status: number; json: any } | undefined;
    for (let c = 0; c < 6 && !refused; c++) {
      for (let i = 1; i <= 3; i++) {
        const res = await postEvents(hub().url, `total.${c}`, padded(i));
        if (res.status !== 201) {
          refused = res;
          break;
        }
        acknowledged.push([`total.${c}`, res.json.offsets[0]]);
      }
    }
    assert.ok(refused, 'the total cap was reached');
    assert.deepEqual([refused.status, refused.json.error?.code], [507, 'quota_exceeded'], JSON.stringify(refused.json));
    assert.match(refused.json.error.message, /--max-total-bytes/);
    const client = await TestClient.connect(hub().url);
    // (A channel at its own byte cap makes room by dropping its oldest events, so a new channel is what is refused.)
    assert.equal((await client.request({ op: 'publish', channel: 'total.new', event: padded(9) })).code, 'quota_exceeded');
    client.close();
    for (const [channel, offset] of acknowledged) {
      const page = (await getJson(`${hub().url}/api/channels/${channel}/events?since=${offset - 1}&limit=1`)).json;
      assert.equal(page.events[0]?.offset, offset, `${channel} #${offset} is still there`);
    }
    // Small events still fit in what is left; the bystander's markers are small too.
    await bystander().mark();
  });
});
