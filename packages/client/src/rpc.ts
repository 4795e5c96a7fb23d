import { matchesPattern, type IncomingRequestMessage, type SenderInfo } from '@herald/protocol';

/** What `client.request` sends: the request's type and its data. */
export interface RequestInput<T = unknown> {
  type: string;
  data?: T;
}

export interface RequestOptions {
  /** How long the hub waits for the reply: 1–60 000 ms, default 10 000. */
  timeoutMs?: number;
}

/** Who asked, and what, for a `serve` handler. */
export interface RequestInfo {
  type: string;
  /** The concrete channel the request was sent to (the served one may be a pattern). */
  channel: string;
  requestId: string;
  from: SenderInfo;
  /** When the requester stops waiting, ms since the epoch (the hub's clock). */
  deadline: number;
}

/** Answers a request: its result is the reply's data; a throw or a rejection refuses it with the message. */
export type ServeHandler<TData = any, TReply = unknown> = (data: TData, request: RequestInfo) => TReply | Promise<TReply>;

/** What the served channels need of their client. */
export interface ServedHost {
  /** A WebSocket command with its answer; rejects when not connected or refused. */
  command(command: Record<string, unknown>): Promise<unknown>;
  connected(): boolean;
  fail(code: string, message: string): void;
}

/**
 * The channels and patterns this client answers requests on. They are a client's, not a connection's:
 * each one is announced with `serve` on every connection (`restore` after `hello`), because the hub
 * forgets a connection's registrations when it closes.
 */
export class ServedChannels {
  private readonly handlers = new Map<string, ServeHandler>();

  constructor(private readonly host: ServedHost) {}

  add(channel: string, handler: ServeHandler): () => void {
    if (this.handlers.has(channel)) throw new Error(`serve: "${channel}" is already served by this client; call the stop function serve returned first`);
    this.handlers.set(channel, handler);
    if (this.host.connected()) this.announce(channel);
    return () => {
      if (this.handlers.get(channel) !== handler) return;
      this.handlers.delete(channel);
      if (this.host.connected()) this.host.command({ op: 'unserve', channel }).catch(() => {});
    };
  }

  /** A new connection: announce every served channel again. */
  restore(): void {
    for (const channel of this.handlers.keys()) this.announce(channel);
  }

  async dispatch(request: IncomingRequestMessage): Promise<void> {
    const { requestId, channel } = request;
    // The exact channel first, then a pattern: the order in which the hub picks responders.
    let handler = this.handlers.get(channel);
    for (const [served, h] of this.handlers) if (!handler && matchesPattern(served, channel)) handler = h;
    let answer: { data?: unknown; error?: string };
    try {
      if (!handler) throw new Error(`this client no longer serves "${channel}"`);
      answer = { data: await handler(request.data, { type: request.type, channel, requestId, from: request.from, deadline: request.deadline }) };
    } catch (error) {
      answer = { error: error instanceof Error ? error.message : String(error) };
    }
    try {
      await this.host.command({ op: 'reply', requestId, ...answer });
    } catch (error) {
      const code = (error as { code?: string }).code;
      // A reply the hub cannot take (too large, not JSON-safe) still owes the requester an answer.
      if (answer.error === undefined && (code === 'too_large' || code === 'invalid_event')) {
        this.host.command({ op: 'reply', requestId, error: `the reply was refused: ${(error as Error).message}` }).catch(() => {});
      }
      // Otherwise the connection closed (the hub told the requester no_responder) or the deadline passed.
    }
  }

  private announce(channel: string): void {
    this.host.command({ op: 'serve', channel }).catch((error: { code?: string; message: string }) => {
      if (error.code !== 'disconnected') this.host.fail(error.code ?? 'internal', `serve "${channel}": ${error.message}`);
    });
  }
}
