import { io as socketIo } from 'socket.io-client';
import { WebSocket } from 'ws';

export type Kind = 'herald' | 'raw' | 'socketio';
export const KINDS: Kind[] = ['herald', 'raw', 'socketio'];
export const LABEL: Record<Kind, string> = { herald: 'Herald', raw: 'raw ws', socketio: 'Socket.IO 4.8' };

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export interface Publisher {
  send(seq: number, pad: string): void;
  close(): void;
  /** Sends what it holds back (a publisher that batches), at the end of a window. */
  flush?(): void;
}

/** A publishing connection of the given kind; every payload carries its send time and sequence. */
export async function openPublisher(kind: Kind, url: string, channel: string): Promise<Publisher> {
  const payload = (seq: number, pad: string) => ({ ts: nowMs(), seq, pad });
  if (kind === 'socketio') {
    const socket = socketIo(url, { transports: ['websocket'], query: { role: 'pub' } });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    return { send: (seq, pad) => void socket.emit('publish', payload(seq, pad)), close: () => void socket.disconnect() };
  }
  const ws = new WebSocket(kind === 'herald' ? `${url.replace('http', 'ws')}/ws` : `${url.replace('http', 'ws')}/?role=pub`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  if (kind === 'raw') return { send: (seq, pad) => ws.send(JSON.stringify(payload(seq, pad))), close: () => ws.close() };
  return {
    send: (seq, pad) => ws.send(JSON.stringify({ op: 'publish', channel, event: { type: 'b', data: payload(seq, pad) } })),
    close: () => ws.close(),
  };
}

/** Padding that makes the payload object about `bytes` long as JSON. */
export function padFor(bytes: number): string {
  return 'x'.repeat(Math.max(0, bytes - JSON.stringify({ ts: nowMs(), seq: 100000, pad: '' }).length));
}
