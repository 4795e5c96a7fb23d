import { randomBytes } from 'node:crypto';
import type { IncomingRequestMessage, SenderInfo } from '@herald/protocol';
import { HeraldError } from '../errors.js';
import { Deadlines, type DeadlineEntry } from './deadlines.js';
import { ResponderRegistry, type Responder } from './responders.js';

/** The longest responder sentence passed on to the requester in `responder_error`. */
export const MAX_REPLY_ERROR_LENGTH = 500;
/** Requests that ended without a reply (timed out, cancelled) remembered for a late reply's answer. */
const MAX_REMEMBERED_ENDINGS = 10_000;

export interface RequestInput {
  channel: string;
  type: string;
  data?: unknown;
  from: SenderInfo;
  timeoutMs: number;
  /** The requester went away (its connection closed, its HTTP request was dropped): the request ends. */
  signal?: AbortSignal;
}

/** What a responder answers: `data`, or `error` (a sentence) to refuse. */
export type ReplyInput = { data?: unknown; error?: undefined } | { error: string };

interface PendingRequest {
  readonly id: string;
  readonly channel: string;
  readonly responder: Responder;
  readonly resolve: (data: unknown) => void;
  readonly reject: (error: HeraldError) => void;
  entry?: DeadlineEntry<PendingRequest>;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * Requests between their `request` and their reply: which responder each went to, its deadline (one
 * timer for all, see Deadlines), and what a responder that replies too late or to the wrong id hears.
 * Transport-free: the hub hands it requests after the access policy allowed them.
 */
export class RequestExchange {
  private readonly responders = new ResponderRegistry();
  private readonly pending = new Map<string, PendingRequest>();
  private readonly byResponder = new Map<Responder, Set<PendingRequest>>();
  /** Why a request ended without a reply, for a responder that replies after that (bounded, oldest first out). */
  private readonly endings = new Map<string, { responder: Responder; channel: string; error: HeraldError }>();
  private readonly deadlines = new Deadlines<PendingRequest>((p) => this.expire(p));
  private closed = false;

  get size(): number {
    return this.pending.size;
  }

  /** Registers a responder of `channel` (a name or pattern); false when it served it already. */
  serve(channel: string, responder: Responder): boolean {
    return this.responders.add(channel, responder);
  }

  unserve(channel: string, responder: Responder): boolean {
    return this.responders.remove(channel, responder);
  }

  /** Whether a request on `channel` would find a responder with room now (`free`), only busy ones, or none. */
  availability(channel: string): 'free' | 'busy' | undefined {
    if (this.closed) return undefined;
    const found = this.responders.availability(channel);
    return found === undefined || found === 'busy' ? found : 'free';
  }

  /**
   * Hands a request to a responder of its channel and resolves with the reply's data; rejects with
   * `no_responder` (none, every one busy, or the one asked went away), `timeout` or `responder_error`.
   */
  request(input: RequestInput): Promise<unknown> {
    if (this.closed) return Promise.reject(new HeraldError('shutting_down', 'the hub is shutting down; send the request again after it restarts'));
    const picked = this.responders.pick(input.channel);
    if (picked === undefined) return Promise.reject(new HeraldError('no_responder', `nothing serves requests on "${input.channel}" right now`));
    if (picked === 'busy') {
      return Promise.reject(new HeraldError('no_responder', `every responder of "${input.channel}" holds as many unanswered requests as it may (--max-pending-requests); retry later`));
    }
    if (input.signal?.aborted) return Promise.reject(new HeraldError('timeout', 'the requester went away'));
    const id = randomBytes(12).toString('base64url');
    const deadline = Date.now() + input.timeoutMs;
    return new Promise((resolve, reject) => {
      const request: PendingRequest = { id, channel: input.channel, responder: picked, resolve, reject };
      request.entry = this.deadlines.add(request, deadline);
      this.pending.set(id, request);
      picked.pending++;
      let mine = this.byResponder.get(picked);
      if (!mine) this.byResponder.set(picked, (mine = new Set()));
      mine.add(request);
      if (input.signal) {
        request.signal = input.signal;
        request.onAbort = () => this.end(request, new HeraldError('not_found', `request ${id} was cancelled: the requester went away`), true);
        input.signal.addEventListener('abort', request.onAbort, { once: true });
      }
      const message: IncomingRequestMessage = { op: 'request', requestId: id, channel: input.channel, type: input.type, from: input.from, deadline };
      if (input.data !== undefined) message.data = input.data;
      picked.offer(message);
    });
  }

  /**
   * A responder's answer to request `id`. `asked` says whether a responder is the caller (a reply from
   * anyone else is refused like an unknown id: it learns nothing about other responders' requests).
   * Throws `not_found` (unknown, answered, cancelled, or not asked of the caller) or `timeout` (too late).
   */
  reply(id: string, asked: (responder: Responder, channel: string) => boolean, answer: ReplyInput): void {
    const request = this.pending.get(id);
    if (!request || !asked(request.responder, request.channel)) {
      const ending = this.endings.get(id);
      if (ending && asked(ending.responder, ending.channel)) throw ending.error;
      throw new HeraldError('not_found', `no request "${String(id).slice(0, 64)}" is waiting for your reply (it was answered, or was never sent to you)`);
    }
    this.settle(request);
    if (answer.error !== undefined) request.reject(new HeraldError('responder_error', answer.error.slice(0, MAX_REPLY_ERROR_LENGTH) || 'the responder refused the request'));
    else request.resolve(answer.data);
  }

  /**
   * A responder went away: its requests (those `which` picks, by id) fail at once with `no_responder`.
   * They are not sent to another responder: this one may have acted on them.
   */
  responderGone(responder: Responder, which: (requestId: string) => boolean = () => true): void {
    const mine = this.byResponder.get(responder);
    if (!mine) return;
    for (const request of [...mine]) {
      if (!which(request.id)) continue;
      this.settle(request);
      request.reject(new HeraldError('no_responder', `the responder of "${request.channel}" went away before it replied`));
    }
  }

  /** Shutdown: every waiting request fails with `shutting_down`, and no new one is taken. */
  close(): void {
    this.closed = true;
    for (const request of [...this.pending.values()]) {
      this.settle(request);
      request.reject(new HeraldError('shutting_down', 'the hub is shutting down; send the request again after it restarts'));
    }
    this.deadlines.clear();
  }

  private expire(request: PendingRequest): void {
    request.entry = undefined;
    this.end(request, new HeraldError('timeout', `the requester stopped waiting for request ${request.id}`), false);
  }

  /** Ends a request without a reply: the requester hears `timeout`; a late reply hears `remembered`. */
  private end(request: PendingRequest, remembered: HeraldError, cancelled: boolean): void {
    if (!this.pending.has(request.id)) return;
    this.settle(request);
    this.endings.set(request.id, { responder: request.responder, channel: request.channel, error: remembered });
    if (this.endings.size > MAX_REMEMBERED_ENDINGS) this.endings.delete(this.endings.keys().next().value!);
    request.reject(cancelled ? new HeraldError('timeout', 'the request was cancelled') : new HeraldError('timeout', `no reply on "${request.channel}" within the request's timeout`));
  }

  /** Takes a request out of every structure (it is answered by the caller, once). */
  private settle(request: PendingRequest): void {
    this.pending.delete(request.id);
    if (request.entry) this.deadlines.remove(request.entry);
    request.entry = undefined;
    request.responder.pending--;
    const mine = this.byResponder.get(request.responder);
    mine?.delete(request);
    if (mine?.size === 0) this.byResponder.delete(request.responder);
    if (request.signal && request.onAbort) request.signal.removeEventListener('abort', request.onAbort);
  }
}
