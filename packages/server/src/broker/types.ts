import type { StoredEvent } from '../store/types.js';

/** Receives the events a broker delivers to this hub: one channel's stored events, in offset order. */
export type BrokerListener = (epoch: string, events: readonly StoredEvent[]) => void;

/**
 * An event published with `ephemeral: true`: fanned out live, never stored, so it has no offset. `json`
 * is the event's text as validated by the publishing hub (`{"type",…}`), `time` its receive time there.
 */
export interface EphemeralEvent {
  channel: string;
  time: number;
  json: string;
}

/** Receives the ephemeral events a broker delivers to this hub. */
export type BrokerEphemeralListener = (event: EphemeralEvent) => void;

/**
 * A join or leave of a subscriber on another hub (clustered brokers only): `node` is the hub it is on,
 * `json` its PresenceEntry as JSON text. The memory broker never delivers one (one hub announces its
 * own changes locally).
 */
export interface PresenceAnnouncement {
  channel: string;
  op: 'join' | 'leave';
  node: string;
  json: string;
}

export type BrokerPresenceListener = (announcement: PresenceAnnouncement) => void;

/** Told that deliveries may have been missed since the last call; `reason` is for logs. */
export type BrokerGapListener = (reason: string) => void;

/**
 * The fan-out seam. A broker carries stored events to every hub that shares it: only this process for
 * the memory broker, every hub on the same Redis for a clustered one. Every engine passes the
 * conformance suite in test/broker-conformance.ts. The contract:
 *
 * - Events are published only after they were stored, so a hub that misses a delivery (a broker fault,
 *   a node that joined late) can always find the events in history; offsets tell it what it missed.
 * - Events of one channel reach every listener in offset order, each once.
 * - A hub delivers only what it has interest in: `subscribe(channel)` (a name or a pattern) before it
 *   reads the history of that subscription, so that no event falls between the history and the live
 *   stream; it resolves only once deliveries for it are flowing. Interest is counted, one `unsubscribe`
 *   per `subscribe`. An engine may deliver more than asked (the memory broker delivers everything); the
 *   hub's subscription index picks the subscribers.
 * - Failures are reported, never swallowed: `publish` and `subscribe` reject (a `HeraldError` with a
 *   documented code) when the broker cannot do what they ask.
 * - Deliveries a broker may have lost are announced: a networked broker (Redis) loses what is published
 *   while its connection is down, so once deliveries flow again it calls its `onGap` listeners, and the
 *   hub refills its subscriptions from history (offsets say what is missing). A broker that cannot lose
 *   deliveries (the memory broker) need not implement `onGap`.
 * - Ephemeral events travel beside stored ones, to the same interest, but can never be taken for them
 *   (they have no offset and never reach `onEvents` listeners). They are at most once: one lost while a
 *   connection is down is gone (there is no history to fill it from, and `onGap` is not told), and
 *   across hubs they keep no order relative to stored events. Each publish reaches each hub once.
 */
export interface Broker {
  /**
   * True when every published event reaches every hub exactly once and in offset order (the memory
   * broker: one process). Otherwise — pub/sub across hubs can drop or repeat — the hub puts deliveries
   * in order itself, dropping repeats and filling gaps from history (fanout/live-order.ts).
   */
  readonly lossless?: boolean;
  /** Hands stored events of one channel to every hub on this broker, this one included. */
  publish(epoch: string, events: readonly StoredEvent[]): Promise<void>;
  /**
   * Hands one ephemeral event to every hub on this broker with interest in its channel, this one
   * included. Resolves once the broker took it (not once it was delivered everywhere).
   */
  publishEphemeral(event: EphemeralEvent): Promise<void>;
  /** This hub now has subscribers to `channel` (a name or a pattern): deliver its events here. */
  subscribe(channel: string): Promise<void>;
  /** One `subscribe` of `channel` is over; deliveries stop when the last one is. */
  unsubscribe(channel: string): void;
  /** Adds a listener for delivered events; returns the function that removes it. */
  onEvents(listener: BrokerListener): () => void;
  /** Adds a listener for delivered ephemeral events; returns the function that removes it. */
  onEphemeral(listener: BrokerEphemeralListener): () => void;
  /**
   * Adds a listener told that deliveries may have been missed (for Redis: the subscriber connection was
   * lost, or a publish of this hub failed). It is called after deliveries for every interest flow again,
   * so that history read from then on, plus the live stream, leaves no hole: the hub then checks every
   * channel it fans out against history (fanout/live-order.ts). Returns the remover. Optional: brokers
   * without it never lose deliveries.
   */
  onGap?(listener: BrokerGapListener): () => void;
  /**
   * Adds a listener for presence changes announced on the channels this hub has interest in (every hub
   * of the broker, this one included: the listener drops its own). Clustered brokers only: they are
   * published by the presence directory's scripts (presence/redis-directory.ts), not through the
   * broker, so that a directory change and its announcement are one atomic step. Like ephemeral
   * events they are at most once; a watcher that may have missed some asks `presence` again.
   */
  onPresence?(listener: BrokerPresenceListener): () => void;
  /** Stops delivering and releases the broker's resources. Safe to call twice. */
  close(): Promise<void>;
}
