import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { HeraldClient, type DeliveredEvent, type ResetInfo, type Subscription, type SubscribeOptions, type WebSocketConstructor } from '@herald/client';
import { getJson, postEvents, scratchDirs, startHub } from '../../server/test/support/hub.js';
import { spawnHub, until, type HubProcess } from '../../server/test/support/process.js';

const dataDir = scratchDirs('herald-mux-');
const fastBackoff = { initialDelayMs: 50, maxDelayMs: 300 };

function connect(url: string): HeraldClient {
  return new HeraldClient({ url, WebSocket: WebSocket as unknown as WebSocketConstructor, backoff: fastBackoff }).connect();
}

/** One `client.subscribe` and what it received. */
function watch(client: HeraldClient, channel: string, options?: SubscribeOptions) {
  const events: DeliveredEvent[] = [];
  const resets: ResetInfo[] = [];
  const snapshots: Array<{ snapshot: any; offset: number }> = [];
  const sub: Subscription = client.subscribe(channel, (e) => events.push(e), options);
  sub.on('reset', (r) => resets.push(r));
  sub.on('snapshot', (s) => snapshots.push(s));
  const seen = () => events.map((e) => `${e.channel === channel ? '' : `${e.channel}#`}${e.offset}`);
  return { sub, events, resets, snapshots, offsets: () => events.map((e) => e.offset), seen };
}

/** The hub's own count of subscriptions matching a channel (`GET /api/channels`). */
async function subscribers(url: string, channel: string): Promise<number> {
  const { json } = await getJson(`${url}/api/channels?prefix=${encodeURIComponent(channel)}`);
  return json.channels.find((c: { name: string }) => c.name === channel)?.subscribers ?? 0;
}

/** `until` for a condition that must be asked over HTTP. */
async function untilHub(test: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const types = (n: number[]) => n.map((i) => ({ type: `e${i}` }));

/**
 * Stops the hub and stores `events` while no hub is reachable at its address (through the same data
 * folder on another port), then starts it again where it was: every client has a gap to resume.
 */
async function restartWithGap(dir: string, hub: HubProcess, clients: HeraldClient[], events: Array<[string, unknown[]]>): Promise<HubProcess> {
  await hub.kill();
  await until(() => clients.every((c) => c.state !== 'connected'), 'the clients noticing');
  const elsewhere = await spawnHub(dir);
  for (const [channel, batch] of events) await postEvents(elsewhere.url, channel, batch);
  await elsewhere.kill();
  return spawnHub(dir, [], hub.port);
}

describe('several subscriptions on one channel share one hub subscription', () => {
  it('gives each its own events from its own start, once and in order; one leaving leaves the others live', async () => {
    const hub = await startHub();
    const client = connect(hub.url);
    try {
      const { json } = await postEvents(hub.url, 'mx.one', types(range(1, 3)));
      const epoch = json.epoch as string;
      const live = watch(client, 'mx.one');
      await until(() => live.sub.state === 'subscribed', 'the first subscribed');
      await postEvents(hub.url, 'mx.one', types(range(4, 5)));
      await until(() => live.events.length === 2, 'live events');

      const all = watch(client, 'mx.one', { since: { offset: 0 } });
      const fromThree = watch(client, 'mx.one', { since: { offset: 3, epoch } });
      const late = watch(client, 'mx.one');
      await until(() => [all, fromThree, late].every((w) => w.sub.state === 'subscribed') && all.events.length === 5, 'the joiners started');
      await postEvents(hub.url, 'mx.one', types(range(6, 7)));
      await until(() => all.events.length === 7 && late.events.length === 2, 'live events for everyone');

      assert.deepEqual(live.offsets(), [4, 5, 6, 7]);
      assert.deepEqual(all.offsets(), range(1, 7));
      assert.deepEqual(all.events.map((e) => e.event.type), range(1, 7).map((i) => `e${i}`));
      assert.deepEqual(fromThree.offsets(), [4, 5, 6, 7]);
      assert.deepEqual(late.offsets(), [6, 7]);
      assert.deepEqual([live, all, fromThree, late].flatMap((w) => w.resets), []);
      assert.equal(await subscribers(hub.url, 'mx.one'), 1, 'one hub subscription for four');

      live.sub.unsubscribe();
      await postEvents(hub.url, 'mx.one', types([8]));
      await until(() => [all, fromThree, late].every((w) => w.offsets().at(-1) === 8), 'the others still live');
      assert.deepEqual(live.offsets(), [4, 5, 6, 7], 'nothing after unsubscribing');
      assert.deepEqual(late.offsets(), [6, 7, 8]);
      assert.equal(await subscribers(hub.url, 'mx.one'), 1);

      all.sub.unsubscribe();
      fromThree.sub.unsubscribe();
      assert.equal(await subscribers(hub.url, 'mx.one'), 1, 'held while one is left');
      late.sub.unsubscribe();
      await untilHub(async () => (await subscribers(hub.url, 'mx.one')) === 0, 'the hub subscription ended with the last one');
    } finally {
      client.close();
      await hub.dispose();
    }
  });

  it('gives a late snapshot subscription its own snapshot, then the events after it, without disturbing the others', async () => {
    const hub = await startHub();
    const client = connect(hub.url);
    try {
      await postEvents(hub.url, 'runs.mx-snap', [{ type: 'run.started', data: { title: 'mux' } }, { type: 'run.progress', data: { percent: 10 } }]);
      const plain = watch(client, 'runs.mx-snap');
      const first = watch(client, 'runs.mx-snap', { snapshot: true });
      await until(() => first.snapshots.length === 1 && plain.sub.state === 'subscribed', 'the first snapshot');
      assert.equal(first.snapshots[0]!.offset, 2);
      assert.equal(first.snapshots[0]!.snapshot.percent, 10);

      await postEvents(hub.url, 'runs.mx-snap', [{ type: 'run.progress', data: { percent: 50 } }]);
      await until(() => plain.events.length === 1 && first.events.length === 1, 'an event for both');
      const second = watch(client, 'runs.mx-snap', { snapshot: true });
      await until(() => second.snapshots.length === 1 && second.sub.state === 'subscribed', 'the late snapshot');
      assert.equal(second.snapshots[0]!.offset, 3);
      assert.equal(second.snapshots[0]!.snapshot.percent, 50);
      assert.notEqual(second.snapshots[0]!.snapshot, first.snapshots[0]!.snapshot, 'each its own copy');

      await postEvents(hub.url, 'runs.mx-snap', [{ type: 'run.completed', data: { status: 'succeeded' } }]);
      await until(() => second.events.length === 1 && plain.events.length === 2, 'the last event');
      assert.deepEqual(plain.offsets(), [3, 4]);
      assert.deepEqual(first.offsets(), [3, 4]);
      assert.deepEqual(second.offsets(), [4]);
      assert.equal(first.snapshots.length, 1, 'the first is not sent a second snapshot');
      assert.equal(await subscribers(hub.url, 'runs.mx-snap'), 1);
    } finally {
      client.close();
      await hub.dispose();
    }
  });

  it('resumes after a hub restart with every subscription getting its own gap exactly once', async () => {
    const dir = dataDir();
    let hub = await spawnHub(dir);
    const client = connect(hub.url);
    try {
      await postEvents(hub.url, 'mx.resume', types(range(1, 2)));
      const live = watch(client, 'mx.resume');
      const all = watch(client, 'mx.resume', { since: { offset: 0 } });
      await until(() => live.sub.state === 'subscribed' && all.events.length === 2, 'subscribed');
      await postEvents(hub.url, 'mx.resume', types([3]));
      await until(() => live.events.length === 1 && all.events.length === 3, 'a live event');

      hub = await restartWithGap(dir, hub, [client], [['mx.resume', types(range(4, 6))]]);
      // One made while the hub is away, from the start: the resume asks for the earliest start of all.
      const whileAway = watch(client, 'mx.resume', { since: { offset: 0 } });
      await until(() => live.events.length === 4 && all.events.length === 6 && whileAway.events.length === 6, 'the gap');
      await postEvents(hub.url, 'mx.resume', types([7]));
      await until(() => [live, all, whileAway].every((w) => w.offsets().at(-1) === 7), 'live after the resume');

      assert.deepEqual(live.offsets(), range(3, 7));
      assert.deepEqual(all.offsets(), range(1, 7));
      assert.deepEqual(whileAway.offsets(), range(1, 7));
      assert.deepEqual([live, all, whileAway].flatMap((w) => w.resets), []);
      assert.equal(await subscribers(hub.url, 'mx.resume'), 1);
    } finally {
      client.close();
      await hub.kill();
    }
  });

  it('keeps a pattern and an exact channel it matches apart: each gets its events once, also across a restart', async () => {
    const dir = dataDir();
    let hub = await spawnHub(dir);
    const client = connect(hub.url);
    try {
      const { json } = await postEvents(hub.url, 'mx.pat.a', types([1]));
      await postEvents(hub.url, 'mx.pat.b', types([1]));
      const pattern = watch(client, 'mx.pat.*');
      const patternFrom = watch(client, 'mx.pat.*', { since: { positions: { 'mx.pat.a': { offset: 0, epoch: json.epoch } } } });
      const exact = watch(client, 'mx.pat.a');
      const exactAll = watch(client, 'mx.pat.a', { since: { offset: 0 } });
      const watchers = [pattern, patternFrom, exact, exactAll];
      await until(() => watchers.every((w) => w.sub.state === 'subscribed') && patternFrom.events.length === 1 && exactAll.events.length === 1, 'subscribed');
      await postEvents(hub.url, 'mx.pat.a', types([2]));
      await postEvents(hub.url, 'mx.pat.b', types([2]));
      await until(() => pattern.events.length === 2 && exact.events.length === 1, 'live events');

      hub = await restartWithGap(dir, hub, [client], [
        ['mx.pat.a', types(range(3, 5))],
        ['mx.pat.b', types(range(3, 4))],
      ]);
      await until(() => pattern.events.length === 7 && exact.events.length === 4 && exactAll.events.length === 5, 'the gap');
      await postEvents(hub.url, 'mx.pat.a', types([6]));
      await postEvents(hub.url, 'mx.pat.b', types([5]));
      await until(() => pattern.events.length === 9 && patternFrom.events.length === 10 && exact.events.length === 5, 'live after the resume');

      const byChannel = (w: ReturnType<typeof watch>, channel: string) => w.events.filter((e) => e.channel === channel).map((e) => e.offset);
      assert.deepEqual(byChannel(pattern, 'mx.pat.a'), range(2, 6));
      assert.deepEqual(byChannel(pattern, 'mx.pat.b'), range(2, 5));
      assert.deepEqual(byChannel(patternFrom, 'mx.pat.a'), range(1, 6));
      assert.deepEqual(byChannel(patternFrom, 'mx.pat.b'), range(2, 5));
      assert.deepEqual(exact.offsets(), range(2, 6));
      assert.deepEqual(exactAll.offsets(), range(1, 6));
      assert.deepEqual(watchers.flatMap((w) => w.resets), []);
      assert.equal(await subscribers(hub.url, 'mx.pat.a'), 2, 'one pattern and one exact subscription');
      assert.equal(await subscribers(hub.url, 'mx.pat.b'), 1);
    } finally {
      client.close();
      await hub.kill();
    }
  });

  it('refuses a snapshot with since, or on a channel that is not a run, at once', () => {
    const client = new HeraldClient({ url: 'http://127.0.0.1:9', WebSocket: WebSocket as unknown as WebSocketConstructor });
    assert.throws(() => client.subscribe('runs.x', undefined, { snapshot: true, since: { offset: 0 } }), /either since or snapshot/);
    assert.throws(() => client.subscribe('logs', undefined, { snapshot: true }), /run channels/);
  });
});
