import { Defaults } from '@herald/protocol';

export type StoreKind = 'sqlite' | 'memory' | 'redis';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface HeraldConfig {
  port: number;
  host: string;
  dataDir: string;
  store: StoreKind;
  sync: 'full' | 'normal';
  /** Redis of the `redis` store (`redis://host:port[/db]`). */
  redisUrl: string;
  /** Start of every Redis key of the `redis` store: hubs that share a history share it. */
  redisPrefix: string;
  maxMessageBytes: number;
  maxBodyBytes: number;
  maxEventDepth: number;
  maxEventKeys: number;
  maxSubscriptions: number;
  maxOutboundBytes: number;
  /** Event types a lagging WebSocket subscriber gets the latest of per key, comma-separated ('' or 'off': none). */
  conflateTypes: string;
  /** Outbound bytes past which a WebSocket subscriber counts as lagging (0: never; at most half of maxOutboundBytes counts). */
  conflateAfterBytes: number;
  heartbeatMs: number;
  /** Longest a long-poll is held waiting for an event. */
  pollWaitMs: number;
  retentionCount: number;
  retentionAgeMs: number;
  maxRecoveryEvents: number;
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  stallAfterMs: number;
  healthStepPassed: number;
  healthStepFailed: number;
  healthError: number;
  /** Extra browser origins allowed to call the hub, comma-separated ('' or 'off': none). */
  corsOrigin: string;
  publicUrl: string;
  allowedHosts: string;
  jwtSecret: string;
  jwtPublicKey: string;
  jwksFile: string;
  jwtAudience: string;
  jwtIssuer: string;
  insecure: boolean;
  authTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxFrameBytes: number;
  sessionTtlMs: number;
  /** Folder of the dashboard's built files, served at `/` ('' or 'off': none). */
  dashboardDir: string;
  // Quotas: 0 turns each off (see docs/operations.md#quotas).
  maxChannels: number;
  maxRuns: number;
  maxNewChannelsPerMinute: number;
  maxEventsPerSecond: number;
  maxEventsBurst: number;
  maxIpEventsPerSecond: number;
  maxIpEventsBurst: number;
  maxConnectionsPerIp: number;
  maxChannelBytes: number;
  maxTotalBytes: number;
  maxInFlightPublishes: number;
  /** Requests one WebSocket connection may have waiting for replies, and one responder may hold unanswered. */
  maxPendingRequests: number;
  /** Attachments (docs/http-api.md#attachments): largest upload, bytes kept in all (0: no limit), allowed types. */
  maxAttachmentBytes: number;
  maxAttachmentTotalBytes: number;
  /** Comma-separated content types uploads may have ('' : the built-in list, see attachments/content-types.ts). */
  attachmentTypes: string;
  /** Direct messages to an away client id: kept this long, this many per id, this many bytes in all (any 0: none kept). */
  directQueueMs: number;
  directQueueCount: number;
  directQueueBytes: number;
}

type Kind = 'int' | 'string' | 'duration' | 'bytes' | 'flag' | { oneOf: readonly string[] };

interface OptionSpec {
  key: keyof HeraldConfig;
  flag: string;
  env: string;
  kind: Kind;
  description: string;
  /** Never printed (`--help` shows whether it is set, not its value). */
  secret?: boolean;
}

/** Every setting, its flag and its environment variable: the CLI, the docs and validation read this. */
export const CONFIG_OPTIONS: readonly OptionSpec[] = [
  { key: 'port', flag: 'port', env: 'HERALD_PORT', kind: 'int', description: 'TCP port (0 picks a free one).' },
  { key: 'host', flag: 'host', env: 'HERALD_HOST', kind: 'string', description: 'Interface to listen on.' },
  { key: 'dataDir', flag: 'data', env: 'HERALD_DATA', kind: 'string', description: 'Folder for the SQLite database.' },
  { key: 'store', flag: 'store', env: 'HERALD_STORE', kind: { oneOf: ['sqlite', 'memory', 'redis'] }, description: 'History engine: durable `sqlite`, in-process `memory`, or `redis` (shared by every hub on the same Redis and prefix).' },
  { key: 'redisUrl', flag: 'redis', env: 'HERALD_REDIS', kind: 'string', description: 'Redis shared by every hub of a cluster (implies `--store redis`): `redis://[user:password@]host:port[/db]` (`rediss://` for TLS).' },
  { key: 'redisPrefix', flag: 'redis-prefix', env: 'HERALD_REDIS_PREFIX', kind: 'string', description: 'Start of every Redis key of `--store redis`: hubs that share a history use the same one.' },
  { key: 'sync', flag: 'sync', env: 'HERALD_SYNC', kind: { oneOf: ['full', 'normal'] }, description: 'SQLite durability: `full` fsyncs every group commit (survives power loss); `normal` survives a hub crash only.' },
  { key: 'maxMessageBytes', flag: 'max-message-bytes', env: 'HERALD_MAX_MESSAGE_BYTES', kind: 'bytes', description: 'Largest WebSocket frame and largest single event.' },
  { key: 'maxBodyBytes', flag: 'max-body-bytes', env: 'HERALD_MAX_BODY_BYTES', kind: 'bytes', description: 'Largest HTTP request body.' },
  { key: 'maxEventDepth', flag: 'max-event-depth', env: 'HERALD_MAX_EVENT_DEPTH', kind: 'int', description: "Deepest nesting of objects and arrays in an event's data (1 to 512)." },
  { key: 'maxEventKeys', flag: 'max-event-keys', env: 'HERALD_MAX_EVENT_KEYS', kind: 'int', description: "Most object keys plus array elements in the whole of an event's data." },
  { key: 'maxSubscriptions', flag: 'max-subscriptions', env: 'HERALD_MAX_SUBSCRIPTIONS', kind: 'int', description: 'Subscriptions one WebSocket connection may hold.' },
  { key: 'maxOutboundBytes', flag: 'max-outbound-bytes', env: 'HERALD_MAX_OUTBOUND_BYTES', kind: 'bytes', description: 'Bytes queued for one client before it is closed as a slow consumer.' },
  { key: 'conflateTypes', flag: 'conflate-types', env: 'HERALD_CONFLATE_TYPES', kind: 'string', description: 'Event types a lagging WebSocket subscriber gets only the latest of (per channel, and per name for `metric`), comma-separated; `off` for none. `log`, `step.*` and run starts and ends are refused.' },
  { key: 'conflateAfterBytes', flag: 'conflate-after-bytes', env: 'HERALD_CONFLATE_AFTER_BYTES', kind: 'bytes', description: 'Outbound bytes past which a WebSocket subscriber is lagging and conflation starts (0: never; at most half of `--max-outbound-bytes` is used).' },
  { key: 'heartbeatMs', flag: 'heartbeat', env: 'HERALD_HEARTBEAT', kind: 'duration', description: 'Interval of WebSocket pings and SSE heartbeat events; a peer silent for two is dropped.' },
  { key: 'pollWaitMs', flag: 'poll-wait', env: 'HERALD_POLL_WAIT', kind: 'duration', description: 'Longest a long-poll (`GET /api/channels/{channel}/poll`) is held waiting for an event before it is answered empty.' },
  { key: 'retentionCount', flag: 'retention-count', env: 'HERALD_RETENTION_COUNT', kind: 'int', description: 'Events kept per channel.' },
  { key: 'maxChannelBytes', flag: 'max-channel-bytes', env: 'HERALD_MAX_CHANNEL_BYTES', kind: 'bytes', description: 'Stored bytes per channel: past it the oldest events of the channel are dropped (0: no limit).' },
  { key: 'maxTotalBytes', flag: 'max-total-bytes', env: 'HERALD_MAX_TOTAL_BYTES', kind: 'bytes', description: 'Stored bytes over all channels: past it publishes are refused with quota_exceeded and no history is dropped (0: no limit).' },
  { key: 'retentionAgeMs', flag: 'retention-age', env: 'HERALD_RETENTION_AGE', kind: 'duration', description: 'Events older than this are dropped.' },
  { key: 'maxRecoveryEvents', flag: 'max-recovery-events', env: 'HERALD_MAX_RECOVERY_EVENTS', kind: 'int', description: 'Most events one resume replays; a larger gap answers recovered:false.' },
  { key: 'maxChannels', flag: 'max-channels', env: 'HERALD_MAX_CHANNELS', kind: 'int', description: 'Channels holding history, in total: a publish that would create another is refused with quota_exceeded (0: no limit).' },
  { key: 'maxRuns', flag: 'max-runs', env: 'HERALD_MAX_RUNS', kind: 'int', description: 'Run channels (`runs.<id>`) holding history, in total: a publish that would start another is refused with quota_exceeded (0: no limit).' },
  { key: 'maxNewChannelsPerMinute', flag: 'max-new-channels-per-minute', env: 'HERALD_MAX_NEW_CHANNELS_PER_MINUTE', kind: 'int', description: 'New channels one key or token subject (one address on an open hub) may create per minute; more are refused with rate_limited (0: no limit).' },
  { key: 'maxEventsPerSecond', flag: 'max-events-per-second', env: 'HERALD_MAX_EVENTS_PER_SECOND', kind: 'int', description: 'Events per second one connection (WebSocket, or HTTP keep-alive socket) may publish; more are refused with rate_limited (0: no limit).' },
  { key: 'maxEventsBurst', flag: 'max-events-burst', env: 'HERALD_MAX_EVENTS_BURST', kind: 'int', description: 'Events one connection may publish at once above its rate (the token bucket\'s size; at least 1 000, one HTTP batch).' },
  { key: 'maxIpEventsPerSecond', flag: 'max-ip-events-per-second', env: 'HERALD_MAX_IP_EVENTS_PER_SECOND', kind: 'int', description: 'Events per second all connections and requests from one address may publish together (0: no limit).' },
  { key: 'maxIpEventsBurst', flag: 'max-ip-events-burst', env: 'HERALD_MAX_IP_EVENTS_BURST', kind: 'int', description: 'Events one address may publish at once above its rate (at least 1 000).' },
  { key: 'maxConnectionsPerIp', flag: 'max-connections-per-ip', env: 'HERALD_MAX_CONNECTIONS_PER_IP', kind: 'int', description: 'WebSocket, SSE and held long-poll connections one address may hold, loopback included; more are refused with 429 too_many_connections (0: no limit).' },
  { key: 'maxInFlightPublishes', flag: 'max-in-flight-publishes', env: 'HERALD_MAX_IN_FLIGHT_PUBLISHES', kind: 'int', description: 'Publishes of one WebSocket connection being stored at once; past it the hub stops reading that socket until some are answered (0: no limit).' },
  { key: 'maxPendingRequests', flag: 'max-pending-requests', env: 'HERALD_MAX_PENDING_REQUESTS', kind: 'int', description: 'Requests one WebSocket connection may have waiting for replies (more are refused with rate_limited), and requests one responder may hold unanswered (past it the next responder is asked, or the request is refused with no_responder). At least 1.' },
  { key: 'maxAttachmentBytes', flag: 'max-attachment-bytes', env: 'HERALD_MAX_ATTACHMENT_BYTES', kind: 'bytes', description: 'Largest uploaded attachment: a bigger upload is refused with 413 attachment_too_large, read no further than the cap.' },
  { key: 'maxAttachmentTotalBytes', flag: 'max-attachment-total-bytes', env: 'HERALD_MAX_ATTACHMENT_TOTAL_BYTES', kind: 'bytes', description: 'Attachment bytes kept over all channels: an upload that would pass it is refused with 507 quota_exceeded (0: no limit).' },
  { key: 'attachmentTypes', flag: 'attachment-types', env: 'HERALD_ATTACHMENT_TYPES', kind: 'string', description: 'Content types uploads may have, comma-separated (`image/png,text/plain`); default: images, text, JSON, PDF, video, archives and octet-stream.' },
  { key: 'directQueueMs', flag: 'direct-queue-ms', env: 'HERALD_DIRECT_QUEUE_MS', kind: 'duration', description: 'How long direct messages to a client id whose connection closed are kept for it to reconnect; after it, sends are answered unknown_client (0: none kept).' },
  { key: 'directQueueCount', flag: 'direct-queue-count', env: 'HERALD_DIRECT_QUEUE_COUNT', kind: 'int', description: 'Direct messages kept per away client id; past it the oldest is dropped (0: none kept).' },
  { key: 'directQueueBytes', flag: 'direct-queue-bytes', env: 'HERALD_DIRECT_QUEUE_BYTES', kind: 'bytes', description: 'Event bytes of direct messages kept over all away client ids; past it the oldest are dropped (0: none kept).' },
  { key: 'shutdownTimeoutMs', flag: 'shutdown-timeout', env: 'HERALD_SHUTDOWN_TIMEOUT', kind: 'duration', description: 'Longest a graceful shutdown may take.' },
  { key: 'stallAfterMs', flag: 'stall-after', env: 'HERALD_STALL_AFTER', kind: 'duration', description: 'A running run that sends nothing for this long becomes `stalled`.' },
  { key: 'healthStepPassed', flag: 'health-step-passed', env: 'HERALD_HEALTH_STEP_PASSED', kind: 'int', description: 'Health points added for each passed step.' },
  { key: 'healthStepFailed', flag: 'health-step-failed', env: 'HERALD_HEALTH_STEP_FAILED', kind: 'int', description: 'Health points taken for each failed step.' },
  { key: 'healthError', flag: 'health-error', env: 'HERALD_HEALTH_ERROR', kind: 'int', description: 'Health points taken for each other event of severity `error`.' },
  { key: 'corsOrigin', flag: 'cors-origin', env: 'HERALD_CORS_ORIGIN', kind: 'string', description: 'Other browser origins allowed to use the hub, comma-separated (`https://app.example.com`); the hub\'s own and loopback origins are always allowed. `*` is refused.' },
  { key: 'publicUrl', flag: 'public-url', env: 'HERALD_PUBLIC_URL', kind: 'string', description: 'The URL people reach the hub at (behind a proxy or by name): its host and origin are accepted as the hub\'s own.' },
  { key: 'allowedHosts', flag: 'allowed-hosts', env: 'HERALD_ALLOWED_HOSTS', kind: 'string', description: 'Extra names the `Host` header may carry, comma-separated (IP addresses and localhost always pass).' },
  { key: 'jwtSecret', flag: 'jwt-secret', env: 'HERALD_JWT_SECRET', kind: 'string', secret: true, description: 'HS256 secret (32+ characters) that tokens are verified with; turns authentication on.' },
  { key: 'jwtPublicKey', flag: 'jwt-public-key', env: 'HERALD_JWT_PUBLIC_KEY', kind: 'string', description: 'PEM public key file (RSA: RS256, EC P-256: ES256) that tokens are verified with; turns authentication on.' },
  { key: 'jwksFile', flag: 'jwks-file', env: 'HERALD_JWKS_FILE', kind: 'string', description: 'JWKS file (`{"keys":[…]}`, RS256/ES256) that tokens are verified with; turns authentication on.' },
  { key: 'jwtAudience', flag: 'jwt-audience', env: 'HERALD_JWT_AUDIENCE', kind: 'string', description: 'When set, tokens must carry this `aud`.' },
  { key: 'jwtIssuer', flag: 'jwt-issuer', env: 'HERALD_JWT_ISSUER', kind: 'string', description: 'When set, tokens must carry this `iss`.' },
  { key: 'insecure', flag: 'insecure', env: 'HERALD_INSECURE', kind: 'flag', description: 'Start open (no keys, no JWT) on a non-loopback address anyway: anyone who reaches it may do anything.' },
  { key: 'authTimeoutMs', flag: 'auth-timeout', env: 'HERALD_AUTH_TIMEOUT', kind: 'duration', description: 'How long a WebSocket without credentials on the upgrade has to send its `auth` frame.' },
  { key: 'headersTimeoutMs', flag: 'headers-timeout', env: 'HERALD_HEADERS_TIMEOUT', kind: 'duration', description: 'A connection must send complete request headers (also an upgrade\'s) within this long, or it is closed.' },
  { key: 'requestTimeoutMs', flag: 'request-timeout', env: 'HERALD_REQUEST_TIMEOUT', kind: 'duration', description: 'A request must arrive in full, body included, within this long, or it is closed.' },
  { key: 'maxFrameBytes', flag: 'max-frame-bytes', env: 'HERALD_MAX_FRAME_BYTES', kind: 'bytes', description: 'Largest WebSocket frame read; a publish in it whose event is over the message cap is refused alone (too_large), a larger frame closes the connection (1009).' },
  { key: 'sessionTtlMs', flag: 'session-ttl', env: 'HERALD_SESSION_TTL', kind: 'duration', description: 'Longest a dashboard sign-in lasts (never past the token\'s own expiry).' },
  { key: 'dashboardDir', flag: 'dashboard', env: 'HERALD_DASHBOARD', kind: 'string', description: 'Folder of the dashboard to serve at `/` (`herald serve` uses the bundled one; `off` for none).' },
  { key: 'logLevel', flag: 'log-level', env: 'HERALD_LOG_LEVEL', kind: { oneOf: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }, description: 'pino log level.' },
];

export const DEFAULT_CONFIG: HeraldConfig = {
  port: Defaults.port,
  host: Defaults.host,
  dataDir: Defaults.dataDir,
  store: 'sqlite',
  sync: 'full',
  redisUrl: 'redis://127.0.0.1:6379',
  redisPrefix: 'herald',
  maxMessageBytes: Defaults.maxMessageBytes,
  maxBodyBytes: Defaults.maxBodyBytes,
  maxEventDepth: Defaults.maxEventDepth,
  maxEventKeys: Defaults.maxEventKeys,
  maxSubscriptions: Defaults.maxSubscriptionsPerConnection,
  maxOutboundBytes: Defaults.maxOutboundBytes,
  conflateTypes: 'run.progress,metric',
  conflateAfterBytes: 512 * 1024,
  heartbeatMs: Defaults.heartbeatMs,
  pollWaitMs: Defaults.pollWaitMs,
  retentionCount: Defaults.retentionCount,
  retentionAgeMs: Defaults.retentionAgeMs,
  maxRecoveryEvents: Defaults.maxRecoveryEvents,
  shutdownTimeoutMs: Defaults.shutdownTimeoutMs,
  logLevel: 'info',
  stallAfterMs: 60_000,
  healthStepPassed: 2,
  healthStepFailed: 10,
  healthError: 5,
  corsOrigin: '',
  publicUrl: '',
  allowedHosts: '',
  jwtSecret: '',
  jwtPublicKey: '',
  jwksFile: '',
  jwtAudience: '',
  jwtIssuer: '',
  insecure: false,
  authTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxFrameBytes: 1024 * 1024,
  sessionTtlMs: 12 * 60 * 60 * 1000,
  dashboardDir: '',
  maxChannels: Defaults.maxChannels,
  maxRuns: Defaults.maxRuns,
  maxNewChannelsPerMinute: Defaults.maxNewChannelsPerMinute,
  maxEventsPerSecond: Defaults.maxEventsPerSecond,
  maxEventsBurst: Defaults.maxEventsBurst,
  maxIpEventsPerSecond: Defaults.maxIpEventsPerSecond,
  maxIpEventsBurst: Defaults.maxIpEventsBurst,
  maxConnectionsPerIp: Defaults.maxConnectionsPerIp,
  maxChannelBytes: Defaults.maxChannelBytes,
  maxTotalBytes: Defaults.maxTotalBytes,
  maxInFlightPublishes: Defaults.maxInFlightPublishes,
  maxPendingRequests: Defaults.maxPendingRequests,
  maxAttachmentBytes: Defaults.maxAttachmentBytes,
  maxAttachmentTotalBytes: Defaults.maxAttachmentTotalBytes,
  attachmentTypes: '',
  directQueueMs: Defaults.directQueueMs,
  directQueueCount: Defaults.directQueueCount,
  directQueueBytes: Defaults.directQueueTotalBytes,
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A content type's essence (`type/subtype`), as the attachment allow-list takes it. */
export const CONTENT_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const BYTES = /^(\d+)(b|kb|kib|mb|mib|gb|gib)?$/i;
const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1000, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };

/** `500ms`, `30s`, `5m`, `7d` (a bare number is milliseconds) in milliseconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  return m ? Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']!) : undefined;
}

/** Reads one textual setting (a flag or an environment variable) into its typed value. */
export function parseSetting(spec: OptionSpec, text: string, origin: string): string | number | boolean {
  const fail = (what: string): never => {
    throw new ConfigError(`${origin}: "${text}" is not ${what}`);
  };
  const kind = spec.kind;
  if (kind === 'string') return text;
  if (kind === 'flag') {
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    return /^(0|false|no|off)$/i.test(text) ? false : fail('true or false');
  }
  if (kind === 'int') return /^\d+$/.test(text) ? Number(text) : fail('a whole number ≥ 0');
  if (kind === 'duration') return parseDuration(text) ?? fail('a duration such as 500ms, 30s, 5m, 7d (a bare number is milliseconds)');
  if (kind === 'bytes') {
    const m = BYTES.exec(text.trim()) ?? fail('a size such as 65536, 64KiB, 1MiB');
    return Number(m[1]) * BYTE_UNITS[(m[2] ?? 'b').toLowerCase()]!;
  }
  return kind.oneOf.includes(text) ? text : fail(`one of ${kind.oneOf.join(', ')}`);
}

/** Settings from `HERALD_*` environment variables. */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<HeraldConfig> {
  const config: Record<string, unknown> = {};
  for (const spec of CONFIG_OPTIONS) {
    const text = env[spec.env];
    if (text !== undefined && text !== '') config[spec.key] = parseSetting(spec, text, spec.env);
  }
  return config as Partial<HeraldConfig>;
}

/** Fills defaults and checks every value, so that a bad setting fails at start with a sentence. */
export function resolveConfig(partial: Partial<HeraldConfig> = {}): HeraldConfig {
  const config: HeraldConfig = { ...DEFAULT_CONFIG };
  for (const [key, value] of Object.entries(partial)) {
    if (value !== undefined) (config as unknown as Record<string, unknown>)[key] = value;
  }
  // `--redis <url>` alone means the Redis engine: a hub given a Redis is meant to share it.
  if (partial.redisUrl !== undefined && partial.store === undefined) config.store = 'redis';
  else if (partial.redisUrl !== undefined && config.store !== 'redis') {
    throw new ConfigError(`redisUrl is set (--redis or HERALD_REDIS) but the store is ${config.store}: use --store redis, or leave --redis out`);
  }
  const atLeast = (key: keyof HeraldConfig, min: number) => {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      throw new ConfigError(`${key} must be a whole number ≥ ${min} (got ${String(value)})`);
    }
  };
  atLeast('port', 0);
  if (config.port > 65535) throw new ConfigError(`port must be at most 65535 (got ${config.port})`);
  atLeast('maxMessageBytes', 256);
  atLeast('maxBodyBytes', 256);
  atLeast('maxEventDepth', 1);
  // Serialising is recursive (V8 runs out of stack at a few thousand levels) and Python's json gives up at 1000.
  if (config.maxEventDepth > 512) {
    throw new ConfigError(`maxEventDepth must be at most 512 (got ${config.maxEventDepth}): deeper events overflow the stack of JSON libraries (Python's json gives up at 1000 levels)`);
  }
  atLeast('maxEventKeys', 1);
  atLeast('maxSubscriptions', 1);
  atLeast('maxOutboundBytes', 1024);
  atLeast('conflateAfterBytes', 0);
  for (const type of listSetting(config.conflateTypes)) {
    if (NEVER_CONFLATED.test(type)) throw new ConfigError(`conflateTypes may not hold "${type}": every ${type} event matters to a subscriber (logs, steps and a run's start and end are never conflated)`);
  }
  atLeast('heartbeatMs', 10);
  atLeast('pollWaitMs', 0);
  atLeast('retentionCount', 1);
  atLeast('retentionAgeMs', 1000);
  atLeast('maxRecoveryEvents', 0);
  atLeast('shutdownTimeoutMs', 100);
  atLeast('stallAfterMs', 10);
  atLeast('healthStepPassed', 0);
  atLeast('healthStepFailed', 0);
  atLeast('healthError', 0);
  if (config.maxBodyBytes < config.maxMessageBytes) {
    throw new ConfigError(`maxBodyBytes (${config.maxBodyBytes}) must be at least maxMessageBytes (${config.maxMessageBytes}) so that one event always fits in a request`);
  }
  for (const spec of CONFIG_OPTIONS) {
    if (typeof spec.kind === 'object' && !spec.kind.oneOf.includes(String(config[spec.key]))) {
      throw new ConfigError(`${spec.key} must be one of ${spec.kind.oneOf.join(', ')} (got ${String(config[spec.key])})`);
    }
  }
  if (!config.host) throw new ConfigError('host must not be empty');
  atLeast('authTimeoutMs', 100);
  atLeast('headersTimeoutMs', 100);
  atLeast('requestTimeoutMs', config.headersTimeoutMs);
  if (config.maxFrameBytes < config.maxMessageBytes) {
    throw new ConfigError(`maxFrameBytes (${config.maxFrameBytes}) must be at least maxMessageBytes (${config.maxMessageBytes}) so that one event always fits in a frame`);
  }
  atLeast('sessionTtlMs', 1000);
  atLeast('maxPendingRequests', 1);
  for (const origin of listSetting(config.corsOrigin)) {
    if (origin === '*') throw new ConfigError('corsOrigin "*" would let every web page the user opens use the hub: list the origins, comma-separated (https://app.example.com)');
    if (!/^https?:\/\/[^/]+$/.test(origin)) throw new ConfigError(`corsOrigin "${origin}" is not an origin: write scheme://host[:port], such as https://app.example.com`);
  }
  if (config.publicUrl && !/^https?:\/\/[^/]+/.test(config.publicUrl)) throw new ConfigError(`publicUrl "${config.publicUrl}" must be an http(s) URL, such as https://herald.example.com`);
  for (const key of ['maxChannels', 'maxRuns', 'maxNewChannelsPerMinute', 'maxEventsPerSecond', 'maxIpEventsPerSecond', 'maxConnectionsPerIp', 'maxInFlightPublishes', 'maxChannelBytes', 'maxTotalBytes'] as const) atLeast(key, 0);
  // A bucket smaller than one HTTP batch could never let that batch through: the publisher would retry it forever.
  for (const [rate, burst] of [['maxEventsPerSecond', 'maxEventsBurst'], ['maxIpEventsPerSecond', 'maxIpEventsBurst']] as const) {
    if (config[rate] > 0 && !(Number.isInteger(config[burst]) && config[burst] >= Defaults.maxBatchEvents)) {
      throw new ConfigError(`${burst} must be a whole number ≥ ${Defaults.maxBatchEvents} (one HTTP batch) while ${rate} is on (got ${String(config[burst])}); set ${rate} to 0 to turn the limit off`);
    }
  }
  if (config.maxChannelBytes > 0 && config.maxChannelBytes < config.maxMessageBytes) {
    throw new ConfigError(`maxChannelBytes (${config.maxChannelBytes}) must be 0 (no limit) or at least maxMessageBytes (${config.maxMessageBytes}) so that a channel can keep its newest event`);
  }
  if (config.maxTotalBytes > 0 && config.maxTotalBytes < config.maxMessageBytes) {
    throw new ConfigError(`maxTotalBytes (${config.maxTotalBytes}) must be 0 (no limit) or at least maxMessageBytes (${config.maxMessageBytes})`);
  }
  atLeast('maxAttachmentBytes', 1);
  atLeast('maxAttachmentTotalBytes', 0);
  if (config.maxAttachmentTotalBytes > 0 && config.maxAttachmentTotalBytes < config.maxAttachmentBytes) {
    throw new ConfigError(`maxAttachmentTotalBytes (${config.maxAttachmentTotalBytes}) must be 0 (no limit) or at least maxAttachmentBytes (${config.maxAttachmentBytes}) so that one attachment always fits`);
  }
  for (const type of listSetting(config.attachmentTypes)) {
    if (!CONTENT_TYPE.test(type)) throw new ConfigError(`attachmentTypes: "${type}" is not a content type: write type/subtype, such as image/png (comma-separated)`);
  }
  atLeast('directQueueMs', 0);
  atLeast('directQueueCount', 0);
  atLeast('directQueueBytes', 0);
  if (config.directQueueBytes > 0 && config.directQueueBytes < config.maxMessageBytes) {
    throw new ConfigError(`directQueueBytes (${config.directQueueBytes}) must be 0 (keep none) or at least maxMessageBytes (${config.maxMessageBytes}) so that one message always fits`);
  }
  if (config.store === 'sqlite' && !config.dataDir) throw new ConfigError('dataDir must not be empty with the sqlite store');
  return config;
}

/** A comma-separated setting as a list; `off` and '' are empty. */
/** Types whose every event matters (a log line, a step, a run's start and end): never conflated. */
const NEVER_CONFLATED = /^(log|step\..*|run\.(started|completed|stalled|summary))$/;

export function listSetting(text: string): string[] {
  if (text === 'off') return [];
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}
