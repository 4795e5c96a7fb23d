import type { DeliveredEvent, EphemeralMessage, EventMessage, JoinMessage, LeaveMessage, PatternPosition, StreamPosition, SubscribedMessage } from '@herald/protocol';
import { Emitter } from './emitter.js';

export type SubscriptionState = 'pending' | 'subscribed' | 'unsubscribed';

/** Raised when the hub could not fill a gap: the app should reload its state for `channel`. */
export interface ResetInfo {
  channel: string;
  /** The epoch and latest offset to continue from, when the channel is exact. */
  epoch?: string;
  offset?: number;
  reason: 'history-lost' | 'epoch-changed';
}

/** An event published with `ephemeral: true`: live only, no offset, never in history or a replay. */
export type EphemeralEvent<T = unknown> = Omit<EphemeralMessage<T>, 'op'>;

export interface SubscriptionEvents<T> extends Record<string, unknown> {
  event: DeliveredEvent<T>;
  /** An ephemeral event of a matching channel: apart from `event`, so that it never moves a position. */
  ephemeral: EphemeralEvent<T>;
  /** With `snapshot: true`: the channel's state (a run snapshot), before the events that follow it. */
  snapshot: { snapshot: unknown; offset: number; epoch: string };
  reset: ResetInfo;
  state: { from: SubscriptionState; to: SubscriptionState };
  error: { code: string; message: string };
  /** With `presence: true`: another subscriber of the channel came (`op: 'join'`) or went (`'leave'`). */
  presence: JoinMessage | LeaveMessage;
}

export interface SubscribeOptions {
  /** Start from this position instead of live: `{offset: 0}` replays the retained history. */
  since?: StreamPosition | PatternPosition;
  /** Run channels: start from the run's snapshot (emitted as `snapshot`), then the events after it. */
  snapshot?: boolean;
  /**
   * Exact channels: also emit `presence` as other subscribers of the channel come and go (WebSocket and
   * SSE; not on the long-poll fallback). Ask `client.presence()` after each `subscribed` for who is there.
   */
  presence?: boolean;
}

export type EventHandler<T> = (event: DeliveredEvent<T>) => void;

/**
 * One caller's view of a channel or pattern. Every `client.subscribe` returns its own, however many
 * there are on one channel: they share one hub subscription (shared-subscription.ts), and each keeps its
 * own positions, so that it gets exactly the events after its own start, once, in order — and after any
 * reconnect exactly what it missed.
 */
export class Subscription<T = unknown> extends Emitter<SubscriptionEvents<T>> {
  state: SubscriptionState = 'pending';
  /** Last delivered position per channel (one entry for an exact channel). */
  readonly positions = new Map<string, { offset: number; epoch: string }>();
  /** Hub receive time of the last delivered event: resumes pattern channels not yet seen. */
  lastTime: number | undefined;
  /** Whether its start is known (the hub answered for it): until then nothing is delivered. @internal */
  started = false;
  /** Pattern channels whose next event may skip offsets: the hub said it could not fill their gap. */
  private readonly gapAllowed = new Set<string>();
  /** Pattern channels another subscription asked the hub to replay: only events received after this time are this one's. */
  private readonly floors = new Map<string, number>();

  constructor(
    readonly channel: string,
    readonly isPattern: boolean,
    private readonly handler: EventHandler<T> | undefined,
    private readonly initialSince: SubscribeOptions['since'],
    /** Whether to ask for a snapshot while no position is known yet. @internal */
    readonly wantsSnapshot: boolean,
    private readonly detach: (sub: Subscription<T>) => void,
    /** Whether it hears joins and leaves. @internal */
    readonly wantsPresence = false,
  ) {
    super();
  }

  unsubscribe(): void {
    if (this.state === 'unsubscribed') return;
    this.setState('unsubscribed');
    this.detach(this);
  }

  /** Where this subscription needs the hub to resume from (undefined: live, or a snapshot). @internal */
  resumeFrom(): StreamPosition | PatternPosition | undefined {
    if (!this.isPattern) return this.positions.get(this.channel) ?? (this.started ? undefined : this.initialSince);
    if (this.positions.size === 0 && this.lastTime === undefined) return this.started ? undefined : this.initialSince;
    const positions: Record<string, StreamPosition> = {};
    for (const [channel, position] of this.positions) positions[channel] = position;
    return this.lastTime === undefined ? { positions } : { positions, time: this.lastTime };
  }

  /**
   * For a pattern channel it has no position for, that another subscription asks the hub to replay:
   * whether this one resumes by time (then it keeps only the events received after it). @internal
   */
  floorFor(channel: string): boolean {
    const time = this.lastTime ?? (this.started ? undefined : (this.initialSince as PatternPosition | undefined)?.time);
    if (!this.isPattern || time === undefined) return false;
    this.floors.set(channel, time);
    return true;
  }

  /** Whether it still waits for a snapshot (asked for one and has no position yet). @internal */
  get needsSnapshot(): boolean {
    return this.wantsSnapshot && !this.isPattern && !this.positions.has(this.channel);
  }

  /**
   * Starts from the hub's answer to a subscribe made from `asked` (the earliest position any subscription
   * of the channel needed). Returns false when the answer does not cover this subscription (it needs
   * events from before the answer's start): the caller subscribes again from an earlier position.
   * `snapshot` is this subscription's own copy of the reply's snapshot. @internal
   */
  start(reply: SubscribedMessage, asked: StreamPosition | PatternPosition | undefined, snapshot: () => unknown): boolean {
    if (this.state === 'unsubscribed') return true;
    if (this.isPattern) {
      const since = this.started ? undefined : (this.initialSince as PatternPosition | undefined);
      // Its own start becomes its positions: what it has, per channel, and the time it resumes after.
      for (const [channel, at] of Object.entries(since?.positions ?? {})) {
        if (!this.positions.has(channel) && at.epoch !== undefined) this.positions.set(channel, { offset: at.offset, epoch: at.epoch });
      }
      if (since?.time !== undefined && this.lastTime === undefined) this.lastTime = since.time;
      if (reply.recovered === false && this.resumeFrom() !== undefined) {
        for (const channel of this.positions.keys()) this.gapAllowed.add(channel);
        this.emit('reset', { channel: this.channel, reason: 'history-lost' });
      }
      return this.begin();
    }
    const epoch = reply.epoch!;
    const offset = reply.offset!;
    const known = this.positions.get(this.channel) ?? (this.started ? undefined : (this.initialSince as StreamPosition | undefined));
    if (reply.snapshot !== undefined && this.needsSnapshot) {
      this.emit('snapshot', { snapshot: snapshot(), offset, epoch });
      this.positions.set(this.channel, { offset, epoch });
    } else if (known === undefined) {
      this.positions.set(this.channel, { offset, epoch });
    } else if (known.epoch !== undefined && known.epoch !== epoch) {
      this.positions.set(this.channel, { offset, epoch });
      this.emit('reset', { channel: this.channel, epoch, offset, reason: 'epoch-changed' });
    } else if (reply.recovered === false) {
      // The hub replayed nothing: whoever was not at its latest offset has a gap it cannot fill.
      this.positions.set(this.channel, { offset, epoch });
      if (known.offset !== offset) this.emit('reset', { channel: this.channel, epoch, offset, reason: 'history-lost' });
    } else {
      // Recovered (every event after `asked` follows), or live/snapshot from `offset`: covered if not behind it.
      const from = reply.recovered === true ? ((asked as StreamPosition | undefined)?.offset ?? offset) : offset;
      if (known.offset < from) return false;
      this.positions.set(this.channel, { offset: known.offset, epoch });
    }
    return this.begin();
  }

  /** Starts at a position the shared subscription already has (it joined a live one). @internal */
  startAt(position: { offset: number; epoch: string } | undefined, seen?: ReadonlyMap<string, { offset: number; epoch: string }>, lastTime?: number): void {
    if (this.state === 'unsubscribed') return;
    if (this.isPattern) {
      for (const [channel, at] of seen ?? []) this.positions.set(channel, { ...at });
      this.lastTime = lastTime;
    } else if (position) {
      const since = this.initialSince as StreamPosition | undefined;
      if (since && since.epoch !== undefined && since.epoch !== position.epoch) {
        this.positions.set(this.channel, position);
        this.emit('reset', { channel: this.channel, epoch: position.epoch, offset: position.offset, reason: 'epoch-changed' });
      } else {
        // Ahead of the shared position (or at it): it waits for the events after its own.
        this.positions.set(this.channel, { offset: Math.max(since?.offset ?? position.offset, 0), epoch: position.epoch });
      }
    }
    this.begin();
  }

  private begin(): boolean {
    this.started = true;
    this.setState('subscribed');
    return true;
  }

  /**
   * Delivers an event once. `overlap`: another hub subscription of this client matches the channel too,
   * so its events may run ahead of this one's replay, or be history this one did not ask for. Then only
   * the next offset is taken (this subscription's own stream brings the rest, in order), and a pattern
   * takes a channel it has not seen yet only from where it is live. @internal
   */
  deliver(message: EventMessage, overlap?: { historyUpTo: number | undefined }): void {
    if (this.state === 'unsubscribed' || !this.started) return;
    const known = this.positions.get(message.channel);
    const floor = this.floors.get(message.channel) ?? (overlap && !known && this.isPattern ? this.lastTime : undefined);
    if (floor !== undefined) {
      if (message.time <= floor) return;
      this.floors.delete(message.channel);
    } else if (overlap && !known && this.isPattern && overlap.historyUpTo !== undefined && message.offset <= overlap.historyUpTo) return;
    if (known && known.epoch === message.epoch) {
      if (message.offset <= known.offset) return;
      // A lagging connection is told how many events before this one were conflated away: that gap is no loss.
      if (overlap && message.offset - (message.conflated ?? 0) !== known.offset + 1 && !this.gapAllowed.has(message.channel)) return;
    }
    this.gapAllowed.delete(message.channel);
    if (known && known.epoch !== message.epoch) this.emit('reset', { channel: message.channel, epoch: message.epoch, reason: 'epoch-changed' });
    this.positions.set(message.channel, { offset: message.offset, epoch: message.epoch });
    this.lastTime = message.time;
    const delivered = { channel: message.channel, offset: message.offset, epoch: message.epoch, time: message.time, event: message.event } as DeliveredEvent<T>;
    if (message.conflated !== undefined) delivered.conflated = message.conflated;
    this.handler?.(delivered);
    this.emit('event', delivered);
  }

  /** An ephemeral event, to a started subscription only; positions stay where they are. @internal */
  deliverEphemeral({ channel, time, event }: EphemeralMessage): void {
    if (this.started && this.state !== 'unsubscribed') this.emit('ephemeral', { channel, time, event } as EphemeralEvent<T>);
  }

  /** @internal */
  onPresence(message: JoinMessage | LeaveMessage): void {
    if (this.wantsPresence && this.started && this.state !== 'unsubscribed') this.emit('presence', message);
  }

  /** @internal */
  fail(code: string, message: string): void {
    this.emit('error', { code, message });
    this.unsubscribe();
  }

  /** @internal */
  setState(to: SubscriptionState): void {
    const from = this.state;
    if (from === to || from === 'unsubscribed') return;
    this.state = to;
    this.emit('state', { from, to });
  }
}
