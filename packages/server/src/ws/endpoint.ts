import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCodes, MAX_CLIENT_ID_LENGTH, PROTOCOL_VERSION, type HelloMessage } from '@herald/protocol';
import { WebSocketServer, type WebSocket } from 'ws';
import { cookieValue, SESSION_COOKIE, type Gatekeeper } from '../access/gatekeeper.js';
import type { Principal } from '../access/principal.js';
import { HeraldError } from '../errors.js';
import type { ConnectionCounter } from '../quota/connection-counter.js';
import { addressKey } from '../quota/rate-limited.js';
import { Connection, type ConnectionContext } from './connection.js';
import { conflationRule } from './lag-queue.js';

const CLIENT_ID = new RegExp(`^[A-Za-z0-9_.:-]{1,${MAX_CLIENT_ID_LENGTH}}$`);

export type EndpointContext = Omit<ConnectionContext, 'onClosed' | 'onAuthenticated' | 'conflation'> & {
  gate: Gatekeeper;
  /** WebSocket and SSE connections per address, shared with the SSE endpoint. */
  connectionsPerIp: ConnectionCounter;
};

/**
 * The `/ws` endpoint: the upgrade handshake (host, origin and credentials checked before anything is
 * accepted), the registry of live connections by client id, and one heartbeat timer for all of them
 * (not a timer per connection).
 *
 * Browsers cannot put credentials on the upgrade, so a hub that requires them also accepts a socket
 * without any and waits `authTimeoutMs` for its first frame, `{"op":"auth","token":…}`; only then is
 * it registered and greeted with `hello`.
 */
export class WebSocketEndpoint {
  /** Live, authenticated connections by registry key (the client id, scoped to its principal). */
  readonly connections = new Map<string, Connection>();
  /** Accepted sockets still waiting for their `auth` frame. */
  private readonly unauthenticated = new Set<Connection>();
  private readonly wss: WebSocketServer;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly connectionContext: ConnectionContext;
  private readonly keys = new WeakMap<Connection, string>();

  constructor(private readonly ctx: EndpointContext) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      // Frames may be larger than one event: a publish over the event cap is refused on its own
      // (too_large) instead of closing the connection and failing everything in flight.
      maxPayload: ctx.config.maxFrameBytes,
    });
    this.connectionContext = {
      ...ctx,
      conflation: conflationRule(ctx.config),
      onClosed: (connection) => this.forget(connection),
      onAuthenticated: (connection) => {
        this.unauthenticated.delete(connection);
        this.admit(connection);
      },
    };
    this.heartbeat = setInterval(() => this.beat(), ctx.config.heartbeatMs);
    this.heartbeat.unref();
    ctx.gate.policy.onRevoked((matches) => this.closeMatching(matches));
  }

  /** Handles an HTTP upgrade; answers anything that is not `/ws`, or not allowed, with a plain HTTP error. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    // After an upgrade the HTTP server no longer watches the socket: a peer that resets mid-handshake
    // must not become an uncaught error.
    // (A function of the module: a closure made here would keep this upgrade's request, headers and URL
    // alive for as long as the connection lasts.)
    socket.on('error', destroySocket);
    const url = new URL(request.url ?? '/', 'http://herald.invalid');
    if (url.pathname !== '/ws') return refuse(socket, new HeraldError('not_found', 'WebSocket upgrades are served at /ws only'));
    if (this.ctx.isShuttingDown()) return refuse(socket, new HeraldError('shutting_down', 'the hub is shutting down'));
    // Counted from the upgrade until the socket closes, refused or not, so that upgrades still being
    // authenticated count too.
    const address = addressKey(request.socket.remoteAddress);
    const counter = this.ctx.connectionsPerIp;
    if (!counter.tryAcquire(address)) {
      return refuse(socket, new HeraldError('too_many_connections', `this address already holds ${counter.max} WebSocket and SSE connections (--max-connections-per-ip): close some, or reconnect later with backoff`));
    }
    socket.once('close', counter.releaser(address));
    const requestedId = url.searchParams.get('clientId');
    try {
      this.ctx.gate.checkBrowser(request.headers);
    } catch (error) {
      return refuse(socket, error as HeraldError);
    }
    this.ctx.gate.principalOf(request.headers).then(
      (principal) => {
        if (socket.destroyed) return;
        // A session cookie that no longer works is a final answer, not a socket left waiting for `auth`.
        if (principal.kind === 'anonymous' && cookieValue(request.headers.cookie, SESSION_COOKIE) !== undefined && request.headers.authorization === undefined) {
          return refuse(socket, new HeraldError('unauthorized', 'the session has ended: sign in again'));
        }
        this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, requestedId, principal, address));
      },
      (error: unknown) => {
        if (error instanceof HeraldError) return refuse(socket, error);
        this.ctx.log.error({ err: error }, 'websocket upgrade failed');
        refuse(socket, new HeraldError('internal', 'the hub failed to handle the upgrade'));
      },
    );
  }

  /** Closes every connection with `code`; used by graceful shutdown. */
  closeAll(code: number, reason: string): void {
    for (const connection of [...this.connections.values(), ...this.unauthenticated]) connection.close(code, reason);
  }

  terminateAll(): void {
    for (const connection of [...this.connections.values(), ...this.unauthenticated]) connection.terminate();
  }

  stop(): void {
    clearInterval(this.heartbeat);
  }

  /** Closes, at once, the connections opened with credentials that were revoked (a key, a signed-out session). */
  closeMatching(matches: (who: Principal) => boolean): void {
    for (const connection of [...this.connections.values()]) {
      if (matches(connection.principal)) connection.close(CloseCodes.unauthorized.code, connection.principal.key ? 'the API key was revoked' : 'signed out');
    }
  }

  private accept(ws: WebSocket, requestedId: string | null, principal: Principal, address: string): void {
    // A refused client id is answered after the upgrade, with a close code: browsers cannot read the
    // status of a refused upgrade, but they can read a close code.
    if (requestedId !== null && !CLIENT_ID.test(requestedId)) {
      ws.close(CloseCodes.invalidClientId.code, `clientId must be 1-${MAX_CLIENT_ID_LENGTH} characters of [A-Za-z0-9_.:-]`);
      return;
    }
    const connection = new Connection(requestedId ?? randomUUID(), ws, this.connectionContext, principal, address);
    if (connection.authenticated) {
      this.admit(connection);
      return;
    }
    this.unauthenticated.add(connection);
    const deadline = setTimeout(() => {
      if (!connection.authenticated) connection.close(CloseCodes.authTimeout.code, `no auth frame within ${this.ctx.config.authTimeoutMs} ms`);
    }, this.ctx.config.authTimeoutMs);
    deadline.unref();
    ws.once('close', () => clearTimeout(deadline));
  }

  /**
   * Registers an authenticated connection and greets it. With credentials required, client ids are
   * scoped to who holds them: nobody can take another key's or subject's id first (squatting).
   */
  private admit(connection: Connection): void {
    const who = connection.principal;
    const key = this.ctx.gate.policy.required ? `${who.kind}:${who.name}\u0000${connection.clientId}` : connection.clientId;
    // The same id with the same credentials: most often that client back after a network drop, its old
    // connection not yet found dead by the heartbeat. The new one takes over (and its direct messages).
    this.connections.get(key)?.close(CloseCodes.replaced.code, 'replaced by a new connection with this client id and credentials');
    this.connections.set(key, connection);
    this.keys.set(connection, key);
    connection.scheduleExpiry();
    // Greeted once its client id is addressable from every hub; the direct messages kept for it follow.
    this.ctx.hub.clientConnected(connection, () => this.greet(connection));
  }

  private greet(connection: Connection): void {
    const who = connection.principal;
    const hello: HelloMessage = {
      op: 'hello',
      clientId: connection.clientId,
      heartbeatMs: this.ctx.config.heartbeatMs,
      version: PROTOCOL_VERSION,
      maxMessageBytes: this.ctx.config.maxMessageBytes,
    };
    if (this.ctx.gate.policy.required) hello.auth = { name: who.name, ...(who.expiresAt === undefined ? {} : { expiresAt: who.expiresAt }) };
    connection.send(hello);
  }

  private forget(connection: Connection): void {
    this.unauthenticated.delete(connection);
    const key = this.keys.get(connection);
    if (key !== undefined && this.connections.get(key) === connection) this.connections.delete(key);
    this.ctx.hub.clientDisconnected(connection);
  }

  /** Pings everyone; drops peers silent (no frame, no pong) for two intervals. */
  private beat(): void {
    const silentSince = Date.now() - 2 * this.ctx.config.heartbeatMs;
    for (const connection of [...this.connections.values()]) {
      if (connection.lastSeen < silentSince) {
        this.ctx.log.info({ clientId: connection.clientId }, 'heartbeat timeout: terminating silent peer');
        connection.terminate();
      } else {
        connection.ping();
      }
    }
  }
}

/** Answers a refused upgrade with the same status and body as the HTTP API would. */
function refuse(socket: Duplex, error: HeraldError): void {
  const body = JSON.stringify({ error: { code: error.code, message: error.message } });
  const status = error.status;
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

const STATUS_TEXT: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 421: 'Misdirected Request', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };

/** An upgrading socket's error listener: it is then closed. */
function destroySocket(this: Duplex): void {
  this.destroy();
}
