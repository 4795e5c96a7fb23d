import { Defaults, matchesPattern, type PatternPosition, type StreamPosition } from '@herald/protocol';
import { Delivery } from './fanout/delivery.js';
import { ChannelReplay, EMPTY_REPLAY, ReplayLost, replayOf, type ReplaySource } from './fanout/replay-source.js';
import { pause } from './slicer.js';
import type { EventStore } from './store/types.js';

export type Since =
  | { kind: 'channel'; position: StreamPosition }
  | { kind: 'pattern'; position: PatternPosition }
  /** Start from the channel's snapshot (runs) instead of from history. */
  | { kind: 'snapshot' }
  /** Start with the newest `count` events (of the channel, or across the channels a pattern matches). */
  | { kind: 'last'; count: number };

/** Checks the `since` of a subscribe command; returns a sentence for the error reply when it is wrong. */
export function parseSince(raw: unknown, isPattern: boolean): Since | undefined | string {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) return 'since must be an object';
  const obj = raw as Record<string, unknown>;
  if (obj.last !== undefined) {
    const count = obj.last;
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1 || count > Defaults.maxLastEvents) return `since.last must be a whole number from 1 to ${Defaults.maxLastEvents}`;
    if (Object.keys(obj).length > 1) return 'since.last stands alone: it is where a subscription without a position starts';
    return { kind: 'last', count };
  }
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

/** Reads a whole channel recovery into memory (pattern resume merges channels by time), in slices. */
async function readAll(recovery: ChannelRecovery): Promise<Delivery[]> {
  const all: Delivery[] = [];
  for (let page = await recovery.replay.next(); page; page = await recovery.replay.next()) {
    all.push(...page);
    await pause();
  }
  return all;
}

export interface PatternRecovery {
  recovered: boolean;
  replay: ReplaySource;
  /** Highest offset accounted for, per channel that was looked at. */
  covered: Map<string, number>;
  /** The epoch those offsets are in, per channel. */
  epochs: Map<string, string>;
}

/** The literal start every channel a pattern matches shares (`runs.*.x` → `runs.`, `>` → ''). */
export function patternPrefix(pattern: string): string {
  const segments = pattern.split('.');
  const wild = segments.findIndex((s) => s === '*' || s === '>');
  return wild < 0 ? pattern : segments.slice(0, wild).map((s) => `${s}.`).join('');
}

/**
 * Resume for a pattern: each channel listed in `positions` resumes like an exact channel; channels that
 * match but are not listed (for example created while the client was away) replay what the hub
 * received after `time`. The replay is ordered by receive time across channels, by offset within one.
 *
 * The unlisted part is found by one scan of the store by time (over the pattern's literal prefix), not
 * by listing and reading every channel; every loop runs in slices (`pause`), so a resume over 100 000
 * channels never holds the event loop for long. Channels are merged by time, so the whole replay is held
 * until it is sent: it is bounded in bytes as well as in events, and past either bound the answer is
 * recovered:false.
 *
 * The scan ends at the time it started: later events were fanned out after the subscription began
 * holding live events (the hub indexes it before calling this), so they arrive as held live events.
 */
export async function recoverPattern(store: EventStore, pattern: string, since: PatternPosition, budget: number, maxBytes: number, pageSize: number): Promise<PatternRecovery> {
  const covered = new Map<string, number>();
  const epochs = new Map<string, string>();
  const replay: Delivery[] = [];
  let recovered = true;
  let remaining = budget;
  let bytes = 0;
  const listed = since.positions ?? {};
  for (const channel of Object.keys(listed)) {
    await pause();
    if (!matchesPattern(pattern, channel)) continue;
    const result = await recoverChannel(store, channel, listed[channel]!, remaining, pageSize);
    covered.set(channel, result.latest);
    epochs.set(channel, result.epoch);
    if (!result.recovered) recovered = false;
    let events: Delivery[];
    try {
      events = await readAll(result);
    } catch (error) {
      if (!(error instanceof ReplayLost)) throw error;
      recovered = false;
      continue;
    }
    const size = events.reduce((sum, d) => sum + d.stored.json.length, 0);
    if (bytes + size > maxBytes) {
      recovered = false;
      continue;
    }
    bytes += size;
    replay.push(...events);
    remaining -= events.length;
  }
  if (since.time !== undefined) {
    const found = await scanUnlisted(store, pattern, since.time, listed, remaining, maxBytes - bytes, pageSize);
    if (!found.complete) recovered = false;
    for (const [channel, offset] of found.covered) covered.set(channel, offset);
    for (const d of found.replay) epochs.set(d.channel, d.epoch);
    // Dropped events older than `time` are no gap. But when every retained event of a channel is newer
    // than `time` and some were dropped, the dropped ones may have been newer too: that cannot be proven.
    for (const [channel, first] of found.first) {
      await pause();
      if (first > 1 && (await store.position(channel)).earliest === first) recovered = false;
    }
    replay.push(...found.replay);
  }
  replay.sort((a, b) => a.stored.time - b.stored.time || (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : a.offset - b.offset));
  return { recovered, replay: replayOf(replay, pageSize), covered, epochs };
}

/**
 * The newest `count` events across the channels `pattern` matches, oldest first, found by scanning the
 * store newest first over the pattern's literal prefix: it costs what it returns, not the history. At
 * most `lookBudget` events are looked at (a pattern that matches few of many channels gets what was
 * found within it) and at most `maxBytes` are held. The subscription was indexed before this is called,
 * so what is newer than the scan arrives as held live events, and `covered` drops the held copies of
 * what the scan found.
 */
export async function newestOfPattern(store: EventStore, pattern: string, count: number, lookBudget: number, maxBytes: number, pageSize: number): Promise<PatternRecovery> {
  const covered = new Map<string, number>();
  const epochs = new Map<string, string>();
  const found: Delivery[] = [];
  const prefix = patternPrefix(pattern);
  let bytes = 0;
  let looked = 0;
  let cursor: string | undefined;
  scan: do {
    await pause();
    const page = await store.scanNewest({ prefix, cursor, limit: pageSize });
    looked += pageSize;
    for (const e of page.events) {
      if (!matchesPattern(pattern, e.channel)) continue;
      if (found.length >= count || bytes + e.json.length > maxBytes) break scan;
      bytes += e.json.length;
      found.push(new Delivery(e.epoch, e));
      // Newest first: the first event seen of a channel is its latest.
      if (!covered.has(e.channel)) {
        covered.set(e.channel, e.offset);
        epochs.set(e.channel, e.epoch);
      }
    }
    cursor = page.next;
  } while (cursor !== undefined && looked < lookBudget);
  found.reverse();
  return { recovered: true, replay: replayOf(found, pageSize), covered, epochs };
}

interface UnlistedScan {
  replay: Delivery[];
  /** Per channel found, the highest offset in the replay. */
  covered: Map<string, number>;
  /** Per channel found, the lowest offset in the replay. */
  first: Map<string, number>;
  /** False when the events found did not fit in the budget or the bytes (and none are replayed). */
  complete: boolean;
}

/** The events matching channels not in `listed` received after `afterTime`, within `budget` and `maxBytes`. */
async function scanUnlisted(
  store: EventStore,
  pattern: string,
  afterTime: number,
  listed: Record<string, unknown>,
  budget: number,
  maxBytes: number,
  pageSize: number,
): Promise<UnlistedScan> {
  const scan: UnlistedScan = { replay: [], covered: new Map(), first: new Map(), complete: true };
  const untilTime = Date.now();
  const prefix = patternPrefix(pattern);
  let bytes = 0;
  let cursor: string | undefined;
  do {
    await pause();
    // From the client's last millisecond itself: it holds no event of an unlisted channel, so one
    // received in that same millisecond is owed to it too (and cannot be a repeat).
    const page = await store.scanByTime({ afterTime: afterTime - 1, untilTime, prefix, cursor, limit: pageSize });
    for (const e of page.events) {
      if (Object.hasOwn(listed, e.channel) || !matchesPattern(pattern, e.channel)) continue;
      if (scan.replay.length >= budget || bytes + e.json.length > maxBytes) {
        // Nothing of the unlisted channels is replayed then: each starts with its first live event,
        // so what the client receives of a channel has no hole (and it was told recovered:false).
        return { replay: [], covered: new Map(), first: new Map(), complete: false };
      }
      bytes += e.json.length;
      scan.replay.push(new Delivery(e.epoch, e));
      scan.covered.set(e.channel, e.offset);
      if (!scan.first.has(e.channel)) scan.first.set(e.channel, e.offset);
    }
    cursor = page.next;
  } while (cursor !== undefined);
  return scan;
}
