import { runIdOfChannel } from '@herald/protocol';
import type { Principal } from '../access/principal.js';
import type { HeraldConfig } from '../config.js';
import { HeraldError } from '../errors.js';
import type { HubFeature } from '../hub.js';
import { pause } from '../slicer.js';
import type { ChannelPosition, EventStore } from '../store/types.js';
import { BucketMap } from './token-bucket.js';
import { RateLimitedError } from './rate-limited.js';

/** Channels read per page when the quota re-reads the store. */
const REFRESH_PAGE = 1000;

export type ChannelQuotaLimits = Pick<HeraldConfig, 'maxChannels' | 'maxRuns' | 'maxNewChannelsPerMinute'>;

/**
 * Channels and runs, counted at the hub's door: a publish that would make a channel hold history again
 * (a new one, or one whose history aged out or was reset) is a creation. Creations count against the
 * channel total, run channels (`runs.<id>`) also against the run total, and every creation against its
 * principal's per-minute budget. Publishes to channels that hold history cost a Set lookup.
 *
 * The set of channels holding history is read from the store at start and again after every retention
 * sweep (channels whose events all aged out free their place), a page at a time in slices of the event
 * loop, and kept up to date in between by the creations this door admits and the resets it hears about.
 */
export class ChannelQuota implements HubFeature {
  private held = new Set<string>();
  private heldRuns = 0;
  /** Creations admitted whose append has not answered yet: channel → appends waiting on it. */
  private readonly creating = new Map<string, number>();
  private creatingRuns = 0;
  private readonly perPrincipal: BucketMap | undefined;
  /** While a refresh reads the store: channels created or reset meanwhile, applied to what it read. */
  private duringRefresh: Map<string, 'created' | 'reset'> | undefined;

  constructor(
    private readonly limits: ChannelQuotaLimits,
    private readonly store: Pick<EventStore, 'listChannels'>,
  ) {
    const perMinute = limits.maxNewChannelsPerMinute;
    this.perPrincipal = perMinute > 0 ? new BucketMap(perMinute / 60, perMinute) : undefined;
  }

  /** Whether any of the quotas is on (when none is, the hub need not ask). */
  get enabled(): boolean {
    return this.limits.maxChannels > 0 || this.limits.maxRuns > 0 || this.limits.maxNewChannelsPerMinute > 0;
  }

  /** Re-reads which channels hold history (at start and after each retention sweep). */
  async refresh(): Promise<void> {
    const held = new Set<string>();
    const changes = new Map<string, 'created' | 'reset'>();
    this.duringRefresh = changes;
    try {
      let after: string | undefined;
      for (;;) {
        const page = await this.store.listChannels({ after, limit: REFRESH_PAGE });
        // every event aged out: its place is free again
        for (const channel of page) if (channel.lastTime !== undefined) held.add(channel.name);
        if (page.length < REFRESH_PAGE) break;
        after = page.at(-1)!.name;
        await pause();
      }
    } finally {
      this.duringRefresh = undefined;
    }
    for (const [channel, change] of changes) {
      if (change === 'created') held.add(channel);
      else held.delete(channel);
    }
    let runs = 0;
    for (const channel of held) if (runIdOfChannel(channel) !== undefined) runs++;
    this.held = held;
    this.heldRuns = runs;
    this.perPrincipal?.prune();
  }

  get channelCount(): number {
    return this.held.size;
  }

  /**
   * Called by the hub before a publish is stored; throws `quota_exceeded` or `rate_limited`. Returns
   * what the hub must call with the outcome when the publish creates a channel.
   */
  admit(who: Principal, channel: string): ((stored: boolean) => void) | undefined {
    if (this.held.has(channel)) return undefined;
    const isRun = runIdOfChannel(channel) !== undefined;
    const waiting = this.creating.get(channel);
    if (waiting === undefined && who.kind !== 'system') this.check(who, channel, isRun);
    this.creating.set(channel, (waiting ?? 0) + 1);
    if (waiting === undefined && isRun) this.creatingRuns++;
    return (stored) => this.settle(channel, isRun, stored);
  }

  afterReset(channel: string, _position: ChannelPosition): void {
    this.duringRefresh?.set(channel, 'reset');
    if (this.held.delete(channel) && runIdOfChannel(channel) !== undefined) this.heldRuns--;
  }

  private check(who: Principal, channel: string, isRun: boolean): void {
    const { maxChannels, maxRuns, maxNewChannelsPerMinute } = this.limits;
    if (maxChannels > 0 && this.held.size + this.creating.size >= maxChannels) {
      throw new HeraldError('quota_exceeded', `the hub already holds ${maxChannels} channels with history (--max-channels); "${channel}" was not created: delete channels that are done, or ask the operator to raise the quota`);
    }
    if (isRun && maxRuns > 0 && this.heldRuns + this.creatingRuns >= maxRuns) {
      throw new HeraldError('quota_exceeded', `the hub already holds ${maxRuns} runs (--max-runs); run channel "${channel}" was not created: delete runs that are done, or ask the operator to raise the quota`);
    }
    if (this.perPrincipal) {
      const bucket = this.perPrincipal.get(`${who.kind}:${who.name}`);
      const wait = bucket.waitFor(1);
      if (wait > 0) {
        throw new RateLimitedError(`"${who.name}" may create ${maxNewChannelsPerMinute} new channels per minute (--max-new-channels-per-minute); "${channel}" was not created: retry in ${Math.ceil(wait / 1000)} s`, wait);
      }
      bucket.take(1);
    }
  }

  private settle(channel: string, isRun: boolean, stored: boolean): void {
    const waiting = (this.creating.get(channel) ?? 1) - 1;
    if (stored) this.duringRefresh?.set(channel, 'created');
    if (stored && !this.held.has(channel)) {
      this.held.add(channel);
      if (isRun) this.heldRuns++;
    }
    if (waiting > 0) {
      this.creating.set(channel, waiting);
      return;
    }
    this.creating.delete(channel);
    if (isRun) this.creatingRuns--;
  }
}
