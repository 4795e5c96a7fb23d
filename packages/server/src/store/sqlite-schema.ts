import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export type SyncMode = 'full' | 'normal';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  epoch TEXT NOT NULL,
  latest INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  channel_id INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  time INTEGER NOT NULL,
  idem TEXT,
  body TEXT NOT NULL,
  PRIMARY KEY (channel_id, offset)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS events_idem ON events (channel_id, idem) WHERE idem IS NOT NULL;
-- Pattern resume reads what every channel received after a time, in time order, a page at a time.
CREATE INDEX IF NOT EXISTS events_time ON events (time, channel_id, offset);
`;

/** Opens (and if needed creates) the event database in WAL mode; both threads open it this way. */
export function openEventDatabase(dataDir: string, sync: SyncMode): Database.Database {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, 'herald.db'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
  // The reader and the writer are two connections: wait for a lock rather than fail on one.
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  return db;
}
