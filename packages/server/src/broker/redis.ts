import { randomBytes } from 'node:crypto';
import { isPattern, matchesPattern } from '@herald/protocol';
import { Redis } from 'ioredis';
import { HeraldError } from '../errors.js';
import { describeRedisError, isRedisFault } from '../store/redis-health.js';
import type { StoredEvent } from '../store/types.js';
import { brokerChannelPrefix, decodeBatch, decodeEphemeral, decodePresence, encodeBatch, encodeEphemeral, isEphemeralPayload, isPresencePayload } from './redis-codec.js';
import type { Broker, BrokerEphemeralListener, BrokerGapListener, BrokerListener, BrokerPresenceListener, EphemeralEvent } from './types.js';
import { hubRedisOptions, subscriberRedisOptions } from '../store/redis-options.js';

export interface RedisBrokerOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS); the Redis of the history. */
  url: string;
  /** The store's key prefix (default `herald`): hubs that share a history share their deliveries. */
  prefix?: string;
  /** Longest wait for Redis's answer to one command (default 2000 ms, as the Redis store). */
  commandTimeoutMs?: number;
}

/** The Herald patterns behind one Redis glob (`runs.*` and `runs.>` share `P:ev:runs.?*`), counted. */
interface GlobInterest {
  count: number;
  patterns: Map<string, number>;
}

/**
 * Fan-out across every hub on one Redis and prefix, through Redis pub/sub.
 *
 * Publishing: `PUBLISH P:ev:<channel> <payload>` (redis-codec.ts) on one connection of its own, so that
 * Redis runs one hub's publishes in the order they were made and every subscriber gets one channel's
 * events from that hub in offset order. Nothing is resent after a reconnect, every command is answered
 * within `commandTimeoutMs`, and failures are `storage_unavailable`, like the Redis store.
 *
 * Subscribing: a second connection in subscriber mode. A channel is `SUBSCRIBE P:ev:<channel>`; a
 * pattern is `PSUBSCRIBE` of a glob that matches at least its channels (`*` and `>` both become `?*`,
 * which also crosses dots), and deliveries are filtered with `matchesPattern`, so listeners see only
 * channels this hub has interest in. A hub with interest in a channel through a name and a pattern (or
 * two patterns) is sent one copy of each publish per match; Redis writes the copies of one PUBLISH
 * back to back, so a message equal to the one delivered just before on the same channel is a copy and
 * is dropped (an equal payload means equal epoch and offsets: a duplicate anyway).
 *
 * Ephemeral events: the same `PUBLISH P:ev:<channel>` on the same connection, in a payload of their
 * own (redis-codec.ts `encodeEphemeral`), so they reach exactly the hubs with interest in the channel
 * and follow this hub's earlier publishes through Redis. One lost with a connection stays lost.
 *
 * Presence: joins and leaves of subscribers on other hubs arrive on the same Redis channel in a
 * payload of their own (redis-codec.ts `encodePresence`), published by the presence directory's
 * scripts; they go to `onPresence` listeners and are never taken for events.
 *
 * Gaps: what is published while the subscriber connection is down is lost to this hub. ioredis's own
 * `autoResubscribe` is off because it sends the subscriptions without telling when Redis confirmed
 * them; this broker resubscribes itself and calls the `onGap` listeners once Redis confirmed every
 * subscription, so that history read from then on joins the live stream without a hole. A publish of
 * this hub that failed (its events may reach no hub, this one included) is announced the same way, after
 * the next publish goes through.
 */
export class RedisBroker implements Broker {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  /** `P:ev:`, the start of every Redis channel of this broker. */
  private readonly channelPrefix: string;
  /** The same, escaped for globs (a prefix may hold `*`, `?`, `[`, `]`, `\`). */
  private readonly globPrefix: string;
  private readonly exact = new Map<string, number>();
  private readonly globs = new Map<string, GlobInterest>();
  private readonly listeners = new Set<BrokerListener>();
  private readonly ephemeralListeners = new Set<BrokerEphemeralListener>();
  private readonly presenceListeners = new Set<BrokerPresenceListener>();
  /** Makes each ephemeral payload unique (see redis-codec.ts): this broker's id and its count of them. */
  private readonly sender = randomBytes(6).toString('hex');
  private ephemeralSequence = 0;
  private readonly gapListeners = new Set<BrokerGapListener>();
  private closing: Promise<void> | undefined;
  /** The subscriber connection was lost since it was last ready: its subscriptions must be made again. */
  private subscriberLost = false;
  /** Why a publish failed, until one goes through again (then the gap is announced). */
  private publishFailure: string | undefined;
  /** The last delivered message, to recognise the copies Redis sends for overlapping interests. */
  private lastChannel = '';
  private lastPayload = '';
  private lastConnectionError: string | undefined;

  constructor(options: RedisBrokerOptions) {
    const prefix = options.prefix ?? 'herald';
    if (!/^[^{}\s]+$/.test(prefix)) throw new Error(`Redis key prefix "${prefix}" must be non-empty, without braces or spaces (e.g. herald)`);
    const timeoutMs = options.commandTimeoutMs ?? 2000;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error(`commandTimeoutMs must be a whole number of milliseconds above 0 (got ${timeoutMs})`);
    this.channelPrefix = brokerChannelPrefix(prefix);
    this.globPrefix = escapeGlob(this.channelPrefix);
    // A publish in flight when the connection dropped may have run: it is never sent again.
    this.publisher = new Redis(options.url, hubRedisOptions('herald-broker-publish', timeoutMs));
    this.subscriber = new Redis(options.url, { ...subscriberRedisOptions('herald-broker-subscribe', timeoutMs), autoResubscribe: false });
    for (const connection of [this.publisher, this.subscriber]) {
      connection.on('error', (error: Error) => (this.lastConnectionError = describeRedisError(error)));
    }
    this.subscriber.on('message', (channel: string, payload: string) => this.receive(channel, payload, undefined));
    this.subscriber.on('pmessage', (glob: string, channel: string, payload: string) => this.receive(channel, payload, this.globs.get(glob)));
    this.subscriber.on('close', () => {
      if (this.closing) return;
      this.subscriberLost = true;
      this.lastChannel = this.lastPayload = '';
    });
    this.subscriber.on('ready', () => {
      if (!this.subscriberLost || this.closing) return;
      this.subscriberLost = false;
      void this.resubscribe();
    });
  }

  async publish(epoch: string, events: readonly StoredEvent[]): Promise<void> {
    if (this.closing) throw closed();
    if (events.length === 0) return;
    const payload = encodeBatch(epoch, events);
    try {
      await this.publisher.publish(this.channelPrefix + events[0]!.channel, payload);
    } catch (error) {
      const failure = this.failure(error, 'these events were stored but may reach no subscriber live (they are in history)');
      this.publishFailure ??= failure.message;
      throw failure;
    }
    if (this.publishFailure !== undefined) {
      const reason = `a publish to Redis failed (${this.publishFailure})`;
      this.publishFailure = undefined;
      this.gap(reason);
    }
  }

  async publishEphemeral(event: EphemeralEvent): Promise<void> {
    if (this.closing) throw closed();
    const payload = encodeEphemeral(this.sender, ++this.ephemeralSequence, event.time, event.json);
    try {
      await this.publisher.publish(this.channelPrefix + event.channel, payload);
    } catch (error) {
      // Not a gap: nothing of it is in history to fill one with. The publisher is told; it was not sent.
      throw this.failure(error, 'the ephemeral event was not sent');
    }
  }

  async subscribe(channel: string): Promise<void> {
    if (this.closing) throw closed();
    // Counted at once, even if Redis refuses below: the hub answers a refusal with `unsubscribe`.
    // Every call asks Redis (SUBSCRIBE is idempotent), so that each resolves only once Redis confirmed.
    try {
      if (isPattern(channel)) {
        const glob = this.globOf(channel);
        let interest = this.globs.get(glob);
        if (!interest) this.globs.set(glob, (interest = { count: 0, patterns: new Map() }));
        interest.count++;
        interest.patterns.set(channel, (interest.patterns.get(channel) ?? 0) + 1);
        await this.subscriber.psubscribe(glob);
      } else {
        this.exact.set(channel, (this.exact.get(channel) ?? 0) + 1);
        await this.subscriber.subscribe(this.channelPrefix + channel);
      }
    } catch (error) {
      throw this.failure(error, `the subscription to ${channel} cannot start: retry later`);
    }
  }

  unsubscribe(channel: string): void {
    // A failed (P)UNSUBSCRIBE needs no answer: it fails only with the connection, which takes the
    // subscription with it, and a reconnect makes only the subscriptions still counted here.
    const ignore = () => {};
    if (isPattern(channel)) {
      const glob = this.globOf(channel);
      const interest = this.globs.get(glob);
      const count = interest?.patterns.get(channel);
      if (!interest || count === undefined) return;
      if (count <= 1) interest.patterns.delete(channel);
      else interest.patterns.set(channel, count - 1);
      if (--interest.count > 0) return;
      this.globs.delete(glob);
      if (!this.closing) this.subscriber.punsubscribe(glob).catch(ignore);
    } else {
      const count = this.exact.get(channel);
      if (count === undefined) return;
      if (count > 1) return void this.exact.set(channel, count - 1);
      this.exact.delete(channel);
      if (!this.closing) this.subscriber.unsubscribe(this.channelPrefix + channel).catch(ignore);
    }
  }

  /** The channels and patterns this hub has interest in, with their counts (for tests and stats). */
  interests(): ReadonlyMap<string, number> {
    const all = new Map(this.exact);
    for (const { patterns } of this.globs.values()) for (const [pattern, count] of patterns) all.set(pattern, count);
    return all;
  }

  onEvents(listener: BrokerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onEphemeral(listener: BrokerEphemeralListener): () => void {
    this.ephemeralListeners.add(listener);
    return () => this.ephemeralListeners.delete(listener);
  }

  onPresence(listener: BrokerPresenceListener): () => void {
    this.presenceListeners.add(listener);
    return () => this.presenceListeners.delete(listener);
  }

  onGap(listener: BrokerGapListener): () => void {
    this.gapListeners.add(listener);
    return () => this.gapListeners.delete(listener);
  }

  /** Stops deliveries, then quits both connections (Redis drops the subscriptions with them). Safe twice. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.listeners.clear();
      this.ephemeralListeners.clear();
      this.presenceListeners.clear();
      this.gapListeners.clear();
      this.exact.clear();
      this.globs.clear();
      await Promise.all([quit(this.publisher), quit(this.subscriber)]);
    })());
  }

  /**
   * One message from Redis. `interest` is the pattern interest it came through, or undefined for a
   * channel subscription.
   */
  private receive(redisChannel: string, payload: string, interest: GlobInterest | undefined): void {
    if (this.closing || !redisChannel.startsWith(this.channelPrefix)) return;
    if (payload === this.lastPayload && redisChannel === this.lastChannel) return; // a copy: delivered already
    const channel = redisChannel.slice(this.channelPrefix.length);
    if (!this.wanted(channel, interest)) return; // a glob over-matched, or the interest just ended
    this.lastChannel = redisChannel;
    this.lastPayload = payload;
    if (isEphemeralPayload(payload)) return this.receiveEphemeral(channel, payload);
    if (isPresencePayload(payload)) return this.receivePresence(channel, payload);
    const batch = decodeBatch(channel, payload);
    if (!batch) return this.gap(`a message on ${redisChannel} is not in a format this hub reads (a hub of another version?)`);
    for (const listener of this.listeners) notify(() => listener(batch.epoch, batch.events));
  }

  private receiveEphemeral(channel: string, payload: string): void {
    const decoded = decodeEphemeral(payload);
    // Dropped, and not a gap: no stored event was missed, and history has nothing to refill. Ephemeral
    // events are at most once anyway.
    if (!decoded) return;
    const event: EphemeralEvent = { channel, time: decoded.time, json: decoded.json };
    for (const listener of this.ephemeralListeners) notify(() => listener(event));
  }

  private receivePresence(channel: string, payload: string): void {
    const decoded = decodePresence(payload);
    // Not a gap either: no stored event was missed (a watcher asks `presence` to catch up).
    if (!decoded) return;
    const announcement = { channel, op: decoded.op, node: decoded.node, json: decoded.json };
    for (const listener of this.presenceListeners) notify(() => listener(announcement));
  }

  private wanted(channel: string, interest: GlobInterest | undefined): boolean {
    if (interest === undefined) return this.exact.has(channel);
    for (const pattern of interest.patterns.keys()) if (matchesPattern(pattern, channel)) return true;
    return false;
  }

  /** Makes every counted subscription again on a new connection, then announces the gap. */
  private async resubscribe(): Promise<void> {
    const channels = [...this.exact.keys()].map((channel) => this.channelPrefix + channel);
    const globs = [...this.globs.keys()];
    try {
      await Promise.all([channels.length > 0 && this.subscriber.subscribe(...channels), globs.length > 0 && this.subscriber.psubscribe(...globs)]);
    } catch {
      // A connection that cannot subscribe is no use: start over on a new one (and try again when ready).
      if (!this.closing) this.subscriber.disconnect(true);
      return;
    }
    this.gap('the connection to Redis that carries deliveries was lost, and is back');
  }

  private gap(reason: string): void {
    for (const listener of this.gapListeners) {
      try {
        listener(reason);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  private globOf(pattern: string): string {
    return this.globPrefix + pattern.split('.').map((segment) => (segment === '*' || segment === '>' ? '?*' : escapeGlob(segment))).join('.');
  }

  private failure(error: unknown, consequence: string): Error {
    if (this.closing) return closed();
    if (!isRedisFault(error)) return error instanceof Error ? error : new Error(String(error));
    const reason =
      (error as Error).name === 'MaxRetriesPerRequestError' ? `Redis cannot be reached${this.lastConnectionError ? `: ${this.lastConnectionError}` : ''}` : describeRedisError(error);
    return new HeraldError('storage_unavailable', `the hub cannot use its Redis for live delivery right now (${reason}); ${consequence}`);
  }
}

/** Calls a listener; what it throws is not thrown into ioredis's reply parser (it would break the connection). */
function notify(call: () => void): void {
  try {
    call();
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

function closed(): HeraldError {
  return new HeraldError('shutting_down', 'the broker is closed');
}

/** Redis glob metacharacters, escaped with `\` (channel names cannot hold them; prefixes can). */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

async function quit(connection: Redis): Promise<void> {
  try {
    await connection.quit();
  } catch {
    connection.disconnect();
  }
}
