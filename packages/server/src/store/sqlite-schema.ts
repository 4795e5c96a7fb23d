import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export type SyncMode = 'full' | 'normal';

/** What the write-ahead log file is cut back to when it starts over (it may grow past it between checkpoints). */
export const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  epoch TEXT NOT NULL,
  latest INTEGER NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0
);
-- A rowid table with its position in an index of its own: the bodies (a log chunk, a stack trace) stay
-- out of the position index, whose pages then hold hundreds of entries. Databases made before this
-- have the events in a WITHOUT ROWID table keyed by position, which works alike but writes bodies over
-- ~200 bytes into the key's B-tree: 1 KB events committed 2.6–2.9× slower (docs/benchmarks.md).
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  channel_id INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  time INTEGER NOT NULL,
  idem TEXT,
  body TEXT NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS events_idem ON events (channel_id, idem) WHERE idem IS NOT NULL;
-- Pattern resume reads what every channel received after a time, in time order, a page at a time.
CREATE INDEX IF NOT EXISTS events_time ON events (time, channel_id, offset);
`;

/** The position index of the rowid layout (a WITHOUT ROWID table of an older database is keyed by position already). */
const POSITION_INDEX = 'CREATE UNIQUE INDEX IF NOT EXISTS events_position ON events (channel_id, offset)';

/** Opens (and if needed creates) the event database in WAL mode; both threads open it this way. */
export function openEventDatabase(dataDir: string, sync: SyncMode): Database.Database {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, 'herald.db'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
  // The reader and the writer are two connections: wait for a lock rather than fail on one.
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  const events = db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").get()!;
  if (!/WITHOUT\s+ROWID/i.test(events.sql)) db.exec(POSITION_INDEX);
  addByteColumns(db);
  return db;
}

/**
 * Databases made before byte retention have no `bytes` columns: they are added and filled in once, in
 * one transaction (reading every event once: a few seconds for millions of events), so an existing data
 * folder keeps working and its channels are held to the byte caps from the first start.
 */
function addByteColumns(db: Database.Database): void {
  const has = (table: string) => db.prepare<[], { name: string }>(`PRAGMA table_info(${table})`).all().some((c) => c.name === 'bytes');
  if (has('events') && has('channels')) return;
  db.transaction(() => {
    // Checked again inside the write lock: the hub's two connections both open the database.
    if (!has('events')) {
      db.exec('ALTER TABLE events ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0');
      db.exec('UPDATE events SET bytes = length(CAST(body AS BLOB))');
    }
    if (!has('channels')) {
      db.exec('ALTER TABLE channels ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0');
      db.exec('UPDATE channels SET bytes = (SELECT COALESCE(SUM(e.bytes), 0) FROM events e WHERE e.channel_id = channels.id)');
    }
  }).immediate();
}
