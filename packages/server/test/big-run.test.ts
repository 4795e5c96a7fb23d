import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { HeraldClient, type WebSocketConstructor } from '@herald/client';
import type { RunSnapshot } from '@herald/protocol';
import { BIG_RUN_HUB, bigStep, publishBigRun } from './support/big-run.js';
import { Bystander } from './support/bystander.js';
import { getJson, postEvents, request, startHub, type TestHub } from './support/hub.js';
import { TestClient } from './support/ws-client.js';

const STEPS = 20_000;

describe('a 20 000-step run', () => {
  let hub: TestHub;
  let bystander: Bystander;
  let last: number;
  before(async () => {
    hub = await startHub(BIG_RUN_HUB);
    bystander = await Bystander.start(hub.url);
    await bystander.mark();
    last = await publishBigRun(hub.url, 'big', STEPS);
    await bystander.mark();
  });
  after(async () => {
    await bystander.verify();
    await hub.dispose();
  });

  it('subscribes with snapshot:true under the default 1 MiB outbound cap: every step, in bounded parts, then live events', async () => {
    const client = await TestClient.connect(hub.url);
    const reply = await client.request({ op: 'subscribe', channel: 'runs.big', snapshot: true });
    assert.equal(reply.op, 'subscribed', JSON.stringify(reply).slice(0, 300));
    assert.equal(reply.offset, last);
    assert.equal(reply.snapshot.offset, last);
    assert.equal(reply.snapshot.stepsTotal, STEPS);
    const steps = [...reply.snapshot.steps];
    const parts = await client.waitFor(() => client.messages.filter((m) => m.op === 'steps').reduce((n, m) => n + m.steps.length, 0) + steps.length >= STEPS, 'every step', 20_000);
    void parts;
    const messages = client.messages.filter((m) => m.op === 'steps');
    for (const m of messages) {
      assert.equal(m.offset, last);
      assert.equal(m.from, steps.length, 'parts in order, none missing');
      steps.push(...m.steps);
    }
    assert.equal(steps.length, STEPS);
    steps.forEach((s, i) => assert.equal(s.step, bigStep(i).step));
    assert.equal(steps.filter((s) => s.status === 'failed').length, 400);
    const frames = [JSON.stringify(reply), ...messages.map((m) => JSON.stringify(m))].map((t) => Buffer.byteLength(t));
    const total = frames.reduce((a, b) => a + b, 0);
    console.log(`snapshot: ${(total / 1e6).toFixed(2)} MB in ${frames.length} frames, largest ${(Math.max(...frames) / 1024).toFixed(0)} KiB`);
    assert.ok(Math.max(...frames) < 512 * 1024, 'each frame well under the outbound cap');

    const { json } = await postEvents(hub.url, 'runs.big', { type: 'step.started', data: { step: 'late', name: 'late' } });
    const live = await client.waitFor((m) => m.op === 'event' && m.channel === 'runs.big', 'the live event');
    assert.equal(live.offset, json.offsets[0]);
    assert.equal(live.offset, last + 1, 'gap-free after the snapshot');
    assert.ok(client.messages.indexOf(live) > client.messages.indexOf(messages.at(-1)!), 'after the last part');
    client.close();
    last = live.offset;
  });

  it('after an unsubscribe mid-way, a new snapshot subscription gets only its own parts, in order', async () => {
    const client = await TestClient.connect(hub.url);
    const socket = (client.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    const first = await client.request({ op: 'subscribe', channel: 'runs.big', snapshot: true });
    // Reading nothing for a moment, the hub's queue fills and its parts wait while the commands arrive.
    socket.pause();
    client.sendRaw(JSON.stringify([{ op: 'unsubscribe', id: 'gone', channel: 'runs.big' }, { op: 'subscribe', id: 'again', channel: 'runs.big', snapshot: true }]));
    await new Promise((r) => setTimeout(r, 100));
    socket.resume();
    const reply = await client.waitFor((m) => m.id === 'again', 'the second reply');
    const between = (from: object, to?: object) => client.messages.slice(client.messages.indexOf(from) + 1, to ? client.messages.indexOf(to) : undefined).filter((m) => m.op === 'steps');
    const total = reply.snapshot.stepsTotal;
    await client.waitFor(() => between(reply).reduce((n, m) => n + m.steps.length, reply.snapshot.steps.length) >= total, 'the last part', 20_000);
    let next = reply.snapshot.steps.length;
    for (const m of between(reply)) {
      assert.equal(m.from, next, 'only the new subscription’s parts, in order');
      next += m.steps.length;
    }
    assert.equal(next, total);
    assert.ok(between(first, reply).every((m) => m.offset === first.offset), 'the first one’s parts all came before the new reply');
    client.close();
  });

  it('@herald/client assembles the parts into one snapshot, then delivers the events after it', async () => {
    const client = new HeraldClient({ url: hub.url, WebSocket: WebSocket as unknown as WebSocketConstructor }).connect();
    const got: Array<{ kind: 'snapshot'; run: RunSnapshot; offset: number } | { kind: 'event'; offset: number }> = [];
    const sub = client.subscribe('runs.big', (e) => got.push({ kind: 'event', offset: e.offset }), { snapshot: true });
    sub.on('snapshot', ({ snapshot, offset }) => got.push({ kind: 'snapshot', run: snapshot as RunSnapshot, offset }));
    await new Promise<void>((resolve) => sub.on('state', ({ to }) => to === 'subscribed' && resolve()));
    const { json } = await postEvents(hub.url, 'runs.big', { type: 'step.completed', data: { step: 'late', status: 'passed' } });
    while (got.length < 2) await new Promise((r) => setTimeout(r, 10));
    const [first, second] = got;
    assert.equal(first?.kind, 'snapshot');
    if (first?.kind !== 'snapshot') return;
    assert.equal(first.offset, last);
    assert.equal(first.run.steps.length, STEPS + 1);
    assert.equal('stepsTotal' in first.run, false, 'complete');
    assert.deepEqual(second, { kind: 'event', offset: json.offsets[0] });
    client.close();
    last = json.offsets[0];
  });

  it('answers GET /api/runs/{id} with a page of steps, and pages the rest', async () => {
    const { text } = await request('GET', `${hub.url}/api/runs/big`);
    const head = JSON.parse(text);
    assert.equal(head.steps.length, 1000);
    assert.equal(head.stepsTotal, STEPS + 1);
    console.log(`GET /api/runs/big: ${(text.length / 1024).toFixed(0)} KiB`);
    const page = (await getJson(`${hub.url}/api/runs/big/steps?from=19990&limit=100`)).json;
    assert.deepEqual([page.steps.length, page.steps.at(-1).step, page.next], [11, 'late', null]);
  });

  it('keeps each further event on the run cheap for the main thread (loop delay p99 < 50 ms over 200 step events)', async () => {
    const watcher = await TestClient.connect(hub.url);
    await watcher.request({ op: 'subscribe', channel: 'runs.big', snapshot: true });
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    for (let i = 0; i < 100; i++) {
      await postEvents(hub.url, 'runs.big', { type: 'step.started', data: { step: `more-${i}` } });
      await postEvents(hub.url, 'runs.big', { type: 'step.completed', data: { step: bigStep(i * 37).step, status: 'passed' } });
      if (i % 20 === 0) await bystander.mark();
    }
    // Let a few flushes of the archive run inside the measured window.
    await new Promise((r) => setTimeout(r, 600));
    delay.disable();
    const p99 = delay.percentile(99) / 1e6;
    const max = delay.max / 1e6;
    console.log(`event-loop delay over 200 events on a ${STEPS}-step run: p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms`);
    assert.ok(p99 < 50, `p99 ${p99.toFixed(1)} ms`);
    await watcher.waitFor(() => watcher.events('runs.big').length >= 200, '200 live events');
    const summary = (await getJson(`${hub.url}/api/runs?q=big`)).json.runs[0];
    assert.equal(summary.steps.total, STEPS + 101);
    watcher.close();
  });
});
