import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Defaults } from '@herald/protocol';
import { ConfigError, configFromEnv, prepareEvents, resolveConfig } from '../src/index.js';
import { getJson, postEvents, request, startHub, type TestHub } from './support/hub.js';
import { Bystander } from './support/bystander.js';
import { TestClient } from './support/ws-client.js';

/** JSON text of arrays nested `depth` deep around 0: `[[0]]` is 2 deep. Built as text: JSON.stringify would overflow first. */
const nestedText = (depth: number) => '['.repeat(depth) + '0' + ']'.repeat(depth);
const nested = (depth: number): unknown => JSON.parse(nestedText(depth));
const zeros = (count: number) => Array.from({ length: count }, () => 0);

const DEPTH_REFUSAL = /event\.data is nested more than 32 levels deep; the hub's operator can change this limit with --max-event-depth \/ HERALD_MAX_EVENT_DEPTH/;
const KEYS_REFUSAL = /event\.data holds more than 10000 keys and array elements in all; the hub's operator can change this limit with --max-event-keys \/ HERALD_MAX_EVENT_KEYS/;

/**
 * Events too deeply nested or with too many keys are refused with invalid_event over HTTP and WebSocket,
 * however hostile (100 000 levels), while a bystander subscribed throughout receives every event
 * published around them, in order, and the hub stays up.
 */
describe('limits on the shape of event data', () => {
  let hub: TestHub;
  let bystander: Bystander;

  const publishMarker = () => bystander.mark();
  const stored = async (channel: string) => (await getJson(`${hub.url}/api/channels/${channel}/events`)).json.events;

  before(async () => {
    // Frames large enough for a 100 000-deep value to reach the hub's checks rather than the frame cap.
    hub = await startHub({ maxMessageBytes: 1024 * 1024 });
    bystander = await Bystander.start(hub.url);
  });

  after(async () => {
    await bystander.verify();
    assert.equal((await getJson(`${hub.url}/health`)).status, 200, 'the hub is up');
    await hub.dispose();
  });

  it('accepts data exactly at the limits and delivers it intact', async () => {
    const watcher = await TestClient.connect(hub.url);
    await watcher.request({ op: 'subscribe', channel: 'edge' });
    const atLimits = [{ type: 'deep', data: nested(Defaults.maxEventDepth) }, { type: 'wide', data: { a: zeros(5000), b: zeros(4998) } }];
    assert.equal((await postEvents(hub.url, 'edge', atLimits)).status, 201);
    const delivered = await watcher.waitForEvents(2, 'edge');
    assert.deepEqual(delivered.map((e) => e.event.data), atLimits.map((e) => e.data));
    watcher.close();
    await publishMarker();
  });

  // Events as JSON text: the test's own JSON.stringify would overflow on the deepest one.
  const refusals: Array<[string, string, RegExp]> = [
    ['data one level too deep', `{"type":"t","data":${nestedText(Defaults.maxEventDepth + 1)}}`, DEPTH_REFUSAL],
    ['data 100 000 levels deep', `{"type":"t","data":${nestedText(100_000)}}`, DEPTH_REFUSAL],
    ['objects nested too deep', `{"type":"t","data":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`, DEPTH_REFUSAL],
    ['an array of 10 001 elements', JSON.stringify({ type: 't', data: zeros(10_001) }), KEYS_REFUSAL],
    ['keys and array elements that pass the limit only together', JSON.stringify({ type: 't', data: { a: zeros(5000), b: zeros(4999) } }), KEYS_REFUSAL],
    ['an object of 20 000 keys', JSON.stringify({ type: 't', data: Object.fromEntries(zeros(20_000).map((_, i) => [`k${i}`, i])) }), KEYS_REFUSAL],
  ];

  for (const [what, event, message] of refusals) {
    it(`refuses ${what} over HTTP with 400 invalid_event and stores nothing`, async () => {
      const response = await postEvents(hub.url, 'shapes', event);
      assert.equal(response.status, 400);
      assert.equal(response.json.error.code, 'invalid_event');
      assert.match(response.json.error.message, message);
      assert.equal((await stored('shapes')).length, 0);
      await publishMarker();
    });

    it(`refuses ${what} over WebSocket with invalid_event and keeps the connection`, async () => {
      const client = await TestClient.connect(hub.url);
      client.sendRaw(`{"op":"publish","id":"shape","channel":"shapes","event":${event}}`);
      const reply = await client.waitFor((m) => m.id === 'shape', 'the reply to the publish');
      assert.equal(reply.op, 'error');
      assert.equal(reply.code, 'invalid_event');
      assert.match(reply.message, message);
      assert.equal((await client.request({ op: 'ping' })).op, 'pong', 'the connection still works');
      assert.equal((await stored('shapes')).length, 0);
      client.close();
      await publishMarker();
    });
  }

  it('refuses a whole batch for one event over the limits, naming the event', async () => {
    const response = await postEvents(hub.url, 'batch', `[{"type":"fine"},{"type":"deep","data":${nestedText(100_000)}}]`);
    assert.equal(response.status, 400);
    assert.equal(response.json.error.code, 'invalid_event');
    assert.match(response.json.error.message, /^event 1: event\.data is nested more than 32 levels deep/);
    assert.equal((await stored('batch')).length, 0);
    await publishMarker();
  });

  it('answers a body and a frame that are themselves 100 000 levels deep with documented errors', async () => {
    const { status, text } = await request('POST', `${hub.url}/api/channels/shapes/events`, nestedText(100_000));
    assert.equal(status, 400);
    assert.equal(JSON.parse(text).error.code, 'invalid_event');
    const objects = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
    assert.equal(JSON.parse((await request('POST', `${hub.url}/api/channels/shapes/events`, objects)).text).error.code, 'invalid_event');

    const client = await TestClient.connect(hub.url);
    client.sendRaw(nestedText(100_000));
    assert.equal((await client.waitFor((m) => m.op === 'error')).code, 'bad_request');
    client.sendRaw(`{"op":"publish","id":"deep","channel":"shapes","event":{"type":"t","data":${nestedText(100_000)}}}`);
    const refused = await client.waitFor((m) => m.id === 'deep');
    assert.equal(refused.code, 'invalid_event');
    assert.equal((await client.request({ op: 'ping' })).op, 'pong', 'the connection still works');
    client.close();
    assert.equal((await stored('shapes')).length, 0);
    await publishMarker();
  });

  it('checks other limits when prepareEvents is given them', () => {
    const shape = { maxDepth: 2, maxKeys: 3 };
    assert.equal(prepareEvents([{ type: 't', data: { a: [1, 2] } }], 65536, shape).length, 1);
    assert.throws(() => prepareEvents([{ type: 't', data: { a: [[1]] } }], 65536, shape), /nested more than 2 levels deep.*--max-event-depth/);
    assert.throws(() => prepareEvents([{ type: 't', data: { a: [1, 2, 3] } }], 65536, shape), /more than 3 keys.*--max-event-keys/);
  });

  it(
    'honours limits configured on the hub',
    async () => {
      const strict = await startHub({ maxEventDepth: 3, maxEventKeys: 5 });
      try {
        const deep = await postEvents(strict.url, 'c', { type: 't', data: nested(4) });
        assert.match(deep.json.error?.message ?? '', /nested more than 3 levels deep/);
        const client = await TestClient.connect(strict.url);
        const wide = await client.request({ op: 'publish', channel: 'c', event: { type: 't', data: zeros(6) } });
        assert.match(wide.message ?? '', /more than 5 keys/);
        client.close();
        assert.equal((await postEvents(strict.url, 'c', { type: 't', data: nested(3) })).status, 201);
      } finally {
        await strict.dispose();
      }
    },
  );
});

describe('maxEventDepth and maxEventKeys settings', () => {
  it('are read from the environment and checked at start with a sentence', () => {
    assert.deepEqual(configFromEnv({ HERALD_MAX_EVENT_DEPTH: '8', HERALD_MAX_EVENT_KEYS: '500' }), { maxEventDepth: 8, maxEventKeys: 500 });
    assert.deepEqual([resolveConfig().maxEventDepth, resolveConfig().maxEventKeys], [32, 10_000]);
    assert.throws(() => resolveConfig({ maxEventDepth: 0 }), (e: Error) => e instanceof ConfigError && /maxEventDepth must be a whole number ≥ 1/.test(e.message));
    assert.throws(() => resolveConfig({ maxEventDepth: 513 }), (e: Error) => e instanceof ConfigError && /maxEventDepth must be at most 512/.test(e.message));
    assert.throws(() => resolveConfig({ maxEventKeys: 0 }), ConfigError);
    assert.throws(() => configFromEnv({ HERALD_MAX_EVENT_KEYS: 'many' }), /HERALD_MAX_EVENT_KEYS: "many" is not a whole number/);
  });
});
