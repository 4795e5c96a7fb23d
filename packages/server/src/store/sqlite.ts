import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { HeraldError } from '../errors.js';
import { takeBatch } from './batch.js';
import { DataCorruptError, DataFolderLock } from './data-folder-lock.js';
import { openEventDatabase, type SyncMode } from './sqlite-schema.js';
import type { CheckpointerData, CheckpointReport } from './sqlite-checkpointer.js';
import type { WriterAppend, WriterAppendResult, WriterData, WriterReply, WriterRequest, WriterTotals } from './sqlite-writer.js';
import {
  newEpoch,
  type AppendInput,
  type AppendResult,
  type ChannelPosition,
  type ChannelSummary,
  type EventStore,
  type ChannelListQuery,
  type HistoryPage,
  type RetentionPolicy,
  type ScannedEvent,
  type TimeScanPage,
  type NewestScanQuery,
  type TimeScanQuery,
  type StoreHealth,
  type StoredEvent,
  type StoreTiming,
  type StoreTotals,
} from './types.js';

/** How often the checkpointer thread copies the write-ahead log into the database (when it has grown). */
const CHECKPOINT_INTERVAL_MS = 200;
/** While the disk refuses writes, how often a tiny write checks whether it takes them again. */
const PROBE_INTERVAL_MS = 1000;

/** SQLite result codes that mean the storage itself failed, not the request. */
function isStorageFault(code: string | undefined): boolean {
  return code !== undefined && /^SQLITE_(FULL|IOERR|CORRUPT|NOTADB|READONLY|CANTOPEN)/.test(code);
}

export type { SyncMode };

export interface SqliteStoreOptions {
  dataDir: string;
  retention: RetentionPolicy;
  /**
   * `full` (default): a commit is on disk before it is acknowledged, surviving power loss.
   * `normal`: survives a crash of the hub process (WAL), may lose the last commits on power loss.
   */
  sync?: SyncMode;
}

interface PendingAppend {
  channel: string;
  inputs: AppendInput[];
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

type EventRow = { offset: number; time: number; body: string };
type ScanRow = { channel: string; epoch: string; cid: number; offset: number; time: number; body: string };
/** Every character a channel name may hold sorts below this one: `prefix + NAME_END` bounds a prefix range. */
const NAME_END = '\x7f';
/** A scan's starting cursor sorts before every (channel id, offset) of its first millisecond. */
const AFTER_ALL = Number.MAX_SAFE_INTEGER;
/** Omit distributed over a union, so each request kind keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

// Node 20 cannot load TypeScript in a worker even when the main thread runs under tsx (tests,
// benchmarks), so from source the compiled writer is used: `npm test` and `npm run bench` build first.
const compiled = (name: string) => (import.meta.url.endsWith('.ts') ? new URL(`../../dist/store/${name}`, import.meta.url) : new URL(`./${name}`, import.meta.url));
const WRITER = compiled('sqlite-writer.js');
const CHECKPOINTER = compiled('sqlite-checkpointer.js');

/**
 * The embedded default: SQLite in WAL mode in the data folder.
 *
 * Writes go to a writer thread (sqlite-writer.ts) so that fsync never stalls the event loop; reads use
 * this thread's own connection (WAL lets them run beside the writer). Group commit: appends that arrive
 * while a batch is being committed form the next batch, so concurrent publishers share one fsync and
 * batches grow by themselves under load. Each caller is answered only after its batch committed.
 *
 * One store per data folder: the constructor takes the folder's lock (data-folder-lock.ts) before it
 * touches the database and throws DataFolderInUseError if another hub holds it; close() releases it.
 */
export class SqliteStore implements EventStore {
  private readonly lock: DataFolderLock;
  private readonly db: Database.Database;
  private readonly writer: Worker;
  /** Copies the write-ahead log into the database beside the writer (sqlite-checkpointer.ts). */
  private readonly checkpointer: Worker;
  private checkpointerExited = false;
  private timingListener: ((timing: StoreTiming) => void) | undefined;
  private readonly storeEpoch: string;
  private readonly statements;
  private readonly waiting = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();
  private pending: PendingAppend[] = [];
  private appendInFlight = false;
  private flushScheduled = false;
  private nextRequest = 1;
  private closing: Promise<void> | undefined;
  /**
   * Per channel, the highest offset whose commit this thread has processed. The writer commits on its
   * own thread, so the database can briefly hold events this thread has not yet fanned out; reads stop
   * at this horizon so that history never runs ahead of fan-out (the hub's resume relies on that).
   * Seeded from the database when a channel's first batch of this process is sent.
   */
  private readonly visible = new Map<string, number>();
  private writerFailure: Error | undefined;
  /** The storage fault this store is in, if any (disk full, I/O error, corruption). */
  private fault: string | undefined;
  private probe: NodeJS.Timeout | undefined;
  private healthListener: ((health: StoreHealth) => void) | undefined;
  /** The writer's running totals as of its latest reply (it keeps them; every reply carries them). */
  private latestTotals: WriterTotals | undefined;

  constructor(private readonly options: SqliteStoreOptions) {
    this.lock = DataFolderLock.acquire(options.dataDir);
    try {
      this.db = openEventDatabase(options.dataDir, options.sync ?? 'full');
      // A database with corrupt pages must not start and report healthy: find out now, with a sentence.
      const check = this.db.pragma('quick_check', { simple: true });
      if (check !== 'ok') {
        this.db.close();
        throw new DataCorruptError(resolve(options.dataDir), String(check));
      }
    } catch (error) {
      this.lock.release();
      if ((error as { code?: string }).code === 'SQLITE_NOTADB' || (error as { code?: string }).code === 'SQLITE_CORRUPT') {
        throw new DataCorruptError(resolve(options.dataDir), (error as Error).message);
      }
      throw error;
    }
    const db = this.db;
    this.statements = {
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)'),
      getChannel: db.prepare<[string], { id: number; epoch: string; latest: number }>('SELECT id, epoch, latest FROM channels WHERE name = ?'),
      listChannels: db.prepare<[{ after: string; low: string; high: string; limit: number }], { name: string; epoch: string; latest: number; lastTime: number | null }>(
        `SELECT c.name, c.epoch, c.latest,
           (SELECT e.time FROM events e WHERE e.channel_id = c.id ORDER BY e.offset DESC LIMIT 1) AS lastTime
         FROM channels c WHERE c.name > @after AND c.name >= @low AND c.name < @high AND c.latest > 0 ORDER BY c.name LIMIT @limit`,
      ),
      // Keyset pagination over the events_time index: (time, channel id, offset) is unique and ordered.
      scanByTime: db.prepare<[{ time: number; cid: number; offset: number; until: number; low: string; high: string; limit: number }], ScanRow>(
        `SELECT c.name AS channel, c.epoch AS epoch, e.channel_id AS cid, e.offset AS offset, e.time AS time, e.body AS body
         FROM events e JOIN channels c ON c.id = e.channel_id
         WHERE (e.time, e.channel_id, e.offset) > (@time, @cid, @offset) AND e.time <= @until AND c.name >= @low AND c.name < @high
         ORDER BY e.time, e.channel_id, e.offset LIMIT @limit`,
      ),
      // The same index read backwards.
      scanNewest: db.prepare<[{ time: number; cid: number; offset: number; low: string; high: string; limit: number }], ScanRow>(
        `SELECT c.name AS channel, c.epoch AS epoch, e.channel_id AS cid, e.offset AS offset, e.time AS time, e.body AS body
         FROM events e JOIN channels c ON c.id = e.channel_id
         WHERE (e.time, e.channel_id, e.offset) < (@time, @cid, @offset) AND c.name >= @low AND c.name < @high
         ORDER BY e.time DESC, e.channel_id DESC, e.offset DESC LIMIT @limit`,
      ),
      countChannels: db.prepare<[], { count: number }>('SELECT COUNT(*) AS count FROM channels WHERE latest > 0'),
      earliest: db.prepare<[number], { offset: number | null }>('SELECT MIN(offset) AS offset FROM events WHERE channel_id = ?'),
      readAfter: db.prepare<[number, number, number, number], EventRow>(
        'SELECT offset, time, body FROM events WHERE channel_id = ? AND offset > ? AND offset <= ? ORDER BY offset LIMIT ?',
      ),
    };
    this.storeEpoch = this.statements.getMeta.get('epoch')?.value ?? this.createStoreEpoch();
    const { maxCount, maxChannelBytes = 0, maxTotalBytes = 0 } = options.retention;
    const workerData: WriterData = { dataDir: options.dataDir, sync: options.sync ?? 'full', maxCount, maxChannelBytes, maxTotalBytes, storeEpoch: this.storeEpoch };
    this.writer = new Worker(WRITER, { workerData });
    this.writer.on('message', (reply: WriterReply) => this.onReply(reply));
    this.writer.on('error', (error) => this.failAll(error));
    this.writer.on('exit', () => this.closing || this.failAll(new Error('the SQLite writer thread stopped')));
    // An idle writer must not keep the process alive; one with requests outstanding must (see request()).
    this.writer.unref();
    const checkpointerData: CheckpointerData = { dataDir: options.dataDir, intervalMs: CHECKPOINT_INTERVAL_MS };
    this.checkpointer = new Worker(CHECKPOINTER, { workerData: checkpointerData });
    this.checkpointer.on('message', (report: CheckpointReport) => this.timingListener?.(report.ok ? { kind: 'checkpoint', mode: report.mode, ms: report.ms, walPages: report.walPages, copiedPages: report.copiedPages } : { kind: 'checkpoint-failed', message: report.message }));
    // A checkpointer that died leaves the log growing until the hub restarts; the writer still commits.
    this.checkpointer.on('error', (error) => this.timingListener?.({ kind: 'checkpoint-failed', message: error.message }));
    this.checkpointer.once('exit', () => (this.checkpointerExited = true));
    this.checkpointer.unref();
  }

  append(channel: string, inputs: AppendInput[]): Promise<AppendResult> {
    if (this.closing) return Promise.reject(new Error('store is closed'));
    if (this.writerFailure) return Promise.reject(this.writerFailure);
    return new Promise((resolve, reject) => {
      this.pending.push({ channel, inputs, resolve, reject });
      this.scheduleFlush();
    });
  }

  async read(channel: string, afterOffset: number, limit: number): Promise<HistoryPage> {
    const row = this.visibleRow(channel);
    if (!row) return { position: this.emptyPosition(), events: [] };
    const rows = this.statements.readAfter.all(row.id, afterOffset, row.latest, limit);
    return { position: this.positionOf(row), events: rows.map((r) => toStored(channel, r)) };
  }

  async scanByTime(query: TimeScanQuery): Promise<TimeScanPage> {
    // Without a cursor the page starts after every event of `afterTime` itself: the bound is exclusive.
    const [time, cid, offset] = query.cursor === undefined ? [query.afterTime, AFTER_ALL, AFTER_ALL] : parseScanCursor(query.cursor);
    const prefix = query.prefix ?? '';
    return this.scanPage(this.statements.scanByTime.all({ time, cid, offset, until: query.untilTime, low: prefix, high: prefix + NAME_END, limit: query.limit }), query.limit);
  }

  async scanNewest(query: NewestScanQuery): Promise<TimeScanPage> {
    const [time, cid, offset] = query.cursor === undefined ? [AFTER_ALL, AFTER_ALL, AFTER_ALL] : parseScanCursor(query.cursor);
    const prefix = query.prefix ?? '';
    return this.scanPage(this.statements.scanNewest.all({ time, cid, offset, low: prefix, high: prefix + NAME_END, limit: query.limit }), query.limit);
  }

  /** A page of a scan either way: rows past the visible horizon left out, the cursor at the last row looked at. */
  private scanPage(rows: ScanRow[], limit: number): TimeScanPage {
    const events: ScannedEvent[] = [];
    for (const r of rows) {
      // Beyond the horizon: committed by the writer but not yet fanned out by this thread.
      const horizon = this.visible.get(r.channel);
      if (horizon !== undefined && r.offset > horizon) continue;
      events.push({ channel: r.channel, epoch: r.epoch, offset: r.offset, time: r.time, json: r.body });
    }
    const last = rows.at(-1);
    return { events, next: rows.length === limit && last ? `${last.time}:${last.cid}:${last.offset}` : undefined };
  }

  async position(channel: string): Promise<ChannelPosition> {
    const row = this.visibleRow(channel);
    return row ? this.positionOf(row) : this.emptyPosition();
  }

  async listChannels(query: ChannelListQuery): Promise<ChannelSummary[]> {
    const prefix = query.prefix ?? '';
    const rows = this.statements.listChannels.all({ after: query.after ?? '', low: prefix, high: prefix + NAME_END, limit: query.limit });
    return rows.map((r) => ({ name: r.name, epoch: r.epoch, latest: Math.min(r.latest, this.visible.get(r.name) ?? r.latest), lastTime: r.lastTime ?? undefined }));
  }

  async channelCount(): Promise<number> {
    return this.statements.countChannels.get()!.count;
  }

  async totals(): Promise<StoreTotals> {
    // Before the writer's first reply, one round trip (it read them when it opened the database).
    if (!this.latestTotals) await this.request({ type: 'totals' });
    const { events, bytes } = this.latestTotals!;
    return { events, bytes };
  }

  async reset(channel: string): Promise<ChannelPosition> {
    // Appends made before the reset belong to the old epoch: they are written (and so dropped) first.
    await this.drain();
    const epoch = await this.request<string>({ type: 'reset', channel });
    this.visible.set(channel, 0);
    return { epoch, latest: 0, earliest: 1 };
  }

  async sweep(now = Date.now()): Promise<number> {
    return this.request<number>({ type: 'sweep', cutoff: now - this.options.retention.maxAgeMs });
  }

  /** Waits for every accepted append to commit, stops the writer, closes, and frees the data folder. Safe to call twice. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await this.drain();
      clearInterval(this.probe);
      // The checkpointer first: the writer's connection, closing, then finds the log no other connection uses.
      if (!this.checkpointerExited) {
        this.checkpointer.ref(); // as the writer below: the process stays up until the thread has closed
        const exited = new Promise((r) => this.checkpointer.once('exit', r));
        this.checkpointer.postMessage('close');
        await exited;
      }
      if (!this.writerFailure) {
        this.writer.ref(); // keep the process up until the writer has closed the database
        const exited = new Promise((r) => this.writer.once('exit', r));
        await this.request({ type: 'close' }).catch(() => {});
        await exited;
      }
      this.db.close();
      this.lock.release();
    })());
  }

  /** Resolves once every append accepted so far is committed (or failed). */
  private async drain(): Promise<void> {
    while (this.pending.length > 0 || this.appendInFlight) {
      this.flush();
      await new Promise((r) => setImmediate(r));
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends what is pending as one batch (up to the batch bounds), unless a batch is still being committed. */
  private flush(): void {
    if (this.appendInFlight || this.pending.length === 0) return;
    const batch = takeBatch(this.pending);
    this.appendInFlight = true;
    // Nothing is in flight now, so the database holds exactly what this thread has processed.
    for (const { channel } of batch) if (!this.visible.has(channel)) this.visible.set(channel, this.statements.getChannel.get(channel)?.latest ?? 0);
    const appends: WriterAppend[] = batch.map((p) => ({ channel: p.channel, events: p.inputs.map((i) => ({ json: i.json, idem: i.event.id ?? null })) }));
    this.request<WriterAppendResult[]>({ type: 'append', appends }).then(
      (results) => {
        this.appendInFlight = false;
        results.forEach((result, i) => {
          const { channel, inputs, resolve, reject } = batch[i]!;
          if (result.refusedBytes) {
            const { stored, max } = result.refusedBytes;
            reject(new HeraldError('quota_exceeded', `the hub stores ${stored} bytes of history and may store at most ${max} (--max-total-bytes); nothing was stored: retry later, or ask the operator to delete channels or raise the quota`));
            return;
          }
          this.visible.set(channel, Math.max(this.visible.get(channel) ?? 0, ...result.offsets));
          const stored: StoredEvent[] = [];
          inputs.forEach((input, k) => {
            if (!result.duplicates[k]) stored.push({ channel, offset: result.offsets[k]!, time: result.time, json: input.json });
          });
          resolve({ epoch: result.epoch, offsets: result.offsets, duplicates: result.duplicates, stored });
        });
        this.flush();
      },
      (error: unknown) => {
        this.appendInFlight = false;
        for (const p of batch) p.reject(error);
        this.flush();
      },
    );
  }

  private request<T>(body: WithoutId<WriterRequest>): Promise<T> {
    if (this.writerFailure) return Promise.reject(this.writerFailure);
    const id = this.nextRequest++;
    return new Promise<T>((resolve, reject) => {
      if (this.waiting.size === 0) this.writer.ref();
      this.waiting.set(id, { resolve, reject });
      this.writer.postMessage({ ...body, id });
    });
  }

  health(): StoreHealth {
    return this.fault === undefined ? { status: 'ok' } : { status: 'degraded', reason: this.fault };
  }

  onHealthChange(listener: (health: StoreHealth) => void): void {
    this.healthListener = listener;
  }

  onTiming(listener: (timing: StoreTiming) => void): void {
    this.timingListener = listener;
  }

  private onReply(reply: WriterReply): void {
    // Replies arrive in request order, so the last one's totals are the writer's newest.
    this.latestTotals = reply.totals;
    if (reply.timing) this.timingListener?.({ kind: 'commit', ...reply.timing });
    const waiter = this.waiting.get(reply.id);
    if (!waiter) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0 && !this.closing) this.writer.unref();
    if (reply.ok) {
      this.recovered();
      waiter.resolve(reply.result);
    } else if (isStorageFault(reply.code)) {
      this.faulted(`${reply.code}: ${reply.message}`);
      waiter.reject(new HeraldError('storage_unavailable', 'the hub cannot write to its data folder (disk full or I/O error); nothing was stored: retry later'));
    } else waiter.reject(new Error(reply.message));
  }

  /** Enters a fault episode (once), and probes the disk every second until a write succeeds again. */
  private faulted(reason: string): void {
    if (this.fault === undefined) {
      this.fault = reason;
      this.healthListener?.(this.health());
    }
    this.probe ??= setInterval(() => {
      if (!this.closing) this.request({ type: 'probe' }).catch(() => {});
    }, PROBE_INTERVAL_MS);
    this.probe.unref();
  }

  private recovered(): void {
    if (this.fault === undefined) return;
    this.fault = undefined;
    clearInterval(this.probe);
    this.probe = undefined;
    this.healthListener?.(this.health());
  }

  private failAll(error: Error): void {
    this.writerFailure ??= error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
    for (const p of this.pending.splice(0)) p.reject(error);
  }

  /** The channel's row, its `latest` capped at what this thread has processed (see `visible`). */
  private visibleRow(channel: string): { id: number; epoch: string; latest: number } | undefined {
    const row = this.statements.getChannel.get(channel);
    if (!row) return undefined;
    const horizon = this.visible.get(channel);
    return horizon === undefined ? row : { ...row, latest: Math.min(row.latest, horizon) };
  }

  private positionOf(row: { id: number; epoch: string; latest: number }): ChannelPosition {
    const earliest = this.statements.earliest.get(row.id)?.offset ?? row.latest + 1;
    return { epoch: row.epoch, latest: row.latest, earliest };
  }

  private emptyPosition(): ChannelPosition {
    return { epoch: this.storeEpoch, latest: 0, earliest: 1 };
  }

  private createStoreEpoch(): string {
    const epoch = newEpoch();
    this.statements.setMeta.run('epoch', epoch);
    return epoch;
  }
}

function parseScanCursor(cursor: string): [number, number, number] {
  const parts = cursor.split(':').map(Number);
  if (parts.length !== 3 || !parts.every(Number.isSafeInteger)) throw new HeraldError('bad_request', `not a cursor of this hub's history: ${cursor}`);
  return parts as [number, number, number];
}

function toStored(channel: string, row: EventRow): StoredEvent {
  return { channel, offset: row.offset, time: row.time, json: row.body };
}
