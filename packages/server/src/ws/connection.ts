import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { checkChannel, CloseCodes, runIdOfChannel, type ClientCommand, type CommandId, type ErrorCode, type PresenceMessage } from '@herald/protocol';
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { Principal } from '../access/principal.js';
import type { HeraldConfig } from '../config.js';
import { requireClientId } from '../direct/client-id.js';
import { HeraldError } from '../errors.js';
import { prepareConfigured, requireChannel } from '../events-in.js';
import type { Delivery } from '../fanout/delivery.js';
import type { EphemeralDelivery } from '../fanout/ephemeral.js';
import { Subscription, type Subscriber } from '../fanout/subscription.js';
import type { WriteBatch } from '../fanout/write-batch.js';
import type { Hub } from '../hub.js';
import { parseSince, type Since } from '../recovery.js';
import { parsePresenceQuery } from '../presence/query.js';
import type { PresenceMember } from '../presence/registry.js';
import { ReplayLost } from '../fanout/replay-source.js';
import type { PublishLimiter } from '../quota/publish-limiter.js';
import { RateLimitedError } from '../quota/rate-limited.js';
import { conflationKey, LagQueue, type ConflationRule } from './lag-queue.js';
import { sendReplay, type ReplayEnd } from './replay.js';
import { sendSnapshotParts } from './snapshot-parts.js';
import { ConnectionRequests } from './requests.js';

/** Reused for every send: text frames, never compressed; no options object per send. */
const TEXT_FRAME = { binary: false, compress: false } as const;
/** Frames of one connection's backlog run per turn of the event loop (see runBacklog). */
const BACKLOG_FRAMES_PER_TURN = 16;
/** After closing a slow consumer, how long it may take to read its backlog and the close frame. */
const SLOW_CLOSE_GRACE_MS = 5000;
/**
 * After closing a connection for its rate (4029), how long it has to read the close frame. Its socket is
 * not read again: a flood queued behind the peer's close frame would cost the hub its parsing.
 */
const RATE_CLOSE_GRACE_MS = 1000;
/** The `expiring` notice comes this long before a token expires (or half its remaining life, if less). */
const EXPIRY_NOTICE_MS = 30_000;
/** The longest delay a Node timer honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ConnectionContext {
  hub: Hub;
  config: HeraldConfig;
  log: Logger;
  /** Events per second per connection and per address. */
  limiter: PublishLimiter;
  isShuttingDown(): boolean;
  onClosed(connection: Connection): void;
  onSlowConsumer(): void;
  /** When a subscriber lags and what it then gets the latest of (ws/lag-queue.ts), worked out once per hub. */
  conflation: ConflationRule;
  /** A lagging subscriber caught up: `dropped` events were conflated away on the way (counted in /metrics). */
  onConflated?(dropped: number): void;
  onCommandError(code: ErrorCode): void;
  /** The first-frame `auth` of a connection that brought no credentials on the upgrade succeeded. */
  onAuthenticated(connection: Connection): void;
}

type Command = Record<string, unknown>;

/** One WebSocket client: parses its commands, holds its subscriptions, writes its events. */
export class Connection implements Subscriber, PresenceMember {
  deliveryMark = 0;
  readonly transport = 'websocket';
  /** Last time the peer showed life (any frame or pong), for the heartbeat. */
  lastSeen = Date.now();
  readonly subscriptions = new Map<string, Subscription>();
  /** Who the connection acts as; replaced by `auth` and `refresh`. */
  principal: Principal;
  private closing = false;
  private authenticating = false;
  private pingPayload: Buffer | undefined;
  private expiryNotice: NodeJS.Timeout | undefined;
  private expiry: NodeJS.Timeout | undefined;
  /** Events per second this connection may publish, and how many refusals it is forgiven (see `admitRate`). */
  private readonly rate;
  private readonly patience;
  /** Publishes handed to the hub and not answered yet (see `publish`). */
  private inFlight = 0;
  /** Set when the connection is to be closed once its publishes in flight are answered; it runs no new command. */
  private ending: { code: number; reason: string } | undefined;
  /** Frames read while the connection had its most publishes in flight: run in order as they are answered. */
  private readonly backlog: Array<{ data: RawData; isBinary: boolean }> = [];
  private backlogScheduled = false;
  private corked = false;
  /** Live events waiting for a socket that is behind (see `lagsBehind`); undefined when it keeps up. */
  private lag: LagQueue | undefined;
  /** The fan-out batch this connection's socket is corked for (it uncorks them all at its end). */
  private heldFor: WriteBatch | undefined;
  /**
   * One handler per op: the compiler finds every place a new command must be handled. One table for
   * every connection (a table of closures per connection cost ~0.9 KB each).
   */
  private static readonly handlers: { [Op in ClientCommand['op']]: (c: Connection, id: CommandId | undefined, cmd: Command) => void } = {
    subscribe: (c, id, cmd) => c.subscribe(id, cmd),
    unsubscribe: (c, id, cmd) => c.unsubscribe(id, cmd),
    publish: (c, id, cmd) => c.publish(id, cmd),
    ping: (c, id) => c.send(id === undefined ? { op: 'pong' } : { op: 'pong', id }),
    auth: (c, id, cmd) => c.authenticate(id, cmd),
    refresh: (c, id, cmd) => c.refresh(id, cmd),
    presence: (c, id, cmd) => c.presence(id, cmd),
    send: (c, id, cmd) => c.sendDirect(id, cmd),
    serve: (c, id, cmd) => c.rpc().serve(id, cmd),
    unserve: (c, id, cmd) => c.rpc().unserve(id, cmd),
    request: (c, id, cmd) => c.rpc().request(id, cmd, c.ctx.isShuttingDown()),
    reply: (c, id, cmd) => c.rpc().reply(id, cmd),
  };
  /** Request/reply: the channels this connection serves and the requests it waits on; made at its first such command. */
  private requests: ConnectionRequests | undefined;

  constructor(
    readonly clientId: string,
    readonly ws: WebSocket,
    private readonly ctx: ConnectionContext,
    principal: Principal,
    /** The peer's address, which per-address quotas count against. */
    readonly address: string,
  ) {
    this.principal = principal;
    this.rate = ctx.limiter.connectionBucket();
    this.patience = ctx.limiter.patienceBucket();
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    // Only a pong that echoes our latest ping counts: a peer that never reads cannot know its payload,
    // so unsolicited pongs do not keep a client that reads nothing alive.
    ws.on('pong', (data) => {
      if (this.pingPayload && data.equals(this.pingPayload)) {
        this.lastSeen = Date.now();
        this.pingPayload = undefined;
      }
    });
    ws.on('close', () => this.release());
    // ws reports protocol violations (including frames over maxPayload, closed with 1009) here first.
    ws.on('error', (error) => ctx.log.debug({ clientId, err: error }, 'websocket error'));
  }

  private rpc(): ConnectionRequests {
    this.requests ??= new ConnectionRequests({ clientId: this.clientId, who: () => this.principal, send: (m) => this.send(m), failWith: (id, e) => this.failWith(id, e), admitRate: (id) => this.admitRate(id) }, this.ctx.hub, this.ctx.config);
    return this.requests;
  }

  get isOpen(): boolean {
    return !this.closing;
  }

  /**
   * Writes a ready-made frame straight to the socket. Safe because the hub never compresses
   * (permessage-deflate is off), so ws's sender writes synchronously and holds no queue that this
   * could overtake: replies sent with ws.send and events written here keep their order.
   */
  deliver(delivery: Delivery): void {
    // ws.send would check this itself; a direct write must not touch a socket that is closing.
    if (this.closing || this.ws.readyState !== this.ws.OPEN) return;
    if (this.lag !== undefined || this.lagsBehind()) return this.queueLagging(delivery);
    const frame = delivery.wsFrame();
    if (!this.hasRoomFor(frame.length)) return;
    // The first event of a batch corks the socket until the whole batch is written (fanout/write-batch.ts).
    const batch = delivery.batch;
    if (batch !== undefined && this.heldFor !== batch && batch.hold(this.socket())) this.heldFor = batch;
    this.writeFrame(frame);
  }

  private socket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  /** Past the conflation threshold (ws/lag-queue.ts): live events wait in order in `lag`, the latest per key. */
  private lagsBehind(): boolean {
    const { afterBytes } = this.ctx.conflation;
    return afterBytes > 0 && this.ws.bufferedAmount > afterBytes;
  }

  private queueLagging(delivery: Delivery): void {
    const key = conflationKey(delivery, this.ctx.conflation.types);
    const lag = (this.lag ??= new LagQueue());
    if (this.ws.bufferedAmount + lag.bytesWith(delivery, key) > this.ctx.config.maxOutboundBytes) return this.closeSlowConsumer();
    if (lag.isEmpty) this.socket().once('drain', this.drainLagging);
    lag.push(delivery, key);
  }

  /** The socket took what it held: the queued events follow, as far as the threshold, until none are left. */
  private readonly drainLagging = (): void => {
    const lag = this.lag;
    if (!lag || this.closing) return;
    const { afterBytes } = this.ctx.conflation;
    if (!lag.flush((frame) => this.writeFrame(frame), () => this.ws.bufferedAmount <= afterBytes)) {
      this.socket().once('drain', this.drainLagging);
      return;
    }
    this.ctx.onConflated?.(lag.dropped);
    this.lag = undefined;
  };

  /** The socket under ws, for frames built once for every subscriber (see `deliver`). */
  private writeFrame(frame: Buffer): void {
    this.socket().write(frame);
  }

  /**
   * An ephemeral event, written like a stored one (see `deliver`). One that does not fit under the
   * outbound cap is dropped rather than a reason to close: it is worthless late, and nothing is lost
   * that a resume could give back.
   */
  deliverEphemeral(delivery: EphemeralDelivery): void {
    // Behind (events queued for the socket): an ephemeral would overtake them, and is worthless late.
    if (this.closing || this.ws.readyState !== this.ws.OPEN || this.lag !== undefined) return;
    const frame = delivery.wsFrame();
    if (this.ws.bufferedAmount + frame.length <= this.ctx.config.maxOutboundBytes) this.writeFrame(frame);
  }

  send(message: object): void {
    this.sendBytes(Buffer.from(JSON.stringify(message)));
  }

  /** A join or leave of a channel this connection subscribed to with `presence: true`. */
  sendPresence(_op: 'join' | 'leave', json: string): void {
    this.sendBytes(Buffer.from(json));
  }

  /** Closes with a code from the shared table; events stop at once. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.release();
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.release();
    this.ws.terminate();
  }

  /**
   * Replies written in one turn go out in one write: the answers of a group commit (up to the in-flight
   * cap per connection) cost one system call instead of one each. Frames keep their order (everything
   * after the cork, events included, waits for the same uncork).
   */
  private corkForThisTurn(): void {
    if (this.corked) return;
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (!socket) return;
    this.corked = true;
    socket.cork();
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  private sendBytes(bytes: Buffer): void {
    if (this.closing || !this.hasRoomFor(bytes.length)) return;
    this.corkForThisTurn();
    this.ws.send(bytes, TEXT_FRAME);
  }

  /** Whether `length` more bytes fit under the outbound cap; closes the connection as slow when not. */
  private hasRoomFor(length: number): boolean {
    if (this.ws.bufferedAmount + (this.lag?.bytes ?? 0) + length <= this.ctx.config.maxOutboundBytes) return true;
    this.closeSlowConsumer();
    return false;
  }

  /**
   * The client stopped reading. It is closed rather than buffered without bound; it keeps its offsets
   * and resumes after reconnecting, so nothing is lost, and nobody else waits for it.
   */
  closeSlowConsumer(): void {
    this.ctx.onSlowConsumer();
    this.ctx.log.warn({ clientId: this.clientId, buffered: this.ws.bufferedAmount }, 'closing slow consumer');
    this.close(CloseCodes.slowConsumer.code, 'slow consumer: outbound buffer full');
    setTimeout(() => this.ws.terminate(), SLOW_CLOSE_GRACE_MS).unref();
  }

  /** Heartbeat ping with a fresh payload the pong must echo. */
  ping(): void {
    this.pingPayload = randomBytes(8);
    this.ws.ping(this.pingPayload);
  }

  /** Whether the connection may send commands (its credentials are known). */
  get authenticated(): boolean {
    return this.principal.kind !== 'anonymous';
  }

  /**
   * Warns the client before its token expires and closes it when it does (4004, reconnect: the
   * client gets a new token and resumes). A `refresh` in between moves both timers.
   */
  scheduleExpiry(): void {
    clearTimeout(this.expiryNotice);
    clearTimeout(this.expiry);
    const expiresAt = this.principal.expiresAt;
    if (expiresAt === undefined || this.closing) return;
    const remaining = expiresAt - Date.now();
    // Node runs a timer of more than 2^31-1 ms (24.8 days) after 1 ms: a month-long token would be
    // "expired" at once. Far-off expiries are looked at again later instead.
    if (remaining > MAX_TIMER_MS) {
      this.expiry = setTimeout(() => this.scheduleExpiry(), MAX_TIMER_MS);
      this.expiry.unref();
      return;
    }
    const notice = Math.max(0, remaining - Math.min(EXPIRY_NOTICE_MS, remaining / 2));
    this.expiryNotice = setTimeout(() => this.send({ op: 'expiring', expiresAt }), notice);
    this.expiry = setTimeout(() => this.close(CloseCodes.authExpired.code, 'token expired'), Math.max(0, remaining));
    this.expiryNotice.unref();
    this.expiry.unref();
  }

  /** Drops subscriptions and leaves the registry; runs once, whoever closes first. */
  private release(): void {
    if (this.closing) return;
    this.closing = true;
    // A socket paused for its publishes in flight must be read again, or the close handshake never
    // completes; one closed for its rate is not (it is cut after a grace instead).
    this.backlog.length = 0;
    if (this.ws.isPaused && !this.ending) this.ws.resume();
    clearTimeout(this.expiryNotice);
    clearTimeout(this.expiry);
    for (const sub of this.subscriptions.values()) this.ctx.hub.unsubscribe(sub);
    this.subscriptions.clear();
    this.requests?.release();
    this.ctx.onClosed(this);
  }

  /**
   * Fairness between connections: while one has `maxInFlightPublishes` publishes being stored, its
   * further frames wait here (and its socket is not read, so TCP pushes back on the sender) instead of
   * queueing work ahead of other connections' publishes. They run, in order, as its publishes are answered.
   */
  private onMessage(data: RawData, isBinary: boolean): void {
    this.lastSeen = Date.now();
    if (this.closing || this.ending) return;
    if (this.backlog.length > 0 || this.atInFlightCap()) {
      this.backlog.push({ data, isBinary });
      if (!this.ws.isPaused) this.ws.pause();
      return;
    }
    this.onFrame(data, isBinary);
  }

  private atInFlightCap(): boolean {
    const cap = this.ctx.config.maxInFlightPublishes;
    return cap > 0 && this.inFlight >= cap;
  }

  /**
   * Runs waiting frames while there is room, a few per turn of the event loop (other connections' frames
   * are read in between, so one busy client's backlog never runs ahead of everyone), then reads the
   * socket again.
   */
  private runBacklog(): void {
    this.backlogScheduled = false;
    for (let ran = 0; this.backlog.length > 0 && !this.atInFlightCap() && !this.closing && !this.ending; ran++) {
      if (ran === BACKLOG_FRAMES_PER_TURN) return this.scheduleBacklog();
      const { data, isBinary } = this.backlog.shift()!;
      this.onFrame(data, isBinary);
    }
    if (this.backlog.length === 0 && !this.atInFlightCap() && this.ws.isPaused && !this.closing && !this.ending) this.ws.resume();
  }

  private scheduleBacklog(): void {
    if (this.backlogScheduled) return;
    this.backlogScheduled = true;
    setImmediate(() => this.runBacklog());
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.closing || this.ending) return;
    if (isBinary) {
      this.fail(undefined, 'bad_request', 'binary frames are not supported: send JSON as text frames');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString());
    } catch {
      this.fail(undefined, 'bad_json', 'the frame is not valid JSON');
      return;
    }
    for (const command of Array.isArray(parsed) ? parsed : [parsed]) {
      if (this.closing || this.ending) return; // being closed (rate limit): the rest of the frame is not run
      this.handle(command);
    }
  }

  private handle(command: unknown): void {
    if (typeof command !== 'object' || command === null || Array.isArray(command)) {
      this.fail(undefined, 'bad_request', 'a command must be a JSON object with an "op"');
      return;
    }
    const cmd = command as Record<string, unknown>;
    const id = cmd.id;
    // 1e309 parses as Infinity, which a reply would carry back as null: no client could match it.
    if (id !== undefined && !(typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)))) {
      this.fail(undefined, 'bad_request', 'id must be a number or a string');
      return;
    }
    if (!this.authenticated && cmd.op !== 'auth') {
      this.close(CloseCodes.unauthorized.code, 'credentials required: send {"op":"auth","token":…} first');
      return;
    }
    try {
      if (cmd.op === undefined) throw new HeraldError('bad_request', 'op is required');
      const handler = typeof cmd.op === 'string' && Object.hasOwn(Connection.handlers, cmd.op) ? Connection.handlers[cmd.op as ClientCommand['op']] : undefined;
      // The op is the client's: never String() it (an object with a hostile toString, or 5 000 nested arrays).
      const shown = typeof cmd.op === 'string' ? `"${cmd.op.slice(0, 64)}"` : `of type ${Array.isArray(cmd.op) ? 'array' : typeof cmd.op}`;
      if (!handler) throw new HeraldError('unknown_op', `unknown op ${shown} (known: ${Object.keys(Connection.handlers).join(', ')})`);
      handler(this, id, cmd);
    } catch (error) {
      this.failWith(id, error);
    }
  }

  /** The first frame of a connection that brought no credentials on the upgrade. */
  private authenticate(_id: CommandId | undefined, cmd: Command): void {
    // An open hub (or one that already knows who this is) has nothing to check.
    if (this.authenticated || this.authenticating) {
      if (this.ctx.hub.access.required) throw new HeraldError('bad_request', 'already authenticated: use {"op":"refresh","token":…} to replace the token');
      return;
    }
    if (typeof cmd.token !== 'string' || cmd.token === '') {
      this.close(CloseCodes.unauthorized.code, 'auth needs a token (an API key or a JWT)');
      return;
    }
    this.authenticating = true;
    this.ctx.hub.access.authenticate(cmd.token).then(
      (who) => {
        if (this.closing) return;
        this.principal = who;
        // The answer is `hello` (replacing a connection of the same credentials that held the client id).
        this.ctx.onAuthenticated(this);
      },
      (error: unknown) => {
        // A close reason is at most 123 bytes; the sentence says why without echoing the credential.
        const reason = error instanceof HeraldError ? error.message.slice(0, 120) : 'credentials refused';
        if (!(error instanceof HeraldError)) this.ctx.log.error({ clientId: this.clientId, err: error }, 'authentication failed');
        this.close(CloseCodes.unauthorized.code, reason);
      },
    );
  }

  /** A new token for the same subject; it must still allow every subscription the connection holds. */
  private refresh(id: CommandId | undefined, cmd: Command): void {
    if (typeof cmd.token !== 'string' || cmd.token === '') throw new HeraldError('bad_request', 'refresh needs a token');
    this.ctx.hub.access.authenticate(cmd.token).then(
      (who) => {
        if (this.closing) return;
        if (who.kind !== this.principal.kind || who.name !== this.principal.name) {
          throw new HeraldError('forbidden', `refresh must be for the same subject ("${this.principal.name}")`);
        }
        for (const channel of this.subscriptions.keys()) {
          if (!this.ctx.hub.access.permits(who, { kind: 'subscribe', channel })) {
            throw new HeraldError('forbidden', `the new token does not allow the open subscription "${channel}": unsubscribe first`);
          }
        }
        this.principal = who;
        this.scheduleExpiry();
        this.send({ op: 'refreshed', ...(id === undefined ? {} : { id }), ...(who.expiresAt === undefined ? {} : { expiresAt: who.expiresAt }) });
      },
    ).catch((error: unknown) => this.failWith(id, error));
  }

  private subscribe(id: CommandId | undefined, cmd: Command): void {
    const channel = cmd.channel;
    const check = checkChannel(channel, true);
    if (!check.ok) throw new HeraldError('invalid_channel', check.reason);
    const name = channel as string;
    if (this.subscriptions.has(name)) throw new HeraldError('already_subscribed', `already subscribed to "${name}"`);
    if (this.subscriptions.size >= this.ctx.config.maxSubscriptions) {
      throw new HeraldError('too_many_subscriptions', `a connection may hold at most ${this.ctx.config.maxSubscriptions} subscriptions`);
    }
    const since = cmd.snapshot === true ? this.snapshotSince(name, cmd) : parseSince(cmd.since, check.isPattern);
    if (typeof since === 'string') throw new HeraldError('bad_request', since);
    if (cmd.presence !== undefined && typeof cmd.presence !== 'boolean') throw new HeraldError('bad_request', 'presence must be true or false');
    if (cmd.presence === true && check.isPattern) throw new HeraldError('bad_request', 'presence:true works on exact channels only: pattern subscribers are not listed');
    // A join and a leave are announced to each watcher of the channel: charged like two events published.
    if (!check.isPattern && this.ctx.hub.presenceWatched(name)) this.ctx.limiter.admit(this.rate, this.address, 2);

    const subscription = new Subscription(this, name, check.isPattern);
    this.subscriptions.set(name, subscription);
    this.ctx.hub.subscribe(this.principal, subscription, since).then(
      async (outcome) => {
        if (subscription.cancelled) {
          if (this.isOpen) this.fail(id, 'not_subscribed', `unsubscribed from "${name}" before the subscription started`);
          return;
        }
        const reply: Record<string, unknown> = { op: 'subscribed', channel: name };
        if (id !== undefined) reply.id = id;
        if (outcome.epoch !== undefined) reply.epoch = outcome.epoch;
        if (outcome.offset !== undefined) reply.offset = outcome.offset;
        if (outcome.snapshot !== undefined) reply.snapshot = outcome.snapshot;
        if (outcome.recovered !== undefined) reply.recovered = outcome.recovered;
        // A resume, or a start from the newest events (`since.last`): how many events follow the reply.
        if (outcome.recovered !== undefined || outcome.replay.count > 0) reply.replayed = outcome.replay.count;
        this.send(reply);
        if (cmd.presence === true) this.ctx.hub.watchPresence(subscription);
        let end: ReplayEnd;
        if (outcome.snapshotParts) {
          // Stops at an unsubscribe too: no part of it may follow the reply of a new subscription to the channel.
          end = await sendSnapshotParts(this.ws, outcome.snapshotParts, this.ctx.config.maxOutboundBytes, 2 * this.ctx.config.heartbeatMs, () => this.closing || subscription.cancelled);
          if (end === 'stalled') return this.closeSlowConsumer();
          if (end === 'closed') return;
        }
        try {
          // Stops at an unsubscribe too: after the `unsubscribed` reply nothing of this replay may follow.
          end = await sendReplay(this.ws, outcome.replay, this.ctx.config.maxOutboundBytes, 2 * this.ctx.config.heartbeatMs, () => this.closing || subscription.cancelled);
        } catch (error) {
          // The reply is out, so the replay cannot be refused any more: the connection is closed and the
          // client resumes from its last offset (hearing recovered:false then, not a hole now).
          if (error instanceof ReplayLost) {
            this.ctx.log.warn({ clientId: this.clientId, channel: name }, error.message);
            this.close(CloseCodes.slowConsumer.code, 'history moved on during the replay: resume again');
          } else {
            this.ctx.log.error({ clientId: this.clientId, channel: name, err: error }, 'replay failed');
            this.close(CloseCodes.internal.code, 'the replay failed: resume again');
          }
          return;
        }
        if (end === 'stalled') return this.closeSlowConsumer();
        subscription.goLive(outcome.coveredUpTo);
      },
      (error: unknown) => {
        this.subscriptions.delete(name);
        this.failWith(id, error);
      },
    );
  }

  /** `snapshot: true` starts a run subscription from the run's snapshot instead of from history. */
  private snapshotSince(channel: string, cmd: Command): Since {
    if (runIdOfChannel(channel) === undefined) throw new HeraldError('bad_request', 'snapshot:true works on run channels (runs.<runId>) only');
    if (cmd.since !== undefined) throw new HeraldError('bad_request', 'give either since or snapshot:true, not both');
    return { kind: 'snapshot' };
  }

  private presence(id: CommandId | undefined, cmd: Command): void {
    const query = parsePresenceQuery(cmd.channel, cmd.limit, cmd.after);
    this.ctx.hub.presence(this.principal, query).then(
      (page) => {
        if (!this.isOpen) return;
        const reply: PresenceMessage = { op: 'presence', ...(id === undefined ? {} : { id }), channel: query.channel, count: page.count, clients: page.clients };
        if (page.next !== undefined) reply.next = page.next;
        this.send(reply);
      },
      (error: unknown) => this.failWith(id, error),
    );
  }

  private unsubscribe(id: CommandId | undefined, cmd: Command): void {
    const channel = cmd.channel;
    if (typeof channel !== 'string') throw new HeraldError('bad_request', 'channel is required');
    const subscription = this.subscriptions.get(channel);
    if (!subscription) throw new HeraldError('not_subscribed', `not subscribed to "${channel}"`);
    this.ctx.hub.unsubscribe(subscription);
    this.subscriptions.delete(channel);
    this.send(id === undefined ? { op: 'unsubscribed', channel } : { op: 'unsubscribed', id, channel });
  }

  private publish(id: CommandId | undefined, cmd: Command): void {
    if (this.ctx.isShuttingDown()) throw new HeraldError('shutting_down', 'the hub is shutting down; publish again after it restarts');
    const channel = requireChannel(cmd.channel);
    if (cmd.event === undefined) throw new HeraldError('bad_request', 'event is required');
    if (cmd.ephemeral !== undefined && typeof cmd.ephemeral !== 'boolean') throw new HeraldError('bad_request', 'ephemeral must be true or false');
    if (!this.admitRate(id)) return;
    const inputs = prepareConfigured([cmd.event], this.ctx.config);
    // Counted for the in-flight cap (see onMessage).
    this.inFlight++;
    if (cmd.ephemeral === true) return this.publishEphemeral(id, channel, inputs);
    this.ctx.hub.publish(this.principal, channel, inputs).then(
      (result) => {
        const reply: Record<string, unknown> = { op: 'published', channel, offset: result.offsets[0], epoch: result.epoch };
        if (id !== undefined) reply.id = id;
        if (result.duplicates[0]) reply.duplicate = true;
        this.send(reply);
        this.publishSettled();
      },
      (error: unknown) => {
        this.failWith(id, error);
        this.publishSettled();
      },
    );
  }

  private publishEphemeral(id: CommandId | undefined, channel: string, inputs: ReturnType<typeof prepareConfigured>): void {
    this.ctx.hub.publishEphemeral(this.principal, channel, inputs).then(
      () => {
        this.send(id === undefined ? { op: 'published', channel, ephemeral: true } : { op: 'published', id, channel, ephemeral: true });
        this.publishSettled();
      },
      (error: unknown) => {
        this.failWith(id, error);
        this.publishSettled();
      },
    );
  }

  /** `send`: one event to one client id, counted by the publish rate limits; answered `sent`. */
  private sendDirect(id: CommandId | undefined, cmd: Command): void {
    if (this.ctx.isShuttingDown()) throw new HeraldError('shutting_down', 'the hub is shutting down; send again after it restarts');
    const to = requireClientId(cmd.to);
    if (cmd.event === undefined) throw new HeraldError('bad_request', 'event is required');
    if (!this.admitRate(id)) return;
    const [input] = prepareConfigured([cmd.event], this.ctx.config);
    // Across hubs the answer may take a round trip to the hub of the client id; refusals come as errors.
    this.ctx.hub.sendDirect(this.principal, to, input!, this.clientId).then(
      (status) => this.send(id === undefined ? { op: 'sent', to, status } : { op: 'sent', id, to, status }),
      (error: unknown) => this.failWith(id, error),
    );
  }

  private publishSettled(): void {
    this.inFlight--;
    if (this.ending) return this.endWhenAnswered();
    // Not now: the answers of one group commit settle together, and the frames they make room for wait
    // for the next turn, behind what other connections sent meanwhile.
    if (this.backlog.length > 0 || this.ws.isPaused) this.scheduleBacklog();
  }

  /**
   * Closes with `ending` once every publish in flight is answered, so that no stored event loses its
   * acknowledgement. The socket stays unread (see RATE_CLOSE_GRACE_MS) and is cut after the grace.
   */
  private endWhenAnswered(): void {
    if (this.inFlight > 0 || !this.ending) return;
    this.backlog.length = 0;
    if (!this.ws.isPaused) this.ws.pause();
    this.close(this.ending.code, this.ending.reason);
    setTimeout(() => this.ws.terminate(), RATE_CLOSE_GRACE_MS).unref();
  }

  /**
   * One event's worth of the connection's and the address's budgets, or a `rate_limited` answer (built
   * here, not thrown: under a flood a refusal must stay cheap). Every refusal spends some of the
   * connection's patience (see PublishLimiter.patienceBucket): a client that keeps publishing past its
   * limit instead of waiting is closed with 4029 and reconnects with backoff.
   */
  private admitRate(id: CommandId | undefined): boolean {
    const refused = this.ctx.limiter.refusal(this.rate, this.address, 1);
    if (!refused) return true;
    this.ctx.onCommandError('rate_limited');
    this.send(id === undefined ? { op: 'error', code: 'rate_limited', message: refused.message, retryAfterMs: refused.retryAfterMs } : { op: 'error', id, code: 'rate_limited', message: refused.message, retryAfterMs: refused.retryAfterMs });
    if (this.patience && !this.patience.take(1) && !this.ending) {
      this.ctx.log.warn({ clientId: this.clientId, address: this.address }, 'closing a connection that kept publishing past its rate limit');
      this.ending = { code: CloseCodes.rateLimited.code, reason: 'kept publishing past the rate limit: reconnect with backoff' };
      this.endWhenAnswered();
    }
    return false;
  }

  private failWith(id: CommandId | undefined, error: unknown): void {
    if (error instanceof RateLimitedError) {
      this.ctx.onCommandError(error.code);
      const reply: Record<string, unknown> = { op: 'error', code: error.code, message: error.message, retryAfterMs: error.retryAfterMs };
      if (id !== undefined) reply.id = id;
      this.send(reply);
      return;
    }
    if (error instanceof HeraldError) {
      this.fail(id, error.code, error.message);
      return;
    }
    this.ctx.log.error({ clientId: this.clientId, err: error }, 'command failed');
    this.fail(id, 'internal', 'the hub failed to carry out the command; it may be retried');
  }

  private fail(id: CommandId | undefined, code: ErrorCode, message: string): void {
    this.ctx.onCommandError(code);
    this.send(id === undefined ? { op: 'error', code, message } : { op: 'error', id, code, message });
  }
}
