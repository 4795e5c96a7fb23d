import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { connect, type AddressInfo } from 'node:net';

/**
 * A proxy in front of a hub that forwards plain HTTP (including SSE streams) but refuses WebSocket
 * upgrades, like a corporate proxy that blocks WebSockets — all of them, or only the first `refuse`
 * (like a hub that answers 503 while it restarts), forwarding the rest.
 */
export async function startBlockingProxy(target: string, refuse = Infinity): Promise<{ url: string; refused: () => number; close(): Promise<void> }> {
  const upstream = new URL(target);
  let refused = 0;
  const server: Server = createServer((req, res) => {
    const forward = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on('error', () => res.destroy());
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  server.on('upgrade', (req, socket, head) => {
    if (refused < refuse) {
      refused++;
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    forwardUpgrade(upstream, req, socket, head);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    refused: () => refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Passes a WebSocket upgrade through to `upstream` byte for byte (the test proxies' shared half). */
export function forwardUpgrade(upstream: URL, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const up = connect(Number(upstream.port), upstream.hostname, () => {
    const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`).join('\r\n');
    up.write(`${req.method} ${req.url} HTTP/1.1\r\n${headers}\r\n\r\n`);
    up.write(head);
    socket.pipe(up).pipe(socket);
  });
  up.on('error', () => socket.destroy());
  socket.on('error', () => up.destroy());
}
