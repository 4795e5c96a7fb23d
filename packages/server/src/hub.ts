import { isAttachmentId, isPattern, matchesPattern, type SenderInfo } from '@herald/protocol';
import type { AccessPolicy, Action, ReadScope } from './access/policy.js';
import { attachmentReferences } from './attachments/references.js';
import { RefusingAttachmentStore } from './attachments/store.js';
import type { AttachmentRecord, AttachmentStore, AttachmentUpload } from './attachments/types.js';
import type { Principal } from './access/principal.js';
import type { Broker } from './broker/types.js';
import type { DirectRelay } from './cluster/direct-relay.js';
import type { RequestRelay } from './cluster/request-relay.js';
import { DirectMailbox, type DirectRecipient, type DirectStatus } from './direct/mailbox.js';
import { Delivery } from './fanout/delivery.js';
import { fanOutEphemeral } from './fanout/ephemeral.js';
import { LiveOrder } from './fanout/live-order.js';
import { SubscriptionIndex } from './fanout/subscription-index.js';
import type { Subscription } from './fanout/subscription.js';
import { WriteBatch } from './fanout/write-batch.js';
import { EMPTY_REPLAY, type ReplaySource } from './fanout/replay-source.js';
import { LocalPresenceDirectory, type PresenceDirectory } from './presence/directory.js';
import { PresenceRegistry, type PresencePage } from './presence/registry.js';
import type { PresenceQuery } from './presence/query.js';
import { RequestExchange, type ReplyInput, type RequestInput } from './rpc/exchange.js';
import type { Responder } from './rpc/responders.js';
import { newestOfPattern, patternPrefix, recoverChannel, recoverPattern, type Since } from './recovery.js';
import type { AppendInput, AppendResult, ChannelListQuery, ChannelPosition, EventStore, HistoryPage, ScannedEvent, StoreHealth, StoredEvent, StoreTotals } from './store/types.js';

/**
 * Several events of one fan-out go to each socket in one write (fanout/write-batch.ts). Off only for
 * `npm run bench -- --only=coalesce`, which measures what it saves (HERALD_BENCH_COALESCE=off): not a setting.
 */
const COALESCE_WRITES = process.env.HERALD_BENCH_COALESCE !== 'off';

/**
 * Lets a feature (runs) take part in the hub without the hub knowing it: `beforeAppend` may refuse
 * events (throw a HeraldError) before anything is stored; `afterAppend` sees stored events in offset
 * order before any subscriber does, so state derived from them is never behind what subscribers were
 * sent; `afterReset` hears that a channel's history is gone, so derived state does not outlive it;
 * `snapshot` is state a subscriber can ask for instead of history, consistent with `offset`.
 */
export interface HubFeature {
  /**
   * Quotas that depend on who publishes (channels created per minute): may throw a HeraldError before
   * anything is stored, or return a function the hub calls with whether the append stored anything.
   */
  admit?(who: Principal, channel: string): ((stored: boolean) => void) | undefined;
  beforeAppend?(channel: string, inputs: readonly AppendInput[]): void;
  afterAppend?(channel: string, epoch: string, stored: readonly StoredEvent[]): void;
  afterReset?(channel: string, position: ChannelPosition): void;
  /**
   * Across hubs (a broker that is not lossless): sees every batch this hub fans out — its own appends
   * and other hubs' — in offset order per channel, before any subscriber does, so state kept from events
   * on every hub of a cluster (runs) follows them here. Batches this hub stored come again after
   * `afterAppend` (skip by offset). On one hub it is not called: `afterAppend` saw everything.
   */
  beforeFanOut?(epoch: string, events: readonly StoredEvent[]): void;
  snapshot?(channel: string): FeatureSnapshot | undefined;
}

/** A feature's state for a subscriber, consistent with `offset`. */
export interface FeatureSnapshot {
  /** What the `subscribed` reply carries (kept small: a big state sends the rest in `parts`). */
  snapshot: unknown;
  offset: number;
  parts?: SnapshotParts;
}

/**
 * The rest of a snapshot too big for one reply (a run's steps): messages the connection sends after the
 * reply as the socket drains, before any live event. They describe the state at the snapshot's offset.
 */
export interface SnapshotParts {
  /** The next message as JSON text, or undefined once the snapshot is complete. */
  next(): string | undefined;
}

/** How replays are cut: pages of events read as the socket drains; pattern replays also by bytes. */
export interface ReplayLimits {
  pageEvents: number;
  maxPatternBytes: number;
}
export const DEFAULT_REPLAY_LIMITS: ReplayLimits = { pageEvents: 64, maxPatternBytes: 16 * 1024 * 1024 };

/** Across hubs on one Redis (cluster/): where direct messages and requests go when this hub cannot take them. */
export interface HubCluster {
  direct: DirectRelay;
  requests: RequestRelay;
}

/** A row of the channel list. */
export interface ChannelListing {
  name: string;
  epoch: string;
  latest: number;
  lastTime: number | undefined;
  /** Subscriptions (exact and pattern) on this hub that match the channel. */
  subscribers: number;
  /** Exact-channel subscriptions on every hub of the cluster: who presence lists. */
  watching: number;
}

/** A page of the channel list; `next` is the `after` of the following page (undefined at the end). */
export interface ChannelListPage {
  channels: ChannelListing[];
  next: string | undefined;
}

/**
 * Most channels looked at for one page of a filtered list. A caller who may read few of many channels
 * gets a short page (or an empty one) with `next`, instead of a request that walks the whole list.
 */
export const MAX_LIST_SCAN = 10_000;
/** Most stored events one page of `Hub.newest` looks at. */
export const MAX_NEWEST_SCAN = 10_000;

export interface SubscribeOutcome {
  subscription: Subscription;
  /** Exact channels: the position the subscription starts after. */
  epoch?: string;
  offset?: number;
  /** Only when `since` was given. */
  recovered?: boolean;
  /** Only when a snapshot was asked for: the state up to and including `offset` (null if none yet). */
  snapshot?: unknown;
  /** The rest of a snapshot too big for the reply, to send after it and before live events. */
  snapshotParts?: SnapshotParts;
  /** The missed events, read a page at a time as the subscriber drains. */
  replay: ReplaySource;
  /** Highest offset the reply and replay account for, per channel; held live events above it follow. */
  coveredUpTo: (channel: string) => number;
  /** The epoch of those offsets, per channel (undefined: nothing covered). */
  coveredEpoch: (channel: string) => string | undefined;
}

/**
 * The transport-free core and the one door to history, subscriptions and access: every read,
 * subscribe, publish and reset names who is asking, and the access policy decides before anything is
 * touched. Publishing goes store → broker → fan-out; subscribing registers first and reads history
 * second, so no event can fall between the replay and the live stream.
 */
export class Hub {
  eventsIn = 0;
  eventsOut = 0;
  private readonly index = new SubscriptionIndex();
  /** Who is subscribed to each channel here, for presence (fed with the index). */
  private readonly present = new PresenceRegistry(() => this.access.required);
  /** Where presence is answered from: this hub's registry, or a directory the hubs of a cluster share (`sharePresence`). */
  private presenceDirectory: PresenceDirectory = new LocalPresenceDirectory(this.present);
  private readonly features: HubFeature[] = [];
  /** Publishes between the store and their answer: graceful shutdown waits for them (`drain`). */
  private readonly inFlight = new Set<Promise<unknown>>();
  private mark = 0;
  /** Across hubs: the channels and patterns features follow (`follow`), with when each follow began. */
  private readonly follows = new Set<{ channel: string; startedAt: number }>();
  /** Files events reference; refused until the server gives the hub a store for them (`keepAttachments`). */
  private attachments: AttachmentStore = new RefusingAttachmentStore();
  // Fields used by the fan-out visitor, so that the hot loop allocates no closure per event.
  private currentDelivery: Delivery | undefined;
  private readonly visit = (sub: Subscription): void => this.deliverTo(sub);
  /** Direct messages to client ids of this hub's connections (the transports tell it who comes and goes). */
  readonly direct = new DirectMailbox();
  /** Request/reply (rpc/): who serves which channel, and the requests waiting for replies. */
  private readonly requests = new RequestExchange();
  /** Other hubs, once the server joined this one to them (Redis); undefined: this hub is alone. */
  private cluster: HubCluster | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly broker: Broker,
    readonly access: AccessPolicy,
    private readonly maxRecoveryEvents: number,
    private readonly replayLimits: ReplayLimits = DEFAULT_REPLAY_LIMITS,
    /** Hears a broker that failed to carry stored events (they are in history: resumes find them). */
    private readonly onBrokerError: (error: unknown) => void = () => {},
  ) {
    // Ephemeral events skip the live order on every broker: they have no offset to order by.
    broker.onEphemeral((event) => (this.eventsOut += fanOutEphemeral(this.index, event, ++this.mark)));
    if (broker.lossless) {
      broker.onEvents((epoch, events) => this.fanOut(epoch, events));
      return;
    }
    // Across hubs deliveries can be lost or repeated: put them in order, filling gaps from history.
    const order = new LiveOrder({
      read: (channel, after, limit) => this.store.read(channel, after, limit),
      emit: (epoch, events) => {
        // Only across hubs do features need to see deliveries: on one hub they saw them in afterAppend.
        for (const feature of this.features) feature.beforeFanOut?.(epoch, events);
        this.fanOut(epoch, events);
      },
      onLoss: (channel, from, to) => onBrokerError(new Error(`live events ${from}–${to} of "${channel}" were missed and are no longer in history`)),
      interestSince: (channel) => this.interestSince(channel),
    });
    broker.onEvents((epoch, events) => order.accept(epoch, events));
    broker.onGap?.(() => void order.refill().catch(onBrokerError));
  }

  /** Joins the hubs of one Redis: from now on direct messages and requests reach clients on the others. */
  joinCluster(cluster: HubCluster): void {
    this.cluster = cluster;
  }

  /**
   * A connection with a client id was admitted: `greet` (its hello) is called once the id is addressable
   * from every hub — at once alone, after the directory claim and the handover of mail kept on the hub it
   * was on across hubs — and the mail kept for the id follows right after it.
   */
  clientConnected(recipient: DirectRecipient, greet: () => void): void {
    if (this.cluster) return this.cluster.direct.connected(recipient, greet);
    greet();
    this.direct.connected(recipient);
  }

  clientDisconnected(recipient: DirectRecipient): void {
    if (this.cluster) this.cluster.direct.disconnected(recipient);
    else this.direct.disconnected(recipient);
  }

  /** Plugs a feature in; returns the function that takes it out. */
  use(feature: HubFeature): () => void {
    this.features.push(feature);
    return () => {
      const index = this.features.indexOf(feature);
      if (index >= 0) this.features.splice(index, 1);
    };
  }

  /**
   * Makes presence span the hubs of a cluster: `make` gets this hub's registry (its own truth, which
   * announces its own joins and leaves) and returns the shared directory presence is answered from.
   * Call before the hub takes subscriptions.
   */
  sharePresence(make: (registry: PresenceRegistry) => PresenceDirectory): PresenceDirectory {
    return (this.presenceDirectory = make(this.present));
  }

  /** Gives the hub a place for attachments; their references in events are checked and followed from now on. */
  keepAttachments(store: AttachmentStore): void {
    this.attachments = store;
    this.use(attachmentReferences(store));
  }

  /**
   * Makes the broker carry the events of `channel` (a name or pattern) to this hub although no client
   * subscribed, for a feature that follows them (`beforeFanOut`). Returns the function that stops it.
   */
  async follow(channel: string): Promise<() => void> {
    const follow = { channel, startedAt: this.clock() };
    await this.broker.subscribe(channel);
    this.follows.add(follow);
    let following = true;
    return () => {
      if (following) this.broker.unsubscribe(channel);
      this.follows.delete(follow);
      following = false;
    };
  }

  /** The store's clock: receive times are stamped with it. */
  private clock(): number {
    return this.store.clock?.() ?? Date.now();
  }

  /** Since when this hub has had interest in `channel` (its earliest matching subscription or follow). */
  private interestSince(channel: string): number | undefined {
    let since: number | undefined;
    this.index.forEachMatch(channel, (sub) => {
      if (!sub.cancelled && (since === undefined || sub.startedAt < since)) since = sub.startedAt;
    });
    for (const follow of this.follows) {
      const matches = isPattern(follow.channel) ? matchesPattern(follow.channel, channel) : follow.channel === channel;
      if (matches && (since === undefined || follow.startedAt < since)) since = follow.startedAt;
    }
    return since;
  }

  /** For doors and features with their own data (runs, stats): the policy's verdict, or a throw. */
  authorize(who: Principal, action: Action): void {
    this.access.authorize(who, action);
  }

  /** What `who` may read, for filtering a list; authorizes the listing. */
  scope(who: Principal, what: string): ReadScope {
    return this.access.scope(who, what);
  }

  /** Stores events (group-committed by the store), then hands the new ones to the broker. */
  publish(who: Principal, channel: string, inputs: AppendInput[]): Promise<AppendResult> {
    const pending = this.append(who, channel, inputs);
    this.inFlight.add(pending);
    const forget = () => this.inFlight.delete(pending);
    pending.then(forget, forget);
    return pending;
  }

  /**
   * Fans events out to the channel's live subscribers (on every hub of the broker) without storing them
   * (`ephemeral: true`): no offset, never in history or a replay. Allowed where publishing is, and
   * checked like stored events of the channel (features' `beforeAppend`: a run channel's event shapes),
   * but no feature's state follows them (a run's snapshot never changes). Resolves once the broker took
   * them; a broker that cannot take them rejects (nothing was sent).
   */
  async publishEphemeral(who: Principal, channel: string, inputs: readonly AppendInput[]): Promise<void> {
    this.access.authorize(who, { kind: 'publish', channel });
    for (const feature of this.features) feature.beforeAppend?.(channel, inputs);
    // Whole milliseconds, as stored events' times (Redis's clock, as this hub knows it, is fractional).
    const time = Math.floor(this.clock());
    await Promise.all(inputs.map(({ json }) => this.broker.publishEphemeral({ channel, time, json })));
  }

  /**
   * Resolves once every publish accepted so far is committed and its callers have been answered
   * (their `then` handlers run before this resumes), so that a shutdown closes no connection with a
   * committed but unacknowledged publish.
   */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async append(who: Principal, channel: string, inputs: AppendInput[]): Promise<AppendResult> {
    this.access.authorize(who, { kind: 'publish', channel });
    for (const feature of this.features) feature.beforeAppend?.(channel, inputs);
    const settles = this.features.map((feature) => feature.admit?.(who, channel)).filter((s) => s !== undefined);
    const appending = this.store.append(channel, inputs);
    for (const settle of settles) appending.then(() => settle(true), () => settle(false));
    const result = await appending;
    if (result.stored.length > 0) {
      this.eventsIn += result.stored.length;
      for (const feature of this.features) feature.afterAppend?.(channel, result.epoch, result.stored);
      // Stored is acknowledged: a broker that cannot carry the events does not make them unstored, and
      // subscribers that missed them find them in history by their offsets.
      await this.broker.publish(result.epoch, result.stored).catch(this.onBrokerError);
    }
    return result;
  }

  /**
   * A message to one client id: written to its connection (`delivered`) or kept while it is away
   * (`queued`); `unknown_client` otherwise. Never stored, never fanned out. It shows as from the
   * sending connection's client id (none over HTTP) and, when credentials are required, their name.
   * Across hubs the id may be on another one (cluster/direct-relay.ts): then this waits for its answer.
   */
  async sendDirect(who: Principal, to: string, input: AppendInput, fromClientId?: string): Promise<DirectStatus> {
    this.access.authorize(who, { kind: 'direct', to });
    const from: SenderInfo = {};
    if (fromClientId !== undefined) from.clientId = fromClientId;
    if (this.access.required) from.user = who.name;
    return this.cluster ? this.cluster.direct.send(to, from, input) : this.direct.deliver(to, from, input);
  }

  /** A page of a channel's stored history, oldest first. */
  async history(who: Principal, channel: string, afterOffset: number, limit: number): Promise<HistoryPage> {
    this.access.authorize(who, { kind: 'subscribe', channel });
    return this.store.read(channel, afterOffset, limit);
  }

  /**
   * The newest events across the channels `pattern` matches, newest first, a page at a time (`before`
   * is the previous page's `next`). A page looks at no more than MAX_NEWEST_SCAN stored events in at
   * most 20 store reads, so a pattern that matches few of many busy channels gets a short page with a
   * `next` to go on from.
   */
  async newest(who: Principal, pattern: string, query: { before?: string; limit: number }): Promise<{ events: ScannedEvent[]; next: string | undefined }> {
    this.access.authorize(who, { kind: 'subscribe', channel: pattern });
    const prefix = patternPrefix(pattern);
    const events: ScannedEvent[] = [];
    let cursor = query.before;
    for (let looked = 0, reads = 0; looked < MAX_NEWEST_SCAN && reads < 20 && events.length < query.limit; reads++) {
      const limit = query.limit - events.length;
      const page = await this.store.scanNewest({ prefix, cursor, limit });
      looked += limit;
      for (const e of page.events) if (matchesPattern(pattern, e.channel)) events.push(e);
      cursor = page.next;
      if (cursor === undefined) break;
    }
    return { events, next: cursor };
  }

  /**
   * Deletes a channel's history; the channel starts again in a new epoch. Features drop derived state,
   * and the channel's attachments are deleted before the answer.
   */
  async reset(who: Principal, channel: string): Promise<ChannelPosition> {
    this.access.authorize(who, { kind: 'reset', channel });
    const position = await this.store.reset(channel);
    for (const feature of this.features) feature.afterReset?.(channel, position);
    await this.attachments.dropChannel(channel);
    return position;
  }

  /** Stores a file for the channel's events to reference: as publishing to the channel. */
  async upload(who: Principal, channel: string, upload: AttachmentUpload): Promise<AttachmentRecord> {
    this.access.authorize(who, { kind: 'publish', channel });
    return this.attachments.put(channel, upload);
  }

  /** One attachment of a channel (its record and bytes), or undefined: as reading the channel. */
  async attachment(who: Principal, channel: string, id: string): Promise<Awaited<ReturnType<AttachmentStore['open']>>> {
    this.access.authorize(who, { kind: 'subscribe', channel });
    // An id is a SHA-256 in hex: anything else names nothing (and never reaches a file name).
    return isAttachmentId(id) ? this.attachments.open(channel, id) : undefined;
  }

  /**
   * Retention for attachments, at most `limit` of them looked at: deletes those no retained event
   * references any more (see `AttachmentStore.sweep`).
   */
  sweepAttachments(who: Principal, now: number, limit: number): Promise<number> {
    this.access.authorize(who, { kind: 'admin', what: 'the attachment sweep' });
    return this.attachments.sweep((channel) => this.store.position(channel), now, limit);
  }

  /**
   * A page of the channels `who` may read (in name order, after `query.after`), with their positions and
   * local subscriber counts. Bounded work whatever the number of channels: see `MAX_LIST_SCAN`.
   */
  async channels(who: Principal, query: ChannelListQuery): Promise<ChannelListPage> {
    const scope = this.access.scope(who, 'channels');
    const channels: ChannelListing[] = [];
    let after = query.after;
    for (let looked = 0; ; ) {
      // One more than the page, to know whether another page follows.
      const page = await this.store.listChannels({ prefix: query.prefix, after, limit: query.limit + 1 });
      for (const c of page) {
        if (channels.length === query.limit) return this.withWatching({ channels, next: channels.at(-1)!.name });
        after = c.name;
        looked++;
        if (scope.allows(c.name)) {
          channels.push({ name: c.name, epoch: c.epoch, latest: c.latest, lastTime: c.lastTime, subscribers: this.index.countMatches(c.name), watching: 0 });
        }
      }
      if (page.length <= query.limit) return this.withWatching({ channels, next: undefined });
      if (looked >= MAX_LIST_SCAN) return this.withWatching({ channels, next: after });
    }
  }

  /** Fills in `watching` for a page of the list: one question to the directory for the page. */
  private async withWatching(page: ChannelListPage): Promise<ChannelListPage> {
    const counts = await this.presenceDirectory.counts(page.channels.map((c) => c.name));
    page.channels.forEach((c, i) => (c.watching = counts[i] ?? 0));
    return page;
  }

  /** Registers `responder` for requests on `channel` (a name or pattern); false when it served it already. */
  serve(who: Principal, channel: string, responder: Responder): boolean {
    this.access.authorize(who, { kind: 'serve', channel });
    const added = this.requests.serve(channel, responder);
    if (added) this.cluster?.requests.served(channel);
    return added;
  }

  unserve(channel: string, responder: Responder): boolean {
    const removed = this.requests.unserve(channel, responder);
    if (removed) this.cluster?.requests.unserved(channel);
    return removed;
  }

  /** It went away: its requests (or those `which` picks) fail at once with `no_responder`. Its registrations end with `unserve`. */
  responderGone(responder: Responder, which?: (requestId: string) => boolean): void {
    this.requests.responderGone(responder, which);
  }

  /** Asks a responder of the channel; resolves with its reply's data (see RequestExchange.request). */
  request(who: Principal, input: RequestInput): Promise<unknown> {
    this.access.authorize(who, { kind: 'request', channel: input.channel });
    // A responder here first; else one on another hub; else this hub's own answer (no_responder, busy).
    const cluster = this.cluster;
    if (!cluster || this.requests.availability(input.channel) === 'free' || !cluster.requests.servedElsewhere(input.channel)) return this.requests.request(input);
    return cluster.requests.forward(input);
  }

  /** A request another hub forwarded (its access was decided there): this hub's responders only. */
  requestHere(input: RequestInput): Promise<unknown> {
    return this.requests.request(input);
  }

  /** Whether a responder here could take a request on `channel` now. */
  respondersHere(channel: string): 'free' | 'busy' | undefined {
    return this.requests.availability(channel);
  }

  /** Whether another hub serves `channel` (as this hub last heard; tests wait on it); false alone. */
  servedElsewhere(channel: string): boolean {
    return this.cluster?.requests.servedElsewhere(channel) ?? false;
  }

  /** A responder's answer; `asked` tells whether the responder a request went to is the caller. */
  reply(requestId: string, asked: (responder: Responder, channel: string) => boolean, answer: ReplyInput): void {
    this.requests.reply(requestId, asked, answer);
  }

  /** Requests waiting for replies now (stats, tests). */
  get waitingRequests(): number {
    return this.requests.size;
  }

  /** Shutdown: waiting requests fail with `shutting_down`. */
  closeRequests(): void {
    this.requests.close();
  }

  /** Whether history can be stored right now (see `EventStore.health`). */
  storageHealth(): StoreHealth {
    return this.store.health?.() ?? { status: 'ok' };
  }

  /** How many channels there are (hub-wide, so admin only when credentials are required). */
  async channelCount(who: Principal): Promise<number> {
    this.access.authorize(who, { kind: 'admin', what: 'the channel count' });
    return this.store.channelCount();
  }

  /** Events and bytes the history retains over all channels, in O(1) (hub-wide: admin only, like the count). */
  async storedTotals(who: Principal): Promise<StoreTotals> {
    this.access.authorize(who, { kind: 'admin', what: 'the stored totals' });
    return this.store.totals();
  }

  /**
   * Starts a subscription: it is indexed at once (holding live events), then history is read. The caller
   * sends the reply and `replay`, then calls `subscription.goLive(outcome.coveredUpTo)`; live events that
   * arrive while the replay is being written stay held until then.
   */
  async subscribe(who: Principal, subscription: Subscription, since: Since | undefined): Promise<SubscribeOutcome> {
    const { channel, isPattern } = subscription;
    this.access.authorize(who, { kind: 'subscribe', channel });
    subscription.startedAt = this.clock();
    this.index.add(subscription);
    const entry = this.present.add(subscription);
    try {
      // Deliveries flow before history is read, so nothing falls between the history and the live stream.
      // Listed on every hub before the reply too (never rejects): whoever asks presence after it sees it.
      subscription.brokerInterest = true;
      await Promise.all([this.broker.subscribe(channel), entry && this.presenceDirectory.joined(subscription, entry)]);
      if (isPattern && since?.kind === 'last') {
        const { pageEvents, maxPatternBytes } = this.replayLimits;
        const result = await newestOfPattern(this.store, channel, since.count, this.maxRecoveryEvents, maxPatternBytes, pageEvents);
        return this.started({ subscription, replay: result.replay, coveredUpTo: (c) => result.covered.get(c) ?? 0, coveredEpoch: (c) => result.epochs.get(c) });
      }
      if (isPattern) {
        if (since?.kind !== 'pattern') {
          subscription.held = undefined;
          return this.started({ subscription, replay: EMPTY_REPLAY, coveredUpTo: () => 0, coveredEpoch: () => undefined });
        }
        const { pageEvents, maxPatternBytes } = this.replayLimits;
        const result = await recoverPattern(this.store, channel, since.position, this.maxRecoveryEvents, maxPatternBytes, pageEvents);
        return this.started({ subscription, recovered: result.recovered, replay: result.replay, coveredUpTo: (c) => result.covered.get(c) ?? 0, coveredEpoch: (c) => result.epochs.get(c) });
      }
      if (since?.kind === 'snapshot') {
        const position = await this.store.position(channel);
        // Taken after the subscription started holding live events: everything after `offset` follows.
        let taken: FeatureSnapshot | undefined;
        for (const feature of this.features) taken ??= feature.snapshot?.(channel);
        const offset = taken?.offset ?? position.latest;
        const parts = taken?.parts ? { snapshotParts: taken.parts } : {};
        return this.started({ subscription, epoch: position.epoch, offset, snapshot: taken?.snapshot ?? null, ...parts, replay: EMPTY_REPLAY, coveredUpTo: () => offset, coveredEpoch: () => position.epoch });
      }
      if (since?.kind === 'last') {
        // The newest `count` the channel still holds: a replay from there, not a resume (no `recovered`).
        const { epoch, latest, earliest } = await this.store.position(channel);
        const from = { offset: Math.max(latest - since.count, earliest - 1, 0), epoch };
        const result = await recoverChannel(this.store, channel, from, this.maxRecoveryEvents, this.replayLimits.pageEvents);
        return this.started({ subscription, epoch: result.epoch, offset: result.latest, replay: result.replay, coveredUpTo: () => result.latest, coveredEpoch: () => result.epoch });
      }
      if (since?.kind !== 'channel') {
        const position = await this.store.position(channel);
        return this.started({ subscription, epoch: position.epoch, offset: position.latest, replay: EMPTY_REPLAY, coveredUpTo: () => position.latest, coveredEpoch: () => position.epoch });
      }
      const result = await recoverChannel(this.store, channel, since.position, this.maxRecoveryEvents, this.replayLimits.pageEvents);
      return this.started({ subscription, epoch: result.epoch, offset: result.latest, recovered: result.recovered, replay: result.replay, coveredUpTo: () => result.latest, coveredEpoch: () => result.epoch });
    } catch (error) {
      this.unsubscribe(subscription);
      throw error;
    }
  }

  /**
   * Across hubs the live order may send a subscription, while it fills a gap, events its reply or replay
   * already covered (the hub had missed them, the subscriber had not): such a subscription remembers what
   * it was covered up to, and the fan-out skips those. On one hub (a lossless broker) nothing can come twice.
   */
  private started(outcome: SubscribeOutcome): SubscribeOutcome {
    if (!this.broker.lossless) outcome.subscription.coverage = { upTo: outcome.coveredUpTo, epoch: outcome.coveredEpoch };
    return outcome;
  }

  unsubscribe(subscription: Subscription): void {
    subscription.cancelled = true;
    this.index.remove(subscription);
    if (this.present.remove(subscription)) this.presenceDirectory.left(subscription);
    if (subscription.brokerInterest) {
      subscription.brokerInterest = false;
      this.broker.unsubscribe(subscription.channel);
    }
  }

  /**
   * Who is subscribed to a channel (on every hub of a cluster), a page at a time: as reading the channel.
   * Rejects with `storage_unavailable` when a cluster's directory cannot answer.
   */
  async presence(who: Principal, query: PresenceQuery): Promise<PresencePage> {
    this.access.authorize(who, { kind: 'subscribe', channel: query.channel });
    return this.presenceDirectory.page(query.channel, query.after, query.limit);
  }

  /** A subscription that asked for `join`/`leave` hears them from now on (its reply is out); false if it ended. */
  watchPresence(subscription: Subscription): boolean {
    return this.present.watch(subscription);
  }

  /**
   * Whether a subscription to `channel` may be announced to watchers (the doors charge it to the
   * subscriber's rate): on one hub, when it has watchers; in a cluster, always (see the directory).
   */
  presenceWatched(channel: string): boolean {
    return this.presenceDirectory.mayBeWatched(channel);
  }

  private fanOut(epoch: string, events: readonly StoredEvent[]): void {
    const batch = events.length > 1 && COALESCE_WRITES ? new WriteBatch() : undefined;
    try {
      for (const stored of events) {
        this.currentDelivery = new Delivery(epoch, stored, batch);
        this.mark++;
        this.index.forEachMatch(stored.channel, this.visit);
      }
    } finally {
      this.currentDelivery = undefined;
      batch?.release();
    }
  }

  private deliverTo(sub: Subscription): void {
    const delivery = this.currentDelivery!;
    if (sub.held) {
      sub.held.push(delivery);
      return;
    }
    const coverage = sub.coverage;
    if (coverage && delivery.offset <= coverage.upTo(delivery.channel) && coverage.epoch(delivery.channel) === delivery.epoch) return;
    const subscriber = sub.subscriber;
    if (subscriber.deliveryMark === this.mark) return;
    subscriber.deliveryMark = this.mark;
    this.eventsOut++;
    subscriber.deliver(delivery);
  }
}
