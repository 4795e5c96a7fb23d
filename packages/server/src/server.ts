import type { AddressInfo } from 'node:net';
import { CloseCodes, ErrorCodes, type ErrorCode } from '@herald/protocol';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import { Gatekeeper } from './access/gatekeeper.js';
import { Redis } from 'ioredis';
import { KeyStore, type KeyBook } from './access/keys.js';
import { isLoopback, OriginRules } from './access/origins.js';
import { PassBook, type SharedPasses } from './access/passes.js';
import { RedisKeyStore } from './access/redis-keys.js';
import { SYSTEM } from './access/principal.js';
import { AccessPolicy } from './access/policy.js';
import { TokenError, TokenVerifier } from './access/tokens.js';
import { DEFAULT_ATTACHMENT_TYPES } from './attachments/content-types.js';
import { fileAttachmentStore, memoryAttachmentStore, RefusingAttachmentStore } from './attachments/store.js';
import type { AttachmentLimits, AttachmentStore } from './attachments/types.js';
import { MemoryBroker } from './broker/memory.js';
import { RedisBroker } from './broker/redis.js';
import type { Broker } from './broker/types.js';
import { linkHubs } from './cluster/links.js';
import { LocalNodes, newNodeId, RedisNodes, type NodeRegistry } from './cluster/nodes.js';
import { ConfigError, listSetting, resolveConfig, type HeraldConfig } from './config.js';
import { HeraldError } from './errors.js';
import { registerAccessHooks } from './http/access-hooks.js';
import { registerAttachmentRoutes } from './http/attachment-routes.js';
import { registerAuthRoutes } from './http/auth-routes.js';
import { registerChannelRoutes } from './http/channel-routes.js';
import { registerPresenceRoutes } from './http/presence-routes.js';
import { registerDashboard } from './http/dashboard.js';
import { registerDirectRoutes } from './http/direct-routes.js';
import { MAX_AWAY_CLIENTS } from './direct/mailbox.js';
import { registerRunRoutes } from './http/run-routes.js';
import { registerRequestRoutes } from './http/request-routes.js';
import { ResponderPolls } from './http/responder-polls.js';
import { PollEndpoint } from './http/poll.js';
import { QuietSockets } from './http/quiet-sockets.js';
import { SseEndpoint } from './http/sse.js';
import { registerStatusRoutes } from './http/status-routes.js';
import { Hub } from './hub.js';
import { LocalPresenceDirectory } from './presence/directory.js';
import { RedisPresenceDirectory } from './presence/redis-directory.js';
import { RunStore } from './runs/run-store.js';
import { RunTracker } from './runs/tracker.js';
import { HubStats } from './stats.js';
import { ChannelQuota } from './quota/channel-quota.js';
import { ConnectionCounter } from './quota/connection-counter.js';
import { PublishLimiter } from './quota/publish-limiter.js';
import { RateLimitedError } from './quota/rate-limited.js';
import { MemoryStore } from './store/memory.js';
import { RedisStore } from './store/redis.js';
import { describeRedisError } from './store/redis-health.js';
import { SqliteStore } from './store/sqlite.js';
import type { EventStore } from './store/types.js';
import { WebSocketEndpoint } from './ws/endpoint.js';
import { hubRedisOptions } from './store/redis-options.js';

/** How often the age part of retention runs. */
const SWEEP_INTERVAL_MS = 60_000;
/** How often the key file is checked for keys revoked by `herald keys revoke` in another process. */
const KEY_WATCH_INTERVAL_MS = 250;
/** SSE tickets only open a stream; EventSource reconnects within seconds, so a minute is plenty. */
const TICKET_TTL_MS = 60_000;
/** Bounds memory held by sessions and tickets; the oldest go first. */
const MAX_PASSES = 10_000;
/** Attachments kept in all (the index of each is a row; their bytes are bounded by --max-attachment-total-bytes). */
const MAX_ATTACHMENTS = 100_000;
/** An upload that no event references is kept this long: time enough to publish the event that shows it. */
const UNREFERENCED_ATTACHMENT_MS = 60 * 60 * 1000;
/** Attachments one sweep looks at (round-robin): bounded work per minute, every one seen in turn. */
const ATTACHMENT_SWEEP_LIMIT = 1000;

export interface HeraldServer {
  readonly config: HeraldConfig;
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  readonly port: number;
  readonly hub: Hub;
  readonly runs: RunTracker;
  readonly app: FastifyInstance;
  /** The API keys: in the data folder, or in Redis for hubs that share one (create and revoke take effect at once). */
  readonly keys: KeyBook;
  /** The hubs of the cluster (this one alone when it has no Redis). */
  readonly nodes: NodeRegistry;
  /**
   * Runs retention now, as the sweep every minute does: events past `--retention-age`, runs, and the
   * attachments that no retained event references (a bounded page of them).
   */
  sweep(): Promise<void>;
  /** Every route, as registered (method and URL), so that tests can walk them all. */
  readonly routes: ReadonlyArray<{ method: string; url: string }>;
  /**
   * Graceful shutdown: refuse new connections and publishes, close clients with 1012, finish pending
   * commits, close the store. Safe to call twice.
   */
  close(): Promise<void>;
}

export interface ServerOverrides {
  /** Engines other than the built-in ones (tests). */
  store?: EventStore;
  broker?: Broker;
  /** Where log lines go instead of stdout (tests read them to prove no secret is logged). */
  logStream?: NodeJS.WritableStream;
}

/** Where attachments are kept: beside a SQLite history, in memory beside a memory one, and not at all on Redis. */
export function createAttachmentStore(config: HeraldConfig): AttachmentStore {
  const limits: AttachmentLimits = {
    maxBytes: config.maxAttachmentBytes,
    maxTotalBytes: config.maxAttachmentTotalBytes,
    maxCount: MAX_ATTACHMENTS,
    unreferencedGraceMs: UNREFERENCED_ATTACHMENT_MS,
  };
  if (config.store === 'sqlite') return fileAttachmentStore(config.dataDir, limits, config.sync);
  if (config.store === 'memory') return memoryAttachmentStore(limits);
  return new RefusingAttachmentStore();
}

export function createStore(config: HeraldConfig): EventStore {
  const retention = { maxCount: config.retentionCount, maxAgeMs: config.retentionAgeMs, maxChannelBytes: config.maxChannelBytes, maxTotalBytes: config.maxTotalBytes };
  if (config.store === 'memory') return new MemoryStore(retention);
  if (config.store === 'redis') return new RedisStore({ url: config.redisUrl, prefix: config.redisPrefix, retention });
  return new SqliteStore({ dataDir: config.dataDir, retention, sync: config.sync });
}

/** Starts a hub: HTTP API, WebSocket `/ws` and SSE on one port. */
export async function startServer(options: Partial<HeraldConfig> = {}, overrides: ServerOverrides = {}): Promise<HeraldServer> {
  const config = resolveConfig(options);
  // Hubs on one Redis keep what they all need there: keys, the node registry (history: the store).
  const control = config.store === 'redis' ? new Redis(config.redisUrl, hubRedisOptions('herald-control')) : undefined;
  // The store reports Redis faults (health, log); this connection retries quietly, noting why it failed.
  let controlFault: string | undefined;
  control?.on('error', (error: Error) => (controlFault = describeRedisError(error)));
  let keys: KeyBook;
  try {
    keys = control ? await RedisKeyStore.open({ redis: control, prefix: config.redisPrefix, host: redisHost(config.redisUrl) }) : new KeyStore(config.dataDir, config.store === 'sqlite');
  } catch (error) {
    control?.disconnect();
    const host = redisHost(config.redisUrl);
    throw new ConfigError(`cannot start: Redis cannot be reached at ${host} (${controlFault ?? describeRedisError(error as Error)}) — start Redis (or check --redis ${host}) and start the hub again`);
  }
  let tokens: TokenVerifier;
  try {
    tokens = new TokenVerifier({
      secret: config.jwtSecret || undefined,
      publicKey: config.jwtPublicKey || undefined,
      jwksFile: config.jwksFile || undefined,
      audience: config.jwtAudience || undefined,
      issuer: config.jwtIssuer || undefined,
    });
  } catch (error) {
    await keys.close();
    control?.disconnect();
    throw error instanceof TokenError ? new ConfigError(error.message) : error;
  }
  const policy = new AccessPolicy(keys, tokens);
  if (!policy.required && !isLoopback(config.host) && !config.insecure) {
    await keys.close();
    control?.disconnect();
    throw new ConfigError(
      `refusing to listen on ${config.host} with no API keys or JWT configured: anyone who can reach it could read, publish and delete. ` +
        'Create a key (herald keys create --name admin --allow admin), set --jwt-secret, or pass --insecure if that is really what you want.',
    );
  }
  let store: EventStore;
  try {
    store = overrides.store ?? createStore(config);
  } catch (error) {
    await keys.close(); // another hub holds the folder: leave nothing open behind
    control?.disconnect();
    throw error;
  }
  // Hubs that share a Redis history share its live deliveries too.
  const broker = overrides.broker ?? (config.store === 'redis' ? new RedisBroker({ url: config.redisUrl, prefix: config.redisPrefix }) : new MemoryBroker());
  // The log exists once Fastify does (below); a broker cannot fail before the hub takes publishes.
  const hub = new Hub(store, broker, policy, config.maxRecoveryEvents, undefined, (err) => app.log.error({ err }, 'the broker failed to carry stored events to subscribers'));
  // Known before the port is bound: presence entries name the hub they are on, and other hubs address it
  // by it (direct messages, requests); the node registry, made after listen, takes the same id.
  const nodeId = newNodeId();
  // Hubs on one Redis answer presence the same: a directory there, fed by each hub's registry.
  const presence = hub.sharePresence((registry) =>
    config.store === 'redis'
      ? new RedisPresenceDirectory({ url: config.redisUrl, prefix: config.redisPrefix, nodeId, registry, broker, onError: (err, what) => app.log.warn({ err }, `presence: ${what} failed`) })
      : new LocalPresenceDirectory(registry),
  );
  // With an engine given in overrides (tests), attachments are kept in memory.
  const attachments = createAttachmentStore(overrides.store ? { ...config, store: 'memory' } : config);
  hub.keepAttachments(attachments);
  hub.direct.configure({ queueMs: config.directQueueMs, queueCount: config.directQueueCount, queueBytes: config.directQueueBytes, maxAway: MAX_AWAY_CLIENTS });
  // Hubs on one Redis reach each other's clients (direct messages, requests).
  const links = await linkHubs(hub, control, config, nodeId, (err, what) => app.log.warn({ err }, `cluster: ${what} failed`));
  // Quotas at the doors (docs/operations.md#quotas): events per second, connections per address, and
  // channel and run creation (a hub feature: it needs the principal and hears about resets).
  const limiter = new PublishLimiter(config);
  const connectionsPerIp = new ConnectionCounter(config.maxConnectionsPerIp);
  const channelQuota = new ChannelQuota(config, store);
  // Reading the history at start can fail (Redis down): nothing opened so far may stay open behind.
  const refuseStart = async (error: unknown): Promise<never> => {
    await links.close();
    await keys.close();
    control?.disconnect();
    await store.close().catch(() => {});
    await attachments.close();
    await presence.close();
    await broker.close().catch(() => {});
    if (error instanceof HeraldError && error.code === 'storage_unavailable' && config.store === 'redis') {
      throw new ConfigError(`cannot start: ${error.message.split(';')[0]} — start Redis (or check --redis ${redisHost(config.redisUrl)}) and start the hub again`);
    }
    throw error;
  };
  if (channelQuota.enabled) {
    await channelQuota.refresh().catch(refuseStart);
    hub.use(channelQuota);
  }
  // Hubs on one Redis share sign-ins and stream tickets: a dashboard sent to another hub stays signed in.
  const sharedPasses = control ? { keys, store: redisPasses(control, `${config.redisPrefix}:pass:`) } : undefined;
  const gate = new Gatekeeper(
    policy,
    new OriginRules({ host: config.host, publicUrl: config.publicUrl, corsOrigins: listSetting(config.corsOrigin), allowedHosts: listSetting(config.allowedHosts) }),
    new PassBook(config.sessionTtlMs, MAX_PASSES, 'session', sharedPasses),
    new PassBook(TICKET_TTL_MS, MAX_PASSES, 'ticket', sharedPasses),
  );
  keys.watch(KEY_WATCH_INTERVAL_MS, (revoked) => policy.keysRevoked(revoked));
  let shuttingDown = false;
  const isShuttingDown = () => shuttingDown;

  const app = Fastify({
    logger: {
      level: config.logLevel,
      // Credentials travel in headers, cookies and (SSE tickets) the query: none of them reaches a log line.
      serializers: { req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url.split('?')[0] }) },
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
      ...(overrides.logStream ? { stream: overrides.logStream } : {}),
    },
    bodyLimit: config.maxBodyBytes,
    // A log line per publish would cost more than the publish; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Channel names may be 160 characters, more once URL-encoded.
    routerOptions: { maxParamLength: 512 },
    // Idle keep-alive sockets are closed at shutdown; requests in flight finish and get their answer.
    forceCloseConnections: 'idle',
    // A URL with broken escapes (`/api/channels/%/events`) gets the documented error body too.
    frameworkErrors: (error, _request, reply) => {
      const code: ErrorCode = error.code === 'FST_ERR_BAD_URL' || (error.statusCode ?? 500) < 500 ? 'bad_request' : 'internal';
      const message = code === 'bad_request' ? `malformed request: ${error.message}` : 'the hub failed to handle the request';
      (reply as unknown as { code(n: number): { send(body: unknown): void } }).code(ErrorCodes[code].status).send({ error: { code, message } });
    },
    // Slowloris: a request must finish its headers within headersTimeout and its body within
    // requestTimeout (silent sockets and slow upgrades included); Node checks every second.
    requestTimeout: config.requestTimeoutMs,
    http: { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: 1000 },
    // A socket that sends nothing at all is closed after the header timeout too (Node's header check
    // alone missed silent sockets among many slow ones). SSE streams and WebSockets lift this.
    connectionTimeout: config.headersTimeoutMs,
  });
  const log = app.log;
  const quietSockets = new QuietSockets(app.server);
  // One log line per storage episode (disk full, I/O errors), not one per refused publish.
  store.onHealthChange?.((health) => {
    if (health.status === 'ok') log.info('storage recovered: publishing works again');
    else log.error({ reason: health.reason }, 'storage unavailable: publishes are refused with storage_unavailable until it recovers');
  });
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });

  let websockets: WebSocketEndpoint;
  let sse: SseEndpoint;
  let polls: PollEndpoint;
  const stats = new HubStats(
    hub,
    () => connectionCounts(),
    () => hub.channelCount(SYSTEM),
    (listener) =>
      store.onTiming?.((timing) => {
        // A failed checkpoint leaves the write-ahead log growing until one succeeds: the operator is told why.
        if (timing.kind === 'checkpoint-failed') log.warn({ err: timing.message }, 'store checkpoint failed; it is tried again');
        listener(timing);
      }),
  );
  function connectionCounts() {
    return { websocket: websockets.connections.size, sse: sse.streams.size, poll: polls.size };
  }
  const onSlowConsumer = () => stats.slowConsumerCloses++;
  const onCommandError = (code: ErrorCode) => stats.countError(code);
  const onConflated = (dropped: number) => (stats.conflatedEvents += dropped);
  websockets = new WebSocketEndpoint({ hub, config, log, limiter, isShuttingDown, onSlowConsumer, onConflated, onCommandError, gate, connectionsPerIp });
  sse = new SseEndpoint({ hub, config, isShuttingDown, onSlowConsumer, connectionsPerIp, limiter });
  polls = new PollEndpoint({ hub, config, isShuttingDown, connectionsPerIp });
  const responderPolls = new ResponderPolls({ hub, connectionsPerIp, maxPendingRequests: config.maxPendingRequests });
  policy.onRevoked((matches) => {
    gate.sessions.revokeMatching(matches);
    gate.tickets.revokeMatching(matches);
    sse.endMatching(matches);
    polls.answerMatching(matches);
    responderPolls.endMatching(matches);
  });

  // Only JSON bodies: a `text/plain` or form POST is what a foreign page can send without a preflight,
  // so anything else is refused with 415 before it is read.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new HeraldError('bad_json', 'the body is not valid JSON'), undefined);
    }
  });
  app.setErrorHandler((error: FastifyError | HeraldError, request, reply) => {
    const { code, message } = toErrorBody(error, config);
    if (code === 'internal') request.log.error({ err: error }, 'request failed');
    stats.countError(code);
    if (error instanceof RateLimitedError) reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
    reply.code(ErrorCodes[code].status).send({ error: { code, message } });
  });
  // The schemas coerce "1e309" to Infinity and let it pass as an integer within its bounds: no route may
  // see a number that JSON (or SQLite) cannot carry.
  app.addHook('preHandler', async (request) => {
    const query = request.query as Record<string, unknown> | undefined;
    for (const [name, value] of Object.entries(query ?? {})) {
      if (typeof value === 'number' && !Number.isFinite(value)) throw new HeraldError('bad_request', `${name} must be a finite number`);
    }
  });
  app.setNotFoundHandler((request, reply) => {
    stats.countError('not_found');
    reply.code(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });

  // Runs keep their archive beside the event history (in memory too when the history is in memory).
  const runStore = new RunStore(config.store === 'sqlite' ? config.dataDir : undefined, config.sync);
  const runs = new RunTracker(hub, runStore, {
    stallAfterMs: config.stallAfterMs,
    retentionAgeMs: config.retentionAgeMs,
    weights: { stepPassed: config.healthStepPassed, stepFailed: config.healthStepFailed, error: config.healthError },
    log,
  });
  await runs.start().catch(async (error: unknown) => {
    runStore.close();
    return refuseStart(error);
  });

  registerAccessHooks(app, gate);
  registerAuthRoutes(app, { gate, secureCookies: config.publicUrl.startsWith('https:') });
  await registerDashboard(app, config.dashboardDir);
  registerChannelRoutes(app, { hub, config, limiter, isShuttingDown });
  registerPresenceRoutes(app, hub);
  registerDirectRoutes(app, { hub, config, limiter, isShuttingDown });
  const attachmentTypes = listSetting(config.attachmentTypes);
  registerAttachmentRoutes(app, { hub, config, limiter, isShuttingDown, allowedTypes: new Set(attachmentTypes.length > 0 ? attachmentTypes : DEFAULT_ATTACHMENT_TYPES) });
  registerRunRoutes(app, hub, runs, runStore);
  sse.register(app);
  polls.register(app);
  registerRequestRoutes(app, { hub, config, limiter, connectionsPerIp, responders: responderPolls, isShuttingDown });
  const ownFigures = () => {
    const counts = connectionCounts();
    return { connections: { total: counts.websocket + counts.sse + counts.poll, ...counts }, events: { in: hub.eventsIn, out: hub.eventsOut, ...stats.rates() } };
  };
  registerStatusRoutes(app, {
    hub,
    stats,
    nodes: () => nodes!.nodes(),
    heartbeatMs: config.heartbeatMs,
    isShuttingDown,
    connections: connectionCounts,
    runCounts: () => {
      runs.flush();
      return { queued: 0, running: 0, stalled: 0, succeeded: 0, failed: 0, cancelled: 0, ...runStore.countByStatus() };
    },
  });

  app.server.on('upgrade', (request, socket, head) => websockets.handleUpgrade(request, socket, head));

  const sweep = async () => {
    await store
      .sweep()
      // Channels whose every event aged out no longer count against the channel and run quotas.
      .then(() => (channelQuota.enabled ? channelQuota.refresh() : undefined))
      .catch((err: unknown) => log.error({ err }, 'retention sweep failed'));
    try {
      runs.sweep();
    } catch (err) {
      log.error({ err }, 'run archive sweep failed');
    }
    // After the events: those that just aged out no longer keep their attachments.
    await hub.sweepAttachments(SYSTEM, Date.now(), ATTACHMENT_SWEEP_LIMIT).catch((err: unknown) => log.error({ err }, 'attachment sweep failed'));
  };
  const sweeper = setInterval(() => void sweep(), SWEEP_INTERVAL_MS);
  sweeper.unref();

  // Known once the port is bound (below).
  let nodes: NodeRegistry | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      shuttingDown = true;
      clearInterval(sweeper);
      stats.stop();
      limiter.stop();
      websockets.stop();
      sse.stop();
      // New publishes are refused from here on; the ones already accepted are committed and answered
      // before any connection is closed, so no client loses the acknowledgement of a stored event.
      await hub.drain();
      // Before connections close: a waiting requester hears shutting_down, not that its responder left.
      hub.closeRequests();
      // Other hubs stop sending requests here now, not at their next refresh.
      await links.stopServing();
      websockets.closeAll(CloseCodes.restart.code, 'hub restarting');
      sse.closeAll();
      polls.answerAll();
      responderPolls.endMatching(() => true);
      // This hub's subscribers leave presence at once (with their leaves), not when its beats age out.
      await presence.close();
      runs.close();
      await links.close();
      await nodes?.close();
      await keys.close();
      control?.disconnect();
      // Publishes already accepted are committed and answered before the store closes.
      await store.close();
      await attachments.close();
      await broker.close();
      websockets.terminateAll();
      hub.direct.stop();
      quietSockets.closeQuiet();
      await app.close();
    })());

  try {
    // A hub that restarts sees every client reconnect at once: a deeper accept queue than Node's default
    // 511 keeps that storm from overflowing into SYN retries of 1, 3, 7… seconds (the OS may cap it).
    await app.listen({ port: config.port, host: config.host, backlog: 4096 });
  } catch (error) {
    // The port is taken (or similar): release the data folder, so that a retry in this process can start.
    await close();
    throw error;
  }
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  nodes = control ? new RedisNodes(control, config.redisPrefix, config.publicUrl || url, ownFigures, nodeId) : new LocalNodes(config.publicUrl || url, ownFigures, nodeId);

  return { config, url, port: address.port, hub, runs, app, keys, nodes, routes, sweep, close };
}

function toErrorBody(error: FastifyError | HeraldError, config: HeraldConfig): { code: ErrorCode; message: string } {
  if (error instanceof HeraldError) return { code: error.code, message: error.message };
  if (error.validation) return { code: 'bad_request', message: error.message };
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || error.statusCode === 415) {
    return { code: 'unsupported_media_type', message: 'send the body as Content-Type: application/json' };
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { code: 'too_large', message: `the body is larger than the cap of ${config.maxBodyBytes} bytes (maxBodyBytes)` };
  if (error.statusCode === 413) return { code: 'too_large', message: error.message };
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) return { code: 'bad_request', message: error.message };
  return { code: 'internal', message: 'the hub failed to handle the request; it may be retried' };
}

function redisPasses(redis: Redis, prefix: string): SharedPasses {
  return {
    put: async (key, value, ttlMs) => void (await redis.set(prefix + key, value, 'PX', ttlMs)),
    get: (key) => redis.get(prefix + key),
    delete: async (key) => void (await redis.del(prefix + key)),
  };
}


/** `host:port` of a Redis URL, without the credentials it may hold (for messages and banners). */
export function redisHost(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'the --redis URL';
  }
}
