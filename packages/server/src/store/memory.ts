import { HeraldError } from '../errors.js';
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

/**
 * History kept in this process only: fast, and honest about loss — every channel gets a fresh epoch
 * when the process starts, so clients resuming against a restarted hub are told recovered:false.
 */
export class MemoryStore implements EventStore {
  private readonly channelsByName = new Map<string, MemoryChannel>();
  /** Epoch of channels that never stored anything: stable for this process's lifetime. */
  private readonly instanceEpoch = newEpoch();
  /** Bytes retained over all channels. */
  private totalBytes = 0;

  constructor(private readonly retention: RetentionPolicy) {}

  async append(channel: string, inputs: AppendInput[]): Promise<AppendResult> {
    const state = this.channel(channel, true)!;
    const now = Date.now();
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
    }
    for (const [id, offset] of batchIds) {
      state.ids.set(id, offset);
      state.idOfOffset.set(offset, id);
    }
    state.bytes += added;
    this.totalBytes += added;
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

  async readSinceTime(channel: string, afterTime: number, limit: number): Promise<HistoryPage> {
    const state = this.channel(channel, false);
    if (!state) return { position: this.emptyPosition(), events: [] };
    const start = state.events.findIndex((e) => e.time > afterTime);
    return { position: positionOf(state), events: start < 0 ? [] : state.events.slice(start, start + limit) };
  }

  async position(channel: string): Promise<ChannelPosition> {
    const state = this.channel(channel, false);
    return state ? positionOf(state) : this.emptyPosition();
  }

  async channels(): Promise<ChannelSummary[]> {
    return [...this.channelsByName]
      .filter(([, state]) => state.latest > 0)
      .map(([name, state]) => ({ name, epoch: state.epoch, latest: state.latest, lastTime: state.events.at(-1)?.time }));
  }

  async channelCount(): Promise<number> {
    let count = 0;
    for (const state of this.channelsByName.values()) if (state.latest > 0) count++;
    return count;
  }

  async reset(channel: string): Promise<ChannelPosition> {
    this.totalBytes -= this.channelsByName.get(channel)?.bytes ?? 0;
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
    }
    return state;
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
    for (const dropped of state.events.splice(0, count)) {
      const id = state.idOfOffset.get(dropped.offset);
      if (id !== undefined) {
        state.ids.delete(id);
        state.idOfOffset.delete(dropped.offset);
      }
    }
    return count;
  }
}

function positionOf(state: MemoryChannel): ChannelPosition {
  return { epoch: state.epoch, latest: state.latest, earliest: state.events[0]?.offset ?? state.latest + 1 };
}
