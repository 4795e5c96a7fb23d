export interface BackoffOptions {
  /** First delay's upper bound, ms (default 1 000). */
  initialDelayMs?: number;
  /** Largest delay, ms (default 30 000). */
  maxDelayMs?: number;
}

/**
 * "Full jitter" exponential backoff: a random delay between 0 and min(max, initial × 2^attempt).
 * The randomness spreads a crowd of clients that lost the same hub, so they do not all return at once.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 30_000;
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
