/**
 * The SQLite writer thread. Every write of the event store happens here, so that a commit's fsync never
 * blocks the hub's event loop (and with it every subscriber's delivery). The main thread sends a batch
 * of appends, this thread writes it in one transaction and answers after the commit: acknowledgements
 * still mean "durable".
 */
import { parentPort, workerData } from 'node:worker_threads';
import { newEpoch } from './types.js';
import { openEventDatabase, WAL_SIZE_LIMIT_BYTES, type SyncMode } from './sqlite-schema.js';

export interface WriterAppend {
  channel: string;
  events: Array<{ json: string; idem: string | null }>;
}
export interface WriterAppendResult {
  epoch: string;
  offsets: number[];
  duplicates: boolean[];
  time: number;
  /** Set when the append was refused (and rolled back) because it would pass the total byte cap. */
  refusedBytes?: { stored: number; max: number };
}
export type WriterRequest =
  | { id: number; type: 'append'; appends: WriterAppend[] }
  | { id: number; type: 'reset'; channel: string }
  | { id: number; type: 'sweep'; cutoff: number }
  /** A tiny write, to find out whether a disk that was full or failing takes writes again. */
  | { id: number; type: 'probe' }
  /** Nothing but the totals every reply carries: for a store that has had no reply yet. */
  | { id: number; type: 'totals' }
  | { id: number; type: 'close' };
/** Every reply carries the running totals after the request (the main thread keeps the latest, for O(1) stats). */
export type WriterReply = { totals: WriterTotals; timing?: CommitTiming } & ({ id: number; ok: true; result: unknown } | { id: number; ok: false; message: string; code?: string });
/** Where an append batch's time went on this thread: its statements, then COMMIT (the log's fsync). */
export interface CommitTiming {
  events: number;
  writeMs: number;
  commitMs: number;
}
export interface WriterTotals {
  events: number;
  bytes: number;
}

interface ChannelRow {
  id: number;
  epoch: string;
  latest: number;
  /** Bytes of the events the channel retains (the sum of their `bytes`). */
  bytes: number;
}

export interface WriterData {
  dataDir: string;
  sync: SyncMode;
  maxCount: number;
  /** 0: no limit. */
  maxChannelBytes: number;
  maxTotalBytes: number;
  storeEpoch: string;
}

const { dataDir, sync, maxCount, maxChannelBytes, maxTotalBytes, storeEpoch } = workerData as WriterData;
const db = openEventDatabase(dataDir, sync);
// Checkpoints run on a thread of their own (sqlite-checkpointer.ts), never inside this thread's commits;
// the log file is cut back to this size whenever it starts over.
db.pragma('wal_autocheckpoint = 0');
db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
const statements = {
  getChannel: db.prepare<[string], ChannelRow>('SELECT id, epoch, latest, bytes FROM channels WHERE name = ?'),
  insertChannel: db.prepare('INSERT INTO channels (name, epoch, latest, bytes) VALUES (?, ?, 0, 0)'),
  setLatest: db.prepare('UPDATE channels SET latest = ?, bytes = ? WHERE id = ?'),
  resetChannel: db.prepare('UPDATE channels SET latest = 0, bytes = 0, epoch = ? WHERE id = ?'),
  findIdem: db.prepare<[number, string], { offset: number }>('SELECT offset FROM events WHERE channel_id = ? AND idem = ?'),
  insertEvent: db.prepare('INSERT INTO events (channel_id, offset, time, idem, body, bytes) VALUES (?, ?, ?, ?, ?, ?)'),
  trimCount: db.prepare('DELETE FROM events WHERE channel_id = ? AND offset <= ?'),
  bytesUpTo: db.prepare<[number, number], { bytes: number }>('SELECT COALESCE(SUM(bytes), 0) AS bytes FROM events WHERE channel_id = ? AND offset <= ?'),
  oldestSizes: db.prepare<[number], { offset: number; bytes: number }>('SELECT offset, bytes FROM events WHERE channel_id = ? ORDER BY offset'),
  subtractBytes: db.prepare('UPDATE channels SET bytes = bytes - ? WHERE id = ?'),
  totalBytes: db.prepare<[], { bytes: number }>('SELECT COALESCE(SUM(bytes), 0) AS bytes FROM channels'),
  // Offsets of a channel are gap-free and retention drops the oldest first, so a channel retains
  // latest - earliest + 1 events: one index look-up per channel, where COUNT(*) would read every event.
  totalEvents: db.prepare<[], { events: number }>(
    'SELECT COALESCE(SUM(c.latest - (SELECT MIN(e.offset) FROM events e WHERE e.channel_id = c.id) + 1), 0) AS events FROM channels c WHERE c.latest > 0',
  ),
  newestOlderThan: db.prepare<[number, number], { offset: number | null }>('SELECT MAX(offset) AS offset FROM events WHERE channel_id = ? AND time < ?'),
  allChannelIds: db.prepare<[], { id: number }>('SELECT id FROM channels'),
  deleteChannelEvents: db.prepare('DELETE FROM events WHERE channel_id = ?'),
  probe: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?)"),
};
const cache = new Map<string, ChannelRow>();
/** Bytes retained over all channels, kept here so that the total cap costs no query per append. */
let totalBytes = statements.totalBytes.get()!.bytes;
/** Events retained over all channels, kept the same way (read once at start, then running). */
let totalEvents = statements.totalEvents.get()!.events;

/** Thrown inside an append's savepoint to roll back just that append when it would pass the total cap. */
class OverTotal extends Error {}

function channelRow(name: string, epoch: string): ChannelRow {
  let row = cache.get(name) ?? statements.getChannel.get(name);
  if (!row) row = { id: Number(statements.insertChannel.run(name, epoch).lastInsertRowid), epoch, latest: 0, bytes: 0 };
  cache.set(name, row);
  return row;
}

function appendOne({ channel, events }: WriterAppend, time: number): WriterAppendResult {
  const row = channelRow(channel, storeEpoch);
  const offsets: number[] = [];
  const duplicates: boolean[] = [];
  let stored = 0;
  for (const { json, idem } of events) {
    const existing = idem === null ? undefined : statements.findIdem.get(row.id, idem)?.offset;
    if (existing !== undefined) {
      offsets.push(existing);
      duplicates.push(true);
      continue;
    }
    const offset = row.latest + 1;
    const bytes = Buffer.byteLength(json);
    statements.insertEvent.run(row.id, offset, time, idem, json, bytes);
    row.latest = offset;
    row.bytes += bytes;
    totalBytes += bytes;
    totalEvents++;
    offsets.push(offset);
    duplicates.push(false);
    stored++;
  }
  if (stored > 0) {
    const keepFrom = row.latest - maxCount;
    if (keepFrom > 0) trimTo(row, keepFrom);
    if (maxChannelBytes > 0 && row.bytes > maxChannelBytes) trimTo(row, byteCutoff(row));
    statements.setLatest.run(row.latest, row.bytes, row.id);
    if (maxTotalBytes > 0 && totalBytes > maxTotalBytes) throw new OverTotal();
  }
  return { epoch: row.epoch, offsets, duplicates, time };
}

/** Deletes the channel's events up to `offset` and takes their bytes off the channel and the total. */
function trimTo(row: ChannelRow, offset: number): void {
  const { bytes } = statements.bytesUpTo.get(row.id, offset)!;
  const { changes } = statements.trimCount.run(row.id, offset);
  if (changes === 0) return;
  row.bytes -= bytes;
  totalBytes -= bytes;
  totalEvents -= changes;
}

/** The newest offset whose dropping (with all older) brings the channel under its byte cap; the newest event stays. */
function byteCutoff(row: ChannelRow): number {
  const excess = row.bytes - maxChannelBytes;
  let dropped = 0;
  let cutoff = 0;
  for (const { offset, bytes } of statements.oldestSizes.iterate(row.id)) {
    if (offset >= row.latest) break;
    cutoff = offset;
    dropped += bytes;
    if (dropped >= excess) break;
  }
  return cutoff;
}

/**
 * Every write transaction of this thread begins IMMEDIATE: it takes the write lock first, waiting for it
 * (busy_timeout) while the checkpointer's RESTART holds it. A deferred one would read first (a channel's
 * row) and then need the lock with a read open, which SQLite answers SQLITE_BUSY at once, without
 * waiting — "database is locked" for a whole group commit whenever a RESTART met a new channel.
 */
/** One append in its own savepoint: refused alone, leaving the others of its group commit, when over the total. */
const appendInSavepoint = db.transaction(appendOne);

function appendOrRefuse(append: WriterAppend, time: number): WriterAppendResult {
  const before = totalBytes;
  const eventsBefore = totalEvents;
  try {
    return appendInSavepoint(append, time);
  } catch (error) {
    if (!(error instanceof OverTotal)) throw error;
    totalBytes = before;
    totalEvents = eventsBefore;
    cache.delete(append.channel); // its row (perhaps new) was rolled back: read it again next time
    return { epoch: '', offsets: [], duplicates: [], time, refusedBytes: { stored: before, max: maxTotalBytes } };
  }
}

/** The timing of the last append batch, sent with its reply. */
let timing: CommitTiming | undefined;

const handlers = {
  append: (request: Extract<WriterRequest, { type: 'append' }>) => {
    const time = Date.now();
    const started = performance.now();
    let written = started;
    try {
      const results = db.transaction(() => {
        const results = request.appends.map((a) => appendOrRefuse(a, time));
        written = performance.now();
        return results;
      }).immediate();
      const events = request.appends.reduce((sum, a) => sum + a.events.length, 0);
      timing = { events, writeMs: written - started, commitMs: performance.now() - written };
      return results;
    } catch (error) {
      cache.clear(); // positions may have advanced inside the rolled-back transaction
      totalBytes = statements.totalBytes.get()!.bytes;
      totalEvents = statements.totalEvents.get()!.events;
      throw error;
    }
  },
  reset: (request: Extract<WriterRequest, { type: 'reset' }>) => {
    const epoch = newEpoch();
    const row = channelRow(request.channel, epoch);
    const dropped = db.transaction(() => {
      const { changes } = statements.deleteChannelEvents.run(row.id);
      statements.resetChannel.run(epoch, row.id);
      return changes;
    }).immediate();
    totalBytes -= row.bytes;
    totalEvents -= dropped;
    row.epoch = epoch;
    row.latest = 0;
    row.bytes = 0;
    return epoch;
  },
  sweep: (request: Extract<WriterRequest, { type: 'sweep' }>) => {
    let dropped = 0;
    db.transaction(() => {
      for (const { id } of statements.allChannelIds.all()) {
        const newest = statements.newestOlderThan.get(id, request.cutoff)?.offset;
        if (newest == null) continue;
        const { bytes } = statements.bytesUpTo.get(id, newest)!;
        dropped += statements.trimCount.run(id, newest).changes;
        statements.subtractBytes.run(bytes, id);
      }
    }).immediate();
    // Cached rows hold the bytes before the sweep; they are read again when next used.
    cache.clear();
    totalBytes = statements.totalBytes.get()!.bytes;
    totalEvents -= dropped;
    return dropped;
  },
  totals: () => null,
  probe: () => {
    statements.probe.run(String(Date.now()));
    return null;
  },
  close: () => {
    db.close();
    return null;
  },
};

parentPort!.on('message', (request: WriterRequest) => {
  let reply: WriterReply;
  try {
    timing = undefined;
    reply = { id: request.id, ok: true, result: handlers[request.type](request as never), totals: { events: totalEvents, bytes: totalBytes } };
    if (timing) reply.timing = timing;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    reply = { id: request.id, ok: false, message: error instanceof Error ? error.message : String(error), ...(typeof code === 'string' ? { code } : {}), totals: { events: totalEvents, bytes: totalBytes } };
  }
  parentPort!.postMessage(reply);
  if (request.type === 'close') parentPort!.close();
});
