import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  newEpoch,
  type AppendInput,
  type AppendResult,
  type ChannelPosition,
  type ChannelSummary,
  type EventStore,
  type HistoryPage,
  type RetentionPolicy,
  type StoredEvent,
} from './types.js';

export type SyncMode = 'full' | 'normal';

export interface SqliteStoreOptions {
  dataDir: string;
  retention: RetentionPolicy;
  /**
   * `full` (default): a commit is on disk before it is acknowledged, surviving power loss.
   * `normal`: survives a crash of the hub process (WAL), may lose the last commits on power loss.
   */
  sync?: SyncMode;
}

interface ChannelRow {
  id: number;
  epoch: string;
  latest: number;
}

interface PendingAppend {
  channel: string;
  inputs: AppendInput[];
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

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
`;

/**
 * The embedded default: SQLite in WAL mode in the data folder.
 *
 * Group commit: appends that arrive in the same turn of the event loop are written in one transaction
 * (one fsync), and each caller is answered only after that transaction committed. Concurrent
 * publishers therefore share the cost of durability instead of queueing behind one fsync each.
 */
export class SqliteStore implements EventStore {
  private readonly db: Database.Database;
  private readonly retention: RetentionPolicy;
  /** Epoch of channels that never stored anything; kept in `meta` so it survives restarts. */
  private readonly storeEpoch: string;
  private readonly channelCache = new Map<string, ChannelRow>();
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly statements;

  constructor(options: SqliteStoreOptions) {
    mkdirSync(options.dataDir, { recursive: true });
    this.retention = options.retention;
    this.db = new Database(join(options.dataDir, 'herald.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.sync === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.exec(SCHEMA);
    const db = this.db;
    this.statements = {
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)'),
      getChannel: db.prepare<[string], ChannelRow>('SELECT id, epoch, latest FROM channels WHERE name = ?'),
      insertChannel: db.prepare('INSERT INTO channels (name, epoch, latest) VALUES (?, ?, 0)'),
      setLatest: db.prepare('UPDATE channels SET latest = ? WHERE id = ?'),
      resetChannel: db.prepare('UPDATE channels SET latest = 0, epoch = ? WHERE id = ?'),
      listChannels: db.prepare<[], { name: string; epoch: string; latest: number; lastTime: number | null }>(
        `SELECT c.name, c.epoch, c.latest,
           (SELECT e.time FROM events e WHERE e.channel_id = c.id ORDER BY e.offset DESC LIMIT 1) AS lastTime
         FROM channels c WHERE c.latest > 0 ORDER BY c.name`,
      ),
      findIdem: db.prepare<[number, string], { offset: number }>('SELECT offset FROM events WHERE channel_id = ? AND idem = ?'),
      insertEvent: db.prepare('INSERT INTO events (channel_id, offset, time, idem, body) VALUES (?, ?, ?, ?, ?)'),
      earliest: db.prepare<[number], { offset: number | null }>('SELECT MIN(offset) AS offset FROM events WHERE channel_id = ?'),
      readAfter: db.prepare<[number, number, number], { offset: number; time: number; body: string }>(
        'SELECT offset, time, body FROM events WHERE channel_id = ? AND offset > ? ORDER BY offset LIMIT ?',
      ),
      readSinceTime: db.prepare<[number, number, number], { offset: number; time: number; body: string }>(
        'SELECT offset, time, body FROM events WHERE channel_id = ? AND time > ? ORDER BY offset LIMIT ?',
      ),
      trimCount: db.prepare('DELETE FROM events WHERE channel_id = ? AND offset <= ?'),
      newestOlderThan: db.prepare<[number, number], { offset: number | null }>(
        'SELECT MAX(offset) AS offset FROM events WHERE channel_id = ? AND time < ?',
      ),
      allChannelIds: db.prepare<[], { id: number }>('SELECT id FROM channels'),
      deleteChannelEvents: db.prepare('DELETE FROM events WHERE channel_id = ?'),
    };
    this.storeEpoch = this.loadStoreEpoch();
  }

  append(channel: string, inputs: AppendInput[]): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ channel, inputs, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  async read(channel: string, afterOffset: number, limit: number): Promise<HistoryPage> {
    const row = this.channelRow(channel);
    if (!row) return { position: this.emptyPosition(), events: [] };
    const rows = this.statements.readAfter.all(row.id, afterOffset, limit);
    return { position: this.positionOf(row), events: rows.map((r) => toStored(channel, r)) };
  }

  async readSinceTime(channel: string, afterTime: number, limit: number): Promise<HistoryPage> {
    const row = this.channelRow(channel);
    if (!row) return { position: this.emptyPosition(), events: [] };
    const rows = this.statements.readSinceTime.all(row.id, afterTime, limit);
    return { position: this.positionOf(row), events: rows.map((r) => toStored(channel, r)) };
  }

  async position(channel: string): Promise<ChannelPosition> {
    const row = this.channelRow(channel);
    return row ? this.positionOf(row) : this.emptyPosition();
  }

  async channels(): Promise<ChannelSummary[]> {
    return this.statements.listChannels.all().map((r) => ({ name: r.name, epoch: r.epoch, latest: r.latest, lastTime: r.lastTime ?? undefined }));
  }

  async reset(channel: string): Promise<ChannelPosition> {
    // Appends already queued belong to the old epoch: write them first so they are not mixed in.
    this.flush();
    const epoch = newEpoch();
    const row = this.ensureChannel(channel, epoch);
    this.db.transaction(() => {
      this.statements.deleteChannelEvents.run(row.id);
      this.statements.resetChannel.run(epoch, row.id);
    })();
    row.epoch = epoch;
    row.latest = 0;
    return this.positionOf(row);
  }

  async sweep(now = Date.now()): Promise<number> {
    const cutoff = now - this.retention.maxAgeMs;
    let dropped = 0;
    this.db.transaction(() => {
      for (const { id } of this.statements.allChannelIds.all()) {
        const newest = this.statements.newestOlderThan.get(id, cutoff)?.offset;
        if (newest != null) dropped += this.statements.trimCount.run(id, newest).changes;
      }
    })();
    return dropped;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }

  /** Writes every pending append in one transaction, then answers each caller. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    if (batch.length === 0 || this.closed) return;
    this.pending = [];
    let results: AppendResult[];
    try {
      results = this.db.transaction(() => batch.map((p) => this.writeAppend(p)))();
    } catch (error) {
      // The transaction rolled back: drop cached positions that may have advanced inside it.
      this.channelCache.clear();
      for (const p of batch) p.reject(error);
      return;
    }
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
  }

  private writeAppend({ channel, inputs }: PendingAppend): AppendResult {
    const row = this.ensureChannel(channel, this.storeEpoch);
    const now = Date.now();
    const offsets: number[] = [];
    const duplicates: boolean[] = [];
    const stored: StoredEvent[] = [];
    for (const input of inputs) {
      const id = input.event.id;
      const existing = id === undefined ? undefined : this.statements.findIdem.get(row.id, id)?.offset;
      if (existing !== undefined) {
        offsets.push(existing);
        duplicates.push(true);
        continue;
      }
      const offset = row.latest + 1;
      this.statements.insertEvent.run(row.id, offset, now, id ?? null, input.json);
      row.latest = offset;
      offsets.push(offset);
      duplicates.push(false);
      stored.push({ channel, offset, time: now, json: input.json });
    }
    if (stored.length > 0) {
      this.statements.setLatest.run(row.latest, row.id);
      const keepFrom = row.latest - this.retention.maxCount;
      if (keepFrom > 0) this.statements.trimCount.run(row.id, keepFrom);
    }
    return { epoch: row.epoch, offsets, duplicates, stored };
  }

  private channelRow(name: string): ChannelRow | undefined {
    const cached = this.channelCache.get(name);
    if (cached) return cached;
    const row = this.statements.getChannel.get(name);
    if (row) this.channelCache.set(name, row);
    return row;
  }

  private ensureChannel(name: string, epoch: string): ChannelRow {
    const existing = this.channelRow(name);
    if (existing) return existing;
    const id = Number(this.statements.insertChannel.run(name, epoch).lastInsertRowid);
    const row: ChannelRow = { id, epoch, latest: 0 };
    this.channelCache.set(name, row);
    return row;
  }

  private positionOf(row: ChannelRow): ChannelPosition {
    const earliest = this.statements.earliest.get(row.id)?.offset ?? row.latest + 1;
    return { epoch: row.epoch, latest: row.latest, earliest };
  }

  private emptyPosition(): ChannelPosition {
    return { epoch: this.storeEpoch, latest: 0, earliest: 1 };
  }

  private loadStoreEpoch(): string {
    const existing = this.statements.getMeta.get('epoch')?.value;
    if (existing) return existing;
    const epoch = newEpoch();
    this.statements.setMeta.run('epoch', epoch);
    return epoch;
  }
}

function toStored(channel: string, row: { offset: number; time: number; body: string }): StoredEvent {
  return { channel, offset: row.offset, time: row.time, json: row.body };
}
