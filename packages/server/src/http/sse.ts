import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { once } from 'node:events';
import { checkChannel } from '@herald/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HeraldConfig } from '../config.js';
import { HeraldError } from '../errors.js';
import type { Delivery } from '../fanout/delivery.js';
import type { EphemeralDelivery } from '../fanout/ephemeral.js';
import { Subscription, type Subscriber } from '../fanout/subscription.js';
import type { Principal } from '../access/principal.js';
import { MAX_TIMER_MS } from '../ws/connection.js';
import type { Hub } from '../hub.js';
import type { ConnectionCounter } from '../quota/connection-counter.js';
import type { PublishLimiter } from '../quota/publish-limiter.js';
import type { PresenceMember } from '../presence/registry.js';
import { addressKey } from '../quota/rate-limited.js';
import type { Since } from '../recovery.js';
import { sinceParam } from './since-param.js';

/** Whether `res` drained (or closed) within `ms`. */
async function drained(res: ServerResponse, ms: number): Promise<boolean> {
  const stop = new AbortController();
  const wait = (event: string) => once(res, event, { signal: stop.signal }).then(() => true, () => false);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  const result = await Promise.race([wait('drain'), wait('close'), timeout]);
  stop.abort(); // removes the listener that did not fire
  clearTimeout(timer);
  return result;
}

/**
 * The `heartbeat` event: the first thing a stream sends, then once per interval. A real event (not a
 * comment) so that EventSource readers can see it and tell a live but quiet stream from a stalled one
 * (a proxy buffering the response): silent for two intervals means the stream does not deliver.
 */
export function heartbeatFrame(heartbeatMs: number): string {
  return `event: heartbeat\ndata: {"heartbeatMs":${heartbeatMs}}\n\n`;
}

/** One Server-Sent Events response, subscribed to one channel or pattern. */
class SseStream implements Subscriber, PresenceMember {
  deliveryMark = 0;
  readonly transport = 'sse';
  /** How presence lists the stream: a fresh id per stream, told in its `subscribed` event. */
  readonly clientId = randomUUID();
  closed = false;
  subscription: Subscription | undefined;
  private expiry: NodeJS.Timeout | undefined;

  constructor(
    readonly principal: Principal,
    readonly res: ServerResponse,
    /** Exact channels carry `id:` (`<offset>@<epoch>`) so that EventSource can resume; patterns cannot. */
    private readonly withIds: boolean,
    private readonly endpoint: SseEndpoint,
  ) {}

  deliver(delivery: Delivery): void {
    this.write(delivery.sseFrame(this.withIds));
  }

  /**
   * `event: ephemeral` with no `id:`: Last-Event-ID stays on the last stored event. Dropped when it does
   * not fit under the outbound cap (as on a WebSocket: worthless late, and not a reason to end the stream).
   */
  deliverEphemeral(delivery: EphemeralDelivery): void {
    const frame = delivery.sseFrame();
    if (this.res.writableLength + frame.length <= this.endpoint.config.maxOutboundBytes) this.write(frame);
  }

  /** `event: join` / `event: leave`, without an `id:` line: Last-Event-ID keeps naming the last event. */
  sendPresence(op: 'join' | 'leave', json: string): void {
    this.write(Buffer.from(`event: ${op}\ndata: ${json}\n\n`));
  }

  writeNamed(event: string, data: object): void {
    this.write(Buffer.from(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
  }

  write(bytes: Buffer | string): void {
    if (this.closed) return;
    if (this.res.writableLength + bytes.length > this.endpoint.config.maxOutboundBytes) {
      // A reader that fell behind is cut off; EventSource reconnects with Last-Event-ID and resumes.
      this.endpoint.onSlowConsumer();
      this.end();
      return;
    }
    this.res.write(bytes);
  }

  /** A stream opened with expiring credentials ends when they do; EventSource then comes back with new ones. */
  endAt(time: number | undefined): void {
    if (time === undefined) return;
    const remaining = time - Date.now();
    // Timers past 2^31-1 ms fire at once: look again later instead (see Connection.scheduleExpiry).
    this.expiry = remaining > MAX_TIMER_MS ? setTimeout(() => this.endAt(time), MAX_TIMER_MS) : setTimeout(() => this.end(), Math.max(0, remaining));
    this.expiry.unref();
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.expiry);
    this.endpoint.forget(this);
    this.res.end();
  }
}

export interface SseEndpointContext {
  hub: Hub;
  config: HeraldConfig;
  isShuttingDown(): boolean;
  onSlowConsumer(): void;
  /** WebSocket and SSE connections per address, shared with the WebSocket endpoint. */
  connectionsPerIp: ConnectionCounter;
  /** Event rates per address: a stream that announces itself to presence watchers is charged to it. */
  limiter: PublishLimiter;
}

/** `GET /api/channels/{channel}/stream`: the fallback where WebSockets are blocked. */
export class SseEndpoint {
  readonly streams = new Set<SseStream>();
  readonly config: HeraldConfig;
  private readonly keepAlive: NodeJS.Timeout;

  constructor(private readonly ctx: SseEndpointContext) {
    this.config = ctx.config;
    // Heartbeat events keep proxies from closing an idle stream and tell readers the stream is alive.
    const heartbeat = heartbeatFrame(ctx.config.heartbeatMs);
    this.keepAlive = setInterval(() => {
      for (const stream of this.streams) stream.write(heartbeat);
    }, ctx.config.heartbeatMs);
    this.keepAlive.unref();
  }

  onSlowConsumer(): void {
    this.ctx.onSlowConsumer();
  }

  /** Ends the streams opened with credentials that were revoked (a key, a signed-out session). */
  endMatching(matches: (who: Principal) => boolean): void {
    for (const stream of [...this.streams]) if (matches(stream.principal)) stream.end();
  }

  forget(stream: SseStream): void {
    this.streams.delete(stream);
    if (stream.subscription) this.ctx.hub.unsubscribe(stream.subscription);
  }

  closeAll(): void {
    for (const stream of [...this.streams]) stream.end();
  }

  stop(): void {
    clearInterval(this.keepAlive);
  }

  register(app: FastifyInstance): void {
    app.get('/api/channels/:channel/stream', (request, reply) => this.open(request, reply));
  }

  private open(request: FastifyRequest, reply: FastifyReply): void {
    const { channel } = request.params as { channel: string };
    const check = checkChannel(channel, true);
    if (!check.ok) throw new HeraldError('invalid_channel', check.reason);
    if (this.ctx.isShuttingDown()) throw new HeraldError('shutting_down', 'the hub is shutting down');
    const since = this.sinceOf(request, check.isPattern);
    const presence = presenceParam((request.query as { presence?: unknown }).presence, check.isPattern);
    const who = request.principal;
    // Asked before the 200 goes out, so that a refusal is a plain 401/403 (the hub asks again below).
    this.ctx.hub.authorize(who, { kind: 'subscribe', channel });
    // Its join and leave go to each presence watcher of the channel: charged like two events published.
    if (!check.isPattern && this.ctx.hub.presenceWatched(channel)) this.ctx.limiter.admit(undefined, addressKey(request.ip), 2);
    const address = addressKey(request.ip);
    const counter = this.ctx.connectionsPerIp;
    if (!counter.tryAcquire(address)) {
      throw new HeraldError('too_many_connections', `this address already holds ${counter.max} WebSocket and SSE connections (--max-connections-per-ip): close some, or reconnect later with backoff`);
    }
    reply.raw.once('close', counter.releaser(address));

    reply.hijack();
    const res = reply.raw;
    // A stream is quiet between events and keep-alives: the idle timeout is for requests, not for it.
    request.raw.socket.setTimeout(0);
    res.writeHead(200, {
      // Headers set by hooks (CORS) would be lost with the hijack otherwise.
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 1000\n\n${heartbeatFrame(this.config.heartbeatMs)}`);
    const stream = new SseStream(who, res, !check.isPattern, this);
    stream.endAt(who.expiresAt);
    const subscription = new Subscription(stream, channel, check.isPattern);
    stream.subscription = subscription;
    this.streams.add(stream);
    request.raw.on('close', () => stream.end());

    this.ctx.hub.subscribe(who, subscription, since).then(async (outcome) => {
      if (stream.closed) return;
      stream.writeNamed('subscribed', { channel, epoch: outcome.epoch, offset: outcome.offset, recovered: outcome.recovered, clientId: stream.clientId });
      if (presence) this.ctx.hub.watchPresence(subscription);
      if (outcome.recovered === false) stream.writeNamed('reset', { channel, epoch: outcome.epoch, offset: outcome.offset });
      // Pages are read as the response drains; a reader that takes nothing for two heartbeats is cut
      // (EventSource comes back with Last-Event-ID and resumes from where it got to).
      for (let page = await outcome.replay.next(); page; page = await outcome.replay.next()) {
        for (const delivery of page) {
          stream.deliver(delivery);
          if (res.writableLength > this.config.maxOutboundBytes / 2 && !(await drained(res, 2 * this.config.heartbeatMs))) {
            this.onSlowConsumer();
            stream.end();
          }
          if (stream.closed) return;
        }
      }
      subscription.goLive(outcome.coveredUpTo);
    }).catch(() => stream.end());
  }

  /** Resume point: EventSource's `Last-Event-ID` header, or `?since=` on a first connection. */
  private sinceOf(request: FastifyRequest, isPattern: boolean): Since | undefined {
    const header = request.headers['last-event-id'];
    const query = (request.query as { since?: string }).since;
    return sinceParam(typeof header === 'string' && header !== '' ? header : query, isPattern, false);
  }
}

/** `?presence=1` (or `true`): the stream also carries `join` and `leave` events; exact channels only. */
function presenceParam(value: unknown, isPattern: boolean): boolean {
  if (value === undefined || value === '0' || value === 'false') return false;
  if (value !== '1' && value !== 'true') throw new HeraldError('bad_request', 'presence must be 1 (or true) to receive join and leave events, or left out');
  if (isPattern) throw new HeraldError('bad_request', 'presence=1 works on exact channels only: pattern subscribers are not listed');
  return true;
}
