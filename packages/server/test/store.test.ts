import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import Database from 'better-sqlite3';
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

  it('keeps its totals across a reopen, counting each channel from its offsets rather than its rows', async () => {
    const dataDir = sqliteDir();
    const first = new SqliteStore({ dataDir, retention: { maxCount: 3, maxAgeMs: 86_400_000 } });
    await first.append('totals.a', prepareEvents(Array.from({ length: 5 }, () => ({ type: 'a' })), 65536));
    await first.append('totals.b', prepareEvents([{ type: 'b' }], 65536));
    await first.append('totals.c', prepareEvents([{ type: 'c' }], 65536));
    await first.reset('totals.c');
    const before = await first.totals();
    assert.equal(before.events, 4);
    await first.close();
    const second = new SqliteStore({ dataDir, retention });
    assert.deepEqual(await second.totals(), before, 'read before any append of the new process');
    await second.close();
  });

  it('answers appends made in the same tick, and refuses appends after close', async () => {
    const store = new SqliteStore({ dataDir: sqliteDir(), retention });
    const results = await Promise.all([store.append('g', prepareEvents([{ type: 'a' }], 65536)), store.append('h', prepareEvents([{ type: 'b' }], 65536))]);
    assert.deepEqual(results.map((r) => r.offsets), [[1], [1]]);
    await store.close();
    await assert.rejects(store.append('g', prepareEvents([{ type: 'c' }], 65536)), /closed/);
  });

  it('opens a herald.db made before byte retention: sizes of old events are computed and held to the caps', async () => {
    const dataDir = sqliteDir();
    const old = new Database(join(dataDir, 'herald.db'));
    old.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE channels (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, epoch TEXT NOT NULL, latest INTEGER NOT NULL);
      CREATE TABLE events (channel_id INTEGER NOT NULL, offset INTEGER NOT NULL, time INTEGER NOT NULL, idem TEXT, body TEXT NOT NULL, PRIMARY KEY (channel_id, offset)) WITHOUT ROWID;
      INSERT INTO meta VALUES ('epoch', 'aaaaaaaaaaaa');
      INSERT INTO channels VALUES (1, 'legacy', 'aaaaaaaaaaaa', 3);
    `);
    const fresh = () => prepareEvents([{ type: 'old', data: 'é'.repeat(40) }], 65536);
    const body = fresh()[0]!.json; // 2 bytes per é: sizes are bytes, not characters
    const insert = old.prepare('INSERT INTO events VALUES (1, ?, ?, NULL, ?)');
    for (let offset = 1; offset <= 3; offset++) insert.run(offset, Date.now(), body);
    old.close();

    const size = Buffer.byteLength(body);
    const store = new SqliteStore({ dataDir, retention: { ...retention, maxChannelBytes: 3 * size + 1 } });
    const page = await store.read('legacy', 0, 10);
    assert.deepEqual([page.position.epoch, page.events.map((e) => e.offset)], ['aaaaaaaaaaaa', [1, 2, 3]], 'the old history is still there');
    await store.append('legacy', fresh());
    assert.deepEqual((await store.read('legacy', 0, 10)).events.map((e) => e.offset), [2, 3, 4], 'the oldest event made room under the byte cap');
    await store.close();
    const check = new Database(join(dataDir, 'herald.db'), { readonly: true });
    assert.deepEqual(check.prepare('SELECT bytes FROM channels WHERE id = 1').get(), { bytes: 3 * size });
    // Its WITHOUT ROWID table is keyed by position already: no second position index was added to it.
    assert.deepEqual(indexesOf(check), ['events_idem', 'events_time']);
    check.close();
  });

  it('keeps the bodies of a new database out of the position index: a rowid table with events_position', async () => {
    const dataDir = sqliteDir();
    const store = new SqliteStore({ dataDir, retention });
    await store.append('c', prepareEvents([{ type: 'a', data: 'x'.repeat(2000) }, { type: 'b' }], 65536));
    assert.deepEqual((await store.read('c', 0, 10)).events.map((e) => e.offset), [1, 2]);
    await store.close();
    const check = new Database(join(dataDir, 'herald.db'), { readonly: true });
    const { sql } = check.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE name = 'events'").get()!;
    assert.doesNotMatch(sql, /WITHOUT ROWID/i);
    assert.deepEqual(indexesOf(check), ['events_idem', 'events_position', 'events_time']);
    check.close();
  });
});

function indexesOf(db: Database.Database): string[] {
  return db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND name NOT LIKE 'sqlite_%' ORDER BY name").all().map((r) => r.name);
}
