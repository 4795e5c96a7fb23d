import { checkChannel, Defaults } from '@herald/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../access/principal.js';
import type { HeraldConfig } from '../config.js';
import { HeraldError } from '../errors.js';
import type { Delivery } from '../fanout/delivery.js';
import { ReplayLost } from '../fanout/replay-source.js';
import { Subscription, type Subscriber } from '../fanout/subscription.js';
import type { Hub, SubscribeOutcome } from '../hub.js';
import type { ConnectionCounter } from '../quota/connection-counter.js';
import { addressKey } from '../quota/rate-limited.js';
import { sinceParam } from './since-param.js';

export const POLL_ROUTE = '/api/channels/:channel/poll';

/**
 * One held long-poll: a subscriber that gathers what the hub sends it — the replay, then live events —
 * until the answer is full (events or bytes), something arrived, or the wait ran out. What it gathers
 * is always a prefix of what a WebSocket or SSE subscription would have been sent: past the bounds it
 * takes nothing more, and the next poll resumes from the last event it answered.
 */
class HeldPoll implements Subscriber {
  deliveryMark = 0;
  readonly events: string[] = [];
  last: Delivery | undefined;
  full = false;
  /** Once the replay is written: a live delivery then answers (after the rest of its fan-out batch). */
  live = false;
  private bytes = 0;
  private wake: (() => void) | undefined;
  /** `answerNow` came before the wait began (shutdown, the reader left): do not wait at all. */
  private answering = false;

  constructor(
    readonly principal: Principal,
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  deliver(delivery: Delivery): void {
    if (this.full) return;
    const envelope = delivery.envelope();
    // One event always fits, however large: a poll must make progress.
    if (this.events.length > 0 && this.bytes + envelope.length > this.maxBytes) {
      this.full = true;
    } else {
      this.events.push(envelope);
      this.bytes += envelope.length;
      this.last = delivery;
      if (this.events.length >= this.maxEvents) this.full = true;
    }
    // A publish of many events fans out in one go: answer after it, with all of them.
    if (this.live && this.wake) setImmediate(() => this.answerNow());
  }

  /** Resolves when an event arrives, `answerNow` is called, or `ms` pass. */
  waitFor(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.answering) return resolve();
      const timer = setTimeout(() => this.wake?.(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  answerNow(): void {
    this.answering = true;
    this.wake?.();
  }
}

export interface PollEndpointContext {
  hub: Hub;
  config: HeraldConfig;
  isShuttingDown(): boolean;
  /** Held polls count with the WebSocket and SSE connections of their address. */
  connectionsPerIp: ConnectionCounter;
}

const pollQuery = {
  type: 'object',
  properties: {
    since: { type: 'string', maxLength: 8192 },
    wait: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    limit: { type: 'integer', minimum: 1, maximum: Defaults.maxPollEvents },
    ticket: { type: 'string' },
  },
  additionalProperties: false,
} as const;

/**
 * `GET /api/channels/{channel}/poll`: the fallback where neither WebSockets nor SSE deliver (a proxy that
 * refuses upgrades and buffers streams). Each request is a subscription through the same door as SSE —
 * `Hub.subscribe` with the access policy, then the replay, then live events — held until something
 * arrives or `--poll-wait` passes, and answered with at most `limit` events and about
 * `--max-outbound-bytes`. The answer names the position to poll from next, so a client that polls in a
 * loop receives every event once, in order, with the same `recovered` answers as a resume.
 */
export class PollEndpoint {
  private readonly held = new Set<HeldPoll>();

  constructor(private readonly ctx: PollEndpointContext) {}

  register(app: FastifyInstance): void {
    app.get(POLL_ROUTE, { schema: { querystring: pollQuery } }, (request, reply) => this.poll(request, reply));
  }

  /** Answers every held poll now, with what it has (shutdown: the clients' next poll finds the hub gone). */
  answerAll(): void {
    for (const poll of this.held) poll.answerNow();
  }

  /** Answers the polls held for credentials that were revoked: their next poll is refused. */
  answerMatching(matches: (who: Principal) => boolean): void {
    for (const poll of this.held) if (matches(poll.principal)) poll.answerNow();
  }

  get size(): number {
    return this.held.size;
  }

  private async poll(request: FastifyRequest, reply: FastifyReply): Promise<string> {
    const { channel } = request.params as { channel: string };
    const check = checkChannel(channel, true);
    if (!check.ok) throw new HeraldError('invalid_channel', check.reason);
    if (this.ctx.isShuttingDown()) throw new HeraldError('shutting_down', 'the hub is shutting down');
    const query = request.query as { since?: string; wait?: number; limit?: number };
    const since = sinceParam(query.since, check.isPattern, true);
    const who = request.principal;
    // Asked before anything is held, so that a refusal is a plain 401/403 (Hub.subscribe asks again).
    this.ctx.hub.authorize(who, { kind: 'subscribe', channel });
    const address = addressKey(request.ip);
    const counter = this.ctx.connectionsPerIp;
    if (!counter.tryAcquire(address)) {
      throw new HeraldError('too_many_connections', `this address already holds ${counter.max} WebSocket, SSE and long-poll connections (--max-connections-per-ip): close some, or poll again later with backoff`);
    }
    const release = counter.releaser(address);
    const { config } = this.ctx;
    const poll = new HeldPoll(who, query.limit ?? Defaults.maxPollEvents, config.maxOutboundBytes);
    const subscription = new Subscription(poll, channel, check.isPattern);
    this.held.add(poll);
    // The reader went away: answer (into the void) and let go of the subscription at once.
    reply.raw.once('close', () => poll.answerNow());
    try {
      const outcome = await this.ctx.hub.subscribe(who, subscription, since);
      await this.gather(poll, subscription, outcome);
      // Waiting is for a poll that has nothing to say yet; a reset or a full answer goes out at once.
      if (poll.events.length === 0 && outcome.recovered !== false && !reply.raw.destroyed) {
        const wait = Math.min(query.wait ?? config.pollWaitMs, config.pollWaitMs);
        // Held no longer than the credentials live: the next poll is refused instead.
        const expiresIn = who.expiresAt === undefined ? wait : Math.max(0, who.expiresAt - Date.now());
        // The hub's idle timeout (--headers-timeout) is for requests that send nothing, not for this one.
        request.raw.socket.setTimeout(0);
        await poll.waitFor(Math.min(wait, expiresIn));
      }
      reply.type('application/json; charset=utf-8');
      return answer(channel, check.isPattern, subscription, outcome, poll);
    } finally {
      this.ctx.hub.unsubscribe(subscription);
      this.held.delete(poll);
      release();
    }
  }

  /** The replay into the poll, then the live events held meanwhile, within the poll's bounds. */
  private async gather(poll: HeldPoll, subscription: Subscription, outcome: SubscribeOutcome): Promise<void> {
    try {
      for (let page = await outcome.replay.next(); page && !poll.full; page = await outcome.replay.next()) {
        for (const delivery of page) {
          poll.deliver(delivery);
          if (poll.full) return;
        }
      }
    } catch (error) {
      // Retention dropped what was still to be read: answer what was read; the next poll is told recovered:false.
      if (error instanceof ReplayLost) return void (poll.full = true);
      throw error;
    }
    subscription.goLive(outcome.coveredUpTo);
    poll.live = true;
  }
}

/** The answer as JSON text: stored events are already JSON, so it is assembled, not re-serialised. */
function answer(channel: string, isPattern: boolean, subscription: Subscription, outcome: SubscribeOutcome, poll: HeldPoll): string {
  const head: Record<string, unknown> = { channel };
  if (isPattern) head.time = subscription.startedAt;
  else Object.assign(head, { epoch: outcome.epoch, offset: outcome.offset });
  if (outcome.recovered !== undefined) head.recovered = outcome.recovered;
  const last = poll.last;
  const next = isPattern ? '' : `,"next":"${last ? `${last.offset}@${last.epoch}` : `${outcome.offset}@${outcome.epoch}`}"`;
  return `${JSON.stringify(head).slice(0, -1)},"events":[${poll.events.join(',')}]${next}}`;
}
