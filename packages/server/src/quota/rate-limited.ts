import { HeraldError } from '../errors.js';

/** `rate_limited` with the time after which the same request would pass (Retry-After, retryAfterMs). */
export class RateLimitedError extends HeraldError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super('rate_limited', message);
  }
}

/** The client address a quota is counted against: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as plain IPv4. */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
