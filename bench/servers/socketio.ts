import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { answerStats } from './report.js';

/** Socket.IO 4.8 doing the same fan-out: one room, a broadcast per published message. */
const server = createServer();
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  // Its own resume feature, so the reconnect storm compares like with like.
  connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: true },
});
io.on('connection', (socket) => {
  if (socket.handshake.query.role === 'pub') {
    socket.on('publish', (message: unknown) => io.to('bench').emit('event', message));
    return;
  }
  if (!socket.recovered) void socket.join('bench');
});
server.listen(0, '127.0.0.1', () => process.send!({ cmd: 'ready', port: (server.address() as AddressInfo).port }));
answerStats(() => new Promise<void>((resolve) => io.close(() => resolve())));
