import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCodes, MAX_CLIENT_ID_LENGTH, PROTOCOL_VERSION } from '@herald/protocol';
import { WebSocketServer, type WebSocket } from 'ws';
import { Connection, type ConnectionContext } from './connection.js';

const CLIENT_ID = new RegExp(`^[A-Za-z0-9_.:-]{1,${MAX_CLIENT_ID_LENGTH}}$`);

export type EndpointContext = Omit<ConnectionContext, 'onClosed'>;

/**
 * The `/ws` endpoint: the upgrade handshake, the registry of live connections by client id, and one
 * heartbeat timer for all of them (not a timer per connection).
 */
export class WebSocketEndpoint {
  readonly connections = new Map<string, Connection>();
  private readonly wss: WebSocketServer;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly connectionContext: ConnectionContext;

  constructor(private readonly ctx: EndpointContext) {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: ctx.config.maxMessageBytes,
    });
    this.connectionContext = { ...ctx, onClosed: (connection) => this.forget(connection) };
    this.heartbeat = setInterval(() => this.beat(), ctx.config.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Handles an HTTP upgrade; answers anything that is not `/ws` with a plain HTTP error. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    // After an upgrade the HTTP server no longer watches the socket: a peer that resets mid-handshake
    // must not become an uncaught error.
    socket.on('error', () => socket.destroy());
    const url = new URL(request.url ?? '/', 'http://herald.invalid');
    if (url.pathname !== '/ws') return refuse(socket, 404, 'Not Found');
    if (this.ctx.isShuttingDown()) return refuse(socket, 503, 'Service Unavailable');
    const requestedId = url.searchParams.get('clientId');
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, requestedId));
  }

  /** Closes every connection with `code`; used by graceful shutdown. */
  closeAll(code: number, reason: string): void {
    for (const connection of [...this.connections.values()]) connection.close(code, reason);
  }

  terminateAll(): void {
    for (const connection of [...this.connections.values()]) connection.terminate();
  }

  stop(): void {
    clearInterval(this.heartbeat);
  }

  private accept(ws: WebSocket, requestedId: string | null): void {
    // A refused client id is answered after the upgrade, with a close code: browsers cannot read the
    // status of a refused upgrade, but they can read a close code.
    if (requestedId !== null && !CLIENT_ID.test(requestedId)) {
      ws.close(CloseCodes.invalidClientId.code, `clientId must be 1-${MAX_CLIENT_ID_LENGTH} characters of [A-Za-z0-9_.:-]`);
      return;
    }
    if (requestedId !== null && this.connections.has(requestedId)) {
      ws.close(CloseCodes.clientIdInUse.code, 'clientId is in use by a live connection');
      return;
    }
    const clientId = requestedId ?? randomUUID();
    const connection = new Connection(clientId, ws, this.connectionContext);
    this.connections.set(clientId, connection);
    connection.send({ op: 'hello', clientId, heartbeatMs: this.ctx.config.heartbeatMs, version: PROTOCOL_VERSION });
  }

  private forget(connection: Connection): void {
    if (this.connections.get(connection.clientId) === connection) this.connections.delete(connection.clientId);
  }

  /** Pings everyone; drops peers silent (no frame, no pong) for two intervals. */
  private beat(): void {
    const silentSince = Date.now() - 2 * this.ctx.config.heartbeatMs;
    for (const connection of [...this.connections.values()]) {
      if (connection.lastSeen < silentSince) {
        this.ctx.log.info({ clientId: connection.clientId }, 'heartbeat timeout: terminating silent peer');
        connection.terminate();
      } else {
        connection.ws.ping();
      }
    }
  }
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
