import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { NodeFigures } from '@herald/protocol';
import type { Redis } from 'ioredis';

/** How often a hub writes its figures, and how long they count without a new write. */
export const NODE_REPORT_INTERVAL_MS = 2000;
export const NODE_TTL_MS = 3 * NODE_REPORT_INTERVAL_MS;
/** The most hubs one read lists (a cluster of more is not something this registry is made for). */
const MAX_NODES = 1000;

/** This hub's figures now (connections, rates), without the fields the registry adds. */
export type OwnFigures = Omit<NodeFigures, 'id' | 'host' | 'pid' | 'url' | 'startedAt' | 'seenAt'>;

/**
 * The hubs that serve one history, and their figures, for `/api/stats` and the dashboard. A hub on its
 * own is a cluster of one (`LocalNodes`); hubs on one Redis each write their figures there every
 * `NODE_REPORT_INTERVAL_MS` with a TTL, so a hub that died drops out within `NODE_TTL_MS` (`RedisNodes`).
 */
export interface NodeRegistry {
  readonly self: Pick<NodeFigures, 'id' | 'host' | 'pid' | 'url' | 'startedAt'>;
  /** Every live hub, this one first (with its figures of now), the others by id. */
  nodes(): Promise<NodeFigures[]>;
  close(): Promise<void>;
}

/**
 * A hub's id in the cluster, made before it listens: other hubs address it by it (cluster/peers.ts) and
 * presence names it. No spaces or colons: presence members and announcements use them as separators.
 */
export function newNodeId(): string {
  return `${hostname().replace(/[\s:]/g, '_')}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

function describeSelf(url: string, id: string): NodeRegistry['self'] {
  return { id, host: hostname(), pid: process.pid, url, startedAt: Date.now() };
}

export class LocalNodes implements NodeRegistry {
  readonly self: NodeRegistry['self'];

  constructor(
    url: string,
    private readonly figures: () => OwnFigures,
    id = newNodeId(),
  ) {
    this.self = describeSelf(url, id);
  }

  async nodes(): Promise<NodeFigures[]> {
    return [{ ...this.self, seenAt: Date.now(), ...this.figures() }];
  }

  async close(): Promise<void> {}
}

/**
 * Keys: `<prefix>:node:<id>` (the figures as JSON, with a TTL) and `<prefix>:nodes` (a sorted set of
 * ids by the time they last wrote, to list them without SCAN). A write that fails (Redis down) is
 * retried at the next interval; a read that fails answers with this hub alone.
 */
export class RedisNodes implements NodeRegistry {
  readonly self: NodeRegistry['self'];
  private readonly timer: NodeJS.Timeout;
  private readonly setKey: string;
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    url: string,
    private readonly figures: () => OwnFigures,
    id = newNodeId(),
  ) {
    this.self = describeSelf(url, id);
    this.setKey = `${prefix}:nodes`;
    this.timer = setInterval(() => void this.report().catch(() => {}), NODE_REPORT_INTERVAL_MS);
    this.timer.unref();
    void this.report().catch(() => {});
  }

  private key(id: string): string {
    return `${this.prefix}:node:${id}`;
  }

  private own(): NodeFigures {
    return { ...this.self, seenAt: Date.now(), ...this.figures() };
  }

  async report(): Promise<void> {
    if (this.closed) return;
    const figures = this.own();
    await this.redis
      .multi()
      .set(this.key(this.self.id), JSON.stringify(figures), 'PX', NODE_TTL_MS)
      .zadd(this.setKey, figures.seenAt, this.self.id)
      // Ids of hubs gone for long drop out of the index (their figures expired long before).
      .zremrangebyscore(this.setKey, '-inf', figures.seenAt - 10 * NODE_TTL_MS)
      .exec();
  }

  async nodes(): Promise<NodeFigures[]> {
    const mine = this.own();
    let others: NodeFigures[] = [];
    try {
      const ids = (await this.redis.zrevrangebyscore(this.setKey, '+inf', Date.now() - 2 * NODE_TTL_MS, 'LIMIT', 0, MAX_NODES)).filter((id) => id !== this.self.id);
      const rows = ids.length > 0 ? await this.redis.mget(ids.map((id) => this.key(id))) : [];
      others = rows.flatMap((row) => {
        if (!row) return [];
        try {
          return [JSON.parse(row) as NodeFigures];
        } catch {
          return [];
        }
      });
    } catch {
      // Redis does not answer: this hub can speak only for itself.
    }
    return [mine, ...others.sort((a, b) => (a.id < b.id ? -1 : 1))];
  }

  /** Leaves the registry at once (graceful shutdown), so the others stop counting this hub. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.redis.multi().del(this.key(this.self.id)).zrem(this.setKey, this.self.id).exec().catch(() => {});
  }
}
