import type { ErrorCode } from '@herald/protocol';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Hub } from './hub.js';
import type { StoreTiming } from './store/types.js';

export interface ConnectionCounts {
  websocket: number;
  sse: number;
  /** Long-polls being held (between two polls a client holds nothing). */
  poll: number;
}

const RATE_WINDOW_SECONDS = 5;

/**
 * Hub statistics for `/api/stats` and `/metrics`. Hot-path counters are plain numbers on the hub;
 * prom-client reads them when scraped, so delivering an event never touches a metric object.
 */
export class HubStats {
  readonly registry = new Registry();
  readonly startedAt = Date.now();
  slowConsumerCloses = 0;
  /** Events lagging subscribers did not get because a later one of the same key took their place. */
  conflatedEvents = 0;
  private readonly commandErrors = new Counter({
    name: 'herald_command_errors_total',
    help: 'Commands and requests answered with an error, by code.',
    labelNames: ['code'],
    registers: [this.registry],
  });
  /** Samples of [eventsIn, eventsOut] once a second, newest last. */
  private readonly samples: Array<[number, number]> = [];
  private readonly sampler: NodeJS.Timeout;

  constructor(
    hub: Hub,
    private readonly connections: () => ConnectionCounts,
    channelCount: () => Promise<number>,
    /** Hands a listener to the store for its own measurements (`EventStore.onTiming`), when it has any. */
    observeStore: (listener: (timing: StoreTiming) => void) => void = () => {},
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_' });
    const self = this;
    const monotonic = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    monotonic('herald_events_published_total', 'Events stored (duplicates by idempotency id not counted).', () => hub.eventsIn);
    monotonic('herald_events_delivered_total', 'Live events written to subscribers.', () => hub.eventsOut);
    monotonic('herald_slow_consumer_closes_total', 'Clients closed because their outbound buffer passed the cap.', () => self.slowConsumerCloses);
    monotonic('herald_events_conflated_total', 'Events a lagging WebSocket subscriber did not get: a later one of the same key (run progress, a metric) took their place.', () => self.conflatedEvents);
    new Gauge({
      name: 'herald_connections',
      help: 'Open client connections by transport.',
      labelNames: ['transport'],
      registers: [this.registry],
      collect() {
        const counts = self.connections();
        this.set({ transport: 'websocket' }, counts.websocket);
        this.set({ transport: 'sse' }, counts.sse);
        this.set({ transport: 'poll' }, counts.poll);
      },
    });
    new Gauge({
      name: 'herald_channels',
      help: 'Channels that hold history.',
      registers: [this.registry],
      async collect() {
        this.set(await channelCount());
      },
    });
    this.observeStoreTimings(observeStore);
    this.sampler = setInterval(() => {
      this.samples.push([hub.eventsIn, hub.eventsOut]);
      if (this.samples.length > RATE_WINDOW_SECONDS + 1) this.samples.shift();
    }, 1000);
    this.sampler.unref();
  }

  /** The store's group commits and checkpoints (SQLite), where the durable path's time goes. */
  private observeStoreTimings(observeStore: (listener: (timing: StoreTiming) => void) => void): void {
    const registers = [this.registry];
    const seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    const commits = new Histogram({ name: 'herald_store_commit_seconds', help: 'Group commits of the store by phase: write (its statements) and commit (COMMIT, the fsync).', labelNames: ['phase'], buckets: seconds, registers });
    const batch = new Histogram({ name: 'herald_store_commit_events', help: 'Events per group commit.', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000], registers });
    const checkpoints = new Histogram({ name: 'herald_store_checkpoint_seconds', help: 'Background checkpoints of the write-ahead log by mode: passive (beside commits) and restart (holds the writer while it copies the rest).', labelNames: ['mode'], buckets: seconds, registers });
    const walPages = new Gauge({ name: 'herald_store_wal_pages', help: 'Pages in the write-ahead log at the last checkpoint, and how many of them it had copied.', labelNames: ['state'], registers });
    const failures = new Counter({ name: 'herald_store_checkpoint_failures_total', help: 'Checkpoints that failed (they are tried again; the log grows meanwhile).', registers });
    observeStore((timing) => {
      if (timing.kind === 'commit') {
        commits.observe({ phase: 'write' }, timing.writeMs / 1000);
        commits.observe({ phase: 'commit' }, timing.commitMs / 1000);
        batch.observe(timing.events);
      } else if (timing.kind === 'checkpoint') {
        checkpoints.observe({ mode: timing.mode }, timing.ms / 1000);
        walPages.set({ state: 'total' }, timing.walPages);
        walPages.set({ state: 'copied' }, timing.copiedPages);
      } else failures.inc();
    });
  }

  countError(code: ErrorCode): void {
    this.commandErrors.inc({ code });
  }

  uptimeSeconds(): number {
    return Math.round((Date.now() - this.startedAt) / 1000);
  }

  /** Events per second in and out, averaged over the last few seconds. */
  rates(): { inPerSecond: number; outPerSecond: number } {
    const first = this.samples[0];
    const seconds = this.samples.length - 1;
    if (!first || seconds < 1) return { inPerSecond: 0, outPerSecond: 0 };
    const last = this.samples.at(-1)!;
    return {
      inPerSecond: Math.round(((last[0] - first[0]) / seconds) * 10) / 10,
      outPerSecond: Math.round(((last[1] - first[1]) / seconds) * 10) / 10,
    };
  }

  stop(): void {
    clearInterval(this.sampler);
  }
}
