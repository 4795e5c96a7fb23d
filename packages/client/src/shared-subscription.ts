import type { EphemeralMessage, EventMessage, JoinMessage, LeaveMessage, PatternPosition, RunStep, StepsMessage, StreamPosition, SubscribedMessage } from '@herald/protocol';
import type { Subscription } from './subscription.js';

/** What a shared subscription asks of its client. */
export interface SubscriptionHost {
  /** Subscribe on the hub again, from `resumeFrom()` / `startCommand()` (unsubscribing first when it is subscribed). */
  resubscribe(shared: SharedSubscription<any>): void;
}

type Position = { offset: number; epoch: string };

/**
 * The one hub subscription of a channel or pattern, shared by every `Subscription` the app holds on it
 * (reference-counted by the client: the hub subscription ends with the last one).
 *
 * It asks the hub for the earliest position any of them needs; each drops what it already has. One that
 * joins later with an earlier start (a `since` before where this one is, or a snapshot) is served by
 * subscribing again from the merged start — unsubscribe and subscribe in one frame, so nothing falls
 * between them — and the others, being ahead, drop the repeats. At most one subscribe is in flight: a
 * subscription that joins meanwhile is looked at again when the answer comes. The SSE transport reads
 * `channel`, `isPattern`, `positions`, `resumeFrom()`, `onSubscribed()` and `deliver()`.
 */
export class SharedSubscription<T = unknown> {
  readonly handles = new Set<Subscription<T>>();
  /** The hub's last position per channel, as seen on this connection: where a live joiner starts. */
  private readonly seen = new Map<string, Position>();
  /** Exact channels: the latest offset when the hub last answered; events up to it are history. */
  replied: Position | undefined;
  private lastTime: number | undefined;
  /** Answered on the current connection (and every snapshot part is in). */
  state: 'pending' | 'subscribed' = 'pending';
  /** The id of the subscribe whose answer counts; answers to older ones are ignored. */
  private requestId: number | undefined;
  private inFlight = false;
  /** Whether the last subscribe asked for joins and leaves. */
  private withPresence = false;
  /** What the subscribe in flight asked for, and the subscriptions its answer starts. */
  private asked: StreamPosition | PatternPosition | undefined;
  private starting = new Set<Subscription<T>>();
  /** A big run snapshot whose steps are still coming in `steps` messages. */
  private assembling: { reply: SubscribedMessage; snapshot: { steps: RunStep[]; stepsTotal?: number }; total: number } | undefined;

  constructor(
    readonly channel: string,
    readonly isPattern: boolean,
    private readonly host: SubscriptionHost,
  ) {}

  /** The merged exact position (the SSE transport compares its epoch with the stream's). */
  get positions(): Map<string, Position> {
    const from = this.isPattern ? undefined : (this.resumeFrom() as StreamPosition | undefined);
    return new Map(from?.epoch !== undefined ? [[this.channel, { offset: from.offset, epoch: from.epoch }]] : []);
  }

  /** The earliest position any subscription needs (undefined: live). */
  resumeFrom(): StreamPosition | PatternPosition | undefined {
    const wanted = [...this.handles].map((h) => h.resumeFrom()).filter((p) => p !== undefined);
    if (wanted.length === 0) return undefined;
    if (!this.isPattern) {
      const epoch = this.seen.get(this.channel)?.epoch;
      const exact = wanted as StreamPosition[];
      // Positions of an older epoch cannot be resumed; the hub tells each of them so (recovered:false).
      const current = exact.filter((p) => p.epoch === undefined || epoch === undefined || p.epoch === epoch);
      return (current.length ? current : exact).reduce((a, b) => (b.offset < a.offset ? b : a));
    }
    const positions: Record<string, StreamPosition> = {};
    let time: number | undefined;
    for (const p of wanted as PatternPosition[]) {
      for (const [channel, at] of Object.entries(p.positions ?? {})) {
        const known = positions[channel];
        if (!known || at.offset < known.offset) positions[channel] = at;
      }
      if (p.time !== undefined) time = time === undefined ? p.time : Math.min(time, p.time);
    }
    return time === undefined ? { positions } : { positions, time };
  }

  /** The start of the next subscribe: a snapshot while any subscription still waits for one, else a position. */
  startCommand(): { since?: StreamPosition | PatternPosition; snapshot?: true; presence?: true } {
    const presence = [...this.handles].some((h) => h.wantsPresence) ? { presence: true as const } : {};
    if ([...this.handles].some((h) => h.needsSnapshot)) return { snapshot: true, ...presence };
    const since = this.resumeFrom();
    return since ? { since, ...presence } : presence;
  }

  /** A subscribe was sent (over WebSocket with this id; over SSE without): its answer starts every subscription there is now. */
  sent(requestId: number | undefined, asked: StreamPosition | PatternPosition | undefined): void {
    this.requestId = requestId;
    this.inFlight = true;
    this.asked = asked;
    this.withPresence = !!this.startCommand().presence;
    this.assembling = undefined;
    this.starting = new Set(this.handles);
  }

  /** Whether an error answer is for the subscribe that counts. */
  isCurrent(requestId: number): boolean {
    return requestId === this.requestId;
  }

  add(handle: Subscription<T>): void {
    this.handles.add(handle);
    if (this.state === 'subscribed' && !this.inFlight) this.join(handle);
    // While a subscribe is in flight a live joiner can start from its answer; one with a start of its
    // own is looked at again once the answer is in.
    else if (this.inFlight && !handle.resumeFrom() && !handle.needsSnapshot && (this.withPresence || !handle.wantsPresence)) this.starting.add(handle);
  }

  /** Returns true when no subscription is left (the client then ends the hub subscription). */
  remove(handle: Subscription<T>): boolean {
    this.handles.delete(handle);
    this.starting.delete(handle);
    return this.handles.size === 0;
  }

  /**
   * Before a pattern subscribe that lists channels: the others on the pattern, which did not list them,
   * must not be handed the replay of those channels from before they joined. One that resumes by time
   * takes only what the hub received after its time there; one that is live starts at the channel's
   * latest offset — the offset seen here, or else one the client asks the hub for (the channels returned,
   * then `pin`). Returns the channels to ask about.
   */
  prepare(): string[] {
    const since = this.isPattern ? (this.startCommand().since as PatternPosition | undefined) : undefined;
    const unpinned: string[] = [];
    for (const channel of Object.keys(since?.positions ?? {})) {
      for (const handle of this.handles) {
        if (!needsPin(handle, channel)) continue;
        const here = this.seen.get(channel);
        if (here) handle.positions.set(channel, { ...here });
        else if (!unpinned.includes(channel)) unpinned.push(channel);
      }
    }
    return unpinned;
  }

  /** Starts the subscriptions that have no position for `channel` (nor a time) at `position`. */
  pin(channel: string, position: Position): void {
    for (const handle of this.handles) if (needsPin(handle, channel)) handle.positions.set(channel, { ...position });
  }

  /** Counts the subscribes prepared for this subscription: one prepared before a reconnect is not sent after it. */
  attempts = 0;

  /** Holds joiners back while the client prepares a subscribe. */
  hold(): void {
    this.inFlight = true;
  }

  /** A subscription that joins while this one is live: started at once, or served by a new subscribe. */
  private join(handle: Subscription<T>): void {
    const since = handle.resumeFrom();
    const here = this.seen.get(this.channel);
    if (handle.needsSnapshot || (since && this.isPattern) || (handle.wantsPresence && !this.withPresence)) return this.host.resubscribe(this);
    if (!this.isPattern && since) {
      const position = since as StreamPosition;
      const sameEpoch = position.epoch === undefined || position.epoch === here?.epoch;
      if (here && sameEpoch && position.offset < here.offset) return this.host.resubscribe(this);
    }
    // Announced after `subscribe()` returns, so that the caller's listeners hear the state and any reset.
    queueMicrotask(() => {
      if (this.handles.has(handle) && !handle.started && this.state === 'subscribed') handle.startAt(here, this.seen, this.lastTime);
    });
  }

  /** @internal */
  setState(to: 'pending'): void {
    this.state = to;
    this.inFlight = false;
    this.assembling = undefined;
    for (const handle of this.handles) handle.setState(to);
  }

  onSubscribed(reply: SubscribedMessage): void {
    if (reply.id !== undefined && reply.id !== this.requestId) return;
    this.assembling = undefined;
    const parted = partedSnapshot(reply.snapshot);
    if (parted) {
      // The rest of the steps follow before any event: the subscriptions start once they are all in.
      this.assembling = { reply, snapshot: parted.snapshot, total: parted.total };
      return;
    }
    this.start(reply);
  }

  /** The next part of a big run snapshot (protocol.md, Run snapshots). */
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
    this.inFlight = false;
    this.state = 'subscribed';
    if (!this.isPattern && reply.epoch !== undefined && reply.offset !== undefined) {
      this.replied = { offset: reply.offset, epoch: reply.epoch };
      const here = this.seen.get(this.channel);
      if (!here || here.epoch !== reply.epoch || here.offset < reply.offset) this.seen.set(this.channel, { offset: reply.offset, epoch: reply.epoch });
    }
    // Each subscription gets a snapshot of its own: apps apply events to it in place.
    let given = false;
    const snapshot = () => {
      if (given) return structuredClone(reply.snapshot);
      given = true;
      return reply.snapshot;
    };
    let again = false;
    const starting = this.starting;
    this.starting = new Set();
    for (const handle of starting) {
      if (this.handles.has(handle) && !handle.start(reply, this.asked, snapshot)) again = true;
    }
    for (const handle of this.handles) {
      if (starting.has(handle) || handle.started) continue;
      // Joined while the subscribe was in flight, with a start of its own.
      if (handle.needsSnapshot || handle.resumeFrom()) again = true;
      else this.join(handle);
    }
    if (again) this.host.resubscribe(this);
  }

  /**
   * An event of a channel this subscription matches. `overlap` when another of the client's subscriptions
   * matches it too: then events may come from that one's stream, and `historyUpTo` is the offset up to which
   * that one's replay is history (an exact channel's latest offset when the hub answered it).
   */
  deliver(message: EventMessage, overlap?: { historyUpTo: number | undefined }): void {
    const here = this.seen.get(message.channel);
    if (!here || here.epoch !== message.epoch || here.offset < message.offset) this.seen.set(message.channel, { offset: message.offset, epoch: message.epoch });
    if (this.lastTime === undefined || message.time > this.lastTime) this.lastTime = message.time;
    for (const handle of [...this.handles]) handle.deliver(message, overlap);
  }

  /** An ephemeral event of a channel this subscription matches: to each subscription, positions untouched. */
  deliverEphemeral(message: EphemeralMessage): void {
    for (const handle of [...this.handles]) handle.deliverEphemeral(message);
  }

  /** A join or leave: to the subscriptions that asked for them. */
  onPresence(message: JoinMessage | LeaveMessage): void {
    for (const handle of [...this.handles]) handle.onPresence(message);
  }

  fail(code: string, message: string): void {
    this.inFlight = false;
    for (const handle of [...this.handles]) handle.fail(code, message);
  }
}

/** Whether a pattern subscription has neither a position of its own in `channel` nor a time to resume it after. */
function needsPin(handle: Subscription<any>, channel: string): boolean {
  const own = handle.resumeFrom() as PatternPosition | undefined;
  return own?.positions?.[channel] === undefined && !handle.floorFor(channel);
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
