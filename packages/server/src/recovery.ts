import { matchesPattern, type PatternPosition, type StreamPosition } from '@herald/protocol';
import { Delivery } from './fanout/delivery.js';
import { ChannelReplay, EMPTY_REPLAY, ReplayLost, replayOf, type ReplaySource } from './fanout/replay-source.js';
import type { EventStore, StoredEvent } from './store/types.js';

export type Since =
  | { kind: 'channel'; position: StreamPosition }
  | { kind: 'pattern'; position: PatternPosition }
  /** Start from the channel's snapshot (runs) instead of from history. */
  | { kind: 'snapshot' };

/** Checks the `since` of a subscribe command; returns a sentence for the error reply when it is wrong. */
export function parseSince(raw: unknown, isPattern: boolean): Since | undefined | string {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) return 'since must be an object';
  const obj = raw as Record<string, unknown>;
  if (!isPattern) {
    const position = parsePosition(obj);
    return typeof position === 'string' ? position : { kind: 'channel', position };
  }
  const result: PatternPosition = {};
  if (obj.time !== undefined) {
    if (typeof obj.time !== 'number' || !Number.isFinite(obj.time)) return 'since.time must be milliseconds since the epoch';
    result.time = obj.time;
  }
  if (obj.positions !== undefined) {
    if (typeof obj.positions !== 'object' || obj.positions === null || Array.isArray(obj.positions)) {
      return 'since.positions must be an object of channel → {offset, epoch}';
    }
    // Channel names such as "constructor" or "__proto__" are valid: no prototype to collide with.
    result.positions = Object.create(null) as Record<string, StreamPosition>;
    for (const [channel, value] of Object.entries(obj.positions)) {
      if (typeof value !== 'object' || value === null) return `since.positions["${channel}"] must be {offset, epoch}`;
      const position = parsePosition(value as Record<string, unknown>);
      if (typeof position === 'string') return `since.positions["${channel}"]: ${position}`;
      result.positions[channel] = position;
    }
  }
  if (result.time === undefined && result.positions === undefined) {
    return 'for a pattern, since is {positions: {channel: {offset, epoch}}, time?}';
  }
  return { kind: 'pattern', position: result };
}

function parsePosition(obj: Record<string, unknown>): StreamPosition | string {
  const { offset, epoch } = obj;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) return 'since.offset must be an integer ≥ 0';
  if (epoch !== undefined && typeof epoch !== 'string') return 'since.epoch must be a string';
  return epoch === undefined ? { offset } : { offset, epoch };
}

export interface ChannelRecovery {
  recovered: boolean;
  epoch: string;
  latest: number;
  /** The missed events, read page by page as they are sent (empty when not recovered). */
  replay: ReplaySource;
}

/**
 * Decides honestly whether the events after `since` can all be replayed — from the channel's position
 * alone: offsets have no gaps within an epoch, so the gap is `latest - since` events, all retained when
 * `since + 1 >= earliest`. Nothing is replayed when they cannot be: the client is told recovered:false
 * and reloads, rather than receiving a history with a hole. The events themselves are read later, a
 * page at a time, as the subscriber's socket drains.
 */
export async function recoverChannel(store: EventStore, channel: string, since: StreamPosition, budget: number, pageSize: number): Promise<ChannelRecovery> {
  const { epoch, latest, earliest } = await store.position(channel);
  const sameEpoch = since.epoch === undefined || since.epoch === epoch;
  const gapRetained = since.offset + 1 >= earliest || since.offset >= latest;
  const withinBudget = latest - since.offset <= budget;
  if (!sameEpoch || since.offset > latest || !gapRetained || !withinBudget) {
    return { recovered: false, epoch, latest, replay: EMPTY_REPLAY };
  }
  return { recovered: true, epoch, latest, replay: new ChannelReplay(store, channel, epoch, since.offset, latest, pageSize) };
}

/** Reads a whole channel recovery into memory (pattern resume merges channels by time). */
async function readAll(recovery: ChannelRecovery): Promise<Delivery[]> {
  const all: Delivery[] = [];
  for (let page = await recovery.replay.next(); page; page = await recovery.replay.next()) all.push(...page);
  return all;
}

export interface PatternRecovery {
  recovered: boolean;
  replay: ReplaySource;
  /** Highest offset accounted for, per channel that was looked at. */
  covered: Map<string, number>;
}

/**
 * Resume for a pattern: each channel listed in `positions` resumes like an exact channel; channels that
 * match but are not listed (for example created while the client was away) replay what the hub
 * received after `time`. The replay is ordered by receive time across channels, by offset within one.
 */
export async function recoverPattern(store: EventStore, pattern: string, since: PatternPosition, budget: number, maxBytes: number, pageSize: number): Promise<PatternRecovery> {
  const covered = new Map<string, number>();
  const replay: Delivery[] = [];
  let recovered = true;
  let remaining = budget;
  // Channels are merged by receive time, so the whole pattern replay is read before it is sent: it is
  // bounded in bytes as well as in events, and past either bound the answer is recovered:false.
  let bytes = 0;
  const fits = (events: readonly StoredEvent[]) => {
    for (const e of events) bytes += e.json.length;
    return bytes <= maxBytes;
  };
  const listed = since.positions ?? {};
  const channels = new Set(Object.keys(listed).filter((c) => matchesPattern(pattern, c)));
  if (since.time !== undefined) {
    for (const summary of await store.channels()) if (matchesPattern(pattern, summary.name)) channels.add(summary.name);
  }
  for (const channel of channels) {
    const position = Object.hasOwn(listed, channel) ? listed[channel] : undefined;
    if (position) {
      const result = await recoverChannel(store, channel, position, remaining, pageSize);
      covered.set(channel, result.latest);
      if (!result.recovered) recovered = false;
      let events: Delivery[];
      try {
        events = await readAll(result);
      } catch (error) {
        if (!(error instanceof ReplayLost)) throw error;
        recovered = false;
        continue;
      }
      if (!fits(events.map((d) => d.stored))) {
        recovered = false;
        continue;
      }
      replay.push(...events);
      remaining -= events.length;
    } else {
      const page = await store.readSinceTime(channel, since.time!, remaining + 1);
      if (page.events.length > remaining || !fits(page.events)) {
        recovered = false;
        covered.set(channel, page.position.latest);
        continue;
      }
      // Dropped events older than `time` are no gap. But when every retained event is newer than `time`
      // and some were dropped, the dropped ones may have been newer too: that cannot be proven complete.
      const first = page.events[0];
      if (first && first.offset === page.position.earliest && first.offset > 1) recovered = false;
      covered.set(channel, Math.max(page.position.latest, page.events.at(-1)?.offset ?? 0));
      for (const e of page.events) replay.push(new Delivery(page.position.epoch, e));
      remaining -= page.events.length;
    }
  }
  replay.sort((a, b) => a.stored.time - b.stored.time || (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : a.offset - b.offset));
  return { recovered, replay: replayOf(replay, pageSize), covered };
}
