import type { WebSocket } from 'ws';
import type { ReplaySource } from '../fanout/replay-source.js';

const EVENTS_PER_FRAME = 256;

/** Why a replay stopped before its end. */
export type ReplayEnd = 'done' | 'closed' | 'stalled';

/**
 * Sends missed events as JSON-array frames, reading the next page from the store only once the socket's
 * queue is below half the outbound cap: a long replay neither trips the slow-consumer cap nor holds more
 * than a page in memory. A client that reads nothing for `stallMs` is reported as `stalled` (the caller
 * closes it as a slow consumer); resolves `closed` early if the connection closes.
 */
export async function sendReplay(ws: WebSocket, replay: ReplaySource, maxOutboundBytes: number, stallMs: number, isClosed: () => boolean): Promise<ReplayEnd> {
  const frameBudget = Math.max(1024, Math.floor(maxOutboundBytes / 4));
  let parts: string[] = [];
  let size = 0;
  const flush = async (): Promise<ReplayEnd | undefined> => {
    if (parts.length === 0) return undefined;
    if (isClosed()) return 'closed';
    const drained = await sendFrame(ws, parts, maxOutboundBytes / 2, stallMs);
    parts = [];
    size = 0;
    if (isClosed()) return 'closed';
    return drained ? undefined : 'stalled';
  };
  for (let page = await replay.next(); page; page = await replay.next()) {
    if (isClosed()) return 'closed';
    for (const delivery of page) {
      const text = delivery.wsText();
      if (parts.length > 0 && (parts.length >= EVENTS_PER_FRAME || size + text.length > frameBudget)) {
        const end = await flush();
        if (end) return end;
      }
      parts.push(text);
      size += text.length;
    }
  }
  return (await flush()) ?? 'done';
}

/** Resolves true once the frame is handed to the kernel or the queue is below `pauseAbove`; false after `stallMs`. */
export function sendFrame(ws: WebSocket, parts: string[], pauseAbove: number, stallMs: number): Promise<boolean> {
  const text = parts.length === 1 ? parts[0]! : `[${parts.join(',')}]`;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), stallMs);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    // The callback fires once the frame is handed to the kernel (or the socket failed).
    ws.send(text, { compress: false }, done);
    if (ws.bufferedAmount <= pauseAbove) done();
  });
}
