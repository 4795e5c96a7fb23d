import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getJson, postEvents, request, startHub, type TestHub } from './support/hub.js';
import { TestClient } from './support/ws-client.js';

describe('HTTP API', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub();
  });
  after(() => hub.dispose());

  it('publishes one event or a batch and returns 201 with the epoch and offsets', async () => {
    const one = await postEvents(hub.url, 'h.pub', { type: 'a', data: { x: 1 }, source: 'test' });
    assert.equal(one.status, 201);
    assert.deepEqual(one.json, { channel: 'h.pub', epoch: one.json.epoch, offsets: [1] });
    const batch = await postEvents(hub.url, 'h.pub', [{ type: 'b' }, { type: 'c', id: 'k' }, { type: 'c', id: 'k' }]);
    assert.deepEqual(batch.json.offsets, [2, 3, 3]);
  });

  it('refuses bodies that are not application/json with 415 (what a page can send without a preflight), and stores nothing', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
      const response = await fetch(`${hub.url}/api/channels/h.curl/events`, { method: 'POST', body: '{"type":"plain"}', headers: { 'content-type': type } });
      assert.equal(response.status, 415, type);
      assert.equal(((await response.json()) as any).error.code, 'unsupported_media_type');
    }
    const ok = await fetch(`${hub.url}/api/channels/h.curl/events`, { method: 'POST', body: '{"type":"json"}', headers: { 'content-type': 'application/json; charset=utf-8' } });
    assert.equal(ok.status, 201);
    assert.deepEqual(((await ok.json()) as any).offsets, [1], 'only the JSON request was stored');
  });

  it('refuses numbers in queries that JSON cannot carry (since=1e309 used to answer "next":Infinity)', async () => {
    for (const since of ['1e309', '9007199254740993', '-1', 'NaN']) {
      const res = await request('GET', `${hub.url}/api/channels/h.page/events?since=${since}`);
      assert.equal(res.status, 400, since);
      assert.equal(JSON.parse(res.text).error.code, 'bad_request');
    }
  });

  it('pages through history with since, limit and next', async () => {
    await postEvents(hub.url, 'h.page', Array.from({ length: 5 }, (_, i) => ({ type: `e${i + 1}` })));
    const first = await getJson(`${hub.url}/api/channels/h.page/events?limit=2`);
    assert.deepEqual(first.json.events.map((e: any) => [e.offset, e.event.type, e.channel]), [[1, 'e1', 'h.page'], [2, 'e2', 'h.page']]);
    assert.equal(first.json.next, 2);
    assert.equal(first.json.latest, 5);
    const rest = await getJson(`${hub.url}/api/channels/h.page/events?since=${first.json.next}&limit=10`);
    assert.deepEqual(rest.json.events.map((e: any) => e.offset), [3, 4, 5]);
    assert.equal(rest.json.next, 5);
    assert.equal(rest.json.events[0].epoch, first.json.epoch);
    assert.equal(typeof rest.json.events[0].time, 'number');
    const empty = await getJson(`${hub.url}/api/channels/h.page/events?since=5`);
    assert.deepEqual([empty.json.events, empty.json.next], [[], 5]);
  });

  it('pages through a pattern\'s history newest first, across its channels, with before and next', async () => {
    for (let round = 1; round <= 3; round++) {
      for (const c of ['a', 'b']) await postEvents(hub.url, `hpat.${c}`, { type: `${c}${round}` });
    }
    await postEvents(hub.url, 'hpat.a.deeper', { type: 'not matched by *' });
    await postEvents(hub.url, 'hpatx', { type: 'not matched' });
    const seen: string[] = [];
    let before: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page: { status: number; json: any } = await getJson(`${hub.url}/api/channels/${encodeURIComponent('hpat.*')}/events?limit=4${before ? `&before=${before}` : ''}`);
      assert.equal(page.status, 200);
      assert.equal(page.json.channel, 'hpat.*');
      assert.ok(page.json.events.length <= 4);
      seen.push(...page.json.events.map((e: any) => `${e.event.type}@${e.channel}#${e.offset}`));
      assert.ok(page.json.events.every((e: any) => typeof e.epoch === 'string' && typeof e.time === 'number'));
      before = page.json.next;
      if (before === null) break;
    }
    assert.deepEqual(seen, ['b3@hpat.b#3', 'a3@hpat.a#3', 'b2@hpat.b#2', 'a2@hpat.a#2', 'b1@hpat.b#1', 'a1@hpat.a#1']);
    const bad = await getJson(`${hub.url}/api/channels/${encodeURIComponent('hpat.*')}/events?before=nonsense`);
    assert.deepEqual([bad.status, bad.json.error.code], [400, 'bad_request']);
    const since = await getJson(`${hub.url}/api/channels/${encodeURIComponent('hpat.>')}/events?since=1`);
    assert.deepEqual([since.status, since.json.error.code], [400, 'bad_request']);
  });

  it('lists channels with last offset and subscriber count', async () => {
    const client = await TestClient.connect(hub.url);
    await client.request({ op: 'subscribe', channel: 'h.list' });
    await client.request({ op: 'subscribe', channel: 'h.*' });
    await postEvents(hub.url, 'h.list', [{ type: 'a' }, { type: 'b' }]);
    const { json } = await getJson(`${hub.url}/api/channels`);
    const entry = json.channels.find((c: any) => c.name === 'h.list');
    assert.equal(entry.offset, 2);
    assert.equal(entry.subscribers, 2);
    client.close();
  });

  it('reports health, stats and Prometheus metrics', async () => {
    const client = await TestClient.connect(hub.url);
    await client.request({ op: 'subscribe', channel: 'h.stats' });
    await postEvents(hub.url, 'h.stats', { type: 'counted' });
    await client.waitForEvents(1);
    const health = await getJson(`${hub.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'ok');
    assert.ok(health.json.connections >= 1);
    assert.equal(typeof health.json.uptimeSeconds, 'number');
    const stats = (await getJson(`${hub.url}/api/stats`)).json;
    assert.ok(stats.events.in >= 1 && stats.events.out >= 1);
    assert.ok(stats.channels >= 1);
    assert.ok(stats.stored.events >= 1 && stats.stored.bytes > 0, 'the store\'s totals');
    assert.equal(stats.connections.websocket, health.json.connections);
    for (const key of ['inPerSecond', 'outPerSecond']) assert.equal(typeof stats.events[key], 'number');
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    assert.match(metrics, /^herald_events_published_total \d+$/m);
    assert.match(metrics, /^herald_connections\{transport="websocket"\} [1-9]/m);
    client.close();
  });
});
