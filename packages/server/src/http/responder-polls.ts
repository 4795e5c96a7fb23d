import type { IncomingRequestMessage } from '@herald/protocol';
import type { Principal } from '../access/principal.js';
import { HeraldError } from '../errors.js';
import type { Hub } from '../hub.js';
import type { ConnectionCounter } from '../quota/connection-counter.js';
import type { Responder } from '../rpc/responders.js';

/**
 * How long an HTTP responder stays registered after its last poll was answered. A responder polls in a
 * loop; between two polls (its answer travelling, the requests being handled, the next poll being
 * sent) it must not look gone, or requests would be refused `no_responder` in the gaps. Requests that
 * arrive meanwhile are queued for its next poll.
 */
export const HTTP_RESPONDER_GRACE_MS = 5000;

/**
 * A backend answering requests over HTTP (`GET /api/channels/{channel}/requests`): one per credential,
 * channel and `responder` name, registered while a poll of it is held and for the grace after.
 */
export class HttpResponder implements Responder {
  pending = 0;
  /** Requests handed to it and not yet given to a poll. */
  readonly queue: IncomingRequestMessage[] = [];
  /** Polls held now, each waiting to be woken by a request. */
  readonly waiters: Array<() => void> = [];
  grace: NodeJS.Timeout | undefined;

  constructor(
    readonly key: string,
    readonly principal: Principal,
    readonly channel: string,
    readonly capacity: number,
    /** Gives back the connection slot the registration holds. */
    readonly releaseSlot: () => void,
  ) {}

  offer(request: IncomingRequestMessage): void {
    this.queue.push(request);
    this.waiters.shift()?.();
  }
}

export interface ResponderPollsContext {
  hub: Hub;
  connectionsPerIp: ConnectionCounter;
  maxPendingRequests: number;
}

/**
 * The HTTP responders of a hub: their registration (one connection slot of their address while
 * registered, one more per held poll), their queues, and the grace between polls.
 */
export class ResponderPolls {
  private readonly responders = new Map<string, HttpResponder>();

  constructor(private readonly ctx: ResponderPollsContext) {}

  get size(): number {
    return this.responders.size;
  }

  /**
   * One poll: registers (or keeps) the responder, then answers with the requests queued for it, at
   * most `limit`, as soon as there is one, or with none after `waitMs` or when `gone` fires.
   */
  async poll(who: Principal, channel: string, name: string, address: string, waitMs: number, limit: number, gone: AbortSignal): Promise<IncomingRequestMessage[]> {
    const counter = this.ctx.connectionsPerIp;
    const refuse = () => new HeraldError('too_many_connections', `this address already holds ${counter.max} WebSocket, SSE, long-poll and responder connections (--max-connections-per-ip): close some, or poll again later with backoff`);
    const key = `${who.kind}:${who.name}\u0000${channel}\u0000${name}`;
    let responder = this.responders.get(key);
    if (!responder) {
      if (!counter.tryAcquire(address)) throw refuse();
      const created = new HttpResponder(key, who, channel, this.ctx.maxPendingRequests, counter.releaser(address));
      try {
        this.ctx.hub.serve(who, channel, created);
      } catch (error) {
        created.releaseSlot();
        throw error;
      }
      this.responders.set(key, (responder = created));
    } else {
      // The same credentials on a later poll (a refreshed token): the registration acts as the newest.
      this.ctx.hub.authorize(who, { kind: 'serve', channel });
    }
    if (!counter.tryAcquire(address)) {
      this.startGrace(responder);
      throw refuse();
    }
    const releasePoll = counter.releaser(address);
    clearTimeout(responder.grace);
    responder.grace = undefined;
    try {
      if (responder.queue.length === 0 && waitMs > 0 && !gone.aborted) await this.wait(responder, waitMs, gone);
      // A poller that went away takes nothing: the requests stay queued for the next poll.
      return gone.aborted ? [] : responder.queue.splice(0, limit);
    } finally {
      releasePoll();
      if (responder.waiters.length === 0 && this.responders.get(key) === responder) this.startGrace(responder);
    }
  }

  /** Answers every held poll now (shutdown, revoked credentials) and ends the registrations. */
  endMatching(matches: (who: Principal) => boolean): void {
    for (const responder of [...this.responders.values()]) {
      if (!matches(responder.principal)) continue;
      for (const wake of responder.waiters.splice(0)) wake();
      this.drop(responder);
    }
  }

  private wait(responder: HttpResponder, ms: number, gone: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        gone.removeEventListener('abort', done);
        const i = responder.waiters.indexOf(done);
        if (i >= 0) responder.waiters.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, ms);
      gone.addEventListener('abort', done, { once: true });
      responder.waiters.push(done);
    });
  }

  private startGrace(responder: HttpResponder): void {
    clearTimeout(responder.grace);
    responder.grace = setTimeout(() => this.drop(responder), HTTP_RESPONDER_GRACE_MS);
    responder.grace.unref();
  }

  /**
   * No poll came within the grace: the registration ends, and requests still queued for it fail with
   * `no_responder` at once. Requests it was given stay answerable until their deadline.
   */
  private drop(responder: HttpResponder): void {
    clearTimeout(responder.grace);
    if (this.responders.get(responder.key) !== responder) return;
    this.responders.delete(responder.key);
    this.ctx.hub.unserve(responder.channel, responder);
    const queued = new Set(responder.queue.splice(0).map((r) => r.requestId));
    if (queued.size > 0) this.ctx.hub.responderGone(responder, (id) => queued.has(id));
    responder.releaseSlot();
  }
}
