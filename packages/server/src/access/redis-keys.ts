import { randomBytes } from 'node:crypto';
import type { Grant } from '@herald/protocol';
import { Redis } from 'ioredis';
import { describeRedisError } from '../store/redis-health.js';
import { CachedKeys, duplicateName, KeyError, newKey, type KeyBook, type KeyRecord } from './keys.js';

/**
 * Keys of `<prefix>:keys` (hash: SHA-256 of the key → the record as JSON), `<prefix>:keys:names`
 * (name → hash, so that names are unique and revoke finds the key), `<prefix>:keys:version` (a random
 * value set on every change: a counter would start again after Redis lost its data and could come back
 * to a value a hub saw before, hiding the change).
 */
const CREATE_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[4])
return 1
`;
const REVOKE_SCRIPT = `
local hash = redis.call('HGET', KEYS[1], ARGV[1])
if not hash then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], hash)
redis.call('SET', KEYS[3], ARGV[2])
return 1
`;

interface StoredKey {
  id: string;
  name: string;
  prefix: string;
  grant: Grant;
  createdAt: number;
}

export interface RedisKeyStoreOptions {
  /** The connection to use; it stays the caller's (not closed by `close`). */
  redis: Redis;
  prefix: string;
  /** Host and port, for messages (never the URL: it may hold a password). */
  host: string;
}

/**
 * API keys in Redis, for hubs that share one (cluster mode): a key created with `herald keys create
 * --redis …` works on every hub, and a revoked one stops on every hub within the watch interval, also on
 * connections already open. Stored as SHA-256 hashes, like `KeyStore`. Lookups answer from memory; the
 * watcher reads one small value per interval and the keys only when it changed.
 *
 * While Redis does not answer, the hub keeps the keys it had (a hub does not lock everybody out because
 * Redis is paused); if Redis comes back without them (restarted empty), they are revoked — the same as
 * the history, which then starts again in new epochs. Run Redis with persistence (docs/cluster.md).
 */
export class RedisKeyStore extends CachedKeys implements KeyBook {
  readonly where: string;
  /** The version value last read; undefined before the first read. */
  private version: string | null | undefined;
  private watcher: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private readonly keys: [names: string, hashes: string, version: string];

  private constructor(
    private readonly redis: Redis,
    prefix: string,
    host: string,
    private readonly owned: boolean,
  ) {
    super();
    this.where = `in Redis ${host} (prefix ${prefix})`;
    this.keys = [`${prefix}:keys:names`, `${prefix}:keys`, `${prefix}:keys:version`];
  }

  /** Reads the keys once before answering, so that `size` is right from the start. */
  static async open(options: RedisKeyStoreOptions): Promise<RedisKeyStore> {
    const store = new RedisKeyStore(options.redis, options.prefix, options.host, false);
    await store.reload();
    return store;
  }

  /** With a connection of its own (the CLI), closed by `close`. */
  static async connect(url: string, prefix: string, host: string): Promise<RedisKeyStore> {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: 5000, retryStrategy: () => null, connectionName: 'herald-keys' });
    redis.on('error', () => {});
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      throw new KeyError(`cannot reach Redis at ${host}: ${describeRedisError(error as Error)}`);
    }
    const store = new RedisKeyStore(redis, prefix, host, true);
    await store.reload();
    return store;
  }

  async list(): Promise<KeyRecord[]> {
    await this.reload();
    return this.sorted();
  }

  async create(name: string, grant: Grant): Promise<{ key: string; record: KeyRecord }> {
    const { key, hash, record } = newKey(name, grant);
    const stored: StoredKey = { id: record.id, name, prefix: record.prefix, grant: record.grant, createdAt: record.createdAt };
    const [names, hashes, version] = this.keys;
    const created = await this.redis.eval(CREATE_SCRIPT, 3, names, hashes, version, name, hash, JSON.stringify(stored), newVersion());
    if (created !== 1) throw duplicateName(name);
    await this.reload();
    return { key, record: this.byId(record.id) ?? record };
  }

  async revoke(name: string): Promise<boolean> {
    const [names, hashes, version] = this.keys;
    const removed = await this.redis.eval(REVOKE_SCRIPT, 3, names, hashes, version, name, newVersion());
    await this.reload();
    return removed === 1;
  }

  watch(intervalMs: number, onRevoked: (records: KeyRecord[]) => void): void {
    this.onRevoked = onRevoked;
    // A failed read (Redis down or paused) keeps the keys held: the next turn tries again.
    this.watcher = setInterval(() => void this.reload().catch(() => {}), intervalMs);
    this.watcher.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.watcher);
    await this.reading?.catch(() => {});
    if (this.owned) this.redis.disconnect();
  }

  /** Re-reads the keys if the version moved; one read at a time. */
  private reload(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<void> {
    const [, hashes, versionKey] = this.keys;
    if ((await this.redis.get(versionKey)) === this.version) return;
    // The version and the keys of one moment (MULTI): a change between two reads could be missed.
    const replies = (await this.redis.multi().get(versionKey).hgetall(hashes).exec()) ?? [];
    const failed = replies.find(([error]) => error)?.[0];
    if (failed) throw failed;
    this.version = replies[0]![1] as string | null;
    const rows = replies[1]![1] as Record<string, string>;
    this.replace(
      Object.entries(rows).flatMap(([hash, json]) => {
        try {
          return [{ ...(JSON.parse(json) as StoredKey), hash }];
        } catch {
          return [];
        }
      }),
    );
  }
}

function newVersion(): string {
  return randomBytes(8).toString('hex');
}
