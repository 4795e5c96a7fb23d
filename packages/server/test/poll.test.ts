import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PollResponse } from '@herald/protocol';
import { mintToken } from '../src/index.js';
import { Bystander } from './support/bystander.js';
import { bearer, getJson, postEvents, request, startHub, type TestHub } from './support/hub.js';

const poll = (hub: TestHub, channel: string, query = '', headers: Record<string, string> = {}) =>
  request('GET', `${hub.url}/api/channels/${encodeURIComponent(channel)}/poll${query}`, undefined, headers).then((r) => ({ status: r.status, json: JSON.parse(r.text) }));
const answer = async (hub: TestHub, channel: string, query = '', headers: Record<string, string> = {}): Promise<PollResponse> => {
  const { status, json } = await poll(hub, channel, query, headers);
  assert.equal(status, 200, JSON.stringify(json));
  return json as PollResponse;
};
const offsets = (response: PollResponse) => response.events.map((e) => e.offset);
const types = (response: PollResponse) => response.events.map((e) => e.event.type);
/** Waits until the hub's own count says so (no sleep stands in for it). */
async function until(test: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const held = async (hub: TestHub) => ((await getJson(`${hub.url}/api/stats`)).json.connections.poll as number);

describe('GET /api/channels/{channel}/poll', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub({ pollWaitMs: 10_000 });
  });
  after(() => hub.dispose());

  it('resumes from since (recovered:true) and names the next since; a loop of polls gets every event once, in order', async () => {
    await postEvents(hub.url, 'p.resume', [1, 2, 3, 4, 5].map((n) => ({ type: `e${n}` })));
    const first = await answer(hub, 'p.resume', '?since=0&limit=2');
    assert.equal(first.recovered, true);
    assert.deepEqual(offsets(first), [1, 2], 'at most limit events');
    assert.equal(first.next, `2@${first.epoch}`);
    const second = await answer(hub, 'p.resume', `?since=${first.next}`);
    assert.equal(second.recovered, true);
    assert.deepEqual(offsets(second), [3, 4, 5]);
    assert.equal(second.next, `5@${first.epoch}`);
  });

  it('holds a poll with nothing to say until an event arrives, then answers with it and the rest of its batch', async () => {
    const { json } = await postEvents(hub.url, 'p.live', { type: 'before' });
    const pending = answer(hub, 'p.live', `?since=1@${json.epoch}`);
    await until(async () => (await held(hub)) === 1, 'the poll to be held');
    await postEvents(hub.url, 'p.live', [{ type: 'a' }, { type: 'b' }]);
    const response = await pending;
    assert.deepEqual(offsets(response), [2, 3]);
    assert.equal(response.next, `3@${json.epoch}`);
    assert.equal(await held(hub), 0, 'an answered poll holds nothing');
  });

  it('without since is live from now: wait=0 answers the position at once, and polling from it misses nothing', async () => {
    await postEvents(hub.url, 'p.fresh', [{ type: 'old' }, { type: 'old' }]);
    const now = await answer(hub, 'p.fresh', '?wait=0');
    assert.equal(now.recovered, undefined);
    assert.deepEqual([now.offset, now.events.length, now.next], [2, 0, `2@${now.epoch}`]);
    await postEvents(hub.url, 'p.fresh', { type: 'between polls' });
    const next = await answer(hub, 'p.fresh', `?since=${now.next}`);
    assert.deepEqual(types(next), ['between polls']);
  });

  it('a since of a history that was reset is recovered:false with the new epoch, nothing replayed, at once', async () => {
    await postEvents(hub.url, 'p.reset', [{ type: 'old' }, { type: 'old' }, { type: 'old' }]);
    const old = await answer(hub, 'p.reset', '?since=0');
    assert.equal((await request('DELETE', `${hub.url}/api/channels/p.reset`)).status, 200);
    await postEvents(hub.url, 'p.reset', [{ type: 'new' }, { type: 'new' }]);
    const after = await answer(hub, 'p.reset', `?since=${old.next}`);
    assert.equal(after.recovered, false);
    assert.notEqual(after.epoch, old.epoch);
    assert.deepEqual([after.offset, after.events.length, after.next], [2, 0, `2@${after.epoch}`]);
    const bare = await answer(hub, 'p.reset', '?since=1');
    assert.equal(bare.recovered, true, 'a bare offset means the current history');
    assert.deepEqual(offsets(bare), [2]);
  });

  it('a since beyond the history is recovered:false; a malformed since or limit is 400', async () => {
    await postEvents(hub.url, 'p.ahead', { type: 'only' });
    const ahead = await answer(hub, 'p.ahead', '?since=50');
    assert.equal(ahead.recovered, false);
    for (const query of ['?since=x', '?since=3@zz!', '?limit=0', '?limit=1001', '?wait=-1']) {
      const { status, json } = await poll(hub, 'p.ahead', query);
      assert.equal(status, 400, query);
      assert.equal(json.error.code, 'bad_request', query);
    }
    assert.equal((await poll(hub, 'bad..name')).json.error.code, 'invalid_channel');
  });

  it('polls a pattern: resumes with positions and time as JSON, across channels, in receive order', async () => {
    const a = await postEvents(hub.url, 'p.pat.a', { type: 'a1' });
    await postEvents(hub.url, 'p.pat.b.deep', { type: 'b1' });
    await postEvents(hub.url, 'p.other', { type: 'not matched' });
    await postEvents(hub.url, 'p.pat.a', { type: 'a2' });
    const since = JSON.stringify({ positions: { 'p.pat.a': { offset: 1, epoch: a.json.epoch } }, time: 0 });
    const response = await answer(hub, 'p.pat.>', `?since=${encodeURIComponent(since)}`);
    assert.equal(response.recovered, true);
    assert.deepEqual(types(response), ['b1', 'a2']);
    assert.equal(response.next, undefined, 'a pattern resumes from positions, not from one offset');
    assert.equal(typeof response.time, 'number');
    // Nothing seen yet: the answer's time is where the next poll resumes unseen channels from.
    const quiet = await answer(hub, 'p.pat2.*', '?wait=0');
    await postEvents(hub.url, 'p.pat2.x', { type: 'while away' });
    const resumed = await answer(hub, 'p.pat2.*', `?since=${encodeURIComponent(JSON.stringify({ time: quiet.time }))}`);
    assert.deepEqual(types(resumed), ['while away']);
    assert.equal((await poll(hub, 'p.pat.>', '?since=3')).status, 400, 'a pattern since is JSON');
  });

  it('answers a held poll at once when the hub closes, and the close does not wait for it', async () => {
    const closing = await startHub({ pollWaitMs: 60_000 });
    const pending = answer(closing, 'p.close', '?wait=60000');
    await until(async () => (await held(closing)) === 1, 'the poll to be held');
    const started = performance.now();
    await closing.dispose();
    const took = performance.now() - started;
    assert.deepEqual((await pending).events, []);
    assert.ok(took < 1000, `closing took ${Math.round(took)} ms`);
  });
});

describe('long-poll bounds, with a bystander', () => {
  let hub: TestHub;
  let bystander: Bystander;
  before(async () => {
    // The bystander's WebSocket is one of the 3 connections of this address.
    hub = await startHub({ pollWaitMs: 300, maxConnectionsPerIp: 3, maxOutboundBytes: 4096 });
    bystander = await Bystander.start(hub.url);
  });
  after(async () => {
    await bystander.verify();
    await hub.dispose();
  });

  it('holds a poll no longer than --poll-wait, whatever wait asks', async () => {
    await bystander.mark();
    const { json } = await postEvents(hub.url, 'b.wait', { type: 'x' });
    const response = await answer(hub, 'b.wait', `?since=1@${json.epoch}&wait=600000`);
    assert.deepEqual(response.events, []);
    assert.equal(response.next, `1@${json.epoch}`);
  });

  it('answers about --max-outbound-bytes of events at most (one event always), and the rest on the next poll', async () => {
    await bystander.mark();
    const big = 'x'.repeat(1000);
    await postEvents(hub.url, 'b.bytes', Array.from({ length: 12 }, (_, n) => ({ type: `e${n + 1}`, data: big })));
    const seen: number[] = [];
    let since = '0';
    while (seen.length < 12) {
      const response = await answer(hub, 'b.bytes', `?since=${since}`);
      assert.ok(response.events.length >= 1 && JSON.stringify(response.events).length < 4096 + 1200, `${response.events.length} events`);
      seen.push(...offsets(response));
      since = response.next!;
    }
    assert.deepEqual(seen, Array.from({ length: 12 }, (_, n) => n + 1));
    await bystander.mark();
  });

  it('counts held polls with the address\'s connections: past --max-connections-per-ip it is 429 too_many_connections', async () => {
    await bystander.mark();
    const { json } = await postEvents(hub.url, 'b.many', { type: 'x' });
    const since = `?since=1@${json.epoch}&wait=300`;
    const first = answer(hub, 'b.many', since);
    const second = answer(hub, 'b.many', since);
    await until(async () => (await held(hub)) === 2, 'two held polls');
    const refused = await poll(hub, 'b.many', since);
    assert.equal(refused.status, 429);
    assert.equal(refused.json.error.code, 'too_many_connections');
    await bystander.mark();
    await Promise.all([first, second]);
    assert.equal((await poll(hub, 'b.many', `?since=1@${json.epoch}&wait=0`)).status, 200, 'answered polls hold no slot');
  });
});

describe('long-poll access', () => {
  const SECRET = 'poll-test-secret-that-is-long-enough-1234';
  let hub: TestHub;
  let token: string;
  before(async () => {
    hub = await startHub({ jwtSecret: SECRET });
    token = await mintToken(SECRET, { subject: 'alice', grant: { subscribe: ['a.>'], publish: ['a.>', 'b.>'], admin: false }, ttlSeconds: 600 });
    assert.equal((await request('POST', `${hub.url}/api/channels/a.x/events`, JSON.stringify({ type: 'mine' }), bearer(token))).status, 201);
    assert.equal((await request('POST', `${hub.url}/api/channels/b.x/events`, JSON.stringify({ type: 'theirs' }), bearer(token))).status, 201);
  });
  after(() => hub.dispose());

  it('needs credentials, and the subscribe permission for the channel or every channel of the pattern', async () => {
    assert.equal((await poll(hub, 'a.x', '?since=0')).status, 401);
    assert.deepEqual(types(await answer(hub, 'a.x', '?since=0', bearer(token))), ['mine']);
    assert.equal((await poll(hub, 'b.x', '?since=0', bearer(token))).json.error.code, 'forbidden');
    assert.equal((await poll(hub, 'a.*', '?wait=0', bearer(token))).status, 200);
    assert.equal((await poll(hub, '>', '?wait=0', bearer(token))).json.error.code, 'forbidden', '> could match b.x');
  });

  it('takes a stream ticket like SSE does, with the ticket\'s credential\'s permissions', async () => {
    const { ticket } = JSON.parse((await request('POST', `${hub.url}/api/auth/ticket`, undefined, bearer(token))).text);
    assert.deepEqual(types(await answer(hub, 'a.x', `?since=0&ticket=${ticket}`)), ['mine']);
    assert.equal((await poll(hub, 'b.x', `?since=0&ticket=${ticket}`)).status, 403);
    assert.equal((await poll(hub, 'a.x', '?since=0&ticket=not-a-ticket')).status, 401);
    assert.equal((await request('GET', `${hub.url}/api/channels/a.x/events?ticket=${ticket}`)).status, 401, 'still no ticket for history');
  });
});
