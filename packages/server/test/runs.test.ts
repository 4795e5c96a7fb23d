import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { AccessPolicy, Hub, KeyStore, MemoryBroker, prepareEvents, SqliteStore, startServer, SYSTEM, TokenVerifier } from '../src/index.js';
import { DEFAULT_HEALTH_WEIGHTS } from '@herald/protocol';
import { RunStore } from '../src/runs/run-store.js';
import { RunTracker } from '../src/runs/tracker.js';
import { getJson, postEvents, startHub, tempDir, type TestHub } from './support/hub.js';
import { TestClient } from './support/ws-client.js';

const silentLog = { error() {}, warn() {}, info() {}, debug() {} } as any;
const run = (id: string, events: object[]) => (hub: { url: string }) => postEvents(hub.url, `runs.${id}`, events);

describe('runs', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub({ stallAfterMs: 150 });
  });
  after(() => hub.dispose());

  it('keeps a snapshot served by GET /api/runs/{id}', async () => {
    await run('snap', [
      { type: 'run.started', data: { title: 'Deploy web', labels: { env: 'prod' } } },
      { type: 'step.started', data: { step: 'build' } },
      { type: 'step.completed', data: { step: 'build', status: 'passed' } },
      { type: 'run.progress', data: { percent: 50, message: 'halfway' } },
    ])(hub);
    const { status, json } = await getJson(`${hub.url}/api/runs/snap`);
    assert.equal(status, 200);
    assert.equal(json.status, 'running');
    assert.equal(json.title, 'Deploy web');
    assert.equal(json.percent, 50);
    assert.equal(json.offset, 4);
    assert.deepEqual(json.steps.map((s: any) => [s.step, s.status]), [['build', 'passed']]);
    assert.equal((await getJson(`${hub.url}/api/runs/nope`)).json.error.code, 'not_found');
  });

  it('starts a run over after DELETE of its channel: new events make a new snapshot, the old one is gone', async () => {
    await run('again', [
      { type: 'run.started', data: { title: 'first try' } },
      { type: 'run.progress', data: { percent: 80 } },
      { type: 'log', data: { message: 'firstattempt marker' } },
    ])(hub);
    assert.equal((await getJson(`${hub.url}/api/runs/again`)).json.percent, 80);
    const reset = await fetch(`${hub.url}/api/channels/runs.again`, { method: 'DELETE' });
    assert.equal(reset.status, 200);
    assert.equal((await getJson(`${hub.url}/api/runs/again`)).status, 404, 'the snapshot went with the history');
    await run('again', [{ type: 'run.started', data: { title: 'second try' } }, { type: 'run.progress', data: { percent: 10 } }])(hub);
    const { json } = await getJson(`${hub.url}/api/runs/again`);
    assert.deepEqual([json.title, json.percent, json.offset, json.events], ['second try', 10, 2, 2], 'built from the new epoch only');
    const search = (await getJson(`${hub.url}/api/search?q=firstattempt`)).json;
    assert.deepEqual(search.hits, [], 'the old text is not searchable any more');
    const listed = (await getJson(`${hub.url}/api/runs?q=again`)).json.runs.map((r: { id: string; title: string }) => [r.id, r.title]);
    assert.deepEqual(listed, [['again', 'second try']]);
  });

  it('refuses bad run events with 400 invalid_event and changes nothing', async () => {
    await run('strict', [{ type: 'run.started' }, { type: 'run.progress', data: { percent: 20 } }])(hub);
    const before = (await getJson(`${hub.url}/api/runs/strict`)).json;
    const tooMuch = await run('strict', [{ type: 'run.progress', data: { percent: 150 } }])(hub);
    assert.equal(tooMuch.status, 400);
    assert.equal(tooMuch.json.error.code, 'invalid_event');
    assert.match(tooMuch.json.error.message, /percent must be a number from 0 to 100/);
    const unknownStatus = await run('strict', [{ type: 'log', data: { message: 'fine' } }, { type: 'run.completed', data: { status: 'exploded' } }])(hub);
    assert.equal(unknownStatus.status, 400);
    assert.match(unknownStatus.json.error.message, /event 1: run.completed: status must be one of/);
    const client = await TestClient.connect(hub.url);
    const ws = await client.request({ op: 'publish', channel: 'runs.strict', event: { type: 'step.completed', data: { step: 'x', status: 'done' } } });
    assert.equal(ws.code, 'invalid_event');
    client.close();
    assert.deepEqual((await getJson(`${hub.url}/api/runs/strict`)).json, before);
    assert.equal((await getJson(`${hub.url}/api/channels/runs.strict/events`)).json.latest, 2, 'nothing was stored');
  });

  it('marks a silent running run stalled with an event, and running again on the next event', async () => {
    const client = await TestClient.connect(hub.url);
    await client.request({ op: 'subscribe', channel: 'runs.quiet' });
    await run('quiet', [{ type: 'run.started' }])(hub);
    const stalled = await client.waitFor((m) => m.op === 'event' && m.event.type === 'run.stalled', 'run.stalled');
    assert.equal(stalled.event.severity, 'warning');
    assert.ok(stalled.event.data.silentMs >= 150);
    assert.equal((await getJson(`${hub.url}/api/runs/quiet`)).json.status, 'stalled');
    await run('quiet', [{ type: 'run.heartbeat' }])(hub);
    assert.equal((await getJson(`${hub.url}/api/runs/quiet`)).json.status, 'running');
    await run('quiet', [{ type: 'run.completed', data: { status: 'cancelled' } }])(hub);
    client.close();
  });

  it('sends one small run.summary per change on the runs channel', async () => {
    const client = await TestClient.connect(hub.url);
    await client.request({ op: 'subscribe', channel: 'runs' });
    await run('summarised', [{ type: 'run.started', data: { title: 'S' } }, { type: 'run.completed', data: { status: 'failed' } }])(hub);
    const summary = await client.waitFor((m) => m.op === 'event' && m.event.data?.id === 'summarised' && m.event.data.status === 'failed', 'summary');
    assert.equal(summary.event.type, 'run.summary');
    assert.equal(summary.event.data.title, 'S');
    assert.equal(summary.event.data.steps.total, 0);
    assert.equal('snapshot' in summary.event.data, false);
    client.close();
  });

  it('lists runs newest first, paginated, filtered by status, label and text', async () => {
    for (let i = 1; i <= 7; i++) {
      const events: object[] = [{ type: 'run.started', data: { title: `list job ${i}`, labels: { team: i % 2 ? 'odd' : 'even' } } }];
      if (i <= 2) events.push({ type: 'run.completed', data: { status: 'failed' } });
      await run(`list-${i}`, events)(hub);
    }
    const ids = (page: any) => page.runs.map((r: any) => r.id);
    const first = (await getJson(`${hub.url}/api/runs?q=list%20job&limit=3`)).json;
    assert.deepEqual(ids(first), ['list-7', 'list-6', 'list-5']);
    const second = (await getJson(`${hub.url}/api/runs?q=list%20job&limit=3&cursor=${first.next}`)).json;
    assert.deepEqual(ids(second), ['list-4', 'list-3', 'list-2']);
    const third = (await getJson(`${hub.url}/api/runs?q=list%20job&limit=3&cursor=${second.next}`)).json;
    assert.deepEqual([ids(third), third.next], [['list-1'], null]);
    assert.deepEqual(ids((await getJson(`${hub.url}/api/runs?q=list&status=failed`)).json), ['list-2', 'list-1']);
    assert.deepEqual(ids((await getJson(`${hub.url}/api/runs?q=list&label=team%3Deven`)).json), ['list-6', 'list-4', 'list-2']);
    assert.equal((await getJson(`${hub.url}/api/runs?status=bogus`)).status, 400);
    assert.equal((await getJson(`${hub.url}/api/runs?cursor=garbage`)).json.error.code, 'bad_request');
  });

  it('returns metric series downsampled to at most the asked number of points', async () => {
    const points = Array.from({ length: 1000 }, (_, i) => ({ type: 'metric', data: { name: 'rps', value: i % 10 === 0 ? 100 : 0, unit: 'req/s' } }));
    await run('metrics', points)(hub);
    await run('metrics', [{ type: 'metric', data: { name: 'cpu', value: 0.5 } }])(hub);
    const all = (await getJson(`${hub.url}/api/runs/metrics/metrics`)).json;
    assert.deepEqual(all.series.map((s: any) => s.name), ['cpu', 'rps']);
    const rps = (await getJson(`${hub.url}/api/runs/metrics/metrics?name=rps&points=50`)).json.series[0];
    assert.equal(rps.unit, 'req/s');
    assert.ok(rps.points.length >= 1 && rps.points.length <= 50, `${rps.points.length} points`);
    const mean = rps.points.reduce((sum: number, [, v]: [number, number]) => sum + v, 0) / rps.points.length;
    assert.ok(mean > 5 && mean < 15, `bucket averages keep the series mean (~10), got ${mean}`);
    const raw = (await getJson(`${hub.url}/api/runs/metrics/metrics?name=cpu`)).json.series[0];
    assert.deepEqual(raw.points.map(([, v]: [number, number]) => v), [0.5]);
  });
});

describe('runs under concurrent publishing', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub();
  });
  after(() => hub.dispose());

  it('gives snapshot + subscribe with no gap and no duplicate while another process publishes', async () => {
    await run('busy', [{ type: 'run.started', data: { title: 'busy' } }])(hub);
    const total = 600;
    const publisher = spawn(process.execPath, ['-e', `
      (async () => {
        for (let i = 1; i <= ${total}; i++) {
          const body = JSON.stringify({ type: 'run.progress', data: { percent: i % 101, message: 'step ' + i } });
          const r = await fetch(${JSON.stringify(hub.url)} + '/api/channels/runs.busy/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          if (r.status !== 201) process.exit(1);
        }
      })();`], { stdio: 'inherit' });
    const exited = new Promise((resolve) => publisher.on('exit', resolve));
    // Subscribe while the stream is flowing, not before it starts.
    while ((await getJson(`${hub.url}/api/channels/runs.busy/events?since=0&limit=1`)).json.latest < 20) await new Promise((r) => setTimeout(r, 5));
    const sessions: Array<{ client: TestClient; reply: any }> = [];
    for (let i = 0; i < 8; i++) {
      const client = await TestClient.connect(hub.url);
      sessions.push({ client, reply: await client.request({ op: 'subscribe', channel: 'runs.busy', snapshot: true }) });
      await new Promise((r) => setTimeout(r, 15));
    }
    assert.equal(await exited, 0);
    const finalOffset = total + 1;
    const history = new Map<number, any>();
    for (let since = 0; since < finalOffset; ) {
      const page = (await getJson(`${hub.url}/api/channels/runs.busy/events?since=${since}&limit=1000`)).json;
      for (const e of page.events) history.set(e.offset, e.event);
      since = page.next;
    }
    const startOffsets = new Set<number>();
    for (const { client, reply } of sessions) {
      assert.equal(reply.op, 'subscribed');
      const { snapshot, offset } = reply;
      assert.equal(snapshot.offset, offset);
      startOffsets.add(offset);
      const atSnapshot = history.get(offset);
      if (atSnapshot.type === 'run.progress') assert.equal(snapshot.message, atSnapshot.data.message, 'the snapshot is the state at its offset');
      const events = await client.waitForEvents(finalOffset - offset, 'runs.busy');
      assert.deepEqual(events.map((e) => e.offset), Array.from({ length: finalOffset - offset }, (_, k) => offset + k + 1));
      client.close();
    }
    assert.ok(startOffsets.size > 1, 'subscriptions started at different points of the stream');
  });
});

describe('runs across restarts', () => {
  it('catches up, on start, with run events stored while no tracker saw them', async () => {
    const dataDir = tempDir();
    const retention = { maxCount: 1000, maxAgeMs: 86_400_000 };
    const store = new SqliteStore({ dataDir, retention });
    const hub = new Hub(store, new MemoryBroker(), new AccessPolicy(new KeyStore(dataDir, false), new TokenVerifier({})), 100);
    await hub.publish(SYSTEM, 'runs.unseen', prepareEvents([{ type: 'run.started', data: { title: 'unseen' } }, { type: 'run.progress', data: { percent: 70 } }], 65536));
    const runStore = new RunStore(dataDir);
    const tracker = new RunTracker(hub, runStore, { stallAfterMs: 60_000, retentionAgeMs: 86_400_000, weights: DEFAULT_HEALTH_WEIGHTS, log: silentLog });
    assert.equal(tracker.get('unseen'), undefined);
    await tracker.start();
    assert.deepEqual([tracker.get('unseen')?.percent, tracker.get('unseen')?.offset], [70, 2]);
    await hub.publish(SYSTEM, 'runs.unseen', prepareEvents([{ type: 'run.completed', data: { status: 'succeeded' } }], 65536));
    tracker.close();
    assert.equal(new RunStore(dataDir).get('unseen')?.status, 'succeeded', 'written to the archive on close');
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps runs, metrics and search after a restart', async () => {
    const dataDir = tempDir();
    try {
      let hub = await startServer({ port: 0, dataDir, logLevel: 'silent' });
      await postEvents(hub.url, 'runs.kept', [
        { type: 'run.started', data: { title: 'Checkout flow' } },
        { type: 'log', severity: 'error', data: { message: 'payment declined by gateway' } },
        { type: 'metric', data: { name: 'latency', value: 42, unit: 'ms' } },
        { type: 'run.completed', data: { status: 'failed' } },
      ]);
      const before = (await getJson(`${hub.url}/api/runs/kept`)).json;
      await hub.close();
      hub = await startServer({ port: 0, dataDir, logLevel: 'silent' });
      try {
        assert.deepEqual((await getJson(`${hub.url}/api/runs/kept`)).json, before);
        assert.deepEqual((await getJson(`${hub.url}/api/runs/kept/metrics?name=latency`)).json.series[0].points.map((p: number[]) => p[1]), [42]);
        const search = (await getJson(`${hub.url}/api/search?q=declined`)).json;
        assert.deepEqual(search.hits.map((h: any) => [h.runId, h.kind, h.offset, h.title]), [['kept', 'log', 2, 'Checkout flow']]);
        assert.match(search.hits[0].snippet, /\[declined\]/);
        assert.deepEqual((await getJson(`${hub.url}/api/search?q=checkout`)).json.hits.map((h: any) => h.kind), ['title']);
        assert.deepEqual((await getJson(`${hub.url}/api/runs?status=failed`)).json.runs.map((r: any) => r.id), ['kept']);
      } finally {
        await hub.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
