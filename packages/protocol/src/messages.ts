import type { ErrorCode } from './codes.js';
import type { EventInput, HeraldEvent } from './event.js';
import type { RunStep } from './runs.js';

/** A position in one channel's history. `epoch` may be left out to mean "whatever the current epoch is". */
export interface StreamPosition {
  offset: number;
  epoch?: string;
}

/**
 * Where a subscription resumes from.
 * - Exact channel: `{offset, epoch}` — events after `offset`.
 * - Pattern: `{positions: {channel: {offset, epoch}}, time?}` — each listed channel resumes after its
 *   offset; matching channels not listed replay the events the hub received after `time` (ms), if given.
 */
export interface PatternPosition {
  positions?: Record<string, StreamPosition>;
  time?: number;
}

/**
 * Where a new subscription starts when it has no position yet: the newest `last` events (of the
 * channel, or across every channel a pattern matches, in receive-time order), then live — no gap and
 * no duplicate between them. At most `Defaults.maxLastEvents`.
 */
export interface LastEvents {
  last: number;
}

export type CommandId = number | string;

export interface SubscribeCommand {
  op: 'subscribe';
  id?: CommandId;
  channel: string;
  since?: StreamPosition | PatternPosition | LastEvents;
  /** Run channels only: reply with the run's snapshot and continue after its offset. */
  snapshot?: boolean;
  /** Exact channels only: also send `join` and `leave` when other subscribers come and go. */
  presence?: boolean;
}
export interface UnsubscribeCommand {
  op: 'unsubscribe';
  id?: CommandId;
  channel: string;
}
export interface PublishCommand {
  op: 'publish';
  id?: CommandId;
  channel: string;
  event: EventInput;
  /**
   * Fanned out to the channel's subscribers now, but neither stored nor given an offset (live preview
   * frames, cursors, typing): subscribers get it as an `ephemeral` message, never in history or a replay.
   */
  ephemeral?: boolean;
}
export interface PingCommand {
  op: 'ping';
  id?: CommandId;
}

/**
 * Credentials for a connection whose upgrade carried none (browsers cannot set headers on a WebSocket):
 * the first frame, within the hub's auth deadline. The hub answers with `hello`, or closes with 4401.
 */
export interface AuthCommand {
  op: 'auth';
  id?: CommandId;
  token: string;
}
/** A new token for the same subject, before the current one expires; answered with `refreshed`. */
export interface RefreshCommand {
  op: 'refresh';
  id?: CommandId;
  token: string;
}

/** Who is subscribed to a channel right now (exact-channel subscriptions; pattern subscribers are not listed). */
export interface PresenceCommand {
  op: 'presence';
  id?: CommandId;
  channel: string;
  /** Most entries in the answer (default and most: `Defaults.maxPresencePage`). */
  limit?: number;
  /** The `next` of the previous page. */
  after?: string;
}

/** A message to one client id; answered with `sent` (delivered or queued) or the error `unknown_client`. */
export interface SendCommand {
  op: 'send';
  id?: CommandId;
  to: string;
  event: EventInput;
}

/** This connection answers `request`s on `channel` (a name or a pattern) from now on. */
export interface ServeCommand {
  op: 'serve';
  id?: CommandId;
  channel: string;
}
export interface UnserveCommand {
  op: 'unserve';
  id?: CommandId;
  channel: string;
}

/**
 * Asks a responder of `channel` (see `serve`) and waits for its `reply`, at most `timeoutMs`
 * (default `Defaults.replyTimeoutMs`, most `Defaults.maxReplyTimeoutMs`). Errors: `no_responder`,
 * `timeout`, `responder_error`.
 */
export interface RequestCommand {
  op: 'request';
  id?: CommandId;
  channel: string;
  type: string;
  data?: unknown;
  timeoutMs?: number;
}

/** A responder's answer to an `IncomingRequestMessage`: `data`, or `error` (a sentence) to refuse it. */
export interface ReplyCommand {
  op: 'reply';
  id?: CommandId;
  requestId: string;
  data?: unknown;
  error?: string;
}

export type ClientCommand =
  | SubscribeCommand
  | UnsubscribeCommand
  | PublishCommand
  | PingCommand
  | AuthCommand
  | RefreshCommand
  | PresenceCommand
  | SendCommand
  | ServeCommand
  | UnserveCommand
  | RequestCommand
  | ReplyCommand;

/** Every op a client may send, for dispatch tables and tests that must cover them all. */
export const CLIENT_OPS = ['subscribe', 'unsubscribe', 'publish', 'ping', 'auth', 'refresh', 'presence', 'send', 'serve', 'unserve', 'request', 'reply'] as const satisfies readonly ClientCommand['op'][];

export interface HelloMessage {
  op: 'hello';
  clientId: string;
  heartbeatMs: number;
  version: number;
  /** Who the connection acts as, when the hub requires credentials. */
  auth?: ConnectionAuth;
  /** Largest frame the hub accepts, in bytes: a client checks a publish against it before sending. */
  maxMessageBytes?: number;
}
export interface ConnectionAuth {
  name: string;
  /** When the credentials stop working (ms since the epoch); an `expiring` message comes first. */
  expiresAt?: number;
}
/** The connection's token expires soon: send `refresh` with a new one, or be closed with 4004. */
export interface ExpiringMessage {
  op: 'expiring';
  expiresAt: number;
}
export interface RefreshedMessage {
  op: 'refreshed';
  id?: CommandId;
  expiresAt?: number;
}
export interface SubscribedMessage {
  op: 'subscribed';
  id?: CommandId;
  channel: string;
  /** Exact channels only: the channel's epoch and latest offset when the subscription began. */
  epoch?: string;
  offset?: number;
  /** Present when `since` was given: whether every missed event is about to be replayed. */
  recovered?: boolean;
  /** How many missed events follow before live events. */
  replayed?: number;
  /** With `snapshot:true`: the run's state up to and including `offset` (null when the run has no events yet). */
  snapshot?: unknown;
}
/**
 * After a `subscribed` reply whose run snapshot has fewer `steps` than its `stepsTotal`: the next steps,
 * in order, `from` being the position of the first. They describe the run at the reply's `offset` (not
 * later), and all of them come before any event of the subscription.
 */
export interface StepsMessage {
  op: 'steps';
  channel: string;
  offset: number;
  from: number;
  steps: RunStep[];
}
export interface UnsubscribedMessage {
  op: 'unsubscribed';
  id?: CommandId;
  channel: string;
}
export interface PublishedMessage {
  op: 'published';
  id?: CommandId;
  channel: string;
  offset: number;
  epoch: string;
  /** True when the event's idempotency id was already stored: `offset` is the original one. */
  duplicate?: boolean;
}
/** The answer to a publish with `ephemeral: true`: fanned out, not stored, no offset. */
export interface EphemeralPublishedMessage {
  op: 'published';
  id?: CommandId;
  channel: string;
  ephemeral: true;
}
export interface PongMessage {
  op: 'pong';
  id?: CommandId;
}
export interface ErrorMessage {
  op: 'error';
  id?: CommandId;
  code: ErrorCode;
  message: string;
  /** With `rate_limited`: how long to wait before sending again, in milliseconds. */
  retryAfterMs?: number;
}
export interface EventMessage<TData = unknown> {
  op: 'event';
  channel: string;
  offset: number;
  epoch: string;
  time: number;
  /**
   * Only to a subscriber that lagged behind (docs/protocol.md#conflation): the `n` events of the channel
   * just before this one were not sent, each replaced by a later event of its kind (run progress, a
   * metric of the same name). They are in history; nothing else is missing.
   */
  conflated?: number;
  event: HeraldEvent<TData>;
}

/** An event published with `ephemeral: true`: live only, no offset, never in history or a replay. */
export interface EphemeralMessage<TData = unknown> {
  op: 'ephemeral';
  channel: string;
  /** The hub's receive time, milliseconds since the epoch. */
  time: number;
  event: HeraldEvent<TData>;
}

/** One subscriber of a channel, as presence lists it. */
export interface PresenceEntry {
  clientId: string;
  /** The credential's name (API key name or token subject) when the hub requires credentials. */
  user?: string;
  /** When this subscription began, ms since the epoch. */
  since: number;
  transport: 'websocket' | 'sse';
}
export interface PresenceMessage {
  op: 'presence';
  id?: CommandId;
  channel: string;
  /** Every subscriber of the channel, also those not on this page. */
  count: number;
  clients: PresenceEntry[];
  /** The `after` of the next page; absent on the last. */
  next?: string;
}
/** To a subscriber that asked for `presence: true`: another subscription of the channel began or ended. */
export interface JoinMessage {
  op: 'join';
  channel: string;
  client: PresenceEntry;
}
export interface LeaveMessage {
  op: 'leave';
  channel: string;
  client: PresenceEntry;
}

/** Who sent a direct message or a request. */
export interface SenderInfo {
  /** The sending connection's client id (absent for HTTP). */
  clientId?: string;
  /** The sender's credential name when the hub requires credentials. */
  user?: string;
}
export interface SentMessage {
  op: 'sent';
  id?: CommandId;
  to: string;
  /** `delivered`: written to the client's connection; `queued`: the client is away and gets it when it reconnects. */
  status: 'delivered' | 'queued';
}
/** A message sent to this connection's client id alone (`send`, or `POST /api/clients/{clientId}/events`). */
export interface DirectMessage<TData = unknown> {
  op: 'direct';
  from: SenderInfo;
  /** When the hub received it, ms since the epoch (earlier than now when it was queued). */
  time: number;
  event: HeraldEvent<TData>;
}
export interface ServingMessage {
  op: 'serving';
  id?: CommandId;
  channel: string;
}
export interface UnservedMessage {
  op: 'unserved';
  id?: CommandId;
  channel: string;
}
/** To a responder: a request to answer with `{"op":"reply","requestId",…}` before `deadline`. */
export interface IncomingRequestMessage<TData = unknown> {
  op: 'request';
  requestId: string;
  channel: string;
  type: string;
  data?: TData;
  from: SenderInfo;
  /** When the requester stops waiting, ms since the epoch (the hub's clock). */
  deadline: number;
}
/** To a requester: the responder's answer. */
export interface ReplyMessage<TData = unknown> {
  op: 'reply';
  id?: CommandId;
  channel: string;
  data?: TData;
}
/** To a responder whose `reply` carried an `id`: the reply was handed to the requester. */
export interface RepliedMessage {
  op: 'replied';
  id?: CommandId;
  requestId: string;
}

export type ServerMessage =
  | HelloMessage
  | SubscribedMessage
  | StepsMessage
  | UnsubscribedMessage
  | PublishedMessage
  | EphemeralPublishedMessage
  | EphemeralMessage
  | PresenceMessage
  | JoinMessage
  | LeaveMessage
  | SentMessage
  | DirectMessage
  | ServingMessage
  | UnservedMessage
  | IncomingRequestMessage
  | ReplyMessage
  | RepliedMessage
  | PongMessage
  | ExpiringMessage
  | RefreshedMessage
  | ErrorMessage
  | EventMessage;

/** The server may batch: a frame is one message or an array of them. */
export function messagesOfFrame(frame: unknown): ServerMessage[] {
  return Array.isArray(frame) ? (frame as ServerMessage[]) : [frame as ServerMessage];
}
