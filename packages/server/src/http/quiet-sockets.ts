import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Closes, at shutdown, the connections that carry no request. Node's `server.close()` waits for every
 * connection, and `closeIdleConnections()` (Fastify's `forceCloseConnections: 'idle'`) ends only those
 * that have finished a request — not one that was opened and never used. Clients open such connections
 * ahead of need: undici (Node's `fetch`, which the `eventsource` package uses) opens a fresh one to
 * replace a connection whose request was aborted — an EventSource closed by its reader — and keeps it for
 * its keep-alive time, 4 s. A hub that an SSE reader had left took those 4 s to close.
 *
 * From `closeQuiet()` on, every connection is ended as soon as it carries no request: at once if it
 * carries none, else once its answer is written.
 */
export class QuietSockets {
  /** Requests (or an upgrade: for good) in progress per open connection. */
  private readonly busy = new Map<Socket, number>();
  private closing = false;

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      if (this.closing) return void socket.destroy();
      this.busy.set(socket, 0);
      socket.once('close', () => this.busy.delete(socket));
    });
    server.on('request', (request, response) => {
      const socket = request.socket;
      this.busy.set(socket, (this.busy.get(socket) ?? 0) + 1);
      response.once('close', () => {
        const left = (this.busy.get(socket) ?? 1) - 1;
        this.busy.set(socket, left);
        if (this.closing && left === 0) socket.destroy();
      });
    });
    // An upgraded socket belongs to the WebSocket endpoint, which closes it at shutdown.
    server.on('upgrade', (request) => this.busy.set(request.socket, Number.POSITIVE_INFINITY));
  }

  closeQuiet(): void {
    this.closing = true;
    for (const [socket, requests] of this.busy) if (requests === 0) socket.destroy();
  }
}
