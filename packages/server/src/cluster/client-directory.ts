import type { Redis } from 'ioredis';
import { HeraldError } from '../errors.js';
import { describeRedisError } from '../store/redis-health.js';

/**
 * How long the entry of a client id with a live connection counts without being refreshed; every hub
 * refreshes its own every LIVE_REFRESH_MS, so the entries of a hub that died are gone within this.
 */
export const LIVE_TTL_MS = 60_000;
export const LIVE_REFRESH_MS = 20_000;
/** Beyond the queue window an away id's entry outlives its mailbox by this, so a send in the last moment still finds the hub. */
export const AWAY_MARGIN_MS = 5_000;
/** Entries refreshed in one pipeline (a hub with many connections sends several). */
const REFRESH_BATCH = 500;

/** Where a client id is: the hub that holds its connection (or its mail), and the credential it belongs to. */
export interface ClientEntry {
  node: string;
  owner: string;
}

export type ClaimOutcome = { claimed: true; previous: string | undefined } | { claimed: false; node: string };

// KEYS[1] the entry; ARGV node, owner, ttl. Another credential's entry is left alone (its mail is its own).
const CLAIM = `
local owner = redis.call('HGET', KEYS[1], 'owner')
local node = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= ARGV[2] then return {0, node or ''} end
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'owner', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, node or ''}`;
// KEYS[1]; ARGV node, ttl (0: delete). Only the hub the entry names may touch it: a newer hub's claim wins.
const TOUCH = `
if redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])`;

// KEYS[1]; ARGV node, owner, ttl. Keeps this hub's entry, and writes it again if it vanished (Redis restarted).
const REFRESH = `
local node = redis.call('HGET', KEYS[1], 'node')
if not node then redis.call('HSET', KEYS[1], 'node', ARGV[1], 'owner', ARGV[2]) elseif node ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[3])`;

type Scripted = Redis & {
  heraldRefreshClient(key: string, node: string, owner: string, ttl: number): Promise<number>;
  heraldClaimClient(key: string, node: string, owner: string, ttl: number): Promise<[number, string]>;
  heraldTouchClient(key: string, node: string, ttl: number): Promise<number>;
};

/**
 * Which hub holds each client id, in Redis: `P:client:<id>` is a hash {node, owner} with a TTL —
 * LIVE_TTL_MS while a connection holds it (refreshed), the queue window and a margin once it left —
 * so a dead hub's entries expire by themselves. The newest connection's hub claims the entry; only
 * that hub refreshes or clears it.
 */
export class ClientDirectory {
  private readonly redis: Scripted;
  /** Client ids live on this hub and their owners (refreshed by the timer), at most one entry per connection. */
  private readonly live = new Map<string, string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly self: string,
    /** The queue window (`--direct-queue-ms`; 0: nothing is kept, an away id's entry is deleted). */
    private readonly awayMs: number,
  ) {
    redis.defineCommand('heraldClaimClient', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('heraldTouchClient', { numberOfKeys: 1, lua: TOUCH });
    redis.defineCommand('heraldRefreshClient', { numberOfKeys: 1, lua: REFRESH });
    this.redis = redis as Scripted;
    this.timer = setInterval(() => void this.refresh().catch(() => {}), LIVE_REFRESH_MS);
    this.timer.unref();
  }

  private key(clientId: string): string {
    return `${this.prefix}:client:${clientId}`;
  }

  /** A connection of `owner` took the id here; says which hub had it before, or which holds it for another credential. */
  async claim(clientId: string, owner: string): Promise<ClaimOutcome> {
    const [claimed, node] = await this.run(() => this.redis.heraldClaimClient(this.key(clientId), this.self, owner, LIVE_TTL_MS));
    if (claimed !== 1) return { claimed: false, node };
    this.live.set(clientId, owner);
    return { claimed: true, previous: node === '' || node === this.self ? undefined : node };
  }

  /** The id's connection here closed: its entry lasts the queue window (or goes now, when nothing is kept). */
  async away(clientId: string): Promise<void> {
    this.live.delete(clientId);
    await this.run(() => this.redis.heraldTouchClient(this.key(clientId), this.self, this.awayMs > 0 ? this.awayMs + AWAY_MARGIN_MS : 0));
  }

  /** The id moved to another hub: this hub stops refreshing it. */
  moved(clientId: string): void {
    this.live.delete(clientId);
  }

  async lookup(clientId: string): Promise<ClientEntry | undefined> {
    const [node, owner] = await this.run(() => this.redis.hmget(this.key(clientId), 'node', 'owner'));
    return node && owner ? { node, owner } : undefined;
  }

  /**
   * Whether a hub still writes its figures to the node registry (cluster/nodes.ts, a 6-s TTL): one that
   * does but did not hear a message is reconnecting its peer connection, not dead.
   */
  async nodeAlive(node: string): Promise<boolean> {
    return (await this.run(() => this.redis.exists(`${this.prefix}:node:${node}`))) === 1;
  }

  /** The entry names a hub that no longer listens: delete it (if it still names that hub). */
  async forgetDead(clientId: string, node: string): Promise<void> {
    await this.redis.heraldTouchClient(this.key(clientId), node, 0).catch(() => {});
  }

  /** Keeps the entries of this hub's live ids from expiring: one PEXPIRE each per LIVE_REFRESH_MS. */
  async refresh(): Promise<void> {
    const ids = [...this.live];
    for (let i = 0; i < ids.length; i += REFRESH_BATCH) {
      const pipeline = this.redis.pipeline();
      for (const [id, owner] of ids.slice(i, i + REFRESH_BATCH)) (pipeline as unknown as Scripted).heraldRefreshClient(this.key(id), this.self, owner, LIVE_TTL_MS);
      await pipeline.exec();
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw new HeraldError('storage_unavailable', `the client directory in Redis does not answer: ${describeRedisError(error)}`);
    }
  }
}
