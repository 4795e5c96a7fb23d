import { checkRunEventData, RUN_CHANNEL_PREFIX, RUN_SUMMARY_CHANNEL, runIdOfChannel, type HeraldEvent, type RunSnapshot, type RunStep } from '@herald/protocol';
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { HeraldError } from '../errors.js';
import { prepareEvents } from '../events-in.js';
import { SYSTEM } from '../access/principal.js';
import type { FeatureSnapshot, Hub, HubFeature } from '../hub.js';
import type { AppendInput, ChannelPosition, StoredEvent } from '../store/types.js';
import { applyRunEvent, emptySnapshot, eventTime, summarize, type HealthWeights } from '@herald/protocol';
import type { MetricPoint, RunStore, RunView, TextEntry } from './run-store.js';
import { partedSnapshot } from './snapshot-parts.js';

export interface RunTrackerOptions {
  /** A running run silent for this long becomes `stalled`. */
  stallAfterMs: number;
  weights: HealthWeights;
  /** Runs not updated for this long are dropped from the archive. */
  retentionAgeMs: number;
  /** How often changed runs are written and summarised. */
  flushIntervalMs?: number;
  log: FastifyBaseLogger;
}

/** Events the hub writes itself are checked for form, not for size. */
const HUB_EVENT_SHAPE = { maxDepth: Number.MAX_SAFE_INTEGER, maxKeys: Number.MAX_SAFE_INTEGER };

/** Bounds the channels listed and the events read per catch-up page after a restart. */
const CATCH_UP_PAGE = 1000;

/**
 * Keeps the snapshot of every run as its events are stored. Snapshots of unfinished runs live in
 * memory (the hot path never reads the database); finished ones are read back from the archive when
 * asked for. Changes are written in batches; after a crash, `start()` replays whatever events the
 * archive had not yet taken in, so the archive catches up with the durable event history.
 */
export class RunTracker implements HubFeature {
  private readonly live = new Map<string, RunSnapshot>();
  /** Runs changed since the last flush, with the positions of their steps that changed. */
  private readonly dirty = new Map<RunSnapshot, Set<number>>();
  private metrics: MetricPoint[] = [];
  private texts: TextEntry[] = [];
  private readonly stallPending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private unplug: (() => void) | undefined;
  private unfollow: (() => void) | undefined;
  /** The epoch each run's snapshot was built in (a reset on any hub shows up as a new one). */
  private readonly epochs = new Map<string, string>();

  constructor(
    private readonly hub: Hub,
    private readonly store: RunStore,
    private readonly options: RunTrackerOptions,
  ) {}

  /** Loads unfinished runs and replays events the archive missed (a crash between commit and flush). */
  async start(): Promise<void> {
    for (const run of this.store.unfinished()) this.live.set(run.id, run);
    let next: string | undefined;
    do {
      const page = await this.hub.channels(SYSTEM, { prefix: RUN_CHANNEL_PREFIX, after: next, limit: CATCH_UP_PAGE });
      next = page.next;
      for (const channel of page.channels) await this.catchUp(channel.name, channel.latest);
    } while (next !== undefined);
    this.flush();
    this.unplug = this.hub.use(this);
    this.unfollow = await this.hub.follow(`${RUN_CHANNEL_PREFIX}>`);
    const interval = this.options.flushIntervalMs ?? 250;
    this.timer = setInterval(() => this.flush(), interval);
    this.timer.unref();
    this.stallTimer = setInterval(() => this.checkStalls(), Math.max(10, Math.min(1000, Math.floor(this.options.stallAfterMs / 4))));
    this.stallTimer.unref();
  }

  /** Applies the events of a run channel that the archive has not taken in yet. */
  private async catchUp(channel: string, latest: number): Promise<void> {
    const id = runIdOfChannel(channel);
    if (!id) return;
    const known = this.live.get(id) ?? this.store.get(id);
    if (known && known.offset >= latest) return;
    for (let after = known?.offset ?? 0; ; ) {
      const page = await this.hub.history(SYSTEM, channel, after, CATCH_UP_PAGE);
      if (page.events.length === 0) break;
      this.afterAppend(channel, page.position.epoch, page.events);
      after = page.events.at(-1)!.offset;
    }
  }

  get(id: string): RunSnapshot | undefined {
    return this.live.get(id) ?? this.store.get(id);
  }

  /** The snapshot with its first `stepLimit` steps and `stepsTotal`: what `GET /api/runs/{id}` answers. */
  view(id: string, stepLimit: number): RunView | undefined {
    const run = this.live.get(id);
    if (!run) return this.store.view(id, stepLimit);
    return { ...run, steps: run.steps.slice(0, stepLimit), stepsTotal: run.steps.length };
  }

  /** Steps from position `from`, at most `limit`, with the offset they describe. */
  steps(id: string, from: number, limit: number): { offset: number; stepsTotal: number; steps: RunStep[] } | undefined {
    const run = this.live.get(id);
    if (!run) return this.store.steps(id, from, limit);
    return { offset: run.offset, stepsTotal: run.steps.length, steps: run.steps.slice(from, from + limit) };
  }

  /** For `subscribe {snapshot:true}`: the run at its offset, its steps in bounded parts when there are many. */
  snapshot(channel: string): FeatureSnapshot | undefined {
    const id = runIdOfChannel(channel);
    const run = id === undefined ? undefined : this.get(id);
    return run ? partedSnapshot(run) : undefined;
  }

  /**
   * Every hub of a cluster keeps every run: the events other hubs stored arrive here through the broker
   * (this hub follows `runs.>`), those this hub stored come again after `afterAppend` and are skipped.
   */
  beforeFanOut(epoch: string, events: readonly StoredEvent[]): void {
    const first = events[0];
    if (first && runIdOfChannel(first.channel) !== undefined) this.afterAppend(first.channel, epoch, events);
  }

  /** A reset run channel starts over: its snapshot, metrics and text would describe events that are gone. */
  afterReset(channel: string, _position?: ChannelPosition): void {
    const id = runIdOfChannel(channel);
    if (id === undefined) return;
    this.epochs.delete(id);
    const run = this.live.get(id);
    if (run) this.dirty.delete(run);
    this.live.delete(id);
    this.stallPending.delete(id);
    this.metrics = this.metrics.filter((m) => m.runId !== id);
    this.texts = this.texts.filter((t) => t.runId !== id);
    this.store.delete([id]);
  }

  /** Refuses run events whose data breaks the conventions, before anything is stored. */
  beforeAppend(channel: string, inputs: readonly AppendInput[]): void {
    if (runIdOfChannel(channel) === undefined) return;
    inputs.forEach(({ event }, index) => {
      const problem = checkRunEventData(event.type, event.data);
      if (problem) throw new HeraldError('invalid_event', inputs.length > 1 ? `event ${index}: ${problem}` : problem);
    });
  }

  afterAppend(channel: string, epoch: string, stored: readonly StoredEvent[]): void {
    const id = runIdOfChannel(channel);
    if (id === undefined) return;
    // A new epoch: the channel was reset, maybe on another hub of the cluster. The run starts over.
    const known = this.epochs.get(id);
    if (known !== undefined && known !== epoch) this.afterReset(channel);
    this.epochs.set(id, epoch);
    let run = this.live.get(id) ?? this.store.get(id);
    // Already applied (a catch-up after a restart, or this hub's own events coming back across hubs).
    if (run && stored.at(-1)!.offset <= run.offset) return;
    for (const e of stored) {
      if (run && e.offset <= run.offset) continue;
      const event = JSON.parse(e.json) as HeraldEvent;
      run ??= emptySnapshot(id, channel, e.time);
      const changed = this.changedSteps(run);
      const step = applyRunEvent(run, e.offset, e.time, event, this.options.weights);
      if (step !== undefined) changed.add(step);
      this.collect(run, e, event);
    }
    if (!run) return;
    this.live.set(id, run);
    this.changedSteps(run);
    if (run.status !== 'stalled') this.stallPending.delete(id);
  }

  /** Writes changed runs and publishes their summaries; finished runs leave memory afterwards. */
  flush(): void {
    if (this.dirty.size === 0 && this.metrics.length === 0) return;
    const changes = [...this.dirty].map(([run, steps]) => ({ run, steps }));
    this.dirty.clear();
    const changed = changes.map((c) => c.run);
    try {
      this.store.write(changes, this.metrics, this.texts);
      for (const run of changed) {
        if (run.status === 'succeeded' || run.status === 'failed' || run.status === 'cancelled') this.live.delete(run.id);
      }
    } catch (err) {
      // Snapshots stay in memory and their changed steps are written with the next flush (a later row
      // with a newer offset but without them would hide them for good); start() rebuilds the archive
      // from event history after a restart.
      for (const { run, steps } of changes) {
        const again = this.changedSteps(run);
        for (const step of steps) again.add(step);
      }
      this.options.log.error({ err }, 'writing run snapshots failed');
    }
    this.metrics = [];
    this.texts = [];
    // Each hub of a cluster summarises the runs it saw change: one id per run and offset makes the
    // hubs' summaries of one state one event on `runs`.
    const summaries = changed.map((run) => ({ type: 'run.summary', id: `herald-summary-${digest(run.id)}-${run.offset}`, data: summarize(run) }));
    // The hub's own events are not held to the limits on publishers' events (a summary of a run with
    // 9 990 labels has more than 10 000 keys), and nothing may throw out of this timer.
    try {
      this.hub.publish(SYSTEM, RUN_SUMMARY_CHANNEL, prepareEvents(summaries, Number.MAX_SAFE_INTEGER, HUB_EVENT_SHAPE)).catch((err: unknown) => {
        this.options.log.warn({ err }, 'publishing run summaries failed');
      });
    } catch (err) {
      this.options.log.warn({ err }, 'publishing run summaries failed');
    }
  }

  /** Ages out runs; called by the hub's retention sweep. */
  sweep(now = Date.now()): number {
    const cutoff = now - this.options.retentionAgeMs;
    // Runs abandoned without run.completed would otherwise stay in memory for the hub's lifetime.
    for (const [id, run] of this.live) if (run.updatedAt < cutoff && !this.dirty.has(run)) this.live.delete(id);
    return this.store.sweep(cutoff);
  }

  close(): void {
    clearInterval(this.timer);
    clearInterval(this.stallTimer);
    this.unfollow?.();
    this.unplug?.();
    this.flush();
    this.store.close();
  }

  /** Marks the run changed; returns the set its changed steps go in. */
  private changedSteps(run: RunSnapshot): Set<number> {
    let steps = this.dirty.get(run);
    if (!steps) this.dirty.set(run, (steps = new Set()));
    return steps;
  }

  private collect(run: RunSnapshot, stored: StoredEvent, event: HeraldEvent): void {
    const data = event.data as Record<string, any> | undefined;
    if (event.type === 'metric' && data) this.metrics.push({ runId: run.id, name: data.name, time: eventTime(stored.time, event.ts), value: data.value });
    if (event.type === 'log' && data) this.texts.push({ runId: run.id, kind: 'log', offset: stored.offset, text: data.message });
    if (event.type === 'run.started' && typeof data?.title === 'string') this.texts.push({ runId: run.id, kind: 'title', offset: stored.offset, text: data.title });
  }

  /** Publishes `run.stalled` into every running run that has been silent too long. */
  private checkStalls(): void {
    const silentSince = Date.now() - this.options.stallAfterMs;
    for (const run of this.live.values()) {
      if (run.status !== 'running' || run.updatedAt > silentSince || this.stallPending.has(run.id)) continue;
      this.stallPending.add(run.id);
      // Every hub of a cluster watches every run: the id makes the hubs' copies of one stall one event.
      const event = { type: 'run.stalled', id: `herald-stalled-${run.offset}`, severity: 'warning', data: { silentMs: Date.now() - run.updatedAt } };
      this.hub.publish(SYSTEM, run.channel, prepareEvents([event], Number.MAX_SAFE_INTEGER, HUB_EVENT_SHAPE)).catch((err: unknown) => {
        this.stallPending.delete(run.id);
        this.options.log.warn({ err, run: run.id }, 'publishing run.stalled failed');
      });
    }
  }
}

/** A short fixed-length name for a run id in idempotency ids (run ids may be 155 characters). */
function digest(id: string): string {
  return createHash('sha256').update(id).digest('base64url').slice(0, 22);
}
