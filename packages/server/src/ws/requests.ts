import { checkChannel, type CommandId, type IncomingRequestMessage, type SenderInfo } from '@herald/protocol';
import type { Principal } from '../access/principal.js';
import type { HeraldConfig } from '../config.js';
import { HeraldError } from '../errors.js';
import { requireChannel } from '../events-in.js';
import type { Hub } from '../hub.js';
import { RateLimitedError } from '../quota/rate-limited.js';
import { checkReply, checkRequest } from '../rpc/payload.js';
import type { Responder } from '../rpc/responders.js';

type Command = Record<string, unknown>;

/** What the request/reply commands need of their connection. */
export interface RequestsHost {
  readonly clientId: string;
  /** Who the connection acts as now (`auth` and `refresh` replace it). */
  who(): Principal;
  send(message: object): void;
  /** Answers a failed command with its error. */
  failWith(id: CommandId | undefined, error: unknown): void;
  /** One event's worth of the publish rate limits, or false (the refusal is already answered). */
  admitRate(id: CommandId | undefined): boolean;
}

/**
 * One WebSocket connection's side of request/reply (docs/protocol.md#requests): the channels it serves
 * (it is a `Responder` for them), and the requests it sent that wait for replies. Everything ends with
 * the connection (`release`): its registrations go, requests pending at it fail at once with
 * `no_responder`, and its own waiting requests are cancelled.
 */
export class ConnectionRequests implements Responder {
  pending = 0;
  readonly capacity: number;
  private readonly served = new Set<string>();
  /** This connection's requests waiting for replies, with their deadlines. */
  private readonly waiting = new Map<AbortController, number>();

  constructor(
    private readonly host: RequestsHost,
    private readonly hub: Hub,
    private readonly config: HeraldConfig,
  ) {
    this.capacity = config.maxPendingRequests;
  }

  get principal(): Principal {
    return this.host.who();
  }

  offer(request: IncomingRequestMessage): void {
    this.host.send(request);
  }

  /** `serve` again for a channel already served is answered `serving` too (a client resends it after reconnecting). */
  serve(id: CommandId | undefined, cmd: Command): void {
    const check = checkChannel(cmd.channel, true);
    if (!check.ok) throw new HeraldError('invalid_channel', check.reason);
    const channel = cmd.channel as string;
    if (!this.served.has(channel) && this.served.size >= this.config.maxSubscriptions) {
      throw new HeraldError('too_many_subscriptions', `a connection may serve at most ${this.config.maxSubscriptions} channels and patterns`);
    }
    this.hub.serve(this.host.who(), channel, this);
    this.served.add(channel);
    this.host.send(id === undefined ? { op: 'serving', channel } : { op: 'serving', id, channel });
  }

  /** Answered `unserved` whether or not the channel was served (nothing is left to undo either way). */
  unserve(id: CommandId | undefined, cmd: Command): void {
    if (typeof cmd.channel !== 'string') throw new HeraldError('bad_request', 'channel is required');
    const channel = cmd.channel;
    if (this.served.delete(channel)) this.hub.unserve(channel, this);
    this.host.send(id === undefined ? { op: 'unserved', channel } : { op: 'unserved', id, channel });
  }

  request(id: CommandId | undefined, cmd: Command, shuttingDown: boolean): void {
    if (shuttingDown) throw new HeraldError('shutting_down', 'the hub is shutting down; send the request again after it restarts');
    const channel = requireChannel(cmd.channel);
    const input = checkRequest(cmd, this.config);
    if (this.waiting.size >= this.config.maxPendingRequests) {
      const retryAfterMs = Math.max(1, Math.min(...this.waiting.values()) - Date.now());
      throw new RateLimitedError(`this connection has ${this.waiting.size} requests waiting for replies, the most it may (--max-pending-requests); retry in ${retryAfterMs} ms or when one is answered`, retryAfterMs);
    }
    if (!this.host.admitRate(id)) return;
    const from: SenderInfo = { clientId: this.host.clientId };
    if (this.hub.access.required) from.user = this.host.who().name;
    const cancel = new AbortController();
    // Throws (forbidden) before anything is held for the request.
    const replied = this.hub.request(this.host.who(), { channel, ...input, from, signal: cancel.signal });
    this.waiting.set(cancel, Date.now() + input.timeoutMs);
    replied
      .then(
        (data) => this.host.send({ op: 'reply', ...(id === undefined ? {} : { id }), channel, ...(data === undefined ? {} : { data }) }),
        (error: unknown) => this.host.failWith(id, error),
      )
      .finally(() => this.waiting.delete(cancel));
  }

  reply(id: CommandId | undefined, cmd: Command): void {
    if (typeof cmd.requestId !== 'string' || cmd.requestId === '') throw new HeraldError('bad_request', 'requestId is required (the requestId of the request being answered)');
    const answer = checkReply(cmd, this.config);
    this.hub.reply(cmd.requestId, (responder) => responder === this, answer);
    if (id !== undefined) this.host.send({ op: 'replied', id, requestId: cmd.requestId });
  }

  /** The connection closed. */
  release(): void {
    for (const channel of this.served) this.hub.unserve(channel, this);
    this.served.clear();
    this.hub.responderGone(this);
    for (const cancel of [...this.waiting.keys()]) cancel.abort();
    this.waiting.clear();
  }
}
