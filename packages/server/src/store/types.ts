import { randomBytes } from 'node:crypto';
import type { HeraldEvent } from '@herald/protocol';

/**
 * The history seam. Every engine (memory, SQLite, later Redis) implements this and must pass the
 * conformance suite in test/store-conformance.ts.
 *
 * Why an epoch: offsets alone cannot tell a client that the history it remembers no longer exists
 * (the memory engine restarted, or an operator reset the channel). The epoch names one unbroken
 * history; when it changes, positions from the old one mean nothing and resume answers recovered:false.
 */

/** An event ready to store: validated once, serialised once (the same text is stored and delivered). */
export interface AppendInput {
  event: HeraldEvent;
  json: string;
}

/** One stored event. `json` is the serialised HeraldEvent, exactly as delivered. */
export interface StoredEvent {
  channel: string;
  offset: number;
  time: number;
  json: string;
}

export interface AppendResult {
  epoch: string;
  /** One offset per input, in input order; a duplicate idempotency id gets the original offset. */
  offsets: number[];
  /** Per input: whether it was a duplicate (nothing new stored). */
  duplicates: boolean[];
  /** The events actually stored by this append, in offset order: these are fanned out. */
  stored: StoredEvent[];
}

export interface ChannelPosition {
  epoch: string;
  /** Offset of the newest event ever stored in this epoch (0 when none). */
  latest: number;
  /** Offset of the oldest event still retained (latest + 1 when nothing is retained). */
  earliest: number;
}

export interface HistoryPage {
  position: ChannelPosition;
  events: StoredEvent[];
}

export interface ChannelSummary {
  name: string;
  epoch: string;
  latest: number;
  /** Receive time of the newest event, or undefined when the channel has none. */
  lastTime: number | undefined;
}

/** A page of the channel list, in name order (see `EventStore.listChannels`). */
export interface ChannelListQuery {
  /** Only channels whose name starts with this text. */
  prefix?: string;
  /** Only names after this one: the last name of the previous page. */
  after?: string;
  limit: number;
}

/** A stored event with the epoch of its channel, as a scan across channels returns it. */
export interface ScannedEvent extends StoredEvent {
  epoch: string;
}

/** Events of every channel by receive time (see `EventStore.scanByTime`). */
export interface TimeScanQuery {
  /** Events received strictly after this time (ms)… */
  afterTime: number;
  /** …and at or before this one: a scan has an end even while events keep arriving. */
  untilTime: number;
  /** Only channels whose name starts with this text. */
  prefix?: string;
  /** Where the previous page stopped (its `next`). */
  cursor?: string;
  /** Most events looked at for this page (events beyond the visible horizon are skipped, not counted). */
  limit: number;
}

export interface TimeScanPage {
  events: ScannedEvent[];
  /** Pass as `cursor` for the next page; undefined when the scan is complete. */
  next: string | undefined;
}

/** The newest events of every channel, newest first (see `EventStore.scanNewest`). */
export interface NewestScanQuery {
  /** Only channels whose name starts with this text. */
  prefix?: string;
  /** Where the previous page stopped (its `next`). */
  cursor?: string;
  /** Most events looked at for this page. */
  limit: number;
}

export interface RetentionPolicy {
  /** Events kept per channel. */
  maxCount: number;
  /** Events older than this many milliseconds are dropped. */
  maxAgeMs: number;
  /**
   * Bytes (of the stored event JSON) kept per channel: past it the channel's oldest events are dropped,
   * as with `maxCount` (its newest event is always kept). 0 or absent: no limit.
   */
  maxChannelBytes?: number;
  /**
   * Bytes kept over all channels. An append that would leave more stored (after its own channel's
   * trimming) is refused whole with `quota_exceeded`, and nothing is dropped to make room: history that
   * was acknowledged stays until retention or a reset removes it. 0 or absent: no limit.
   */
  maxTotalBytes?: number;
}

export interface EventStore {
  /**
   * Stores events at the end of a channel. Resolves only once they are durable in this engine's sense.
   * Reads (`read`, `scanByTime`, `position`) must not show an appended event before this promise has
   * resolved: the hub fans events out when it resolves, and a resume that saw an event in history before
   * its fan-out would receive it twice.
   */
  append(channel: string, inputs: AppendInput[]): Promise<AppendResult>;
  /** Events with offset > afterOffset, oldest first, at most `limit`. */
  read(channel: string, afterOffset: number, limit: number): Promise<HistoryPage>;
  /**
   * Events of every channel received in (afterTime, untilTime], ordered by receive time (within one
   * channel, by offset), a bounded page at a time: pattern resume finds what it missed without
   * listing or reading every channel. Like `read`, it never shows events beyond the visible horizon.
   */
  scanByTime(query: TimeScanQuery): Promise<TimeScanPage>;
  /**
   * The same events as `scanByTime` in the opposite order: newest receive time first (within one
   * channel, highest offset first), a bounded page at a time, so "the last N events across channels"
   * costs N events, not the whole history. Never shows events beyond the visible horizon.
   */
  scanNewest(query: NewestScanQuery): Promise<TimeScanPage>;
  position(channel: string): Promise<ChannelPosition>;
  /**
   * A page of the channels that hold events (reset-to-empty ones are left out), in name order from
   * after `query.after`: no caller ever needs the whole list at once, and at 100 000 channels it would
   * cost the event loop a third of a second.
   */
  listChannels(query: ChannelListQuery): Promise<ChannelSummary[]>;
  /** How many channels `listChannels` would list in all, without listing them (stats are polled every second). */
  channelCount(): Promise<number>;
  /**
   * How many events (and bytes of their JSON) the history retains over all channels, read in O(1)
   * whatever its size: stats are polled every second, and COUNT(*) over 10 million rows is not a poll.
   * Engines keep running sums as they append, trim and reset.
   */
  totals(): Promise<StoreTotals>;
  /** Drops a channel's history and starts a new epoch. */
  reset(channel: string): Promise<ChannelPosition>;
  /** Applies the age part of the retention policy now (count is applied on append). */
  sweep(now?: number): Promise<number>;
  /** Waits for pending appends, then releases resources. Safe to call twice. */
  close(): Promise<void>;
  /**
   * Whether the engine can store right now. An engine that hits a storage fault (disk full, I/O error,
   * corruption) refuses appends with `storage_unavailable`, reports `degraded` with the reason here,
   * and reports `ok` again once it has written successfully. Engines that cannot fail omit it.
   */
  health?(): StoreHealth;
  /** Called when `health()` changes, so that each episode is logged once. */
  onHealthChange?(listener: (health: StoreHealth) => void): void;
  /**
   * The clock receive times are stamped with, read now (ms), for an engine whose clock is not this
   * process's (Redis stamps with its own): a hub compares it with stored events' times to tell which
   * were stored after one of its subscriptions began. Engines that stamp with `Date.now()` omit it.
   */
  clock?(): number;
  /**
   * Tells `listener` what the engine measured of its own work (commits, checkpoints), for `/metrics`.
   * One listener; engines that measure nothing omit it.
   */
  onTiming?(listener: (timing: StoreTiming) => void): void;
}

/**
 * A measurement of an engine's work: a group commit (its events, the time its statements took and the
 * time COMMIT took — the log's fsync), or a background checkpoint (its mode — a RESTART holds the
 * writer's lock while it runs, a PASSIVE never does — its time, and the log's size and how much of it is
 * copied into the database, in pages).
 */
export type StoreTiming =
  | { kind: 'commit'; events: number; writeMs: number; commitMs: number }
  | { kind: 'checkpoint'; mode: 'passive' | 'restart'; ms: number; walPages: number; copiedPages: number }
  | { kind: 'checkpoint-failed'; message: string };

/** Store-wide figures (see `EventStore.totals`). */
export interface StoreTotals {
  /** Events retained over all channels (the newest of a channel counts until retention or a reset drops it). */
  events: number;
  /** Bytes of their stored JSON: what `maxTotalBytes` caps. */
  bytes: number;
}

export interface StoreHealth {
  status: 'ok' | 'degraded';
  reason?: string;
}

/** Epochs are short random hex strings, safe to place in JSON without escaping. */
export function newEpoch(): string {
  return randomBytes(6).toString('hex');
}
