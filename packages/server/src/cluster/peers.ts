import { randomBytes } from 'node:crypto';
import type { ErrorCode } from '@herald/protocol';
import { ErrorCodes } from '@herald/protocol';
import { Redis } from 'ioredis';
import { HeraldError } from '../errors.js';
import { describeRedisError } from '../store/redis-health.js';
import { subscriberRedisOptions } from '../store/redis-options.js';

/** What hubs say to each other: JSON with a `kind`; the rest belongs to the kind. */
export interface PeerMessage {
  kind: string;
  [field: string]: unknown;
}

/**
 * Answers one kind of message from another hub. What it returns (or throws, as a HeraldError) goes back
 * to an `ask`; for a plain `send` it is dropped.
 */
export type PeerHandler = (message: PeerMessage, from: string) => PeerMessage | void | Promise<PeerMessage | void>;

/** Asks waiting for their answers at once, over all peers: past it an ask is refused (storage_unavailable). */
export const MAX_PENDING_ASKS = 10_000;

/** How often a hub that waits for answers checks that the hubs it asked still listen. */
export const PEER_WATCH_MS = 1000;

/**
 * The hub an ask went to does not listen (PUBLISH reached nobody): it died or shut down. `reached`:
 * it had the message before it went (it may have acted on it), found by the watch of PEER_WATCH_MS.
 */
export class PeerGone extends Error {
  override name = 'PeerGone';
  constructor(
    readonly nodeId: string,
    readonly reached = false,
  ) {
    super(`hub ${nodeId} is gone`);
  }
}

/** The hub an ask went to listens but did not answer in time (stalled, or its answer was lost). */
export class PeerSilent extends Error {
  override name = 'PeerSilent';
  constructor(readonly nodeId: string) {
    super(`hub ${nodeId} did not answer in time`);
  }
}

/**
 * The seam through which hubs of one cluster talk: a message to one hub by its node id, to all of them,
 * and an ask that waits for the answer. One hub alone has no peers (`LocalPeers`).
 */
export interface PeerLink {
  readonly self: string;
  /** Whether other hubs may exist (false: every send reaches nobody). */
  readonly clustered: boolean;
  /** Resolves true when a hub listens at `nodeId`, false when none does; rejects storage_unavailable when Redis does not answer. */
  send(nodeId: string, message: PeerMessage): Promise<boolean>;
  /** To every hub but this one. */
  broadcast(message: PeerMessage): Promise<void>;
  /**
   * Sends and waits for the answer; rejects PeerGone, PeerSilent, the handler's HeraldError,
   * storage_unavailable, or (when `signal` fires) timeout, as a cancelled request does on one hub.
   */
  ask(nodeId: string, message: PeerMessage, timeoutMs: number, signal?: AbortSignal): Promise<PeerMessage>;
  /** The handler of one kind (one per kind). */
  handle(kind: string, handler: PeerHandler): void;
  close(): Promise<void>;
}

export class LocalPeers implements PeerLink {
  readonly clustered = false;
  constructor(readonly self: string) {}
  async send(_nodeId: string, _message: PeerMessage): Promise<boolean> {
    return false;
  }
  async broadcast(_message: PeerMessage): Promise<void> {}
  async ask(nodeId: string, _message: PeerMessage, _timeoutMs: number): Promise<PeerMessage> {
    throw new PeerGone(nodeId);
  }
  handle(_kind: string, _handler: PeerHandler): void {}
  async close(): Promise<void> {}
}

/** On the wire: who sent it, and for asks the correlation id (`ask`) or the id answered (`re`). */
interface Envelope {
  from: string;
  ask?: string;
  re?: string;
  error?: { code: ErrorCode; message: string };
  body: PeerMessage;
}

interface PendingAsk {
  readonly nodeId: string;
  readonly resolve: (message: PeerMessage) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: (() => void) | undefined;
}

export interface RedisPeersOptions {
  url: string;
  prefix: string;
  self: string;
  /** Publishes (the hub's control connection: a subscriber connection can do nothing else). */
  publisher: Redis;
  /** The largest message sent or read, in bytes of JSON; bigger ones are refused or dropped unread. */
  maxMessageBytes: number;
}

/**
 * Hubs on one Redis: each listens on `P:hub:<nodeId>` (and `P:hubs` for broadcasts) on a subscriber
 * connection of its own. PUBLISH answers how many listened, so a message to a hub that died is known
 * at once to have reached nobody. Nothing is resent: a message lost with a connection is lost, and an
 * ask that gets no answer fails with PeerSilent after its timeout (its caller decides what that means).
 */
export class RedisPeers implements PeerLink {
  readonly clustered = true;
  readonly self: string;
  private readonly subscriber: Redis;
  private readonly publisher: Redis;
  private readonly prefix: string;
  private readonly maxBytes: number;
  private readonly handlers = new Map<string, PeerHandler>();
  private readonly pending = new Map<string, PendingAsk>();
  /** Makes ask ids unique without a random draw per ask. */
  private readonly askPrefix = randomBytes(6).toString('base64url');
  private askSequence = 0;
  private closed = false;
  private readonly watch: NodeJS.Timeout;
  /** Resolves once Redis confirmed the subscriptions (the first time). */
  readonly ready: Promise<void>;

  constructor(options: RedisPeersOptions) {
    this.self = options.self;
    this.prefix = options.prefix;
    this.publisher = options.publisher;
    this.maxBytes = options.maxMessageBytes;
    // ioredis subscribes again after a reconnect; what was sent meanwhile is lost (as documented).
    this.subscriber = new Redis(options.url, { ...subscriberRedisOptions('herald-peers'), autoResubscribe: true });
    this.subscriber.on('error', () => {});
    this.subscriber.on('messageBuffer', (_channel: Buffer, payload: Buffer) => this.receive(payload));
    this.ready = this.subscriber.subscribe(this.channelOf(this.self), `${this.prefix}:hubs`).then(
      () => undefined,
      (error: unknown) => {
        throw new HeraldError('storage_unavailable', `cannot listen for other hubs: ${describeRedisError(error)}`);
      },
    );
    this.ready.catch(() => {});
    this.watch = setInterval(() => this.watchAsked(), PEER_WATCH_MS);
    this.watch.unref();
  }

  private channelOf(nodeId: string): string {
    return `${this.prefix}:hub:${nodeId}`;
  }

  handle(kind: string, handler: PeerHandler): void {
    this.handlers.set(kind, handler);
  }

  send(nodeId: string, message: PeerMessage): Promise<boolean> {
    return this.publish(this.channelOf(nodeId), { from: this.self, body: message });
  }

  async broadcast(message: PeerMessage): Promise<void> {
    await this.publish(`${this.prefix}:hubs`, { from: this.self, body: message });
  }

  ask(nodeId: string, message: PeerMessage, timeoutMs: number, signal?: AbortSignal): Promise<PeerMessage> {
    if (this.closed) return Promise.reject(new HeraldError('shutting_down', 'the hub is shutting down'));
    if (signal?.aborted) return Promise.reject(new HeraldError('timeout', 'the request was cancelled'));
    if (this.pending.size >= MAX_PENDING_ASKS) {
      return Promise.reject(new HeraldError('storage_unavailable', `this hub already waits for ${MAX_PENDING_ASKS} answers from other hubs; retry later`));
    }
    const id = `${this.askPrefix}.${(this.askSequence++).toString(36)}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new PeerSilent(nodeId));
      }, timeoutMs);
      timer.unref();
      const onAbort = signal ? () => this.settle(id)?.reject(new HeraldError('timeout', 'the request was cancelled')) : undefined;
      if (signal && onAbort) signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { nodeId, resolve, reject, timer, signal, onAbort });
      this.publish(this.channelOf(nodeId), { from: this.self, ask: id, body: message }).then(
        (heard) => {
          if (!heard) this.settle(id)?.reject(new PeerGone(nodeId));
        },
        (error: Error) => this.settle(id)?.reject(error),
      );
    });
  }

  /** Stops listening; asks still waiting fail with shutting_down. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(new HeraldError('shutting_down', 'the hub is shutting down'));
    clearInterval(this.watch);
    this.subscriber.disconnect();
  }

  /** Pending asks now (tests, stats). */
  get waiting(): number {
    return this.pending.size;
  }

  private settle(id: string): PendingAsk | undefined {
    const ask = this.pending.get(id);
    if (!ask) return undefined;
    this.pending.delete(id);
    clearTimeout(ask.timer);
    if (ask.signal && ask.onAbort) ask.signal.removeEventListener('abort', ask.onAbort);
    return ask;
  }

  /**
   * A hub that died holding asks would leave them waiting for their whole timeout: once per
   * PEER_WATCH_MS each hub with asks pending is sent a ping, and one that no longer listens fails them
   * with PeerGone (reached). One PUBLISH per such hub per interval, whatever the number of asks.
   */
  private watchAsked(): void {
    if (this.pending.size === 0 || this.closed) return;
    const asked = new Set<string>();
    for (const ask of this.pending.values()) asked.add(ask.nodeId);
    for (const nodeId of asked) {
      this.send(nodeId, { kind: 'ping' }).then(
        (heard) => {
          if (heard) return;
          for (const [id, ask] of [...this.pending]) if (ask.nodeId === nodeId) this.settle(id)?.reject(new PeerGone(nodeId, true));
        },
        () => {},
      );
    }
  }

  private async publish(channel: string, envelope: Envelope): Promise<boolean> {
    if (this.closed) return false;
    const text = JSON.stringify(envelope);
    // Bytes are at most 3 per UTF-16 unit: measure only when that bound passes the cap.
    if (text.length * 3 > this.maxBytes && Buffer.byteLength(text) > this.maxBytes) {
      throw new HeraldError('too_large', `a message to another hub would be ${Buffer.byteLength(text)} bytes; the cap is ${this.maxBytes}`);
    }
    try {
      return (await this.publisher.publish(channel, text)) > 0;
    } catch (error) {
      throw new HeraldError('storage_unavailable', `Redis did not carry a message to another hub: ${describeRedisError(error)}`);
    }
  }

  private receive(payload: Buffer): void {
    if (this.closed || payload.length > this.maxBytes) return;
    let envelope: Envelope;
    try {
      envelope = JSON.parse(payload.toString('utf8')) as Envelope;
    } catch {
      return;
    }
    if (typeof envelope?.from !== 'string' || envelope.from === this.self || typeof envelope.body?.kind !== 'string') return;
    if (typeof envelope.re === 'string') return this.answered(envelope);
    const handler = this.handlers.get(envelope.body.kind);
    if (envelope.body.kind === 'ping') return;
    if (!handler) {
      if (envelope.ask) void this.reply(envelope, undefined, new HeraldError('not_supported', `this hub does not handle "${envelope.body.kind.slice(0, 64)}"`));
      return;
    }
    let result: ReturnType<PeerHandler>;
    try {
      result = handler(envelope.body, envelope.from);
    } catch (error) {
      if (envelope.ask) void this.reply(envelope, undefined, error);
      return;
    }
    if (!envelope.ask) return;
    Promise.resolve(result).then(
      (answer) => this.reply(envelope, answer ?? { kind: 'ok' }, undefined),
      (error: unknown) => this.reply(envelope, undefined, error),
    );
  }

  private answered(envelope: Envelope): void {
    const ask = this.settle(envelope.re!);
    if (!ask) return;
    if (envelope.error && envelope.error.code in ErrorCodes) ask.reject(new HeraldError(envelope.error.code, String(envelope.error.message)));
    else ask.resolve(envelope.body);
  }

  /** The answer to an ask; one that cannot be sent is lost (the asker hears PeerSilent). */
  private async reply(to: Envelope, answer: PeerMessage | undefined, error: unknown): Promise<void> {
    const failure = error instanceof HeraldError ? { code: error.code, message: error.message } : error === undefined ? undefined : { code: 'internal' as const, message: 'another hub failed to handle the message' };
    const envelope: Envelope = { from: this.self, re: to.ask!, body: answer ?? { kind: 'error' } };
    if (failure) envelope.error = failure;
    await this.publish(this.channelOf(to.from), envelope).catch(async (e: unknown) => {
      // An answer over the cap (a big reply) is answered with the refusal instead, so the asker is not left waiting.
      if (e instanceof HeraldError && e.code === 'too_large') await this.publish(this.channelOf(to.from), { from: this.self, re: to.ask!, body: { kind: 'error' }, error: { code: 'too_large', message: e.message } }).catch(() => {});
    });
  }
}
