import type { HeraldConfig } from '../config.js';
import { BucketMap, TokenBucket } from './token-bucket.js';
import { RateLimitedError } from './rate-limited.js';

/** How often buckets of addresses that went quiet are forgotten. */
const PRUNE_INTERVAL_MS = 60_000;

/**
 * Events per second, per connection and per address: two token buckets that every publish (WebSocket
 * command or HTTP batch) must find tokens in. A refused publish stores nothing and costs the hub one
 * reply, so a flood cannot queue work that delays everyone else's publishes.
 */
export class PublishLimiter {
  private readonly addresses: BucketMap | undefined;
  private readonly pruner: NodeJS.Timeout | undefined;
  /** HTTP keep-alive sockets' buckets, gone with their sockets. */
  private readonly sockets = new WeakMap<object, TokenBucket>();

  constructor(private readonly config: Pick<HeraldConfig, 'maxEventsPerSecond' | 'maxEventsBurst' | 'maxIpEventsPerSecond' | 'maxIpEventsBurst'>) {
    if (config.maxIpEventsPerSecond > 0) {
      const addresses = (this.addresses = new BucketMap(config.maxIpEventsPerSecond, config.maxIpEventsBurst));
      this.pruner = setInterval(() => addresses.prune(), PRUNE_INTERVAL_MS);
      this.pruner.unref();
    }
  }

  /** A bucket for one new connection, or undefined when the per-connection limit is off. */
  connectionBucket(): TokenBucket | undefined {
    const { maxEventsPerSecond, maxEventsBurst } = this.config;
    return maxEventsPerSecond > 0 ? new TokenBucket(maxEventsPerSecond, maxEventsBurst) : undefined;
  }

  /** The bucket of an HTTP keep-alive socket (made on its first publish). */
  socketBucket(socket: object): TokenBucket | undefined {
    let bucket = this.sockets.get(socket);
    if (!bucket) {
      bucket = this.connectionBucket();
      if (bucket) this.sockets.set(socket, bucket);
    }
    return bucket;
  }

  /**
   * A sibling bucket that counts refusals: a connection that keeps publishing past its limit spends it
   * (one token per refused publish) and is closed when it is empty. A tenth of the connection's bucket,
   * refilled at a tenth of its rate: an honest client that overshoots reacts to its first refusals,
   * while a flood is cut after a few hundred — each of them costs the hub a parse and a reply.
   */
  patienceBucket(): TokenBucket | undefined {
    const { maxEventsPerSecond, maxEventsBurst } = this.config;
    return maxEventsPerSecond > 0 ? new TokenBucket(maxEventsPerSecond / 10, Math.max(1, Math.floor(maxEventsBurst / 10))) : undefined;
  }

  /** Takes `events` tokens from both buckets, or throws `rate_limited` (taking none). */
  admit(connection: TokenBucket | undefined, address: string, events: number): void {
    const refused = this.refusal(connection, address, events);
    if (refused) throw new RateLimitedError(refused.message, refused.retryAfterMs);
  }

  /**
   * The same without throwing, for the WebSocket flood path (a refusal must cost less than a publish):
   * takes the tokens and answers undefined, or answers why not (taking none).
   */
  refusal(connection: TokenBucket | undefined, address: string, events: number): { message: string; retryAfterMs: number } | undefined {
    const now = Date.now();
    const byAddress = this.addresses?.get(address);
    const connectionWait = connection?.waitFor(events, now) ?? 0;
    if (connectionWait > 0) {
      return { retryAfterMs: connectionWait, message: `this connection may publish ${this.config.maxEventsPerSecond} events per second (bursts of ${this.config.maxEventsBurst}); retry in ${connectionWait} ms (the hub's operator sets this with --max-events-per-second)` };
    }
    const addressWait = byAddress?.waitFor(events, now) ?? 0;
    if (addressWait > 0) {
      return { retryAfterMs: addressWait, message: `this address may publish ${this.config.maxIpEventsPerSecond} events per second over all its connections (bursts of ${this.config.maxIpEventsBurst}); retry in ${addressWait} ms (the hub's operator sets this with --max-ip-events-per-second)` };
    }
    connection?.take(events, now);
    byAddress?.take(events, now);
    return undefined;
  }

  stop(): void {
    clearInterval(this.pruner);
  }
}
