import type { EventMessage, SubscribedMessage } from '@herald/protocol';
import type { Subscription } from './subscription.js';

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

/**
 * Receiving over Server-Sent Events where WebSockets are blocked: one EventSource per subscription.
 * EventSource reconnects by itself and resumes with Last-Event-ID; this class maps its messages onto
 * the same calls the WebSocket path makes. Pattern streams are live only (one id cannot name many
 * channels' offsets).
 */
export class SseTransport {
  private readonly sources = new Map<Subscription<any>, EventSourceLike>();

  constructor(
    private readonly baseUrl: string,
    private readonly EventSourceImpl: EventSourceConstructor,
    private readonly onStatus: (open: boolean) => void,
  ) {}

  subscribe(sub: Subscription<any>): void {
    const resumeFrom = sub.resumeFrom();
    const since = sub.isPattern ? undefined : (resumeFrom as { offset?: number } | undefined)?.offset;
    const query = since === undefined ? '' : `?since=${since}`;
    const source = new this.EventSourceImpl(`${this.baseUrl}/api/channels/${encodeURIComponent(sub.channel)}/stream${query}`);
    this.sources.set(sub, source);
    source.onopen = () => this.onStatus(true);
    source.onerror = () => this.onStatus(false);
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

  unsubscribe(sub: Subscription<any>): void {
    this.sources.get(sub)?.close();
    this.sources.delete(sub);
  }

  close(): void {
    for (const source of this.sources.values()) source.close();
    this.sources.clear();
  }
}
