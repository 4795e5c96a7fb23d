import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startServer, type HeraldServer } from '../src/index.js';
import { getJson, postEvents } from './support/hub.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL } from './support/redis.js';

const available = await redisAnswers(SHARED_REDIS_URL);
const prefixes = scratchPrefixes();

async function eventually<T>(read: () => Promise<T>, test: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = await read();
    if (test(value)) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

if (!available) {
  const message = `no Redis answers at ${SHARED_REDIS_URL}`;
  if (process.env.CI === 'true') it('runs across hubs need a Redis', () => assert.fail(message));
  else it(`runs across hubs skipped: ${message}`, (t) => t.skip(message));
} else {
  /**
   * Runs as state on several hubs: every hub follows every run channel through the broker, so a run's
   * snapshot, the run list and search answer the same on each, and what every hub would publish about a
   * run (its summary, a stall) is one event, deduplicated by its idempotency id in the shared history.
   */
  describe('runs across hubs on one Redis', () => {
    const start = (prefix: string, extra = {}) =>
      startServer({ port: 0, logLevel: 'silent', store: 'redis', redisUrl: SHARED_REDIS_URL, redisPrefix: prefix, stallAfterMs: 60_000, ...extra });

    it('answers the same snapshot, list and search on every hub for a run published through both', async () => {
      const prefix = prefixes();
      const hubs: HeraldServer[] = [await start(prefix), await start(prefix)];
      try {
        const [a, b] = hubs as [HeraldServer, HeraldServer];
        const events = [
          { type: 'run.started', data: { title: 'Nightly across hubs', labels: { env: 'ci' } } },
          { type: 'step.started', data: { step: 'build' } },
          { type: 'step.completed', data: { step: 'build', status: 'passed' } },
          { type: 'log', data: { message: 'quokka compiled everything' } },
          { type: 'step.started', data: { step: 'test' } },
          { type: 'step.completed', data: { step: 'test', status: 'failed', message: 'two flaky' } },
          { type: 'run.progress', data: { percent: 70 } },
        ];
        for (const [i, event] of events.entries()) assert.equal((await postEvents((i % 2 ? b : a).url, 'runs.across', event)).status, 201);
        const view = (hub: HeraldServer) => getJson(`${hub.url}/api/runs/across`).then((r) => r.json);
        const onA = await eventually(() => view(a), (r) => r.offset === 7, 'hub A to take in all seven events');
        const onB = await eventually(() => view(b), (r) => r.offset === 7, 'hub B to take in all seven events');
        assert.deepEqual(onB, onA, 'one snapshot on both hubs');
        assert.deepEqual([onA.title, onA.percent, onA.steps.map((s: { status: string }) => s.status)], ['Nightly across hubs', 70, ['passed', 'failed']]);
        for (const hub of hubs) {
          const list = (await getJson(`${hub.url}/api/runs?q=across`)).json.runs;
          assert.deepEqual(list.map((r: { id: string; percent: number }) => [r.id, r.percent]), [['across', 70]]);
          const search = (await getJson(`${hub.url}/api/search?q=quokka`)).json.hits;
          assert.deepEqual(search.map((h: { runId: string }) => h.runId), ['across']);
        }
        // Both hubs summarised the run; the summaries of one state are one event on `runs`.
        await new Promise((r) => setTimeout(r, 600)); // both hubs have flushed (every 250 ms)
        const summaries = (await getJson(`${a.url}/api/channels/runs/events?limit=1000`)).json.events.filter((e: { event: { data: { id: string } } }) => e.event.data.id === 'across');
        const offsets = summaries.map((e: { event: { id: string } }) => e.event.id);
        assert.equal(new Set(offsets).size, offsets.length, 'no summary twice');
      } finally {
        await Promise.all(hubs.map((h) => h.close()));
      }
    });

    it('publishes a stall once, though every hub watches the run', async () => {
      const prefix = prefixes();
      const hubs: HeraldServer[] = [await start(prefix, { stallAfterMs: 200 }), await start(prefix, { stallAfterMs: 200 }), await start(prefix, { stallAfterMs: 200 })];
      try {
        assert.equal((await postEvents(hubs[0]!.url, 'runs.quiet', { type: 'run.started', data: { title: 'goes quiet' } })).status, 201);
        for (const hub of hubs) await eventually(() => getJson(`${hub.url}/api/runs/quiet`).then((r) => r.json), (r) => r.status === 'stalled', 'the run to stall on every hub');
        await new Promise((r) => setTimeout(r, 600));
        const history = (await getJson(`${hubs[1]!.url}/api/channels/runs.quiet/events`)).json.events;
        assert.deepEqual(history.map((e: { event: { type: string } }) => e.event.type), ['run.started', 'run.stalled'], 'one stall, not one per hub');
      } finally {
        await Promise.all(hubs.map((h) => h.close()));
      }
    });

    it('starts a run over on every hub when its channel is reset on one of them', async () => {
      const prefix = prefixes();
      const hubs: HeraldServer[] = [await start(prefix), await start(prefix)];
      try {
        const [a, b] = hubs as [HeraldServer, HeraldServer];
        await postEvents(a.url, 'runs.redo', [{ type: 'run.started', data: { title: 'first' } }, { type: 'run.progress', data: { percent: 90 } }]);
        await eventually(() => getJson(`${b.url}/api/runs/redo`).then((r) => r.json), (r) => r.percent === 90, 'hub B to see the first try');
        assert.equal((await fetch(`${a.url}/api/channels/runs.redo`, { method: 'DELETE' })).status, 200);
        await postEvents(a.url, 'runs.redo', { type: 'run.started', data: { title: 'second' } });
        const onB = await eventually(() => getJson(`${b.url}/api/runs/redo`).then((r) => r.json), (r) => r.title === 'second', 'hub B to start the run over');
        assert.deepEqual([onB.offset, onB.percent, onB.events], [1, null, 1], 'built from the new epoch only');
      } finally {
        await Promise.all(hubs.map((h) => h.close()));
      }
    });
  });
}
