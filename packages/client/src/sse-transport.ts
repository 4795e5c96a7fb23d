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

export interface SseEvents {
  /** The streams deliver (a message arrived) or not (EventSource lost one and is reconnecting). */
  onStatus(open: boolean): void;
  /** A stream sent nothing, not even a heartbeat, for two heartbeat intervals: SSE does not get through. */
  onSilent(): void;
}

/**
 * Receiving over Server-Sent Events where WebSockets are blocked: one EventSource per subscription.
 * EventSource reconnects by itself and resumes with Last-Event-ID; this class maps its messages onto
 * the same calls the WebSocket path makes. Pattern streams are live only (one id cannot name many
 * channels' offsets).
 *
 * The hub opens every stream with a `heartbeat` event and sends one per interval, so a stream from which
 * nothing has arrived for two intervals is not quiet but stuck — typically a proxy that buffers the
 * response, which EventSource itself never notices: that is reported (`onSilent`), not waited out. The
 * streams count as delivering from their first message, not from EventSource's `open` (a buffering proxy
 * sends the headers).
 */
export class SseTransport {
  private readonly sources = new Map<Subscription<any>, EventSourceLike>();

  /** Subscriptions to keep open (a refused stream is opened again with a new ticket). */
  private readonly wanted = new Set<Subscription<any>>();
  /** Refused opens in a row per subscription, for backoff (a forbidden stream must not be hammered). */
  private readonly failures = new Map<Subscription<any>, number>();
  /** When each stream was opened or last sent anything. */
  private readonly lastSeen = new Map<Subscription<any>, number>();
  private delivering = false;
  private readonly watchdog: ReturnType<typeof setInterval>;

  constructor(
    private readonly baseUrl: string,
    private readonly EventSourceImpl: EventSourceConstructor,
    /** Gets a stream ticket when the hub requires credentials (EventSource cannot send a header). */
    private readonly ticket: (() => Promise<string>) | undefined,
    /** The hub's heartbeat interval as known before the first heartbeat (its `/health`, or `hello`). */
    private heartbeatMs: number,
    private readonly events: SseEvents,
  ) {
    this.watchdog = setInterval(() => this.checkAlive(), Math.max(50, Math.floor(heartbeatMs / 2)));
  }

  private checkAlive(): void {
    const now = Date.now();
    for (const [sub, seen] of this.lastSeen) {
      if (this.sources.has(sub) && now - seen > 2 * this.heartbeatMs) {
        this.events.onSilent();
        return;
      }
    }
  }

  /** Any message is a sign of life: the stream delivers. */
  private seen(sub: Subscription<any>): void {
    this.lastSeen.set(sub, Date.now());
    if (this.delivering) return;
    this.delivering = true;
    this.events.onStatus(true);
  }

  private lost(): void {
    this.delivering = false;
    this.events.onStatus(false);
  }

  subscribe(sub: Subscription<any>): void {
    this.wanted.add(sub);
    void this.open(sub);
  }

  private async open(sub: Subscription<any>): Promise<void> {
    const resumeFrom = sub.resumeFrom();
    const since = sub.isPattern ? undefined : (resumeFrom as { offset?: number } | undefined)?.offset;
    const params = new URLSearchParams();
    if (since !== undefined) params.set('since', String(since));
    if (sub.startCommand().presence) params.set('presence', '1');
    try {
      if (this.ticket) params.set('ticket', await this.ticket());
    } catch {
      this.lost();
      this.retryLater(sub);
      return;
    }
    if (!this.wanted.has(sub)) return;
    const query = params.toString();
    const source = new this.EventSourceImpl(`${this.baseUrl}/api/channels/${encodeURIComponent(sub.channel)}/stream${query ? `?${query}` : ''}`);
    this.sources.set(sub, source);
    this.lastSeen.set(sub, Date.now());
    source.onopen = () => {
      this.failures.delete(sub);
      // Silence is counted from here: EventSource opened the stream again after an error.
      this.lastSeen.set(sub, Date.now());
    };
    source.onerror = () => {
      this.lost();
      // A refused stream (an expired ticket or token) is not retried by EventSource: open it again with a new ticket.
      if (source.readyState === CLOSED && this.ticket && this.sources.get(sub) === source) {
        this.sources.delete(sub);
        this.retryLater(sub);
      }
    };
    source.addEventListener('heartbeat', (message) => {
      const announced = (JSON.parse(message.data) as { heartbeatMs?: unknown }).heartbeatMs;
      if (typeof announced === 'number' && announced > 0) this.heartbeatMs = announced;
      this.seen(sub);
    });
    source.addEventListener('subscribed', (message) => {
      this.seen(sub);
      const reply = JSON.parse(message.data) as Omit<SubscribedMessage, 'op'>;
      const known = sub.positions.get(sub.channel);
      // SSE resumes by offset only: an epoch that moved on voids the remembered offset, and a pattern
      // that had somewhere to resume from cannot be replayed at all — the app must hear about both.
      const recovered = (known && reply.epoch !== known.epoch) || (sub.isPattern && resumeFrom !== undefined) ? false : reply.recovered;
      sub.onSubscribed({ op: 'subscribed', ...reply, ...(recovered === undefined ? {} : { recovered }) });
    });
    for (const op of ['join', 'leave']) source.addEventListener(op, (message) => sub.onPresence(JSON.parse(message.data)));
    source.onmessage = (message) => {
      this.seen(sub);
      sub.deliver({ op: 'event', ...JSON.parse(message.data) } as EventMessage);
    };
    // A named event with no id: EventSource's Last-Event-ID stays on the last stored event.
    source.addEventListener('ephemeral', (message) => {
      this.seen(sub);
      sub.deliverEphemeral(JSON.parse(message.data));
    });
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
    this.lastSeen.delete(sub);
  }

  close(): void {
    clearInterval(this.watchdog);
    this.wanted.clear();
    this.lastSeen.clear();
    for (const source of this.sources.values()) source.close();
    this.sources.clear();
  }
}
