import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Grant } from '@herald/protocol';
import { mintToken } from '../src/index.js';
import { HTTP_RESPONDER_GRACE_MS } from '../src/http/responder-polls.js';
import { Bystander } from './support/bystander.js';
import { bearer, request, startHub, type TestHub } from './support/hub.js';
import { until } from './support/process.js';
import { TestClient, type Message } from './support/ws-client.js';

/** A WebSocket client that has its hello (and so its client id). */
async function connect(hub: TestHub, headers: Record<string, string> = {}): Promise<TestClient & { clientId: string }> {
  const client = await TestClient.connect(hub.url, '', { headers });
  const hello = await client.waitFor((m) => m.op === 'hello');
  return Object.assign(client, { clientId: hello.clientId as string });
}

const incoming = (client: TestClient, n = 1) => client.waitFor(() => client.messages.filter((m) => m.op === 'request').length >= n, `${n} incoming requests`).then(() => client.messages.filter((m) => m.op === 'request'));

/** Sends a command without waiting (its answer is awaited by id later). */
function send(client: TestClient, command: Message, id: number | string): Promise<Message> {
  client.sendRaw(JSON.stringify({ ...command, id }));
  return client.waitFor((m) => m.id === id && m.op !== 'request', `answer #${id}`, 10_000);
}

async function post(hub: TestHub, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const { status, text } = await request('POST', `${hub.url}${path}`, JSON.stringify(body), headers);
  return { status, json: JSON.parse(text) };
}

async function poll(hub: TestHub, channel: string, query = 'wait=0', headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const { status, text } = await request('GET', `${hub.url}/api/channels/${channel}/requests?${query}`, undefined, headers);
  return { status, json: JSON.parse(text) };
}

describe('request/reply', () => {
  let hub: TestHub;
  let bystander: Bystander;

  before(async () => {
    hub = await startHub({ maxMessageBytes: 4096 });
    bystander = await Bystander.start(hub.url);
  });
  after(async () => {
    await bystander.verify();
    await hub.dispose();
  });

  it('round trip over WebSocket: the responder gets the request with its sender and deadline, the requester the reply', async () => {
    const responder = await connect(hub);
    const requester = await connect(hub);
    assert.deepEqual(await responder.request({ op: 'serve', channel: 'rpc.echo' }), { op: 'serving', id: 1, channel: 'rpc.echo' });
    const before = Date.now();
    const answer = send(requester, { op: 'request', channel: 'rpc.echo', type: 'double', data: { n: 21 }, timeoutMs: 3000 }, 'q1');
    const [asked] = await incoming(responder);
    assert.equal(asked!.channel, 'rpc.echo');
    assert.equal(asked!.type, 'double');
    assert.deepEqual(asked!.data, { n: 21 });
    assert.deepEqual(asked!.from, { clientId: requester.clientId });
    assert.ok(asked!.deadline >= before + 3000 && asked!.deadline <= Date.now() + 3000, `deadline ${asked!.deadline}`);
    assert.deepEqual(await responder.request({ op: 'reply', requestId: asked!.requestId, data: { n: 42 } }), { op: 'replied', id: 2, requestId: asked!.requestId });
    assert.deepEqual(await answer, { op: 'reply', id: 'q1', channel: 'rpc.echo', data: { n: 42 } });
    await bystander.mark();
    responder.close();
    requester.close();
  });

  it('round trip from an HTTP requester to a WebSocket responder', async () => {
    const responder = await connect(hub);
    await responder.request({ op: 'serve', channel: 'rpc.http' });
    const answer = post(hub, '/api/channels/rpc.http/requests', { type: 'sum', data: [1, 2, 3], timeoutMs: 3000 });
    const [asked] = await incoming(responder);
    assert.deepEqual(asked!.from, {}, 'an HTTP requester has no client id; with credentials off, no user either');
    responder.sendRaw(JSON.stringify({ op: 'reply', requestId: asked!.requestId, data: 6 }));
    assert.deepEqual(await answer, { status: 200, json: { channel: 'rpc.http', data: 6 } });
    responder.close();
  });

  it('round trip through an HTTP responder, with requests queued between its polls', async () => {
    // The first poll registers the responder; it stays registered for a grace after the poll returns.
    assert.deepEqual(await poll(hub, 'rpc.h2'), { status: 200, json: { channel: 'rpc.h2', requests: [] } });
    const requester = await connect(hub);
    const wsAnswer = send(requester, { op: 'request', channel: 'rpc.h2', type: 'ws', data: 'a', timeoutMs: 5000 }, 1);
    const httpAnswer = post(hub, '/api/channels/rpc.h2/requests', { type: 'http', data: 'b', timeoutMs: 5000 });
    const got: Message[] = [];
    while (got.length < 2) got.push(...(await poll(hub, 'rpc.h2', 'wait=5000')).json.requests);
    assert.deepEqual(got.map((r) => r.type).sort(), ['http', 'ws']);
    for (const r of got) {
      const replied = await post(hub, `/api/channels/rpc.h2/requests/${r.requestId}/reply`, { data: `${r.data}!` });
      assert.deepEqual(replied, { status: 200, json: { requestId: r.requestId } });
    }
    assert.deepEqual(await wsAnswer, { op: 'reply', id: 1, channel: 'rpc.h2', data: 'a!' });
    assert.deepEqual(await httpAnswer, { status: 200, json: { channel: 'rpc.h2', data: 'b!' } });
    requester.close();
  });

  it('a held HTTP responder poll is answered as soon as a request arrives', async () => {
    const held = poll(hub, 'rpc.held.*', 'wait=20000&responder=w1');
    // Once this poll is answered the responder is registered (held, or in its grace), so the request
    // below finds it: it wakes the held poll, or waits in the queue that the held poll empties on arrival.
    await poll(hub, 'rpc.held.*', 'wait=0&responder=w1');
    const started = Date.now();
    const answer = post(hub, '/api/channels/rpc.held.one/requests', { type: 'ping', timeoutMs: 5000 });
    const [first] = (await held).json.requests;
    assert.ok(Date.now() - started < 10_000, 'answered by the request, not by the end of its wait');
    assert.equal(first.channel, 'rpc.held.one', 'a pattern responder is given the concrete channel');
    await post(hub, `/api/channels/rpc.held.one/requests/${first.requestId}/reply`, {});
    assert.deepEqual(await answer, { status: 200, json: { channel: 'rpc.held.one' } });
  });

  it('no_responder when nothing serves the channel, over WebSocket and HTTP', async () => {
    const requester = await connect(hub);
    const answer = await requester.request({ op: 'request', channel: 'rpc.nobody', type: 'x' });
    assert.equal(answer.code, 'no_responder');
    const http = await post(hub, '/api/channels/rpc.nobody/requests', { type: 'x' });
    assert.equal(http.status, 503);
    assert.equal(http.json.error.code, 'no_responder');
    requester.close();
  });

  it('timeout when the responder does not answer in time; its late reply is told timeout', async () => {
    const responder = await connect(hub);
    await responder.request({ op: 'serve', channel: 'rpc.slow' });
    const requester = await connect(hub);
    const answer = await send(requester, { op: 'request', channel: 'rpc.slow', type: 'x', timeoutMs: 150 }, 1);
    assert.equal(answer.code, 'timeout');
    const [asked] = await incoming(responder);
    const late = await responder.request({ op: 'reply', requestId: asked!.requestId, data: 1 });
    assert.equal(late.code, 'timeout');
    const http = await post(hub, '/api/channels/rpc.slow/requests', { type: 'x', timeoutMs: 150 });
    assert.equal(http.status, 504);
    assert.equal(http.json.error.code, 'timeout');
    responder.close();
    requester.close();
  });

  it('responder_error carries the responder\'s sentence (capped), over WebSocket and HTTP', async () => {
    const responder = await connect(hub);
    await responder.request({ op: 'serve', channel: 'rpc.refuse' });
    responder.ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.op === 'request') responder.sendRaw(JSON.stringify({ op: 'reply', requestId: m.requestId, error: m.type === 'long' ? 'x'.repeat(2000) : 'no such user' }));
    });
    const requester = await connect(hub);
    const answer = await requester.request({ op: 'request', channel: 'rpc.refuse', type: 'x' });
    assert.deepEqual([answer.code, answer.message], ['responder_error', 'no such user']);
    const long = await requester.request({ op: 'request', channel: 'rpc.refuse', type: 'long' });
    assert.equal(long.message.length, 500);
    const http = await post(hub, '/api/channels/rpc.refuse/requests', { type: 'x' });
    assert.deepEqual([http.status, http.json.error.code, http.json.error.message], [502, 'responder_error', 'no such user']);
    responder.close();
    requester.close();
  });

  it('a responder that disconnects fails its pending requests at once with no_responder', async () => {
    const responder = await connect(hub);
    await responder.request({ op: 'serve', channel: 'rpc.gone' });
    const requester = await connect(hub);
    // A long timeout: the answer must come from the disconnect, not from the deadline (waitFor gives up after 10 s).
    const answers = [send(requester, { op: 'request', channel: 'rpc.gone', type: 'x', timeoutMs: 60_000 }, 1), send(requester, { op: 'request', channel: 'rpc.gone', type: 'y', timeoutMs: 60_000 }, 2)];
    const http = post(hub, '/api/channels/rpc.gone/requests', { type: 'z', timeoutMs: 60_000 });
    await incoming(responder, 3);
    responder.close();
    for (const answer of await Promise.all(answers)) {
      assert.equal(answer.code, 'no_responder');
      assert.match(answer.message, /went away/);
    }
    assert.equal((await http).status, 503);
    assert.equal((await requester.request({ op: 'request', channel: 'rpc.gone', type: 'x' })).code, 'no_responder', 'its registration ended too');
    requester.close();
  });

  it('round-robin across two responders of a channel; exact registrations before patterns', async () => {
    const [a, b, wide] = await Promise.all([connect(hub), connect(hub), connect(hub)]);
    await a.request({ op: 'serve', channel: 'rpc.rr' });
    await b.request({ op: 'serve', channel: 'rpc.rr' });
    await wide.request({ op: 'serve', channel: 'rpc.>' });
    const requester = await connect(hub);
    const order: string[] = [];
    for (const [name, client] of [['a', a], ['b', b], ['wide', wide]] as const) {
      client.ws.on('message', (data) => {
        const m = JSON.parse(data.toString());
        if (m.op !== 'request') return;
        order.push(`${name}:${m.channel}`);
        client.sendRaw(JSON.stringify({ op: 'reply', requestId: m.requestId, data: name }));
      });
    }
    for (let i = 0; i < 4; i++) assert.equal((await requester.request({ op: 'request', channel: 'rpc.rr', type: 'x' })).op, 'reply');
    assert.equal((await requester.request({ op: 'request', channel: 'rpc.other', type: 'x' })).data, 'wide');
    assert.deepEqual(order, ['a:rpc.rr', 'b:rpc.rr', 'a:rpc.rr', 'b:rpc.rr', 'wide:rpc.other']);
    assert.deepEqual(await a.request({ op: 'unserve', channel: 'rpc.rr' }), { op: 'unserved', id: 2, channel: 'rpc.rr' });
    await b.request({ op: 'unserve', channel: 'rpc.rr' });
    assert.equal((await requester.request({ op: 'request', channel: 'rpc.rr', type: 'x' })).data, 'wide', 'with the exact responders gone, the pattern answers');
    for (const client of [a, b, wide, requester]) client.close();
  });

  it('a reply to an unknown request, or from a connection that was not asked, is not_found; the one asked still answers', async () => {
    const responder = await connect(hub);
    const other = await connect(hub);
    await responder.request({ op: 'serve', channel: 'rpc.ids' });
    const requester = await connect(hub);
    const answer = send(requester, { op: 'request', channel: 'rpc.ids', type: 'x', timeoutMs: 5000 }, 1);
    const [asked] = await incoming(responder);
    assert.equal((await other.request({ op: 'reply', requestId: asked!.requestId, data: 'forged' })).code, 'not_found');
    assert.equal((await other.request({ op: 'reply', requestId: 'nope', data: 1 })).code, 'not_found');
    const forgedHttp = await post(hub, `/api/channels/rpc.ids/requests/${asked!.requestId}/reply`, { data: 'forged' });
    assert.deepEqual([forgedHttp.status, forgedHttp.json.error.code], [404, 'not_found']);
    responder.sendRaw(JSON.stringify({ op: 'reply', requestId: asked!.requestId, data: 'real' }));
    assert.equal((await answer).data, 'real');
    for (const client of [responder, other, requester]) client.close();
  });

  it('a requester that goes away cancels its request: the reply is refused', async () => {
    const responder = await connect(hub);
    await responder.request({ op: 'serve', channel: 'rpc.cancel' });
    const requester = await connect(hub);
    requester.sendRaw(JSON.stringify({ op: 'request', channel: 'rpc.cancel', type: 'ws', timeoutMs: 30_000 }));
    const req = httpRequest(`${hub.url}/api/channels/rpc.cancel/requests`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } });
    req.on('error', () => {});
    req.end(JSON.stringify({ type: 'http', timeoutMs: 30_000 }));
    const asked = await incoming(responder, 2);
    assert.equal(hub.hub.waitingRequests, 2);
    requester.close();
    req.destroy();
    // Both requesters are gone once the hub has heard their sockets close.
    await until(() => hub.hub.waitingRequests === 0, 'both requests cancelled');
    for (const request of asked) {
      const answer = await responder.request({ op: 'reply', requestId: request.requestId, data: 1 });
      assert.equal(answer.code, 'not_found', request.type);
      assert.match(answer.message, /cancelled/);
    }
    responder.close();
  });

  it('refuses malformed requests and replies with documented codes', async () => {
    const client = await connect(hub);
    const cases: Array<[Message, string]> = [
      [{ op: 'request', channel: 'rpc.*', type: 'x' }, 'invalid_channel'],
      [{ op: 'request', channel: 'rpc.a' }, 'invalid_event'],
      [{ op: 'request', channel: 'rpc.a', type: 'x', timeoutMs: 0 }, 'bad_request'],
      [{ op: 'request', channel: 'rpc.a', type: 'x', timeoutMs: 60_001 }, 'bad_request'],
      [{ op: 'request', channel: 'rpc.a', type: 'x', timeoutMs: 1.5 }, 'bad_request'],
      [{ op: 'request', channel: 'rpc.a', type: 'x', data: 'd'.repeat(5000) }, 'too_large'],
      [{ op: 'serve', channel: 'a..b' }, 'invalid_channel'],
      [{ op: 'reply', data: 1 }, 'bad_request'],
      [{ op: 'reply', requestId: 'r', data: 1, error: 'both' }, 'bad_request'],
      [{ op: 'reply', requestId: 'r', error: 42 }, 'bad_request'],
      [{ op: 'reply', requestId: 'r', data: 'd'.repeat(5000) }, 'too_large'],
    ];
    for (const [command, code] of cases) assert.equal((await client.request(command)).code, code, JSON.stringify(command).slice(0, 80));
    const http: Array<[string, unknown, number]> = [
      ['/api/channels/rpc.a/requests', { type: 'x', timeoutMs: 99_999 }, 400],
      ['/api/channels/rpc.a/requests', { type: 'x', extra: 1 }, 400],
      ['/api/channels/rpc.a/requests', [1], 400],
      ['/api/channels/rpc.*/requests', { type: 'x' }, 400],
      ['/api/channels/rpc.a/requests/r/reply', { data: 1, error: 'x' }, 400],
    ];
    for (const [path, body, status] of http) assert.equal((await post(hub, path, body)).status, status, `${path} ${JSON.stringify(body)}`);
    assert.equal((await poll(hub, 'rpc.a', 'wait=-1')).status, 400);
    await bystander.mark();
    client.close();
  });
});

describe('request/reply bounds', () => {
  let hub: TestHub;
  let bystander: Bystander;

  before(async () => {
    hub = await startHub({ maxPendingRequests: 4 });
    bystander = await Bystander.start(hub.url);
  });
  after(async () => {
    await bystander.verify();
    await hub.dispose();
  });

  it('a requester flooding a slow responder hits the pending caps while a bystander keeps publishing and receiving', async () => {
    const slow = await connect(hub);
    await slow.request({ op: 'serve', channel: 'rpc.flood' });
    const flooder = await connect(hub);
    const answers = Array.from({ length: 10 }, (_, i) => send(flooder, { op: 'request', channel: 'rpc.flood', type: 'x', timeoutMs: 60_000 }, i + 1));
    // Past its 4 waiting requests, the flooder is told to wait, with when a slot frees at the latest.
    for (const answer of await Promise.all(answers.slice(4))) {
      assert.equal(answer.code, 'rate_limited');
      assert.ok(answer.retryAfterMs > 0 && answer.retryAfterMs <= 60_000, `retryAfterMs ${answer.retryAfterMs}`);
    }
    assert.equal((await incoming(slow, 4)).length, 4);
    // The responder holds as many as it may: another requester hears no_responder at once.
    const other = await connect(hub);
    const busy = await other.request({ op: 'request', channel: 'rpc.flood', type: 'x' });
    assert.equal(busy.code, 'no_responder');
    assert.match(busy.message, /max-pending-requests/);
    for (let i = 0; i < 5; i++) await bystander.mark();
    // The responder answers one: a slot frees on both sides.
    slow.sendRaw(JSON.stringify({ op: 'reply', requestId: (await incoming(slow, 4))[0]!.requestId, data: 'one' }));
    assert.equal((await answers[0]!).data, 'one');
    const again = send(flooder, { op: 'request', channel: 'rpc.flood', type: 'x', timeoutMs: 60_000 }, 'again');
    assert.equal((await incoming(slow, 5)).length, 5, 'the freed slot takes a new request');
    slow.close();
    for (const answer of await Promise.all([...answers.slice(1, 4), again])) assert.equal(answer.code, 'no_responder');
    assert.equal(hub.hub.waitingRequests, 0);
    await bystander.mark();
    flooder.close();
    other.close();
  });

  it('an HTTP responder holds at most its cap of requests', async () => {
    await poll(hub, 'rpc.hcap');
    const requester = await connect(hub);
    const other = await connect(hub);
    const answers = Array.from({ length: 4 }, (_, i) => send(requester, { op: 'request', channel: 'rpc.hcap', type: 'x', timeoutMs: 60_000 }, i + 1));
    await until(() => hub.hub.waitingRequests === 4, 'four requests queued');
    // Four are queued for the responder's next poll; a fifth finds it full.
    const fifth = await other.request({ op: 'request', channel: 'rpc.hcap', type: 'x', timeoutMs: 60_000 });
    assert.equal(fifth.code, 'no_responder');
    const { json } = await poll(hub, 'rpc.hcap', 'wait=0&limit=64');
    assert.equal(json.requests.length, 4);
    await bystander.mark();
    for (const r of json.requests) await post(hub, `/api/channels/rpc.hcap/requests/${r.requestId}/reply`, { data: r.requestId });
    for (const answer of answers) assert.equal((await answer).op, 'reply');
    requester.close();
    other.close();
  });

  it(`an HTTP responder that stops polling is dropped after ${HTTP_RESPONDER_GRACE_MS} ms: requests queued for it fail with no_responder`, async () => {
    await poll(hub, 'rpc.lapse');
    const requester = await connect(hub);
    const started = Date.now();
    const answer = await send(requester, { op: 'request', channel: 'rpc.lapse', type: 'x', timeoutMs: 60_000 }, 1);
    assert.equal(answer.code, 'no_responder');
    assert.ok(Date.now() - started < 2 * HTTP_RESPONDER_GRACE_MS);
    assert.equal((await requester.request({ op: 'request', channel: 'rpc.lapse', type: 'x' })).code, 'no_responder');
    requester.close();
  });
});

describe('HTTP requests waiting for replies', () => {
  let hub: TestHub;
  let bystander: Bystander;

  before(async () => {
    // Four connections per address: the bystander's and the responder's WebSockets, and two waiting requests.
    hub = await startHub({ maxConnectionsPerIp: 4 });
    bystander = await Bystander.start(hub.url);
  });
  after(async () => {
    await bystander.verify();
    await hub.dispose();
  });

  it('count against the address\'s connections: past the limit the next is refused, not held', async () => {
    const responder = await connect(hub);
    await responder.request({ op: 'serve', channel: 'rpc.hold' });
    const held = [post(hub, '/api/channels/rpc.hold/requests', { type: 'a', timeoutMs: 60_000 }), post(hub, '/api/channels/rpc.hold/requests', { type: 'b', timeoutMs: 60_000 })];
    const asked = await incoming(responder, 2);
    const refused = await post(hub, '/api/channels/rpc.hold/requests', { type: 'c', timeoutMs: 60_000 });
    assert.deepEqual([refused.status, refused.json.error.code], [429, 'too_many_connections']);
    await bystander.mark();
    responder.sendRaw(JSON.stringify({ op: 'reply', requestId: asked[0]!.requestId, data: 'a' }));
    assert.deepEqual(await held[0], { status: 200, json: { channel: 'rpc.hold', data: 'a' } });
    // Its slot is free again once it was answered.
    const next = post(hub, '/api/channels/rpc.hold/requests', { type: 'd', timeoutMs: 60_000 });
    const [, , third] = await incoming(responder, 3);
    assert.equal(third!.type, 'd');
    responder.close();
    for (const answer of await Promise.all([held[1]!, next])) assert.equal(answer.json.error.code, 'no_responder');
    await bystander.mark();
  });
});

describe('request/reply with credentials', () => {
  const SECRET = 'rpc-test-secret-that-is-long-enough-0123456789';
  let hub: TestHub;
  const token = (subject: string, grant: Grant) => mintToken(SECRET, { subject, grant, ttlSeconds: 600 });
  let full: string;
  let readOnly: string;
  let writeOnly: string;

  before(async () => {
    hub = await startHub({ jwtSecret: SECRET });
    full = await token('backend', { subscribe: ['rpc.>'], publish: ['rpc.>'], admin: false });
    readOnly = await token('viewer', { subscribe: ['rpc.>'], publish: [], admin: false });
    writeOnly = await token('writer', { subscribe: [], publish: ['rpc.>'], admin: false });
  });
  after(() => hub.dispose());

  it('a request needs publish on the channel: forbidden over WebSocket and HTTP', async () => {
    const viewer = await connect(hub, bearer(readOnly));
    assert.equal((await viewer.request({ op: 'request', channel: 'rpc.auth', type: 'x' })).code, 'forbidden');
    const http = await post(hub, '/api/channels/rpc.auth/requests', { type: 'x' }, bearer(readOnly));
    assert.deepEqual([http.status, http.json.error.code], [403, 'forbidden']);
    viewer.close();
  });

  it('serving needs both subscribe and publish: forbidden over WebSocket and HTTP', async () => {
    for (const credential of [readOnly, writeOnly]) {
      const client = await connect(hub, bearer(credential));
      const answer = await client.request({ op: 'serve', channel: 'rpc.auth' });
      assert.equal(answer.code, 'forbidden');
      assert.match(answer.message, /subscribe and the publish/);
      assert.equal((await poll(hub, 'rpc.auth', 'wait=0', bearer(credential))).status, 403);
      assert.equal((await post(hub, '/api/channels/rpc.auth/requests/x/reply', { data: 1 }, bearer(credential))).status, 403);
      client.close();
    }
    const everything = await connect(hub, bearer(full));
    assert.equal((await everything.request({ op: 'serve', channel: '>' })).code, 'forbidden', 'a pattern needs permission for every channel it can match');
    everything.close();
  });

  it('the responder learns who asked; a permitted round trip works', async () => {
    const responder = await connect(hub, bearer(full));
    await responder.request({ op: 'serve', channel: 'rpc.auth.*' });
    const requester = await connect(hub, bearer(writeOnly));
    const answer = send(requester, { op: 'request', channel: 'rpc.auth.x', type: 'who' }, 1);
    const [asked] = await incoming(responder);
    assert.deepEqual(asked!.from, { clientId: requester.clientId, user: 'writer' });
    responder.sendRaw(JSON.stringify({ op: 'reply', requestId: asked!.requestId, data: 'ok' }));
    assert.equal((await answer).data, 'ok');
    const http = post(hub, '/api/channels/rpc.auth.y/requests', { type: 'who' }, bearer(writeOnly));
    const [, fromHttp] = await incoming(responder, 2);
    assert.deepEqual(fromHttp!.from, { user: 'writer' });
    responder.sendRaw(JSON.stringify({ op: 'reply', requestId: fromHttp!.requestId, data: 'ok' }));
    assert.equal((await http).status, 200);
    responder.close();
    requester.close();
  });
});
