import type { PresenceEntry } from '@herald/protocol';
import type { Principal } from '../access/principal.js';
import type { Subscriber, Subscription } from '../fanout/subscription.js';
import { Roster } from './roster.js';

/** A subscriber presence can list: a WebSocket connection or an SSE stream. */
export interface PresenceMember {
  readonly clientId: string;
  readonly transport: PresenceEntry['transport'];
  readonly principal: Principal;
  /** Writes a `join` or `leave` (`json` is the whole message) to a subscriber that asked for them. */
  sendPresence(op: 'join' | 'leave', json: string): void;
}

function isMember(subscriber: Subscriber): subscriber is Subscriber & PresenceMember {
  return typeof (subscriber as Partial<PresenceMember>).sendPresence === 'function';
}

/** A page of presence: every subscriber counted, some listed, and the cursor of the next page. */
export interface PresencePage {
  count: number;
  clients: PresenceEntry[];
  /** The `after` of the next page; undefined on the last. */
  next: string | undefined;
}

interface ChannelPresence {
  readonly roster: Roster<Subscription>;
  /** Subscriptions that asked for `join`/`leave` and whose `subscribed` reply is out. */
  readonly watchers: Set<Subscription>;
}

/**
 * Who is subscribed to each channel on this hub: exact-channel subscriptions of WebSocket connections
 * and SSE streams, in the order they began. Pattern subscriptions (a dashboard's `>`) are not listed —
 * they watch no channel in particular — and long-polls hold no lasting subscription.
 *
 * Fed by the hub as subscriptions are indexed and removed. A `join` or `leave` goes to the channel's
 * watchers as one small frame each, built once; what a flood of subscribes may cost is bounded by the
 * doors (they charge each subscribe to a watched channel against the subscriber's event rate).
 */
export class PresenceRegistry {
  private readonly channels = new Map<string, ChannelPresence>();
  private readonly entries = new Map<Subscription, PresenceEntry>();
  /** One counter for every roster: a cursor stays meaningful after its channel emptied and filled again. */
  private seq = 0;
  /** Joins and leaves waiting to be written: a write can close a slow watcher, whose leave then queues here. */
  private readonly queue: Array<{ channel: string; op: 'join' | 'leave'; entry: PresenceEntry; about: Subscription | undefined }> = [];
  private announcing = false;

  constructor(
    /** Whether entries name the subscriber's credential (only when the hub requires credentials). */
    private readonly showUsers: () => boolean,
  ) {}

  /**
   * A subscription began (the hub indexed it): listed from now on, and announced to the channel's
   * watchers. Returns its entry (for the directory of a cluster), or undefined when it is not listed.
   */
  add(sub: Subscription): PresenceEntry | undefined {
    const member = sub.subscriber;
    if (sub.isPattern || !isMember(member) || this.entries.has(sub)) return undefined;
    // The hub's own clock (not the store's, which on Redis is estimated from the server's and may step).
    const entry: PresenceEntry = { clientId: member.clientId, since: Date.now(), transport: member.transport };
    if (this.showUsers()) entry.user = member.principal.name;
    let channel = this.channels.get(sub.channel);
    if (!channel) this.channels.set(sub.channel, (channel = { roster: new Roster(), watchers: new Set() }));
    channel.roster.add(sub, ++this.seq);
    this.entries.set(sub, entry);
    this.announce(sub.channel, 'join', entry, sub);
    return entry;
  }

  /** A subscription ended: no longer listed, and its leave announced. Safe to call twice: true the first time. */
  remove(sub: Subscription): boolean {
    const entry = this.entries.get(sub);
    if (!entry) return false;
    this.entries.delete(sub);
    const channel = this.channels.get(sub.channel)!;
    channel.roster.delete(sub);
    channel.watchers.delete(sub);
    if (channel.roster.size === 0) this.channels.delete(sub.channel);
    else this.announce(sub.channel, 'leave', entry, sub);
    return true;
  }

  /** A subscriber on another hub of the cluster joined or left `channel`: told to this hub's watchers of it. */
  announceRemote(channel: string, op: 'join' | 'leave', entry: PresenceEntry): void {
    this.announce(channel, op, entry, undefined);
  }

  /**
   * From now on `sub` hears the joins and leaves of its channel's other subscriptions. Called once its
   * `subscribed` reply is written, so that none comes before it; what happened earlier is in a
   * `presence` answer asked for after the reply. False when the subscription is not listed (it ended).
   */
  watch(sub: Subscription): boolean {
    if (!this.entries.has(sub)) return false;
    this.channels.get(sub.channel)!.watchers.add(sub);
    return true;
  }

  /** Whether anyone on `channel` hears joins and leaves (a subscribe there then costs its maker). */
  isWatched(channel: string): boolean {
    return (this.channels.get(channel)?.watchers.size ?? 0) > 0;
  }

  /** Exact-channel subscribers of `channel` on this hub. */
  count(channel: string): number {
    return this.channels.get(channel)?.roster.size ?? 0;
  }

  /** Up to `limit` entries after the cursor `after` (0: the first page), oldest subscription first. */
  page(channel: string, after: number, limit: number): PresencePage {
    const presence = this.channels.get(channel);
    if (!presence) return { count: 0, clients: [], next: undefined };
    const page = presence.roster.page(after, limit);
    return { count: presence.roster.size, clients: page.values.map((sub) => this.entries.get(sub)!), next: page.next === undefined ? undefined : String(page.next) };
  }

  private announce(channel: string, op: 'join' | 'leave', entry: PresenceEntry, about: Subscription | undefined): void {
    if (!this.isWatched(channel)) return;
    this.queue.push({ channel, op, entry, about });
    if (this.announcing) return;
    this.announcing = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        const watchers = this.channels.get(next.channel)?.watchers;
        if (!watchers) continue;
        const json = JSON.stringify({ op: next.op, channel: next.channel, client: next.entry });
        for (const watcher of watchers) {
          // Not to the subscription the change is about (a watcher does not hear its own join or leave).
          if (watcher !== next.about) (watcher.subscriber as unknown as PresenceMember).sendPresence(next.op, json);
        }
      }
    } finally {
      this.announcing = false;
    }
  }
}
