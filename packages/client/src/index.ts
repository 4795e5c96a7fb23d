export { HeraldClient, HeraldError, type ClientOptions, type ConnectionState, type StateChange, type TransportName, type WebSocketLike, type WebSocketConstructor, type HistoryPage, type NewestPage, type PresencePage, type RunListQuery } from './client.js';
export { Subscription, type SubscriptionState, type ResetInfo, type SubscribeOptions, type EventHandler, type EphemeralEvent } from './subscription.js';
export type { RequestInput, RequestOptions, RequestInfo, ServeHandler } from './rpc.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export type { EventSourceLike, EventSourceConstructor } from './sse-transport.js';
export type { DeliveredEvent, DirectMessage, EventInput, HeraldEvent, Severity, StreamPosition, PatternPosition, RunListResponse, PresenceEntry, JoinMessage, LeaveMessage, SenderInfo } from '@herald/protocol';

import { HeraldClient, type ClientOptions } from './client.js';

/** Creates a client and starts connecting. */
export function createClient(options: ClientOptions): HeraldClient {
  return new HeraldClient(options).connect();
}
