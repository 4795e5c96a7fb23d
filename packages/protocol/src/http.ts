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
