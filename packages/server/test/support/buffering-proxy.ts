import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { forwardUpgrade } from './block-websocket-proxy.js';

export interface BufferingProxy {
  url: string;
  /** WebSocket upgrades refused so far. */
  refused(): number;
  /** SSE responses held back so far. */
  heldStreams(): number;
  /** From now on, forward WebSocket upgrades (the proxy was fixed). */
  allowUpgrades(): void;
  close(): Promise<void>;
}

/**
 * A misconfigured proxy in front of a hub, like an nginx without `proxy_buffering off` or upgrade
 * headers: it refuses WebSocket upgrades, and holds every `text/event-stream` response body until the
 * response ends or `bufferBytes` have piled up (the headers go through, so EventSource opens). Other
 * responses (JSON, long-polls) pass as they are.
 */
export async function startBufferingProxy(target: string, bufferBytes = 64 * 1024): Promise<BufferingProxy> {
  const upstream = new URL(target);
  let refused = 0;
  let heldStreams = 0;
  let upgrades = false;
  const server: Server = createServer((req, res) => {
    const forward = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (!String(up.headers['content-type']).startsWith('text/event-stream')) return void up.pipe(res);
      heldStreams++;
      let held: Buffer[] = [];
      let size = 0;
      up.on('data', (chunk: Buffer) => {
        held.push(chunk);
        size += chunk.length;
        if (size < bufferBytes) return;
        res.write(Buffer.concat(held));
        held = [];
        size = 0;
      });
      up.on('end', () => res.end(Buffer.concat(held)));
    });
    forward.on('error', () => res.destroy());
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  server.on('upgrade', (req, socket, head) => {
    if (!upgrades) {
      refused++;
      socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    forwardUpgrade(upstream, req, socket, head);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    refused: () => refused,
    heldStreams: () => heldStreams,
    allowUpgrades: () => void (upgrades = true),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
