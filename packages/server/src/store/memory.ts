import { HeraldError } from '../errors.js';
import {
  newEpoch,
  type AppendInput,
  type AppendResult,
  type ChannelPosition,
  type ChannelListQuery,
  type ChannelSummary,
  type EventStore,
  type HistoryPage,
  type RetentionPolicy,
  type ScannedEvent,
  type StoredEvent,
  type StoreTotals,
  type TimeScanPage,
  type NewestScanQuery,
  type TimeScanQuery,
} from './types.js';

interface MemoryChannel {
  epoch: string;
  latest: number;
  events: StoredEvent[];
  /** Byte size of each retained event's JSON, parallel to `events`, and their sum. */
  sizes: number[];
  bytes: number;
  /** idempotency id → offset, for retained events only. */
  ids: Map<string, number>;
  idOfOffset: Map<number, string>;
}

/** One stored event in the order the store received it (see `MemoryStore.log`). */
interface LogEntry {
  seq: number;
  state: MemoryChannel;
  event: StoredEvent;
}

/** Compaction of the receive-order log waits for this many dropped entries (and for half of it to be dropped). */
const MIN_COMPACTION = 1024;

/**
 * History kept in this process only: fast, and honest about loss — every channel gets a fresh epoch
 * when the process starts, so clients resuming against a restarted hub are told recovered:false.
 */
export class MemoryStore implements EventStore {
  private readonly channelsByName = new Map<string, MemoryChannel>();
  /** Epoch of channels that never stored anything: stable for this process's lifetime. */
  private readonly instanceEpoch = newEpoch();
  /** Channel names in order, for paging the channel list without sorting it per page. */
  private readonly sortedNames: string[] = [];
  /**
   * Every retained event in receive order, which is time order (times never go backwards here), for
   * scans across channels by time. Events dropped by retention or reset stay in it until compaction.
   */
  private log: LogEntry[] = [];
  private nextSeq = 1;
  private lastTime = 0;
  private droppedInLog = 0;
  /** Bytes retained over all channels. */
  private totalBytes = 0;
  /** Events retained over all channels. */
  private totalEvents = 0;

  constructor(private readonly retention: RetentionPolicy) {}

  async append(channel: string, inputs: AppendInput[]): Promise<AppendResult> {
    const state = this.channel(channel, true)!;
    // Receive times never go backwards, so the log stays in time order even if the clock is set back.
    const now = Math.max(Date.now(), this.lastTime);
    this.lastTime = now;
    const offsets: number[] = [];
    const duplicates: boolean[] = [];
    const stored: StoredEvent[] = [];
    const sizes: number[] = [];
    // An id repeated within the batch is a duplicate of its first copy.
    const batchIds = new Map<string, number>();
    let latest = state.latest;
    for (const input of inputs) {
      const id = input.event.id;
      const existing = id === undefined ? undefined : (state.ids.get(id) ?? batchIds.get(id));
      if (existing !== undefined) {
        offsets.push(existing);
        duplicates.push(true);
        continue;
      }
      const event: StoredEvent = { channel, offset: ++latest, time: now, json: input.json };
      if (id !== undefined) batchIds.set(id, event.offset);
      offsets.push(event.offset);
      duplicates.push(false);
      stored.push(event);
      sizes.push(Buffer.byteLength(input.json));
    }
    const added = sizes.reduce((a, b) => a + b, 0);
    const drop = this.dropPlan(state, sizes, added);
    const maxTotal = this.retention.maxTotalBytes ?? 0;
    if (maxTotal > 0 && stored.length > 0 && this.totalBytes + added - drop.bytes > maxTotal) {
      throw new HeraldError('quota_exceeded', `the hub stores ${this.totalBytes} bytes of history and may store at most ${maxTotal} (--max-total-bytes); nothing was stored: retry later, or ask the operator to delete channels or raise the quota`);
    }
    state.latest = latest;
    for (const [index, event] of stored.entries()) {
      state.events.push(event);
      state.sizes.push(sizes[index]!);
      this.log.push({ seq: this.nextSeq++, state, event });
    }
    for (const [id, offset] of batchIds) {
      state.ids.set(id, offset);
      state.idOfOffset.set(offset, id);
    }
    state.bytes += added;
    this.totalBytes += added;
    this.totalEvents += stored.length;
    this.trim(state, drop.count);
    return { epoch: state.epoch, offsets, duplicates, stored };
  }

  /** How many of the oldest events retention drops once `sizes` more are appended: by count, then by bytes. */
  private dropPlan(state: MemoryChannel, sizes: readonly number[], added: number): { count: number; bytes: number } {
    const length = state.events.length + sizes.length;
    const sizeAt = (i: number) => (i < state.sizes.length ? state.sizes[i]! : sizes[i - state.sizes.length]!);
    let count = 0;
    let bytes = 0;
    let kept = state.bytes + added;
    const maxBytes = this.retention.maxChannelBytes ?? 0;
    while (count < length - 1 && (length - count > this.retention.maxCount || (maxBytes > 0 && kept > maxBytes))) {
      const size = sizeAt(count++);
      bytes += size;
      kept -= size;
    }
    return { count, bytes };
  }

  async read(channel: string, afterOffset: number, limit: number): Promise<HistoryPage> {
    const state = this.channel(channel, false);
    if (!state) return { position: this.emptyPosition(), events: [] };
    const first = state.events[0]?.offset ?? state.latest + 1;
    const start = Math.max(0, afterOffset + 1 - first);
    return { position: positionOf(state), events: state.events.slice(start, start + limit) };
  }

  async scanByTime(query: TimeScanQuery): Promise<TimeScanPage> {
    const log = this.log;
    const after = query.cursor === undefined ? undefined : Number(query.cursor);
    let at = after === undefined ? firstIndex(log, (e) => e.event.time > query.afterTime) : firstIndex(log, (e) => e.seq > after);
    const events: ScannedEvent[] = [];
    for (let looked = 0; at < log.length; at++, looked++) {
      if (looked === query.limit) return { events, next: String(log[at - 1]!.seq) };
      const { state, event } = log[at]!;
      if (event.time > query.untilTime) break;
      if (query.prefix !== undefined && !event.channel.startsWith(query.prefix)) continue;
      if (!this.retained(state, event)) continue;
      events.push({ ...event, epoch: state.epoch });
    }
    return { events, next: undefined };
  }

  async scanNewest(query: NewestScanQuery): Promise<TimeScanPage> {
    const log = this.log;
    const before = query.cursor === undefined ? undefined : Number(query.cursor);
    if (before !== undefined && !Number.isSafeInteger(before)) throw new HeraldError('bad_request', `not a cursor of this hub's history: ${query.cursor}`);
    let at = before === undefined ? log.length - 1 : firstIndex(log, (e) => e.seq >= before) - 1;
    const events: ScannedEvent[] = [];
    for (let looked = 0; at >= 0; at--, looked++) {
      if (looked === query.limit) return { events, next: String(log[at + 1]!.seq) };
      const { state, event } = log[at]!;
      if (query.prefix !== undefined && !event.channel.startsWith(query.prefix)) continue;
      if (!this.retained(state, event)) continue;
      events.push({ ...event, epoch: state.epoch });
    }
    return { events, next: undefined };
  }

  async position(channel: string): Promise<ChannelPosition> {
    const state = this.channel(channel, false);
    return state ? positionOf(state) : this.emptyPosition();
  }

  async listChannels(query: ChannelListQuery): Promise<ChannelSummary[]> {
    const names = this.sortedNames;
    const from = query.after ?? '';
    const prefix = query.prefix ?? '';
    const page: ChannelSummary[] = [];
    for (let i = firstIndex(names, (n) => n > from && n >= prefix); i < names.length && page.length < query.limit; i++) {
      const name = names[i]!;
      if (!name.startsWith(prefix)) break;
      const state = this.channelsByName.get(name)!;
      if (state.latest > 0) page.push({ name, epoch: state.epoch, latest: state.latest, lastTime: state.events.at(-1)?.time });
    }
    return page;
  }

  async channelCount(): Promise<number> {
    let count = 0;
    for (const state of this.channelsByName.values()) if (state.latest > 0) count++;
    return count;
  }

  async totals(): Promise<StoreTotals> {
    return { events: this.totalEvents, bytes: this.totalBytes };
  }

  async reset(channel: string): Promise<ChannelPosition> {
    const old = this.channelsByName.get(channel);
    if (old) {
      this.forget(old.events.length);
      this.totalBytes -= old.bytes;
      this.totalEvents -= old.events.length;
    } else insertSorted(this.sortedNames, channel);
    const state: MemoryChannel = { epoch: newEpoch(), latest: 0, events: [], sizes: [], bytes: 0, ids: new Map(), idOfOffset: new Map() };
    this.channelsByName.set(channel, state);
    return positionOf(state);
  }

  async sweep(now = Date.now()): Promise<number> {
    const cutoff = now - this.retention.maxAgeMs;
    let dropped = 0;
    for (const state of this.channelsByName.values()) {
      let count = 0;
      while (count < state.events.length && state.events[count]!.time < cutoff) count++;
      dropped += this.trim(state, count);
    }
    return dropped;
  }

  async close(): Promise<void> {}

  private channel(name: string, create: boolean): MemoryChannel | undefined {
    let state = this.channelsByName.get(name);
    if (!state && create) {
      state = { epoch: this.instanceEpoch, latest: 0, events: [], sizes: [], bytes: 0, ids: new Map(), idOfOffset: new Map() };
      this.channelsByName.set(name, state);
      insertSorted(this.sortedNames, name);
    }
    return state;
  }

  /** Whether a log entry is still part of its channel's history (not trimmed, not reset away). */
  private retained(state: MemoryChannel, event: StoredEvent): boolean {
    const first = state.events[0];
    return this.channelsByName.get(event.channel) === state && first !== undefined && event.offset >= first.offset;
  }

  /** Counts events that left their channel's history, and drops them from the log once they are many. */
  private forget(count: number): void {
    this.droppedInLog += count;
    if (this.droppedInLog < MIN_COMPACTION || this.droppedInLog * 2 < this.log.length) return;
    this.log = this.log.filter((e) => this.retained(e.state, e.event));
    this.droppedInLog = 0;
  }

  private emptyPosition(): ChannelPosition {
    return { epoch: this.instanceEpoch, latest: 0, earliest: 1 };
  }

  private trim(state: MemoryChannel, count: number): number {
    if (count <= 0) return 0;
    let bytes = 0;
    for (const size of state.sizes.splice(0, count)) bytes += size;
    state.bytes -= bytes;
    this.totalBytes -= bytes;
    this.totalEvents -= count;
    for (const dropped of state.events.splice(0, count)) {
      const id = state.idOfOffset.get(dropped.offset);
      if (id !== undefined) {
        state.ids.delete(id);
        state.idOfOffset.delete(dropped.offset);
      }
    }
    this.forget(count);
    return count;
  }
}

/** The first index whose item passes `test`, for an array ordered so that the items that pass come last. */
function firstIndex<T>(items: readonly T[], test: (item: T) => boolean): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (test(items[mid]!)) high = mid;
    else low = mid + 1;
  }
  return low;
}

function insertSorted(names: string[], name: string): void {
  names.splice(firstIndex(names, (n) => n > name), 0, name);
}

function positionOf(state: MemoryChannel): ChannelPosition {
  return { epoch: state.epoch, latest: state.latest, earliest: state.events[0]?.offset ?? state.latest + 1 };
}
