import type { EventMessage, SubscribedMessage } from '@herald/protocol';
import { backoffDelay } from './backoff.js';
import type { SharedSubscription as Subscription } from './shared-subscription.js';

/** The part of the standard EventSource this transport uses (browsers' own, or the `eventsource` package). */
export interface EventSourceLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  readonly readyState: number;
  addEventListener(type: string, listener: (event: { data: string }) => void): void;
  close(): void;
}
export type EventSourceConstructor = new (url: string) => EventSourceLike;

const CLOSED = 2;
/** Opening a refused stream again: 1 s growing to a minute (a forbidden stream must not be hammered). */
const SSE_RETRY = { initialDelayMs: 1000, maxDelayMs: 60_000 };

/**
 * Receiving over Server-Sent Events where WebSockets are blocked: one EventSource per subscription.
 * EventSource reconnects by itself and resumes with Last-Event-ID; this class maps its messages onto
 * the same calls the WebSocket path makes. Pattern streams are live only (one id cannot name many
 * channels' offsets).
 */
export class SseTransport {
  private readonly sources = new Map<Subscription<any>, EventSourceLike>();

  /** Subscriptions to keep open (a refused stream is opened again with a new ticket). */
  private readonly wanted = new Set<Subscription<any>>();
  /** Refused opens in a row per subscription, for backoff (a forbidden stream must not be hammered). */
  private readonly failures = new Map<Subscription<any>, number>();

  constructor(
    private readonly baseUrl: string,
    private readonly EventSourceImpl: EventSourceConstructor,
    /** Gets a stream ticket when the hub requires credentials (EventSource cannot send a header). */
    private readonly ticket: (() => Promise<string>) | undefined,
    private readonly onStatus: (open: boolean) => void,
  ) {}

  subscribe(sub: Subscription<any>): void {
    this.wanted.add(sub);
    void this.open(sub);
  }

  private async open(sub: Subscription<any>): Promise<void> {
    const resumeFrom = sub.resumeFrom();
    const since = sub.isPattern ? undefined : (resumeFrom as { offset?: number } | undefined)?.offset;
    const params = new URLSearchParams();
    if (since !== undefined) params.set('since', String(since));
    try {
      if (this.ticket) params.set('ticket', await this.ticket());
    } catch {
      this.onStatus(false);
      this.retryLater(sub);
      return;
    }
    if (!this.wanted.has(sub)) return;
    const query = params.toString();
    const source = new this.EventSourceImpl(`${this.baseUrl}/api/channels/${encodeURIComponent(sub.channel)}/stream${query ? `?${query}` : ''}`);
    this.sources.set(sub, source);
    source.onopen = () => {
      this.failures.delete(sub);
      this.onStatus(true);
    };
    source.onerror = () => {
      this.onStatus(false);
      // A refused stream (an expired ticket or token) is not retried by EventSource: open it again with a new ticket.
      if (source.readyState === CLOSED && this.ticket && this.sources.get(sub) === source) {
        this.sources.delete(sub);
        this.retryLater(sub);
      }
    };
    source.addEventListener('subscribed', (message) => {
      const reply = JSON.parse(message.data) as Omit<SubscribedMessage, 'op'>;
      const known = sub.positions.get(sub.channel);
      // SSE resumes by offset only: an epoch that moved on voids the remembered offset, and a pattern
      // that had somewhere to resume from cannot be replayed at all — the app must hear about both.
      const recovered = (known && reply.epoch !== known.epoch) || (sub.isPattern && resumeFrom !== undefined) ? false : reply.recovered;
      sub.onSubscribed({ op: 'subscribed', ...reply, ...(recovered === undefined ? {} : { recovered }) });
    });
    source.onmessage = (message) => sub.deliver({ op: 'event', ...JSON.parse(message.data) } as EventMessage);
  }

  /** Opens the stream again with a new ticket, after a full-jitter backoff that grows with each refusal. */
  private retryLater(sub: Subscription<any>): void {
    const failures = (this.failures.get(sub) ?? 0) + 1;
    this.failures.set(sub, failures);
    setTimeout(() => this.wanted.has(sub) && void this.open(sub), backoffDelay(failures - 1, SSE_RETRY));
  }

  unsubscribe(sub: Subscription<any>): void {
    this.failures.delete(sub);
    this.wanted.delete(sub);
    this.sources.get(sub)?.close();
    this.sources.delete(sub);
  }

  close(): void {
    this.wanted.clear();
    for (const source of this.sources.values()) source.close();
    this.sources.clear();
  }
}
