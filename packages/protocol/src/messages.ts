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

export type ClientCommand = SubscribeCommand | UnsubscribeCommand | PublishCommand | PingCommand | AuthCommand | RefreshCommand;

/** Every op a client may send, for dispatch tables and tests that must cover them all. */
export const CLIENT_OPS = ['subscribe', 'unsubscribe', 'publish', 'ping', 'auth', 'refresh'] as const satisfies readonly ClientCommand['op'][];

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
  event: HeraldEvent<TData>;
}

export type ServerMessage =
  | HelloMessage
  | SubscribedMessage
  | StepsMessage
  | UnsubscribedMessage
  | PublishedMessage
  | PongMessage
  | ExpiringMessage
  | RefreshedMessage
  | ErrorMessage
  | EventMessage;

/** The server may batch: a frame is one message or an array of them. */
export function messagesOfFrame(frame: unknown): ServerMessage[] {
  return Array.isArray(frame) ? (frame as ServerMessage[]) : [frame as ServerMessage];
}
