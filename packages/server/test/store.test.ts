import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore, prepareEvents, SqliteStore } from '../src/index.js';
import { describeStoreConformance } from './store-conformance.js';
import { scratchDirs } from './support/hub.js';

const sqliteDir = scratchDirs('herald-store-');

describeStoreConformance('memory', (retention) => new MemoryStore(retention));
describeStoreConformance('sqlite', (retention) => new SqliteStore({ dataDir: sqliteDir(), retention }));

describe('SqliteStore', () => {
  const retention = { maxCount: 100, maxAgeMs: 86_400_000 };

  it('keeps history, epochs and idempotency ids across a reopen', async () => {
    const dataDir = sqliteDir();
    const first = new SqliteStore({ dataDir, retention });
    const appended = await first.append('keep', prepareEvents([{ type: 'a', id: 'x' }, { type: 'b' }], 65536));
    const unknownEpoch = (await first.position('untouched')).epoch;
    await first.close();
    await first.close(); // safe twice

    const second = new SqliteStore({ dataDir, retention });
    const page = await second.read('keep', 0, 10);
    assert.equal(page.position.epoch, appended.epoch);
    assert.deepEqual(page.events.map((e) => e.offset), [1, 2]);
    assert.deepEqual((await second.append('keep', prepareEvents([{ type: 'a', id: 'x' }], 65536))).offsets, [1]);
    assert.equal((await second.position('untouched')).epoch, unknownEpoch);
    await second.close();
  });

  it('answers appends made in the same tick, and refuses appends after close', async () => {
    const store = new SqliteStore({ dataDir: sqliteDir(), retention });
    const results = await Promise.all([store.append('g', prepareEvents([{ type: 'a' }], 65536)), store.append('h', prepareEvents([{ type: 'b' }], 65536))]);
    assert.deepEqual(results.map((r) => r.offsets), [[1], [1]]);
    await store.close();
    await assert.rejects(store.append('g', prepareEvents([{ type: 'c' }], 65536)), /closed/);
  });
});
