import type { DeliveredEvent, EventMessage, PatternPosition, RunStep, StepsMessage, StreamPosition, SubscribedMessage } from '@herald/protocol';
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

export interface SubscriptionEvents<T> extends Record<string, unknown> {
  event: DeliveredEvent<T>;
  /** With `snapshot: true`: the channel's state (a run snapshot), before the events that follow it. */
  snapshot: { snapshot: unknown; offset: number; epoch: string };
  reset: ResetInfo;
  state: { from: SubscriptionState; to: SubscriptionState };
  error: { code: string; message: string };
}

export interface SubscribeOptions {
  /** Start from this position instead of live: `{offset: 0}` replays the retained history. */
  since?: StreamPosition | PatternPosition;
  /** Run channels: start from the run's snapshot (emitted as `snapshot`), then the events after it. */
  snapshot?: boolean;
}

export type EventHandler<T> = (event: DeliveredEvent<T>) => void;

/**
 * One subscription. It remembers, per channel, the last offset and epoch it delivered, so that after any
 * reconnect it asks for exactly what it missed, and it drops anything it has already delivered.
 */
export class Subscription<T = unknown> extends Emitter<SubscriptionEvents<T>> {
  state: SubscriptionState = 'pending';
  /** Last delivered position per channel (one entry for an exact channel). */
  readonly positions = new Map<string, { offset: number; epoch: string }>();
  /** Hub receive time of the last delivered event: resumes pattern channels not yet seen. */
  lastTime: number | undefined;
  /** A big run snapshot whose steps are still coming in `steps` messages. */
  private assembling: { reply: SubscribedMessage; snapshot: { steps: RunStep[]; stepsTotal?: number }; total: number } | undefined;

  constructor(
    readonly channel: string,
    readonly isPattern: boolean,
    private readonly handler: EventHandler<T> | undefined,
    private readonly initialSince: SubscribeOptions['since'],
    /** Whether to ask for a snapshot while no position is known yet. @internal */
    readonly wantsSnapshot: boolean,
    private readonly detach: (sub: Subscription<T>) => void,
  ) {
    super();
  }

  unsubscribe(): void {
    if (this.state === 'unsubscribed') return;
    this.setState('unsubscribed');
    this.detach(this);
  }

  /** Where to resume from after a (re)connect. @internal */
  resumeFrom(): StreamPosition | PatternPosition | undefined {
    if (!this.isPattern) return this.positions.get(this.channel) ?? this.initialSince;
    if (this.positions.size === 0 && this.lastTime === undefined) return this.initialSince;
    const positions: Record<string, StreamPosition> = {};
    for (const [channel, position] of this.positions) positions[channel] = position;
    return this.lastTime === undefined ? { positions } : { positions, time: this.lastTime };
  }

  /** @internal */
  onSubscribed(reply: SubscribedMessage): void {
    this.assembling = undefined;
    const parted = partedSnapshot(reply.snapshot);
    if (parted) {
      // The rest of the steps follow before any event: the subscription starts once they are all in.
      this.assembling = { reply, snapshot: parted.snapshot, total: parted.total };
      return;
    }
    this.start(reply);
  }

  /** The next part of a big run snapshot (protocol.md, Run snapshots). @internal */
  onSteps(message: StepsMessage): void {
    const assembling = this.assembling;
    if (!assembling) return;
    const { snapshot, reply, total } = assembling;
    if (message.offset !== reply.offset || message.from !== snapshot.steps.length || !Array.isArray(message.steps)) {
      this.assembling = undefined;
      this.fail('bad_request', `the hub sent steps from ${message.from} of offset ${message.offset}; expected ${snapshot.steps.length} of ${reply.offset}`);
      return;
    }
    for (const step of message.steps) snapshot.steps.push(step);
    if (snapshot.steps.length < total) return;
    this.assembling = undefined;
    delete snapshot.stepsTotal;
    this.start(reply);
  }

  private start(reply: SubscribedMessage): void {
    const known = this.positions.get(this.channel);
    if (reply.snapshot !== undefined && reply.epoch !== undefined && reply.offset !== undefined) {
      this.emit('snapshot', { snapshot: reply.snapshot, offset: reply.offset, epoch: reply.epoch });
    }
    if (reply.recovered === false) {
      this.emit('reset', {
        channel: this.channel,
        ...(reply.epoch !== undefined ? { epoch: reply.epoch } : {}),
        ...(reply.offset !== undefined ? { offset: reply.offset } : {}),
        reason: known && known.epoch !== reply.epoch ? 'epoch-changed' : 'history-lost',
      });
    }
    // After a recovered resume the replay advances the position; otherwise start from the reply's.
    if (!this.isPattern && reply.epoch !== undefined && reply.offset !== undefined && reply.recovered !== true) {
      this.positions.set(this.channel, { offset: reply.offset, epoch: reply.epoch });
    }
    this.setState('subscribed');
  }

  /** Delivers an event once: a repeat of a position already delivered is dropped. @internal */
  deliver(message: EventMessage): void {
    if (this.state === 'unsubscribed') return;
    // Only a pattern subscription of the same connection can send one now; the hub sends this
    // subscription's own copy after the last part of the snapshot.
    if (this.assembling && message.channel === this.channel) return;
    const known = this.positions.get(message.channel);
    if (known && known.epoch === message.epoch && message.offset <= known.offset) return;
    if (known && known.epoch !== message.epoch) this.emit('reset', { channel: message.channel, epoch: message.epoch, reason: 'epoch-changed' });
    this.positions.set(message.channel, { offset: message.offset, epoch: message.epoch });
    this.lastTime = message.time;
    const delivered = { channel: message.channel, offset: message.offset, epoch: message.epoch, time: message.time, event: message.event } as DeliveredEvent<T>;
    this.handler?.(delivered);
    this.emit('event', delivered);
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

/** A run snapshot whose `steps` are fewer than its `stepsTotal`: the rest come in `steps` messages. */
function partedSnapshot(snapshot: unknown): { snapshot: { steps: RunStep[]; stepsTotal?: number }; total: number } | undefined {
  if (typeof snapshot !== 'object' || snapshot === null) return undefined;
  const run = snapshot as { steps?: unknown; stepsTotal?: unknown };
  if (!Array.isArray(run.steps) || typeof run.stepsTotal !== 'number') return undefined;
  if (run.steps.length >= run.stepsTotal) {
    delete run.stepsTotal;
    return undefined;
  }
  return { snapshot: run as { steps: RunStep[]; stepsTotal?: number }, total: run.stepsTotal };
}
