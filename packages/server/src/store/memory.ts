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

  constructor(private readonly retention: RetentionPolicy) {}

  async append(channel: string, inputs: AppendInput[]): Promise<AppendResult> {
    const state = this.channel(channel, true)!;
    const now = Date.now();
    const offsets: number[] = [];
    const duplicates: boolean[] = [];
    const stored: StoredEvent[] = [];
    for (const input of inputs) {
      const id = input.event.id;
      const existing = id === undefined ? undefined : state.ids.get(id);
      if (existing !== undefined) {
        offsets.push(existing);
        duplicates.push(true);
        continue;
      }
      const event: StoredEvent = { channel, offset: ++state.latest, time: now, json: input.json };
      state.events.push(event);
      if (id !== undefined) {
        state.ids.set(id, event.offset);
        state.idOfOffset.set(event.offset, id);
      }
      offsets.push(event.offset);
      duplicates.push(false);
      stored.push(event);
    }
    this.trim(state, state.events.length - this.retention.maxCount);
    return { epoch: state.epoch, offsets, duplicates, stored };
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
    const state: MemoryChannel = { epoch: newEpoch(), latest: 0, events: [], ids: new Map(), idOfOffset: new Map() };
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
      state = { epoch: this.instanceEpoch, latest: 0, events: [], ids: new Map(), idOfOffset: new Map() };
      this.channelsByName.set(name, state);
    }
    return state;
  }

  private emptyPosition(): ChannelPosition {
    return { epoch: this.instanceEpoch, latest: 0, earliest: 1 };
  }

  private trim(state: MemoryChannel, count: number): number {
    if (count <= 0) return 0;
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
