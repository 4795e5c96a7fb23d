import type { ErrorCode } from './codes.js';
import type { EventInput, HeraldEvent } from './event.js';

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

export type CommandId = number | string;

export interface SubscribeCommand {
  op: 'subscribe';
  id?: CommandId;
  channel: string;
  since?: StreamPosition | PatternPosition;
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

export type ClientCommand = SubscribeCommand | UnsubscribeCommand | PublishCommand | PingCommand;

export interface HelloMessage {
  op: 'hello';
  clientId: string;
  heartbeatMs: number;
  version: number;
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
  | UnsubscribedMessage
  | PublishedMessage
  | PongMessage
  | ErrorMessage
  | EventMessage;

/** The server may batch: a frame is one message or an array of them. */
export function messagesOfFrame(frame: unknown): ServerMessage[] {
  return Array.isArray(frame) ? (frame as ServerMessage[]) : [frame as ServerMessage];
}
