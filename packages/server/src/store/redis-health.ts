import type { StoreHealth } from './types.js';

/** While Redis does not answer, how often a PING checks whether it does again. */
const PROBE_INTERVAL_MS = 1000;

/** Redis replies that mean the server cannot take writes now, not that the request was wrong. */
const UNAVAILABLE_REPLY = /^(OOM|READONLY|MASTERDOWN|LOADING|BUSY|MISCONF|CLUSTERDOWN|NOREPLICAS|TRYAGAIN|NOSCRIPT)\b/;

/**
 * Whether an error means Redis is unreachable or unable to store (a timeout, a closed connection, a
 * refused connection, out of memory, a read-only replica…), as opposed to a bug in a command.
 */
export function isRedisFault(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return UNAVAILABLE_REPLY.test(error.message);
  return true;
}

export function describeRedisError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * The store's health across Redis fault episodes: one change to `degraded` when Redis stops answering,
 * one back to `ok` when it answers again (a reply to anything, or the PING probe that runs meanwhile).
 * A failure of a command sent before the last recovery belongs to the episode that ended: it does not
 * start a new one, so that the timeouts of a stalled Redis's backlog do not make the health flap.
 */
export class RedisHealth {
  listener: ((health: StoreHealth) => void) | undefined;
  private fault: string | undefined;
  private okSince = 0;
  private probe: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly ping: () => Promise<unknown>) {}

  current(): StoreHealth {
    return this.fault === undefined ? { status: 'ok' } : { status: 'degraded', reason: this.fault };
  }

  faulted(reason: string, sentAt: number): void {
    if (this.stopped) return;
    if (this.fault === undefined) {
      if (sentAt < this.okSince) return;
      this.fault = reason;
      this.listener?.(this.current());
    }
    if (!this.probe) {
      this.probe = setInterval(() => this.ping().then(() => this.recovered(), () => {}), PROBE_INTERVAL_MS);
      this.probe.unref();
    }
  }

  recovered(): void {
    if (this.fault === undefined) return;
    this.fault = undefined;
    this.okSince = Date.now();
    clearInterval(this.probe);
    this.probe = undefined;
    this.listener?.(this.current());
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.probe);
    this.probe = undefined;
  }
}
