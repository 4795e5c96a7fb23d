import type { PresenceEntry } from '@herald/protocol';
import { Redis, type Result } from 'ioredis';
import { brokerChannelPrefix, encodePresence } from '../broker/redis-codec.js';
import type { Broker, PresenceAnnouncement } from '../broker/types.js';
import { NODE_REPORT_INTERVAL_MS, NODE_TTL_MS } from '../cluster/nodes.js';
import { HeraldError } from '../errors.js';
import type { Subscription } from '../fanout/subscription.js';
import { describeRedisError, isRedisFault } from '../store/redis-health.js';
import type { PresenceDirectory } from './directory.js';
import type { PresencePage, PresenceRegistry } from './registry.js';
import { ADD_SCRIPT, BEAT_SCRIPT, DEAD_SCRIPT, DROP_SCRIPT, REMOVE_SCRIPT } from './redis-scripts.js';
import { hubRedisOptions } from '../store/redis-options.js';

type Args = Array<string | number>;
declare module 'ioredis' {
  interface RedisCommander<Context> {
    presenceAdd(...args: Args): Result<number, Context>;
    presenceRemove(...args: Args): Result<number, Context>;
    presenceBeat(...args: Args): Result<number, Context>;
    presenceDead(...args: Args): Result<string[], Context>;
    presenceDrop(...args: Args): Result<number, Context>;
  }
}

/** How often a hub tells the directory it is alive, checks its own entries are there, and reaps dead hubs. */
export const PRESENCE_BEAT_MS = NODE_REPORT_INTERVAL_MS;
/** A hub that has not beaten for this long is dead: its entries are reaped (as the node registry's TTL). */
export const PRESENCE_TTL_MS = NODE_TTL_MS;
/** Longest a hub killed without closing stays listed: its last beat ages past the TTL, then one reaper round. */
export const PRESENCE_REAP_MS = PRESENCE_TTL_MS + PRESENCE_BEAT_MS;
/** Entries one script call reaps, drops or rewrites: Redis is held for well under a millisecond per call. */
const CHUNK = 200;
/** Chunks one round (one beat) may run: a dead hub of 50 000 entries is reaped over a few rounds. */
const MAX_CHUNKS_PER_ROUND = 50;
/** Dead hubs one round looks at. */
const MAX_DEAD_PER_ROUND = 10;

export interface RedisPresenceOptions {
  url: string;
  prefix: string;
  /** This hub's id in the cluster (the node registry's `self.id`). */
  nodeId: string;
  registry: PresenceRegistry;
  /** Delivers other hubs' announcements (`onPresence`). */
  broker: Broker;
  /** Hears what went wrong in the background (a failed reap, a failed rewrite); for the log. */
  onError?: (error: unknown, what: string) => void;
}

/** One of this hub's entries, as the directory holds it. */
interface Listed {
  channel: string;
  /** `<node>:<n> <entry JSON>`: unique in the cluster, and the entry itself. */
  member: string;
  /** Whether an add of it succeeded: if it went missing since (a FLUSHALL), other hubs heard its join already. */
  written: boolean;
}

/**
 * Presence across every hub of one Redis and prefix. Keys (hash tag `{P:presence}`, so the scripts'
 * keys share a slot):
 *
 * - `{P:presence}:ch:<channel>`: a sorted set of the channel's subscribers on every hub; the score is a
 *   cluster-wide sequence (`{P:presence}:seq`, INCR), the member `<node>:<n> <entry JSON>`. A page is
 *   ZRANGEBYSCORE (after, +inf LIMIT 0 limit+1 and the count is ZCARD: work proportional to the page.
 * - `{P:presence}:node:<node>`: a hash member → channel of one hub's entries, so that a dead hub's entries
 *   can be found and reaped without scanning channels.
 * - `{P:presence}:nodes`: a sorted set node → when it last wrote (Redis's clock), refreshed every beat.
 *
 * The registry stays this hub's truth. Every write goes on this directory's own connection, in the
 * order the registry changed, so a read of this hub sees its own writes. A write that fails (Redis down)
 * marks the directory dirty; every beat compares the number of entries Redis holds for this hub with the
 * registry's, so entries lost without a failed write (a FLUSHALL, a Redis restarted empty, a reap while
 * this hub was out of touch) are noticed within a beat. Then the directory is rewritten from the
 * registry: entries Redis holds that this hub no longer has are removed (with their leave), missing ones
 * added again, announced only if other hubs never heard their join or heard their leave from a reaper.
 *
 * While Redis does not answer, `page` and `counts` reject with `storage_unavailable` (what they could
 * answer alone — this hub's entries — would page with another hub's cursors and count wrong).
 */
export class RedisPresenceDirectory implements PresenceDirectory {
  private readonly redis: Redis;
  private readonly listed = new Map<Subscription, Listed>();
  /** The members of `listed`: what Redis should hold for this hub right now. */
  private readonly members = new Set<string>();
  private readonly nodeId: string;
  private readonly tag: string;
  private readonly eventPrefix: string;
  private sequence = 0;
  private dirty = false;
  private syncing: Promise<void> | undefined;
  private beating = false;
  private lostConnection = false;
  private closing: Promise<void> | undefined;
  private lastConnectionError: string | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly unlisten: () => void;

  constructor(private readonly options: RedisPresenceOptions) {
    this.nodeId = options.nodeId;
    if (!/^[^\s:]+$/.test(this.nodeId)) throw new Error(`node id "${this.nodeId}" must be non-empty, without spaces or colons`);
    this.tag = `{${options.prefix}:presence}`;
    this.eventPrefix = brokerChannelPrefix(options.prefix);
    // Bounded answers, never a write sent twice (a resent add could come after its remove).
    this.redis = new Redis(options.url, hubRedisOptions('herald-presence'));
    this.redis.on('error', (error: Error) => (this.lastConnectionError = describeRedisError(error)));
    this.redis.on('close', () => (this.lostConnection = true));
    // Back after a lost connection: check at once rather than at the next beat.
    this.redis.on('ready', () => {
      if (!this.lostConnection) return;
      this.lostConnection = false;
      void this.beat();
    });
    this.redis.defineCommand('presenceAdd', { numberOfKeys: 4, lua: ADD_SCRIPT });
    this.redis.defineCommand('presenceRemove', { numberOfKeys: 2, lua: REMOVE_SCRIPT });
    this.redis.defineCommand('presenceBeat', { numberOfKeys: 2, lua: BEAT_SCRIPT });
    this.redis.defineCommand('presenceDead', { numberOfKeys: 1, lua: DEAD_SCRIPT });
    this.redis.defineCommand('presenceDrop', { numberOfKeys: 3, lua: DROP_SCRIPT });
    this.unlisten = options.broker.onPresence?.((announcement) => this.heard(announcement)) ?? (() => {});
    this.timer = setInterval(() => void this.beat(), PRESENCE_BEAT_MS);
    this.timer.unref();
  }

  async joined(sub: Subscription, entry: PresenceEntry): Promise<void> {
    if (this.closing) return;
    const listed: Listed = { channel: sub.channel, member: `${this.nodeId}:${++this.sequence} ${JSON.stringify(entry)}`, written: false };
    this.listed.set(sub, listed);
    this.members.add(listed.member);
    await this.add(listed, true);
  }

  left(sub: Subscription): void {
    const listed = this.listed.get(sub);
    if (!listed) return;
    this.listed.delete(sub);
    this.members.delete(listed.member);
    if (this.closing) return;
    void this.remove(listed.channel, listed.member);
  }

  async page(channel: string, after: number, limit: number): Promise<PresencePage> {
    const key = this.channelKey(channel);
    const replies = await this.read(() => this.redis.multi().zcard(key).zrangebyscore(key, `(${after}`, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 1).exec());
    const count = Number(replies[0]);
    const rows = replies[1] as string[];
    const clients: PresenceEntry[] = [];
    let next: string | undefined;
    for (let i = 0; i < rows.length; i += 2) {
      if (clients.length === limit) {
        next = String(Number(rows[i - 1]));
        break;
      }
      clients.push(JSON.parse(rows[i]!.slice(rows[i]!.indexOf(' ') + 1)) as PresenceEntry);
    }
    return { count, clients, next };
  }

  async counts(channels: readonly string[]): Promise<number[]> {
    if (channels.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const channel of channels) pipeline.zcard(this.channelKey(channel));
    const replies = await this.read(() => pipeline.exec());
    return replies.map(Number);
  }

  /**
   * Always, across hubs: watchers may be on any hub, and every subscribe publishes its join and leave to
   * every hub with interest in the channel whether anyone there watches or not. Asking Redis first
   * would cost a round trip per subscribe; a cluster charges every exact-channel subscribe instead.
   */
  mayBeWatched(): boolean {
    return true;
  }

  /** Removes this hub's entries, announcing their leaves, then closes the connection. Safe to call twice. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      clearInterval(this.timer);
      this.unlisten();
      this.listed.clear();
      this.members.clear();
      try {
        await this.syncing;
        for (let chunk = 0; chunk < MAX_CHUNKS_PER_ROUND; chunk++) if ((await this.drop(this.nodeId, 0)) <= 0) break;
      } catch (error) {
        // Redis is down: the others reap these entries when this hub's beats have aged out.
        this.options.onError?.(error, 'removing this hub from presence at shutdown');
      }
      try {
        await this.redis.quit();
      } catch {
        this.redis.disconnect();
      }
    })());
  }

  /** Another hub's join or leave, heard on a channel this hub has subscribers on: told to its watchers. */
  private heard(announcement: PresenceAnnouncement): void {
    if (announcement.node === this.nodeId || this.closing) return; // this hub announced its own locally
    // Every hub with subscribers of the channel gets every change of it: parsed only where someone listens.
    if (!this.options.registry.isWatched(announcement.channel)) return;
    let entry: PresenceEntry;
    try {
      entry = JSON.parse(announcement.json) as PresenceEntry;
    } catch {
      return;
    }
    if (typeof entry?.clientId !== 'string') return;
    this.options.registry.announceRemote(announcement.channel, announcement.op, entry);
  }

  private async add(listed: Listed, announce: boolean): Promise<void> {
    const [id, json] = splitMember(listed.member);
    const payload = announce ? encodePresence('join', id, json) : '';
    try {
      await this.redis.presenceAdd(this.channelKey(listed.channel), this.nodeKey(this.nodeId), `${this.tag}:seq`, `${this.tag}:nodes`, listed.member, listed.channel, this.nodeId, this.eventPrefix + listed.channel, payload);
      listed.written = true;
    } catch {
      this.dirty = true;
    }
  }

  private async remove(channel: string, member: string): Promise<void> {
    const [id, json] = splitMember(member);
    try {
      await this.redis.presenceRemove(this.channelKey(channel), this.nodeKey(this.nodeId), member, this.eventPrefix + channel, encodePresence('leave', id, json));
    } catch {
      this.dirty = true;
    }
  }

  /** Up to CHUNK of `node`'s entries removed with their leaves (`ttl` 0: no check it is dead); how many are left, -1 if alive. */
  private drop(node: string, ttl: number): Promise<number> {
    return this.redis.presenceDrop(`${this.tag}:nodes`, this.nodeKey(node), `${this.tag}:reaped:${node}`, node, ttl, CHUNK, `${this.tag}:ch:`, this.eventPrefix);
  }

  /** Every PRESENCE_BEAT_MS: alive, own entries checked (rewritten if lost), dead hubs reaped. */
  private async beat(): Promise<void> {
    if (this.beating || this.closing) return;
    this.beating = true;
    try {
      if (!this.dirty) {
        // Commands run in the order sent: every write made before this one is counted in the answer.
        const expected = this.listed.size;
        const held = await this.redis.presenceBeat(`${this.tag}:nodes`, this.nodeKey(this.nodeId), this.nodeId);
        if (held !== expected && !this.dirty) this.dirty = true;
      }
      if (this.dirty) {
        this.dirty = false;
        await (this.syncing ??= this.rewrite()
          .catch((error: unknown) => {
            this.dirty = true; // tried again at the next beat
            throw error;
          })
          .finally(() => (this.syncing = undefined)));
      }
      await this.reap();
    } catch (error) {
      if (!isRedisFault(error)) this.options.onError?.(error, 'keeping presence in Redis');
    } finally {
      this.beating = false;
    }
  }

  /**
   * Makes Redis hold exactly this hub's entries again, a chunk at a time. Idempotent scripts make it safe
   * beside the adds and removes that go on meanwhile (an add of what is there, or a remove of what is
   * gone, changes and announces nothing).
   */
  private async rewrite(): Promise<void> {
    // Reaped while out of touch: other hubs heard leaves for entries that are still here.
    const reaped = (await this.redis.getdel(`${this.tag}:reaped:${this.nodeId}`)) !== null;
    // Checked against `members` when each answer arrives, not a copy taken before: an entry added since
    // is in Redis and in `members`; one removed since has its remove on the way (a second is harmless).
    let cursor = '0';
    do {
      const [next, fields] = await this.redis.hscan(this.nodeKey(this.nodeId), cursor, 'COUNT', CHUNK);
      cursor = next;
      const stale: Promise<void>[] = [];
      for (let i = 0; i < fields.length; i += 2) if (!this.members.has(fields[i]!)) stale.push(this.remove(fields[i + 1]!, fields[i]!));
      await Promise.all(stale);
    } while (cursor !== '0' && !this.closing);
    const batch: Promise<void>[] = [];
    for (const listed of [...this.listed.values()]) {
      if (this.closing) return;
      // Still listed when its add is sent: a remove made later is sent after it, in order.
      if (this.members.has(listed.member)) batch.push(this.add(listed, reaped || !listed.written));
      if (batch.length === CHUNK) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    // A write that failed again left the directory dirty: the next beat rewrites it again.
  }

  /** Removes the entries of hubs that stopped beating, with a leave each: whichever hub gets there first. */
  private async reap(): Promise<void> {
    const dead = await this.redis.presenceDead(`${this.tag}:nodes`, this.nodeId, PRESENCE_TTL_MS, MAX_DEAD_PER_ROUND);
    let chunks = 0;
    for (const node of dead) {
      // One reaper per dead hub at a time; the scripts alone would keep it correct, the lock saves the work.
      const key = `${this.tag}:reaping:${node}`;
      const lock = await this.redis.set(key, this.nodeId, 'PX', 2 * PRESENCE_BEAT_MS, 'NX');
      // Held by this hub since an earlier round (a big dead hub takes several): go on with it.
      if (lock === null && (await this.redis.get(key)) !== this.nodeId) continue;
      while (chunks++ < MAX_CHUNKS_PER_ROUND && !this.closing) if ((await this.drop(node, PRESENCE_TTL_MS)) <= 0) break;
    }
  }

  /** The replies of a read (a pipeline or transaction), with Redis's failure said as `storage_unavailable`. */
  private async read(run: () => Promise<Array<[Error | null, unknown]> | null>): Promise<unknown[]> {
    if (this.closing) throw new HeraldError('shutting_down', 'the hub is shutting down');
    let replies: Array<[Error | null, unknown]> | null;
    try {
      replies = await run();
    } catch (error) {
      throw this.unavailable(error);
    }
    if (!replies) throw this.unavailable(new Error('the transaction was aborted'));
    for (const [error] of replies) if (error) throw this.unavailable(error);
    return replies.map(([, value]) => value);
  }

  private unavailable(error: unknown): Error {
    if (!isRedisFault(error)) return error instanceof Error ? error : new Error(String(error));
    const reason = (error as Error).name === 'MaxRetriesPerRequestError' ? `Redis cannot be reached${this.lastConnectionError ? `: ${this.lastConnectionError}` : ''}` : describeRedisError(error);
    return new HeraldError('storage_unavailable', `presence spans every hub of the cluster and is kept in Redis, which does not answer right now (${reason}); ask again later`);
  }

  private channelKey(channel: string): string {
    return `${this.tag}:ch:${channel}`;
  }

  private nodeKey(node: string): string {
    return `${this.tag}:node:${node}`;
  }
}

/** `<node>:<n>` and the entry JSON of a member. */
function splitMember(member: string): [string, string] {
  const space = member.indexOf(' ');
  return [member.slice(0, space), member.slice(space + 1)];
}
