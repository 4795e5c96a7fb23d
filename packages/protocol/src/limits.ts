/** Protocol version spoken by this package; sent in `hello`. */
export const PROTOCOL_VERSION = 1;

/** Defaults for every limit, in one place. The hub may be configured to other values. */
export const Defaults = {
  port: 7070,
  host: '127.0.0.1',
  dataDir: './.herald',
  /** Largest WebSocket frame, single event or SSE-published event, in bytes. */
  maxMessageBytes: 64 * 1024,
  /** Largest HTTP request body (a batch of events), in bytes. */
  maxBodyBytes: 8 * 1024 * 1024,
  /** Most events in one HTTP batch. */
  maxBatchEvents: 1000,
  /**
   * Deepest nesting of objects and arrays in an event's `data` (`{"a":[1]}` is 2 deep). Real events —
   * logs, metrics, error reports with causes, step trees — stay well under 10 levels; 32 leaves room for
   * them while every consumer that walks data recursively (the dashboard's views, a Python client's
   * `json`, whose recursion limit is about 1000) stays far from its stack limit.
   */
  maxEventDepth: 32,
  /**
   * Most object keys plus array elements in the whole of an event's `data`. 10 000 still fits a series of
   * 10 000 numbers, yet bounds the work of everyone who renders or indexes an event independently of
   * `maxMessageBytes` (which an operator may raise to megabytes).
   */
  maxEventKeys: 10_000,
  maxSubscriptionsPerConnection: 1000,
  /** Bytes queued for one client before it is closed as a slow consumer. */
  maxOutboundBytes: 1024 * 1024,
  heartbeatMs: 25_000,
  /**
   * Longest a long-poll (`GET /api/channels/{channel}/poll`) is held waiting for an event. Under the
   * 30–60 s idle timeouts of common proxies and load balancers, so an empty answer comes before they
   * cut the request.
   */
  pollWaitMs: 25_000,
  /** Most events one long-poll answer carries (its bytes are bounded by `maxOutboundBytes` too). */
  maxPollEvents: 1000,
  /** Events kept per channel. */
  retentionCount: 10_000,
  /** Age after which events are dropped, in milliseconds (7 days). */
  retentionAgeMs: 7 * 24 * 60 * 60 * 1000,
  /** Most events one resume may replay; a larger gap answers `recovered:false`. */
  maxRecoveryEvents: 10_000,
  /** Most events one history page may return. */
  maxHistoryPage: 1000,
  /** The most events a subscribe's `since: {last}` asks for. */
  maxLastEvents: 1000,
  defaultHistoryPage: 100,
  /** Most channels one page of `GET /api/channels` may return, and how many it returns by default. */
  maxChannelPage: 1000,
  defaultChannelPage: 100,
  /**
   * Quotas (0 turns one off). Each stops one of the measured attacks — 100 000 channels or 50 000 runs
   * made by one client in seconds, a 35 000 events/s flood, 3 000 connections from one address, a disk
   * filled at 60 MB/s — while staying far above what real teams do (CI runs of tens of thousands of
   * events, dashboards with a few connections, runs of ~20 000 steps).
   */
  maxChannels: 100_000,
  maxRuns: 20_000,
  /** New channels one principal (key, token subject; an address on an open hub) may create per minute. */
  maxNewChannelsPerMinute: 1000,
  /** Token bucket per connection: sustained events per second, and the burst it may spend at once. */
  maxEventsPerSecond: 1000,
  maxEventsBurst: 1000,
  /**
   * Token bucket per client address, over all its connections and HTTP requests. Kept close to the
   * connection's: with 5 000/s and bursts of 10 000, a client reconnecting to get fresh connection
   * buckets raised a bystander's publish p99 from ~5 ms to 20–30 ms on two cores; at 2 000 it stays
   * within 2× (test/quota-fairness.test.ts).
   */
  maxIpEventsPerSecond: 2000,
  maxIpEventsBurst: 2000,
  /** WebSocket, SSE and held long-poll connections one address may hold. */
  maxConnectionsPerIp: 256,
  /** Stored bytes per channel (its oldest events are dropped past it) and in total (publishes refused past it). */
  maxChannelBytes: 256 * 1024 * 1024,
  maxTotalBytes: 10 * 1024 ** 3,
  /** Largest uploaded attachment, and attachment bytes kept in all (uploads refused past it). */
  maxAttachmentBytes: 10 * 1024 * 1024,
  maxAttachmentTotalBytes: 1024 ** 3,
  /** Publishes of one WebSocket connection being stored at once; past it the hub stops reading that socket. */
  maxInFlightPublishes: 64,
  /** Most entries one presence answer lists (`count` still says how many there are). */
  maxPresencePage: 100,
  /**
   * Direct messages to a client id that is away (it had a connection): kept this long, at most this many
   * per client id, and at most this many bytes over all client ids; then the oldest are dropped.
   */
  directQueueMs: 60_000,
  directQueueCount: 100,
  directQueueTotalBytes: 16 * 1024 * 1024,
  /** How long a request waits for its reply by default, and at most. */
  replyTimeoutMs: 10_000,
  maxReplyTimeoutMs: 60_000,
  /** Requests one connection may have waiting for replies at once. */
  maxPendingRequests: 64,
  /** Time a graceful shutdown may take before the process exits anyway. */
  shutdownTimeoutMs: 10_000,
} as const;

export const MAX_CHANNEL_LENGTH = 160;
export const MAX_EVENT_TYPE_LENGTH = 64;
export const MAX_EVENT_ID_LENGTH = 128;
export const MAX_SOURCE_LENGTH = 128;
export const MAX_CLIENT_ID_LENGTH = 64;
