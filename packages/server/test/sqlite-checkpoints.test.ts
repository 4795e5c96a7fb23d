import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WAL_SIZE_LIMIT_BYTES } from '../src/store/sqlite-schema.js';
import { getJson, postEvents, startHub, type TestHub } from './support/hub.js';

/** One sample of a Prometheus text exposition: `name{labels} value`. */
function sample(metrics: string, name: string, labels = ''): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The store's lines of the exposition, for a failure's message. */
function storeLines(metrics: string): string {
  return metrics.split('\n').filter((l) => l.startsWith('herald_store_') && !l.includes('_bucket')).join('\n');
}

const EVENT_BYTES = 16 * 1024;
const BATCHES = 160;
const PER_BATCH = 25;

describe('SQLite checkpoints beside the writer', () => {
  let hub: TestHub;
  after(() => hub?.dispose());

  it('copies the log into the database in the background, so the log starts over, and every event is kept', { timeout: 60_000 }, async () => {
    hub = await startHub({ store: 'sqlite', maxEventsPerSecond: 0, maxIpEventsPerSecond: 0 });
    const message = 'x'.repeat(EVENT_BYTES);
    // 2 000 events of 16 KB: about 8 000 pages of log, eight times the 1 000 at which SQLite would
    // checkpoint inside a commit by itself.
    // Four publishers at once, so that checkpoints (a RESTART holds the writer's lock) meet commits in
    // every phase: each publish must still be stored (a writer that met the lock with a read snapshot
    // open used to fail with "database is locked").
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let b = next++; b < BATCHES; b = next++) {
          const { status, json } = await postEvents(hub.url, 'big.logs', Array.from({ length: PER_BATCH }, (_, i) => ({ type: 'log', data: { message, n: b * PER_BATCH + i } })));
          assert.equal(status, 201, JSON.stringify(json));
        }
      }),
    );
    const written = BATCHES * PER_BATCH;
    // Checkpoints happened, on the checkpointer (the writer's are off), and the log started over at least
    // once: it then holds far fewer pages than were written through it (~8 000; 9 000 when it never did).
    let metrics = '';
    const deadline = Date.now() + 10_000;
    for (;;) {
      metrics = await fetch(`${hub.url}/metrics`).then((r) => r.text());
      const total = sample(metrics, 'herald_store_wal_pages', '{state="total"}');
      const copied = sample(metrics, 'herald_store_wal_pages', '{state="copied"}');
      if (total !== undefined && copied === total && total < ((written * EVENT_BYTES) / 4096) * 0.75) break;
      if (Date.now() > deadline) assert.fail(`the log was never caught up: wal pages ${total} (copied ${copied}) after ${written} events of 16 KB\n${storeLines(metrics)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok((sample(metrics, 'herald_store_checkpoint_seconds_count', '{mode="passive"}') ?? 0) > 0, `checkpoints are measured\n${storeLines(metrics)}`);
    assert.equal(sample(metrics, 'herald_store_checkpoint_failures_total'), 0, storeLines(metrics));
    // Every group commit is measured by phase (publishes that met in one are one commit).
    assert.ok((sample(metrics, 'herald_store_commit_seconds_count', '{phase="commit"}') ?? 0) > 0, storeLines(metrics));
    assert.ok((sample(metrics, 'herald_store_commit_events_sum') ?? 0) >= written, storeLines(metrics));
    // The log file itself is cut back when it starts over (journal_size_limit), whatever went through it.
    const wal = statSync(join(hub.dataDir, 'herald.db-wal'), { throwIfNoEntry: false })?.size ?? 0;
    assert.ok(wal <= WAL_SIZE_LIMIT_BYTES + 4 * 1024 * 1024, `the log file holds ${wal} bytes`);
    // Nothing was lost on the way: the history holds every event, in order.
    const { json } = await getJson(`${hub.url}/api/channels/big.logs/events?limit=1000&since=${written - 3}`);
    assert.deepEqual(json.events.map((e: { offset: number }) => e.offset), [written - 2, written - 1, written]);
  });

  it('stores every publish while RESTART checkpoints hold the writer, new channels included (no "database is locked")', { timeout: 60_000 }, async () => {
    const busy = await startHub({ store: 'sqlite', maxEventsPerSecond: 0, maxIpEventsPerSecond: 0, maxConnectionsPerIp: 0, maxNewChannelsPerMinute: 0, maxChannels: 0 });
    try {
      const pad = 'x'.repeat(1000);
      const body = Array.from({ length: 100 }, (_, i) => ({ type: 'load', data: { i, pad } }));
      const restarts = async () => sample(await fetch(`${busy.url}/metrics`).then((r) => r.text()), 'herald_store_checkpoint_seconds_count', '{mode="restart"}') ?? 0;
      // Each publish opens a channel of its own, so each group commit reads a channel row before it
      // writes: the moment a deferred transaction would have met the lock with a read open.
      let published = 0;
      const refused: string[] = [];
      const deadline = Date.now() + 40_000;
      let done = false;
      const watcher = (async () => {
        while (!done && (await restarts()) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
        done = true;
      })();
      await Promise.all(
        Array.from({ length: 8 }, async (_, lane) => {
          while (!done) {
            const { status, json } = await postEvents(busy.url, `fresh.${lane}.${published++}`, body);
            if (status !== 201) refused.push(`${status} ${JSON.stringify(json)}`);
          }
        }),
      );
      await watcher;
      assert.ok((await restarts()) >= 1, `the log was started over by RESTART checkpoints while ${published} publishes ran`);
      assert.deepEqual(refused.slice(0, 3), [], `${refused.length} of ${published} publishes were refused`);
    } finally {
      await busy.dispose();
    }
  });
});
