import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { applyRunEvent, DEFAULT_HEALTH_WEIGHTS, emptySnapshot, type HeraldEvent, type RunSnapshot } from '@herald/protocol';
import { RunStore, type RunChange } from '../src/runs/run-store.js';
import { getJson, postEvents, scratchDirs, startHub } from './support/hub.js';
import { TestClient } from './support/ws-client.js';

const dirs = scratchDirs('herald-archive-');
const event = (type: string, data: object): HeraldEvent => ({ type, severity: 'info', data }) as HeraldEvent;

function runWithSteps(id: string, n: number): RunSnapshot {
  const run = emptySnapshot(id, `runs.${id}`, 1000);
  for (let i = 0; i < n; i++) applyRunEvent(run, i + 1, 1000 + i, event('step.started', { step: `s${i}` }), DEFAULT_HEALTH_WEIGHTS);
  return run;
}

describe('run archive', () => {
  it('writes only the steps that changed, and reassembles the run', () => {
    const store = new RunStore(dirs());
    const run = runWithSteps('inc', 5);
    store.write([{ run, steps: [0, 1, 2, 3, 4] }], [], []);
    const position = applyRunEvent(run, 6, 2000, event('step.completed', { step: 's3', status: 'passed' }), DEFAULT_HEALTH_WEIGHTS)!;
    assert.equal(position, 3);
    const written: RunChange[] = [{ run, steps: [position] }];
    store.write(written, [], []);
    const back = store.get('inc')!;
    assert.deepEqual(back, run);
    assert.equal(back.steps[3]!.status, 'passed');
    assert.deepEqual(store.view('inc', 2)!.steps.map((s) => s.step), ['s0', 's1']);
    assert.equal(store.view('inc', 2)!.stepsTotal, 5);
    assert.deepEqual(store.steps('inc', 3, 10)!.steps.map((s) => s.step), ['s3', 's4']);
    assert.deepEqual(store.list({ limit: 10 }).runs[0]!.steps, { total: 5, passed: 1, failed: 0, running: 4 });
    store.delete(['inc']);
    assert.equal(store.get('inc'), undefined);
    store.close();
  });

  it('moves the steps of an archive written by an older hub into their own table, keeping every run', () => {
    const dir = dirs();
    const old = new Database(join(dir, 'runs.db'));
    old.exec(`CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT NOT NULL, title TEXT NOT NULL, labels TEXT NOT NULL,
      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, snapshot TEXT NOT NULL)`);
    const run = runWithSteps('legacy', 3);
    applyRunEvent(run, 4, 1004, event('run.completed', { status: 'succeeded' }), DEFAULT_HEALTH_WEIGHTS);
    old.prepare('INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)').run(run.id, run.status, run.title, '{}', run.createdAt, run.updatedAt, JSON.stringify(run));
    old.close();
    const store = new RunStore(dir);
    assert.deepEqual(store.get('legacy'), run);
    assert.deepEqual(store.list({ limit: 10 }).runs.map((r) => [r.id, r.status, r.steps.total]), [['legacy', 'succeeded', 3]]);
    store.close();
    const reopened = new RunStore(dir);
    assert.deepEqual(reopened.get('legacy'), run, 'opening again changes nothing');
    reopened.close();
  });

  it('serves a finished run from the archive in pages: GET /api/runs/{id}?steps= and /steps?from=&limit=', async () => {
    const hub = await startHub({ dataDir: dirs() });
    try {
      const events = Array.from({ length: 30 }, (_, i) => ({ type: 'step.completed', data: { step: `t${i}`, status: 'passed' } }));
      assert.equal((await postEvents(hub.url, 'runs.paged', [...events, { type: 'run.completed', data: { status: 'succeeded' } }])).status, 201);
      for (const when of ['live', 'archived']) {
        const head = (await getJson(`${hub.url}/api/runs/paged?steps=10`)).json;
        assert.equal(head.steps.length, 10, when);
        assert.equal(head.stepsTotal, 30, when);
        assert.equal(head.status, 'succeeded', when);
        const page = (await getJson(`${hub.url}/api/runs/paged/steps?from=25&limit=10`)).json;
        assert.deepEqual([page.from, page.steps.map((s: any) => s.step), page.next, page.stepsTotal, page.offset], [25, ['t25', 't26', 't27', 't28', 't29'], null, 30, 31], when);
        assert.equal((await getJson(`${hub.url}/api/runs/paged/steps?limit=10`)).json.next, 10, when);
        await getJson(`${hub.url}/api/runs`); // flushes: the finished run leaves memory
      }
      assert.equal((await getJson(`${hub.url}/api/runs/paged/steps?limit=0`)).status, 400);
      assert.equal((await getJson(`${hub.url}/api/runs/nope/steps`)).json.error.code, 'not_found');
    } finally {
      await hub.close();
    }
  });
});

describe('hub-owned run types', () => {
  it('on an open hub too, nobody but the hub publishes on `runs`, over HTTP or WebSocket; run.stalled from a publisher only marks its own run', async () => {
    const hub = await startHub({ dataDir: dirs() });
    try {
      const http = await postEvents(hub.url, 'runs', { type: 'run.summary', data: { id: 'fake' } });
      assert.equal(http.status, 403);
      const client = await TestClient.connect(hub.url);
      const ws = await client.request({ op: 'publish', channel: 'runs', event: { type: 'run.summary', data: { id: 'fake' } } });
      assert.equal(ws.code, 'forbidden');
      client.close();
      assert.equal((await postEvents(hub.url, 'runs.own', [{ type: 'run.started' }, { type: 'run.stalled', data: { silentMs: 1 } }])).status, 201);
      assert.equal((await getJson(`${hub.url}/api/runs/own`)).json.status, 'stalled');
      assert.equal((await postEvents(hub.url, 'runs.own', { type: 'run.heartbeat' })).status, 201);
      assert.equal((await getJson(`${hub.url}/api/runs/own`)).json.status, 'running');
    } finally {
      await hub.close();
    }
  });
});
