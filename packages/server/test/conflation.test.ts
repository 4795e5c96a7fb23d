import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { CloseCodes } from '@herald/protocol';
import { resolveConfig } from '../src/index.js';
import { postEvents, startHub, type TestHub } from './support/hub.js';
import { TestClient, type Message } from './support/ws-client.js';

const CHANNEL = 'lag.metrics';
/** Metric events of ~4 KB: 8 000 of them are 32 MB, far past the loopback socket buffers and the 1 MiB outbound cap. */
const PAD = 'p'.repeat(4000);
const METRICS = 8000;
const BATCH = 50;
/** Every 400th event is a log line: those are never conflated. */
const LOG_EVERY = 400;

function eventAt(i: number): Record<string, unknown> {
  if (i % LOG_EVERY === 0) return { type: 'log', data: { message: `line ${i}` } };
  return { type: 'metric', data: { name: i % 2 === 0 ? 'cpu' : 'mem', value: i, pad: PAD } };
}

const socketOf = (client: TestClient) => (client.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;

/** Publishes the channel's events; with a `pace` subscriber, each batch once it has the one before (so it never lags). */
async function publishAll(hub: TestHub, pace?: TestClient): Promise<void> {
  for (let from = 1; from <= METRICS; from += BATCH) {
    const { status, json } = await postEvents(hub.url, CHANNEL, Array.from({ length: BATCH }, (_, k) => eventAt(from + k)));
    assert.equal(status, 201, JSON.stringify(json));
    const last = from + BATCH - 1;
    if (pace) await pace.waitFor((m) => m.op === 'event' && m.offset === last, `the bystander to get offset ${last}`, 20_000);
  }
  assert.equal((await postEvents(hub.url, CHANNEL, { type: 'log', data: { message: 'done' } })).status, 201);
}

describe('conflation for lagging subscribers', () => {
  const hubs: TestHub[] = [];
  after(() => Promise.all(hubs.map((h) => h.dispose())));

  it('gives a subscriber that stopped reading the latest metric of each name instead of closing it, with every log line, and tells it how many it skipped', { timeout: 60_000 }, async () => {
    const hub = await startHub({ store: 'memory', maxEventsPerSecond: 0, maxIpEventsPerSecond: 0, retentionCount: 100_000 });
    hubs.push(hub);
    const lagging = await TestClient.connect(hub.url);
    const bystander = await TestClient.connect(hub.url);
    await lagging.request({ op: 'subscribe', channel: CHANNEL });
    await bystander.request({ op: 'subscribe', channel: CHANNEL });
    let closedBy: { code: number } | undefined;
    void lagging.closed.then((c) => (closedBy = c));
    socketOf(lagging).pause();
    await publishAll(hub, bystander);
    await bystander.waitFor((m) => m.event?.data?.message === 'done', 'the bystander to get the last event', 30_000);
    assert.equal(closedBy, undefined, 'the lagging subscriber is still connected');
    socketOf(lagging).resume();
    await lagging.waitFor((m) => m.event?.data?.message === 'done', 'the lagging subscriber to catch up', 30_000);

    const total = METRICS + 1;
    const events = (client: TestClient) => client.messages.filter((m: Message) => m.op === 'event');
    // The bystander kept up: every event, in order, none conflated.
    assert.deepEqual(events(bystander).map((m) => m.offset), Array.from({ length: total }, (_, i) => i + 1));
    assert.ok(events(bystander).every((m) => m.conflated === undefined));
    // The lagging one: fewer events, in order, every gap announced by the event after it, so that the
    // offsets it got plus the ones it was told it skipped are the whole channel.
    const got = events(lagging);
    assert.ok(got.length < total / 2, `conflation dropped events (${got.length} of ${total} sent)`);
    let previous = 0;
    for (const m of got) {
      assert.equal(m.offset - (m.conflated ?? 0), previous + 1, `offset ${m.offset} after ${previous} says conflated ${m.conflated}`);
      previous = m.offset;
    }
    assert.equal(previous, total);
    // Log lines are never conflated; the last value of each metric name arrived.
    const logs = got.filter((m) => m.event.type === 'log').map((m) => m.event.data.message);
    assert.deepEqual(logs, [...Array.from({ length: METRICS / LOG_EVERY }, (_, i) => `line ${(i + 1) * LOG_EVERY}`), 'done']);
    const last = (name: string) => got.filter((m) => m.event.data?.name === name).at(-1)?.event.data.value;
    assert.equal(last('cpu'), METRICS - 2);
    assert.equal(last('mem'), METRICS - 1);
    const metrics = await fetch(`${hub.url}/metrics`).then((r) => r.text());
    const conflated = Number(/^herald_events_conflated_total (\d+)$/m.exec(metrics)?.[1]);
    assert.equal(conflated, total - got.length, 'the metric counts the events the lagging subscriber was not sent');
    lagging.close();
    bystander.close();
  });

  it('closes a subscriber that stopped reading as a slow consumer when nothing it lags on may be conflated (--conflate-types off)', { timeout: 60_000 }, async () => {
    const hub = await startHub({ store: 'memory', maxEventsPerSecond: 0, maxIpEventsPerSecond: 0, retentionCount: 100_000, conflateTypes: 'off' });
    hubs.push(hub);
    const lagging = await TestClient.connect(hub.url);
    await lagging.request({ op: 'subscribe', channel: CHANNEL });
    socketOf(lagging).pause();
    await publishAll(hub);
    socketOf(lagging).resume();
    assert.equal((await lagging.closed).code, CloseCodes.slowConsumer.code);
  });

  it('refuses to conflate logs, steps or a run start or end', () => {
    for (const type of ['log', 'step.completed', 'run.completed', 'run.started']) {
      assert.throws(() => resolveConfig({ conflateTypes: `metric,${type}` }), new RegExp(`may not hold "${type.replace('.', '\\.')}"`));
    }
    assert.doesNotThrow(() => resolveConfig({ conflateTypes: 'metric,cursor.moved' }));
  });
});
