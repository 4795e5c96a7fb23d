/**
 * The one table of codes shared by the hub and every client.
 *
 * Error codes answer a command (WebSocket `{"op":"error"}`) or an HTTP request (`{"error":{code,message}}`).
 * Close codes end a WebSocket connection; `reconnect` tells a client whether trying again can help, so
 * that clients never hammer a hub that has said "no" for good.
 *
 * docs/codes.md lists this table for people; packages/server/test/docs.test.ts checks that they agree.
 */

export interface ErrorCodeInfo {
  /** HTTP status used when the same failure happens on the HTTP API. */
  readonly status: number;
  /** What went wrong, in words a user can act on. */
  readonly description: string;
}

export const ErrorCodes = {
  bad_json: { status: 400, description: 'The frame or body is not valid JSON.' },
  bad_request: { status: 400, description: 'The message is not an object of the expected shape, or a field is missing or of the wrong type.' },
  unknown_op: { status: 400, description: 'The `op` of a command is not one the hub knows.' },
  invalid_channel: { status: 400, description: 'The channel name or pattern breaks the naming rules (segments of [A-Za-z0-9_-] joined by `.`, at most 160 characters; patterns only where allowed).' },
  invalid_event: { status: 400, description: 'The event breaks the event rules (type required and at most 64 characters, known severity, JSON data).' },
  too_large: { status: 413, description: 'A message, event or request body is larger than the configured cap.' },
  attachment_too_large: { status: 413, description: 'An uploaded attachment is larger than `--max-attachment-bytes` (default 10 MiB); nothing was stored. The hub stops reading at the cap, so a huge upload costs it no more than the cap.' },
  attachment_type_not_allowed: { status: 415, description: 'An upload\'s `Content-Type` is missing or not on the hub\'s allow-list of attachment types (`--attachment-types`).' },
  not_supported: { status: 501, description: 'This hub cannot do that with its store: attachments are not kept by hubs on Redis (`--store redis`).' },
  too_many_events: { status: 400, description: 'An HTTP batch holds more events than allowed (1 000).' },
  too_many_subscriptions: { status: 400, description: 'The connection already holds the maximum number of subscriptions.' },
  already_subscribed: { status: 409, description: 'The connection is already subscribed to this channel or pattern.' },
  not_subscribed: { status: 404, description: 'The connection is not subscribed to this channel or pattern.' },
  not_found: { status: 404, description: 'No such route or resource.' },
  unauthorized: { status: 401, description: 'Credentials are missing, malformed, expired, revoked or refused (bad signature, wrong audience or issuer, algorithm not allowed). Send an API key or a valid token as `Authorization: Bearer …`.' },
  forbidden: { status: 403, description: 'The credentials are valid but do not allow this action on this channel or pattern (a pattern needs permission for every channel it can match).' },
  origin_not_allowed: { status: 403, description: 'The request came from a browser page on an origin the hub does not allow (allowed: the hub\'s own origin, loopback origins and those in `--cors-origin`).' },
  host_not_allowed: { status: 421, description: 'The `Host` header names neither the hub\'s address nor its `--public-url` (protects against DNS rebinding; add the name with `--allowed-hosts`).' },
  unsupported_media_type: { status: 415, description: 'A request with a body must send it as `Content-Type: application/json`.' },
  rate_limited: { status: 429, description: 'More events per second than allowed for this connection or address (`--max-events-per-second`, `--max-ip-events-per-second`), or more new channels per minute than allowed for these credentials (`--max-new-channels-per-minute`); also a subscribe to a channel that has presence watchers — on hubs that share a Redis, to any exact channel — (it costs two events of the budget: its join and its leave), and a request past `--max-pending-requests` waiting at once on one connection; nothing was stored. Wait for `Retry-After` seconds (HTTP) or `retryAfterMs` (WebSocket) and send it again; a WebSocket that keeps publishing past its limit is closed with 4029.' },
  too_many_connections: { status: 429, description: 'The address already holds as many WebSocket, SSE and held long-poll connections as allowed (`--max-connections-per-ip`); the upgrade, stream or poll is refused. Close connections you no longer need, or reconnect later with backoff.' },
  quota_exceeded: { status: 507, description: 'The hub holds as many channels (`--max-channels`), runs (`--max-runs`) or stored bytes (`--max-total-bytes`) as it is allowed; nothing was stored and no history was dropped to make room. Retry later (retention frees space) or ask the operator to delete channels or raise the quota.' },
  storage_unavailable: { status: 503, description: 'The hub cannot write or read its history (disk full, I/O error, corrupt database); nothing was stored. Retry later: `/health` says `degraded` with the reason until the disk recovers. On hubs sharing a Redis, also a direct message or request for another hub that Redis (or that hub) did not carry: it may not have arrived.' },
  unknown_client: { status: 404, description: 'No connection has that client id, and none had it recently enough for a direct message to be kept for it (`--direct-queue-ms`).' },
  no_responder: { status: 503, description: 'Nothing serves requests on this channel right now (no connection sent `serve` for it, and no HTTP responder is waiting). Retry later.' },
  timeout: { status: 504, description: 'The responder did not reply within the request\'s `timeoutMs`, or the reply came after it.' },
  responder_error: { status: 502, description: 'The responder refused the request: its reply carried an `error`, which is the message.' },
  shutting_down: { status: 503, description: 'The hub is shutting down and takes no new work; retry against the restarted hub.' },
  internal: { status: 500, description: 'The hub failed unexpectedly; the request may be retried.' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ErrorCodes;

export interface CloseCodeInfo {
  readonly code: number;
  /** Whether a client should reconnect (with backoff) after this close. */
  readonly reconnect: boolean;
  readonly description: string;
}

export const CloseCodes = {
  normal: { code: 1000, reconnect: false, description: 'Closed on purpose by the side that closed it.' },
  goingAway: { code: 1001, reconnect: true, description: 'The hub is going away (for example its process ends).' },
  policy: { code: 1008, reconnect: false, description: 'The connection broke a policy (for example a refused client id handshake parameter).' },
  tooBig: { code: 1009, reconnect: true, description: 'A frame was larger than the frame cap (`--max-frame-bytes`). Do not resend it; reconnecting is safe.' },
  internal: { code: 1011, reconnect: true, description: 'The hub hit an unexpected error.' },
  restart: { code: 1012, reconnect: true, description: 'The hub is restarting (graceful shutdown). Reconnect and resume.' },
  heartbeatTimeout: { code: 4000, reconnect: true, description: 'The peer was silent for two heartbeat intervals.' },
  slowConsumer: { code: 4001, reconnect: true, description: 'The outbound buffer for this connection passed its cap because the client did not read. Reconnect and resume from the last offset.' },
  clientIdInUse: { code: 4002, reconnect: true, description: 'Another live connection already uses the requested clientId. Retry with backoff (the old connection may be about to time out) or pick another id. Hubs of this version no longer send it: a connection with the same id and credentials replaces the old one (4006).' },
  invalidClientId: { code: 4003, reconnect: false, description: 'The requested clientId is not valid (1–64 characters of [A-Za-z0-9_.:-]).' },
  authExpired: { code: 4004, reconnect: true, description: 'The token expired and was not refreshed in time. Get a new token and reconnect; subscriptions resume with no gap.' },
  authTimeout: { code: 4005, reconnect: true, description: 'The hub requires credentials and no `auth` frame arrived within the deadline after the upgrade.' },
  replaced: { code: 4006, reconnect: false, description: 'A new connection with the same clientId and the same credentials replaced this one (it takes over its direct messages). Do not reconnect: two clients are using one id.' },
  rateLimited: { code: 4029, reconnect: true, description: 'The connection kept publishing past its events-per-second limit after being answered `rate_limited` (refused more than a tenth of `--max-events-burst`). Reconnect with backoff and publish more slowly; subscriptions resume with no gap.' },
  unauthorized: { code: 4401, reconnect: false, description: 'Credentials missing, refused or revoked (also sent to connections already open when their key is revoked). Do not retry with the same credentials.' },
} as const satisfies Record<string, CloseCodeInfo>;

export type CloseCodeName = keyof typeof CloseCodes;

const closeByNumber = new Map<number, CloseCodeInfo>(Object.values(CloseCodes).map((c) => [c.code, c]));

/**
 * Whether a client should reconnect after a close with this code. Codes not in the table (for example
 * 1006, an abnormal close with no frame) are network trouble, so the answer is yes.
 */
export function shouldReconnect(code: number): boolean {
  return closeByNumber.get(code)?.reconnect ?? true;
}
