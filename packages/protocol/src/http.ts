import type { RunSummary } from './runs.js';

/**
 * Shapes of HTTP API answers that more than one package reads (the hub writes them; the dashboard, the
 * CLI and clients read them). Declared once here so that a change is a compile error everywhere.
 */

import type { DeliveredEvent } from './event.js';
import type { PresenceEntry } from './messages.js';

/**
 * `GET /api/channels/{channel}/poll`: one long-poll answer — what a `subscribed` reply says, then the
 * events after it, in order (a prefix of what a WebSocket or SSE subscription would have been sent).
 */
export interface PollResponse<T = unknown> {
  channel: string;
  /** Exact channels: the position the answer starts after, as in a `subscribed` reply. */
  epoch?: string;
  offset?: number;
  /** Only when `since` was given: whether every event after it follows (false: reload, then continue from `next`). */
  recovered?: boolean;
  /** Patterns: the hub's time when the answer began, to resume with while no event has been seen. */
  time?: number;
  events: DeliveredEvent<T>[];
  /** Exact channels: the `since` of the next poll (`<offset>@<epoch>`). */
  next?: string;
}

/** One row of `GET /api/channels`. */
export interface ChannelInfo {
  name: string;
  epoch: string;
  /** Offset of the newest event. */
  offset: number;
  lastEventTime: number | null;
  /** Subscriptions on this hub (exact and pattern, every user's) that match the channel. */
  subscribers: number;
  /** Exact-channel subscriptions on this hub (WebSocket and SSE): the `count` its presence answers. */
  watching: number;
}

/** `GET /api/channels?prefix=&limit=&cursor=`: a page in name order; `next` is the next page's `cursor`. */
export interface ChannelListResponse {
  channels: ChannelInfo[];
  next: string | null;
}

/** Open connections by transport; `poll` counts long-polls being held (hubs before it left it out). */
export interface ConnectionFigures {
  total: number;
  websocket: number;
  sse: number;
  poll?: number;
}

/** One hub of a cluster (a hub on its own is a cluster of one), as `/api/stats` lists it. */
export interface NodeFigures {
  /** `<hostname>-<pid>-<random>`: new at every start. */
  id: string;
  host: string;
  pid: number;
  /** The address the hub listens on (its `--public-url` when set). */
  url: string;
  startedAt: number;
  /** When these figures were taken: other hubs' are up to a few seconds old. */
  seenAt: number;
  connections: ConnectionFigures;
  events: { in: number; out: number; inPerSecond: number; outPerSecond: number };
}

/** `GET /api/stats` (admins): this hub's figures at the top, and every hub of the cluster. */
export interface StatsResponse {
  uptimeSeconds: number;
  /** This hub. */
  connections: ConnectionFigures;
  /** Channels with history (shared by the cluster). */
  channels: number;
  /**
   * What the history retains over all channels (shared by the cluster): events, and bytes of their
   * stored JSON (what `--max-total-bytes` caps). Kept as running sums by the store, so as cheap at
   * 10 million events as at ten.
   */
  stored: { events: number; bytes: number };
  /** This hub: events it stored and live events it wrote to its subscribers. */
  events: { in: number; out: number; inPerSecond: number; outPerSecond: number };
  slowConsumerCloses: number;
  /** Runs per status (the same on every hub). */
  runs: Record<string, number>;
  /** The id of the hub that answered, in `cluster.nodes`. */
  node: string;
  cluster: {
    /** Every live hub, the one that answered first. */
    nodes: NodeFigures[];
    /** Sums over `nodes`. */
    totals: { nodes: number; connections: number; inPerSecond: number; outPerSecond: number };
  };
}

/** `GET /api/runs?status=&label=&q=&limit=&cursor=`: run summaries, newest first; `next` is the next page's `cursor`. */
export interface RunListResponse {
  runs: RunSummary[];
  next: string | null;
}

/** `POST /api/channels/{channel}/attachments`: a stored file, named by the SHA-256 of its bytes. */
export interface AttachmentInfo {
  /** The SHA-256 of the bytes, in hex: the same file uploaded twice to a channel is stored once. */
  id: string;
  /** Where to read it, relative to the hub: `/api/channels/{channel}/attachments/{id}`. */
  url: string;
  size: number;
  contentType: string;
  sha256: string;
  /** A multipart upload's file name (at most 255 characters), for the event that references the file. */
  name?: string;
}

/**
 * `POST /api/channels/{channel}/events?ephemeral=true` (200): the events were fanned out to the
 * channel's live subscribers, not stored, so there is no epoch and there are no offsets.
 */
export interface EphemeralPublishResponse {
  channel: string;
  ephemeral: true;
  /** How many events of the body were fanned out (all of them). */
  count: number;
}

/**
 * `GET /api/channels/{channel}/presence?limit=&after=`: who is subscribed to the channel on this hub
 * (exact-channel WebSocket and SSE subscriptions, oldest first), a page at a time; `next` is the next
 * page's `after`.
 */
export interface PresenceResponse {
  channel: string;
  /** Every subscriber, also those not on this page. */
  count: number;
  clients: PresenceEntry[];
  next: string | null;
}
