/**
 * The SQLite writer thread. Every write of the event store happens here, so that a commit's fsync never
 * blocks the hub's event loop (and with it every subscriber's delivery). The main thread sends a batch
 * of appends, this thread writes it in one transaction and answers after the commit: acknowledgements
 * still mean "durable".
 */
import { parentPort, workerData } from 'node:worker_threads';
import { newEpoch } from './types.js';
import { openEventDatabase, type SyncMode } from './sqlite-schema.js';

export interface WriterAppend {
  channel: string;
  events: Array<{ json: string; idem: string | null }>;
}
export interface WriterAppendResult {
  epoch: string;
  offsets: number[];
  duplicates: boolean[];
  time: number;
}
export type WriterRequest =
  | { id: number; type: 'append'; appends: WriterAppend[] }
  | { id: number; type: 'reset'; channel: string }
  | { id: number; type: 'sweep'; cutoff: number }
  /** A tiny write, to find out whether a disk that was full or failing takes writes again. */
  | { id: number; type: 'probe' }
  | { id: number; type: 'close' };
export type WriterReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; message: string; code?: string };

interface ChannelRow {
  id: number;
  epoch: string;
  latest: number;
}

const { dataDir, sync, maxCount, storeEpoch } = workerData as { dataDir: string; sync: SyncMode; maxCount: number; storeEpoch: string };
const db = openEventDatabase(dataDir, sync);
const statements = {
  getChannel: db.prepare<[string], ChannelRow>('SELECT id, epoch, latest FROM channels WHERE name = ?'),
  insertChannel: db.prepare('INSERT INTO channels (name, epoch, latest) VALUES (?, ?, 0)'),
  setLatest: db.prepare('UPDATE channels SET latest = ? WHERE id = ?'),
  resetChannel: db.prepare('UPDATE channels SET latest = 0, epoch = ? WHERE id = ?'),
  findIdem: db.prepare<[number, string], { offset: number }>('SELECT offset FROM events WHERE channel_id = ? AND idem = ?'),
  insertEvent: db.prepare('INSERT INTO events (channel_id, offset, time, idem, body) VALUES (?, ?, ?, ?, ?)'),
  trimCount: db.prepare('DELETE FROM events WHERE channel_id = ? AND offset <= ?'),
  newestOlderThan: db.prepare<[number, number], { offset: number | null }>('SELECT MAX(offset) AS offset FROM events WHERE channel_id = ? AND time < ?'),
  allChannelIds: db.prepare<[], { id: number }>('SELECT id FROM channels'),
  deleteChannelEvents: db.prepare('DELETE FROM events WHERE channel_id = ?'),
  probe: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?)"),
};
const cache = new Map<string, ChannelRow>();

function channelRow(name: string, epoch: string): ChannelRow {
  let row = cache.get(name) ?? statements.getChannel.get(name);
  if (!row) row = { id: Number(statements.insertChannel.run(name, epoch).lastInsertRowid), epoch, latest: 0 };
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
    statements.insertEvent.run(row.id, offset, time, idem, json);
    row.latest = offset;
    offsets.push(offset);
    duplicates.push(false);
    stored++;
  }
  if (stored > 0) {
    statements.setLatest.run(row.latest, row.id);
    const keepFrom = row.latest - maxCount;
    if (keepFrom > 0) statements.trimCount.run(row.id, keepFrom);
  }
  return { epoch: row.epoch, offsets, duplicates, time };
}

const handlers = {
  append: (request: Extract<WriterRequest, { type: 'append' }>) => {
    const time = Date.now();
    try {
      return db.transaction(() => request.appends.map((a) => appendOne(a, time)))();
    } catch (error) {
      cache.clear(); // positions may have advanced inside the rolled-back transaction
      throw error;
    }
  },
  reset: (request: Extract<WriterRequest, { type: 'reset' }>) => {
    const epoch = newEpoch();
    const row = channelRow(request.channel, epoch);
    db.transaction(() => {
      statements.deleteChannelEvents.run(row.id);
      statements.resetChannel.run(epoch, row.id);
    })();
    row.epoch = epoch;
    row.latest = 0;
    return epoch;
  },
  sweep: (request: Extract<WriterRequest, { type: 'sweep' }>) => {
    let dropped = 0;
    db.transaction(() => {
      for (const { id } of statements.allChannelIds.all()) {
        const newest = statements.newestOlderThan.get(id, request.cutoff)?.offset;
        if (newest != null) dropped += statements.trimCount.run(id, newest).changes;
      }
    })();
    return dropped;
  },
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
    reply = { id: request.id, ok: true, result: handlers[request.type](request as never) };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    reply = { id: request.id, ok: false, message: error instanceof Error ? error.message : String(error), ...(typeof code === 'string' ? { code } : {}) };
  }
  parentPort!.postMessage(reply);
  if (request.type === 'close') parentPort!.close();
});
