/**
 * A token bucket: `burst` tokens at most, refilled at `ratePerSecond`. Refilled lazily from the clock on
 * each look, so an idle bucket costs nothing and there is no timer per connection.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    now = Date.now(),
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Milliseconds until `count` tokens are there (0: now). Takes nothing. */
  waitFor(count: number, now = Date.now()): number {
    this.refill(now);
    if (this.tokens >= count) return 0;
    return Math.ceil(((count - this.tokens) * 1000) / this.ratePerSecond);
  }

  /** Takes `count` tokens if they are there; whether it did. */
  take(count: number, now = Date.now()): boolean {
    if (this.waitFor(count, now) > 0) return false;
    this.tokens -= count;
    return true;
  }

  /** Whether the bucket is full again (nothing spent recently): such a bucket can be forgotten. */
  isFull(now = Date.now()): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSecond) / 1000);
      this.last = now;
    }
  }
}

/** Buckets by key (an address, a principal), created on first use; full ones are forgotten by `prune`. */
export class BucketMap {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {}

  get(key: string): TokenBucket {
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new TokenBucket(this.ratePerSecond, this.burst)));
    return bucket;
  }

  /** Drops buckets nobody has spent from lately, so that the map holds only active keys. */
  prune(now = Date.now()): void {
    for (const [key, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }
}
