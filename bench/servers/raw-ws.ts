import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as wsModule from 'ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { answerStats } from './report.js';

/**
 * The practical limit for Node: a bare `ws` server that frames each published message once and writes
 * the same bytes to every subscriber's socket. No protocol, no history, no backpressure policy.
 */
const server = createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
const subscribers = new Set<WebSocket>();
const FRAME = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false } as const;
// ws's frame builder: exported by its ESM wrapper, not declared by @types/ws.
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: typeof FRAME): Buffer[] } };

wss.on('connection', (ws, request) => {
  if (request.url?.includes('role=pub')) {
    ws.on('message', (data: Buffer) => {
      const frame = Buffer.concat(Sender.frame(data, FRAME));
      for (const subscriber of subscribers) (subscriber as unknown as { _socket: { write(b: Buffer): void } })._socket.write(frame);
    });
    return;
  }
  subscribers.add(ws);
  ws.on('close', () => subscribers.delete(ws));
  ws.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => process.send!({ cmd: 'ready', port: (server.address() as AddressInfo).port }));
answerStats(() => new Promise<void>((resolve) => server.close(() => resolve())));
