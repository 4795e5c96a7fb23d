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

const EVENT_BYTES = 16 * 1024;
const BATCHES = 80;
const PER_BATCH = 25;

describe('SQLite checkpoints beside the writer', () => {
  let hub: TestHub;
  after(() => hub?.dispose());

  it('copies the log into the database in the background, so the log starts over, and every event is kept', { timeout: 60_000 }, async () => {
    hub = await startHub({ store: 'sqlite', maxEventsPerSecond: 0, maxIpEventsPerSecond: 0 });
    const message = 'x'.repeat(EVENT_BYTES);
    // 2 000 events of 16 KB: about 8 000 pages of log, eight times the 1 000 at which SQLite would
    // checkpoint inside a commit by itself.
    for (let b = 0; b < BATCHES; b++) {
      const { status } = await postEvents(hub.url, 'big.logs', Array.from({ length: PER_BATCH }, (_, i) => ({ type: 'log', data: { message, n: b * PER_BATCH + i } })));
      assert.equal(status, 201);
    }
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
      if (Date.now() > deadline) assert.fail(`the log was never caught up: wal pages ${total} (copied ${copied}) after ${written} events of 16 KB`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok((sample(metrics, 'herald_store_checkpoint_seconds_count', '{mode="passive"}') ?? 0) > 0, 'checkpoints are measured');
    assert.equal(sample(metrics, 'herald_store_checkpoint_failures_total'), 0);
    // Every batch was one group commit here (one publisher), each measured by phase.
    assert.ok((sample(metrics, 'herald_store_commit_seconds_count', '{phase="commit"}') ?? 0) >= BATCHES);
    assert.ok((sample(metrics, 'herald_store_commit_events_sum') ?? 0) >= written);
    // The log file itself is cut back when it starts over (journal_size_limit), whatever went through it.
    const wal = statSync(join(hub.dataDir, 'herald.db-wal'), { throwIfNoEntry: false })?.size ?? 0;
    assert.ok(wal <= WAL_SIZE_LIMIT_BYTES + 4 * 1024 * 1024, `the log file holds ${wal} bytes`);
    // Nothing was lost on the way: the history holds every event, in order.
    const { json } = await getJson(`${hub.url}/api/channels/big.logs/events?limit=1000&since=${written - 3}`);
    assert.deepEqual(json.events.map((e: { offset: number }) => e.offset), [written - 2, written - 1, written]);
  });
});
