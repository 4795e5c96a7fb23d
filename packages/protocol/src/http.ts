/**
 * Shapes of HTTP API answers that more than one package reads (the hub writes them; the dashboard, the
 * CLI and clients read them). Declared once here so that a change is a compile error everywhere.
 */

/** One row of `GET /api/channels`. */
export interface ChannelInfo {
  name: string;
  epoch: string;
  /** Offset of the newest event. */
  offset: number;
  lastEventTime: number | null;
  /** Subscriptions on this hub (exact and pattern, every user's) that match the channel. */
  subscribers: number;
}

/** `GET /api/channels?prefix=&limit=&cursor=`: a page in name order; `next` is the next page's `cursor`. */
export interface ChannelListResponse {
  channels: ChannelInfo[];
  next: string | null;
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
  connections: { total: number; websocket: number; sse: number };
  events: { in: number; out: number; inPerSecond: number; outPerSecond: number };
}

/** `GET /api/stats` (admins): this hub's figures at the top, and every hub of the cluster. */
export interface StatsResponse {
  uptimeSeconds: number;
  /** This hub. */
  connections: { total: number; websocket: number; sse: number };
  /** Channels with history (shared by the cluster). */
  channels: number;
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

/** `POST /api/channels/{channel}/attachments`: a stored file, named by the SHA-256 of its bytes. */
export interface AttachmentInfo {
  /** The SHA-256 of the bytes, in hex: the same file uploaded twice to a channel is stored once. */
  id: string;
  /** Where to read it, relative to the hub: `/api/channels/{channel}/attachments/{id}`. */
  url: string;
  size: number;
  contentType: string;
  sha256: string;
}
