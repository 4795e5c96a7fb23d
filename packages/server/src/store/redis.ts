import { Redis, type Result } from 'ioredis';
import { HeraldError } from '../errors.js';
import { takeBatch } from './batch.js';
import { RedisHealth, describeRedisError, isRedisFault } from './redis-health.js';
import { APPEND_SCRIPT, LIST_SCRIPT, NO_IDEM, READ_SCRIPT, RESET_SCRIPT, SCAN_SCRIPT, SWEEP_SCRIPT, TIME_DIGITS, TOTALS_SCRIPT } from './redis-scripts.js';
import {
  newEpoch,
  type AppendInput,
  type AppendResult,
  type ChannelListQuery,
  type ChannelPosition,
  type ChannelSummary,
  type EventStore,
  type HistoryPage,
  type RetentionPolicy,
  type ScannedEvent,
  type StoreHealth,
  type StoredEvent,
  type StoreTotals,
  type TimeScanPage,
  type NewestScanQuery,
  type TimeScanQuery,
} from './types.js';
import { hubRedisOptions } from './redis-options.js';

type Args = Array<string | number>;
declare module 'ioredis' {
  interface RedisCommander<Context> {
    heraldAppend(...args: Args): Result<Array<string | number>, Context>;
    heraldRead(...args: Args): Result<Array<string | number>, Context>;
    heraldReset(...args: Args): Result<string[], Context>;
    heraldScan(...args: Args): Result<Array<string | number>, Context>;
    heraldSweep(...args: Args): Result<[number, number], Context>;
    heraldList(...args: Args): Result<Array<string | number>, Context>;
    heraldTotals(...args: Args): Result<[number, number], Context>;
  }
}

/** Index members one sweep step looks at: one step holds Redis for about a millisecond. */
const SWEEP_BATCH = 500;
/** A clock sample from a reply that took longer than this is too vague to use. */
const CLOCK_SAMPLE_MAX_RTT_MS = 250;
/** Every character a channel name may hold sorts below this one: `prefix + NAME_END` bounds a prefix range. */
const NAME_END = '\x7f';

export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  url: string;
  /** Start of every key of this store (default `herald`): hubs that share a history share a prefix. */
  prefix?: string;
  retention: RetentionPolicy;
  /**
   * Longest wait for Redis's answer to one command (default 2000 ms). An append Redis runs later than
   * half of this after it was sent stores nothing, so that a refused append is not stored behind the
   * caller's back when a stalled Redis wakes up.
   */
  commandTimeoutMs?: number;
}

interface PendingAppend {
  channel: string;
  inputs: AppendInput[];
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/**
 * History in Redis, shared by every hub that uses the same Redis and prefix (cluster mode): offsets,
 * epochs, idempotency ids and receive times are all decided inside Redis by one Lua script per append
 * (key layout and scripts: redis-scripts.ts), so two hubs appending to one channel get one gap-free
 * sequence.
 *
 * Acknowledged means Redis ran the script: durability is then Redis's own (AOF, RDB; docs/config.md).
 * Appends made in one turn of the event loop go out as one pipeline on one connection; Redis runs them
 * in the order they were called, so a channel's offsets follow the order of the calls.
 *
 * The visible horizon (EventStore.append): reads go over the same connection as appends, so a read
 * Redis runs after one of this process's appends was issued after it, and can show its events while
 * that append's promise is still pending (its reply parsed, its promise not yet settled — the evalsha
 * fallback chain alone adds microtasks). So every read first notes the appends of its channel (or of
 * all channels, for scans and lists) that are still unsettled when it is issued, and returns only after
 * they settled. Events other hubs appended are visible as soon as Redis has them.
 *
 * Faults: every command is answered or rejected within `commandTimeoutMs`; nothing is resent after a
 * reconnect (an append whose answer was lost must not run twice); failures are `storage_unavailable`
 * and `health()` reports `degraded` until Redis answers again.
 */
export class RedisStore implements EventStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly health_: RedisHealth;
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  /** Unsettled appends per channel (settled-to-undefined copies), for the visible horizon. */
  private readonly unsettled = new Map<string, Set<Promise<void>>>();
  private readonly allUnsettled = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;
  /** Why the connection failed last (ECONNREFUSED…), to explain commands refused while reconnecting. */
  private lastConnectionError: string | undefined;
  /** Redis's clock minus ours, in ms; undefined until the first sample. */
  private clockOffset: number | undefined;

  constructor(private readonly options: RedisStoreOptions) {
    this.prefix = options.prefix ?? 'herald';
    if (!/^[^{}\s]+$/.test(this.prefix)) throw new Error(`Redis key prefix "${this.prefix}" must be non-empty, without braces or spaces (e.g. herald)`);
    this.timeoutMs = options.commandTimeoutMs ?? 2000;
    this.redis = new Redis(options.url, hubRedisOptions('herald-store', this.timeoutMs));
    this.health_ = new RedisHealth(() => this.redis.ping());
    this.redis.on('error', (error: Error) => {
      this.lastConnectionError = describeRedisError(error);
      this.health_.faulted(this.lastConnectionError, Date.now());
    });
    this.redis.on('close', () => this.closing || this.health_.faulted('the connection to Redis closed', Date.now()));
    this.redis.on('ready', () => this.sampleClock());
    this.redis.defineCommand('heraldAppend', { numberOfKeys: 8, lua: APPEND_SCRIPT });
    this.redis.defineCommand('heraldRead', { numberOfKeys: 5, lua: READ_SCRIPT });
    this.redis.defineCommand('heraldReset', { numberOfKeys: 6, lua: RESET_SCRIPT });
    this.redis.defineCommand('heraldScan', { numberOfKeys: 1, lua: SCAN_SCRIPT });
    this.redis.defineCommand('heraldSweep', { numberOfKeys: 1, lua: SWEEP_SCRIPT });
    this.redis.defineCommand('heraldList', { numberOfKeys: 1, lua: LIST_SCRIPT });
    this.redis.defineCommand('heraldTotals', { numberOfKeys: 3, lua: TOTALS_SCRIPT });
  }

  append(channel: string, inputs: AppendInput[]): Promise<AppendResult> {
    if (this.closing) return Promise.reject(new Error('store is closed'));
    const promise = new Promise<AppendResult>((resolve, reject) => {
      this.pending.push({ channel, inputs, resolve, reject });
      this.scheduleFlush();
    });
    this.track(channel, promise);
    return promise;
  }

  async read(channel: string, afterOffset: number, limit: number): Promise<HistoryPage> {
    const earlier = this.unsettledOf(channel);
    const reply = await this.command(() => this.redis.heraldRead(...this.channelKeys(channel), this.storeEpochKey(), this.channelsKey(), this.prefix, channel, afterOffset, limit, newEpoch()));
    await earlier;
    const position: ChannelPosition = { epoch: String(reply[0]), latest: Number(reply[1]), earliest: Number(reply[2]) };
    const events: StoredEvent[] = [];
    for (let i = 3; i < reply.length; i += 3) events.push({ channel, offset: Number(reply[i]), time: Number(reply[i + 1]), json: String(reply[i + 2]) });
    return { position, events };
  }

  async position(channel: string): Promise<ChannelPosition> {
    return (await this.read(channel, 0, 0)).position;
  }

  async scanByTime(query: TimeScanQuery): Promise<TimeScanPage> {
    const start = query.cursor === undefined ? `[${pad(Math.max(0, Math.floor(query.afterTime) + 1), TIME_DIGITS)}` : `(${parseScanCursor(query.cursor)}`;
    const end = `(${pad(Math.max(0, Math.floor(query.untilTime) + 1), TIME_DIGITS)}`;
    return this.scan(start, end, query.limit, query.prefix, 'oldest');
  }

  async scanNewest(query: NewestScanQuery): Promise<TimeScanPage> {
    return this.scan(query.cursor === undefined ? '+' : `(${parseScanCursor(query.cursor)}`, '-', query.limit, query.prefix, 'newest');
  }

  private async scan(start: string, end: string, limit: number, prefix: string | undefined, direction: 'oldest' | 'newest'): Promise<TimeScanPage> {
    const earlier = this.allUnsettledNow();
    const reply = await this.command(() => this.redis.heraldScan(this.timeKey(), this.prefix, start, end, limit, prefix ?? '', direction));
    await earlier;
    const events: ScannedEvent[] = [];
    for (let i = 1; i < reply.length; i += 5) {
      events.push({ channel: String(reply[i]), epoch: String(reply[i + 1]), offset: Number(reply[i + 2]), time: Number(reply[i + 3]), json: String(reply[i + 4]) });
    }
    const last = String(reply[0]);
    return { events, next: last === '' ? undefined : Buffer.from(last).toString('base64url') };
  }

  async listChannels(query: ChannelListQuery): Promise<ChannelSummary[]> {
    const earlier = this.allUnsettledNow();
    const prefix = query.prefix ?? '';
    const start = query.after !== undefined && query.after >= prefix ? `(${query.after}` : prefix ? `[${prefix}` : '-';
    const end = prefix ? `(${prefix}${NAME_END}` : '+';
    const reply = await this.command(() => this.redis.heraldList(this.channelsKey(), this.prefix, start, end, query.limit));
    await earlier;
    const page: ChannelSummary[] = [];
    for (let i = 0; i < reply.length; i += 4) {
      const lastTime = Number(reply[i + 3]);
      page.push({ name: String(reply[i]), epoch: String(reply[i + 1]), latest: Number(reply[i + 2]), lastTime: lastTime > 0 ? lastTime : undefined });
    }
    return page;
  }

  async channelCount(): Promise<number> {
    return this.command(() => this.redis.zcard(this.channelsKey()));
  }

  async totals(): Promise<StoreTotals> {
    const earlier = this.allUnsettledNow();
    const [events, bytes] = await this.command(() => this.redis.heraldTotals(this.eventsKey(), this.bytesKey(), this.channelsKey(), this.prefix));
    await earlier;
    return { events: Number(events), bytes: Number(bytes) };
  }

  async reset(channel: string): Promise<ChannelPosition> {
    // Appends called before the reset belong to the old epoch: they go out first, on the same connection.
    this.flush();
    const sentAt = Date.now();
    const [meta, events, ids] = this.channelKeys(channel);
    const reply = await this.command(() => this.redis.heraldReset(meta, events, ids, this.channelsKey(), this.bytesKey(), this.eventsKey(), this.prefix, channel, newEpoch(), this.deadline(sentAt)), sentAt);
    if (reply[0] !== 'ok') throw this.late(sentAt);
    return { epoch: reply[1]!, latest: 0, earliest: 1 };
  }

  async sweep(now = Date.now()): Promise<number> {
    // Receive times are Redis's clock: the cutoff is moved onto it.
    const end = `(${pad(Math.max(0, Math.floor(now - this.options.retention.maxAgeMs + (this.clockOffset ?? 0))), TIME_DIGITS)}`;
    let dropped = 0;
    for (;;) {
      const [count, looked] = await this.command(() => this.redis.heraldSweep(this.timeKey(), this.prefix, end, SWEEP_BATCH));
      dropped += count;
      if (looked < SWEEP_BATCH || this.closing) return dropped;
    }
  }

  /** Waits for every accepted append to be answered, then closes the connection. Safe to call twice. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.flush();
      await Promise.all(this.allUnsettled);
      this.health_.stop();
      try {
        await this.redis.quit();
      } catch {
        this.redis.disconnect();
      }
    })());
  }

  health(): StoreHealth {
    return this.health_.current();
  }

  onHealthChange(listener: (health: StoreHealth) => void): void {
    this.health_.listener = listener;
  }

  /** Redis's clock as this store knows it (within half a quick round trip; ours until the first sample). */
  clock(): number {
    return Date.now() + (this.clockOffset ?? 0);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends everything pending, in pipelines of bounded size, without waiting for earlier ones. */
  private flush(): void {
    while (this.pending.length > 0) {
      this.sendBatch(takeBatch(this.pending));
    }
  }

  private sendBatch(batch: PendingAppend[]): void {
    const pipeline = this.redis.pipeline();
    const sentAt = Date.now();
    const deadline = this.deadline(sentAt);
    // Fresh epochs are used only where Redis lost a channel's meta or the store epoch; one pair serves
    // the whole batch (epochs need to be unique per channel, not across channels).
    const storeEpoch = newEpoch();
    const channelEpoch = newEpoch();
    for (const { channel, inputs } of batch) {
      const args: Args = [];
      for (const input of inputs) args.push(input.event.id === undefined ? NO_IDEM : `+${input.event.id}`, input.json);
      const keys = [...this.channelKeys(channel), this.storeEpochKey(), this.channelsKey(), this.timeKey(), this.bytesKey(), this.eventsKey()];
      const { maxCount, maxChannelBytes = 0, maxTotalBytes = 0 } = this.options.retention;
      pipeline.heraldAppend(...keys, this.prefix, channel, maxCount, deadline, storeEpoch, channelEpoch, maxChannelBytes, maxTotalBytes, ...args);
    }
    pipeline.exec().then(
      (results) => {
        const answeredAt = Date.now();
        batch.forEach((pending, i) => {
          const [error, reply] = results?.[i] ?? [new Error('no reply from Redis'), undefined];
          if (error) return pending.reject(this.failure(error, sentAt));
          this.settle(pending, reply as Array<string | number>, sentAt, answeredAt);
        });
      },
      (error: unknown) => {
        for (const pending of batch) pending.reject(this.failure(error, sentAt));
      },
    );
  }

  private settle({ channel, inputs, resolve, reject }: PendingAppend, reply: Array<string | number>, sentAt: number, answeredAt: number): void {
    if (reply[0] === 'quota') {
      const max = this.options.retention.maxTotalBytes;
      return reject(new HeraldError('quota_exceeded', `the hub stores ${reply[1]} bytes of history and may store at most ${max} (--max-total-bytes); nothing was stored: retry later, or ask the operator to delete channels or raise the quota`));
    }
    if (reply[0] !== 'ok') return reject(this.late(sentAt));
    this.health_.recovered();
    const [, epoch, time, clock] = reply as [string, string, number, number];
    this.clockSample(clock, sentAt, answeredAt);
    const offsets: number[] = [];
    const duplicates: boolean[] = [];
    const stored: StoredEvent[] = [];
    inputs.forEach((input, k) => {
      const offset = Number(reply[4 + 2 * k]);
      const duplicate = reply[5 + 2 * k] === 1;
      offsets.push(offset);
      duplicates.push(duplicate);
      if (!duplicate) stored.push({ channel, offset, time, json: input.json });
    });
    resolve({ epoch, offsets, duplicates, stored });
  }

  /** Runs one command; a Redis that cannot answer becomes `storage_unavailable` (and a health episode). */
  private async command<T>(run: () => Promise<T>, sentAt = Date.now()): Promise<T> {
    try {
      const result = await run();
      this.health_.recovered();
      return result;
    } catch (error) {
      throw this.failure(error, sentAt);
    }
  }

  private failure(error: unknown, sentAt: number): Error {
    if (!isRedisFault(error)) return error instanceof Error ? error : new Error(String(error));
    const reason =
      (error as Error).name === 'MaxRetriesPerRequestError' ? `Redis cannot be reached${this.lastConnectionError ? `: ${this.lastConnectionError}` : ''}` : describeRedisError(error);
    this.health_.faulted(reason, sentAt);
    return new HeraldError('storage_unavailable', `the hub cannot use its Redis right now (${reason}); this was not acknowledged: retry later (a retry with the same idempotency id is never stored twice)`);
  }

  /** The answer to a command Redis ran after its deadline: it stored nothing. */
  private late(sentAt: number): Error {
    const reason = `Redis ran a write more than ${this.timeoutMs / 2} ms after it was sent`;
    this.health_.faulted(reason, sentAt);
    return new HeraldError('storage_unavailable', `${reason}, so it stored nothing (the hub had stopped waiting): retry later`);
  }

  /** Latest Redis time at which a write sent now may still run (0: no clock sample yet, no deadline). */
  private deadline(sentAt: number): number {
    return this.clockOffset === undefined ? 0 : Math.round(sentAt + this.clockOffset + this.timeoutMs / 2);
  }

  private sampleClock(): void {
    const sentAt = Date.now();
    this.redis.time().then(
      ([seconds, micros]) => this.clockSample(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000), sentAt, Date.now()),
      () => {},
    );
  }

  /**
   * Redis's clock read between sentAt and answeredAt: the offset is off by at most half the round trip,
   * so only quick round trips count (the first append's includes connecting, and a loaded Redis's
   * can take seconds).
   */
  private clockSample(redisTime: number, sentAt: number, answeredAt: number): void {
    if (answeredAt - sentAt <= CLOCK_SAMPLE_MAX_RTT_MS) this.clockOffset = redisTime - (sentAt + answeredAt) / 2;
  }

  private track(channel: string, promise: Promise<AppendResult>): void {
    let set = this.unsettled.get(channel);
    if (!set) this.unsettled.set(channel, (set = new Set()));
    const settled: Promise<void> = promise.then(
      () => {},
      () => {},
    );
    set.add(settled);
    this.allUnsettled.add(settled);
    void settled.then(() => {
      set.delete(settled);
      if (set.size === 0 && this.unsettled.get(channel) === set) this.unsettled.delete(channel);
      this.allUnsettled.delete(settled);
    });
  }

  private unsettledOf(channel: string): Promise<unknown> | undefined {
    const set = this.unsettled.get(channel);
    return set && set.size > 0 ? Promise.all([...set]) : undefined;
  }

  private allUnsettledNow(): Promise<unknown> | undefined {
    return this.allUnsettled.size > 0 ? Promise.all([...this.allUnsettled]) : undefined;
  }

  private channelKeys(channel: string): [string, string, string] {
    const tag = `{${this.prefix}:${channel}}`;
    return [`${tag}:meta`, `${tag}:events`, `${tag}:ids`];
  }

  private storeEpochKey(): string {
    return `${this.prefix}:epoch`;
  }

  private channelsKey(): string {
    return `${this.prefix}:channels`;
  }

  private timeKey(): string {
    return `${this.prefix}:time`;
  }

  private bytesKey(): string {
    return `${this.prefix}:bytes`;
  }

  private eventsKey(): string {
    return `${this.prefix}:events`;
  }
}

/** A whole number as index members write it (a fraction would sort after every member). */
function pad(value: number, digits: number): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`not a whole number ≥ 0: ${value}`);
  return String(value).padStart(digits, '0');
}

/** A cursor is a time-index member, base64url so that it travels as plain text. */
function parseScanCursor(cursor: string): string {
  const member = Buffer.from(cursor, 'base64url').toString();
  if (!/^\d+\0[^\0]+\0\d+$/.test(member)) throw new HeraldError('bad_request', `not a cursor of this hub's history: ${cursor}`);
  return member;
}
