import type { EventMessage, PatternPosition, PollResponse, StreamPosition } from '@herald/protocol';
import { backoffDelay } from './backoff.js';
import type { SharedSubscription as Subscription } from './shared-subscription.js';

/** What the client needs of a transport that only receives (SSE, long-poll); publishing goes over HTTP. */
export interface ReceivingTransport {
  subscribe(sub: Subscription<any>): void;
  unsubscribe(sub: Subscription<any>): void;
  close(): void;
}

export interface PollEvents {
  /** A poll was answered: the transport delivers. */
  onStatus(open: boolean): void;
  /** A poll could not reach the hub (or the hub is shutting down): the connection is lost. */
  onLost(reason: string): void;
}

/** Held at most this long by the hub (which caps it at its own `--poll-wait`). */
const POLL_WAIT_MS = 20_000;
/** A poll not answered within its wait and this much more is a dead connection. */
const POLL_GRACE_MS = 10_000;
/** Polling again after a refusal that may pass (429, 401 of an expired token): 1 s growing to a minute. */
const POLL_RETRY = { initialDelayMs: 1000, maxDelayMs: 60_000 };
/** Refusals that are the subscription's own: it ends, as over WebSocket. */
const TERMINAL = new Set(['forbidden', 'invalid_channel', 'bad_request']);

/**
 * Receiving by HTTP long-poll (`GET /api/channels/{channel}/poll`) where neither WebSocket nor SSE
 * delivers: one poll loop per subscription, each poll asking from the subscription's last position, so
 * the events arrive once and in order with the same `recovered` answers as a resume. Pattern
 * subscriptions resume too (positions and time), unlike over SSE.
 */
export class PollTransport implements ReceivingTransport {
  private readonly loops = new Map<Subscription<any>, AbortController>();

  constructor(
    private readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch,
    private readonly authHeaders: () => Promise<Record<string, string>>,
    private readonly events: PollEvents,
  ) {}

  subscribe(sub: Subscription<any>): void {
    this.loops.get(sub)?.abort();
    const stop = new AbortController();
    this.loops.set(sub, stop);
    void this.loop(sub, stop.signal);
  }

  unsubscribe(sub: Subscription<any>): void {
    this.loops.get(sub)?.abort();
    this.loops.delete(sub);
  }

  close(): void {
    for (const stop of this.loops.values()) stop.abort();
    this.loops.clear();
  }

  private async loop(sub: Subscription<any>, signal: AbortSignal): Promise<void> {
    let answered = false;
    let refusals = 0;
    /** Exact channels: the answer's `next`; patterns: its `time` (where to resume unseen channels from). */
    let next: string | undefined;
    let time: number | undefined;
    while (!signal.aborted) {
      let response: Response;
      let body: PollResponse & { error?: { code: string; message: string } };
      try {
        const since = this.sinceOf(sub, next, time);
        // The first poll answers at once (where the subscription starts, and that polls get through).
        const query = `?wait=${answered ? POLL_WAIT_MS : 0}${since === undefined ? '' : `&since=${encodeURIComponent(since)}`}`;
        const timeout = AbortSignal.timeout(POLL_WAIT_MS + POLL_GRACE_MS);
        response = await this.fetchImpl(`${this.baseUrl}/api/channels/${encodeURIComponent(sub.channel)}/poll${query}`, {
          headers: await this.authHeaders(),
          signal: AbortSignal.any ? AbortSignal.any([signal, timeout]) : signal,
          cache: 'no-store',
        });
        body = (await response.json()) as typeof body;
      } catch (error) {
        if (signal.aborted) return;
        this.events.onLost(`poll failed: ${String(error)}`);
        return;
      }
      if (signal.aborted) return;
      if (!response.ok) {
        const code = body.error?.code ?? 'internal';
        if (TERMINAL.has(code)) {
          this.loops.delete(sub);
          sub.fail(code, body.error?.message ?? `HTTP ${response.status}`);
          return;
        }
        if (code === 'shutting_down') return this.events.onLost('the hub is shutting down');
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(refusals++, POLL_RETRY)));
        continue;
      }
      refusals = 0;
      // The first answer is the subscription's `subscribed` reply; later ones only when a gap was lost.
      if (!answered || body.recovered === false) {
        const { channel, epoch, offset, recovered } = body;
        sub.onSubscribed({ op: 'subscribed', channel, ...(epoch === undefined ? {} : { epoch, offset }), ...(recovered === undefined ? {} : { recovered }) });
        answered = true;
      }
      this.events.onStatus(true);
      for (const event of body.events) sub.deliver({ op: 'event', ...event } as EventMessage);
      next = body.next;
      time = body.time;
    }
  }

  /** Where the next poll starts: the subscription's own position first (it drops what it already has). */
  private sinceOf(sub: Subscription<any>, next: string | undefined, time: number | undefined): string | undefined {
    if (!sub.isPattern) {
      const known = sub.positions.get(sub.channel);
      if (known) return `${known.offset}@${known.epoch}`;
      if (next !== undefined) return next;
      const initial = sub.resumeFrom() as StreamPosition | undefined;
      return initial === undefined ? undefined : initial.epoch === undefined ? String(initial.offset) : `${initial.offset}@${initial.epoch}`;
    }
    const from = sub.resumeFrom() as PatternPosition | undefined;
    if (from?.time === undefined && time !== undefined) return JSON.stringify({ ...from, time });
    return from === undefined ? undefined : JSON.stringify(from);
  }
}
