import type { PresenceEntry } from '@herald/protocol';
import type { Subscription } from '../fanout/subscription.js';
import type { PresencePage, PresenceRegistry } from './registry.js';

/**
 * Where presence is answered from: this hub's registry alone (`LocalPresenceDirectory`: the memory and
 * SQLite engines, one hub), or a directory every hub of a Redis shares (`RedisPresenceDirectory`). The
 * registry stays each hub's own truth and announces its own joins and leaves locally either way; the
 * directory is told what the registry listed, answers the questions that span hubs (`page`, `counts`),
 * and carries other hubs' joins and leaves to this hub's watchers.
 */
export interface PresenceDirectory {
  /**
   * The registry listed `sub` as `entry`. Resolves once other hubs can see it (at once on one hub);
   * never rejects: a directory that cannot write keeps the entry and writes it when it can.
   */
  joined(sub: Subscription, entry: PresenceEntry): Promise<void>;
  /** The registry no longer lists `sub`. */
  left(sub: Subscription): void;
  /**
   * Up to `limit` subscribers of `channel` after the cursor `after` (0: the first page), oldest first,
   * with the count of all of them. Rejects with `storage_unavailable` when it cannot answer.
   */
  page(channel: string, after: number, limit: number): Promise<PresencePage>;
  /** How many subscribers each channel has (one answer per name, in order). */
  counts(channels: readonly string[]): Promise<number[]>;
  /**
   * Whether a subscribe to `channel` may be announced to watchers, synchronously (the doors charge it
   * to the subscriber's rate before they start it).
   */
  mayBeWatched(channel: string): boolean;
  /** Takes this hub's entries out of the directory (graceful shutdown). Safe to call twice. */
  close(): Promise<void>;
}

/** One hub: the registry answers everything, and nobody else is there to tell. */
export class LocalPresenceDirectory implements PresenceDirectory {
  constructor(private readonly registry: PresenceRegistry) {}

  async joined(): Promise<void> {}

  left(): void {}

  async page(channel: string, after: number, limit: number): Promise<PresencePage> {
    return this.registry.page(channel, after, limit);
  }

  async counts(channels: readonly string[]): Promise<number[]> {
    return channels.map((channel) => this.registry.count(channel));
  }

  mayBeWatched(channel: string): boolean {
    return this.registry.isWatched(channel);
  }

  async close(): Promise<void> {}
}
