import type { WebSocket } from 'ws';
import type { Delivery } from '../fanout/delivery.js';

const EVENTS_PER_FRAME = 256;

/**
 * Sends missed events as JSON-array frames, pausing whenever the socket's queue passes half the
 * outbound cap, so that a long replay neither trips the slow-consumer cap nor floods memory.
 * Resolves early if the connection closes.
 */
export async function sendReplay(ws: WebSocket, replay: readonly Delivery[], maxOutboundBytes: number, isClosed: () => boolean): Promise<void> {
  const frameBudget = Math.max(1024, Math.floor(maxOutboundBytes / 4));
  let parts: string[] = [];
  let size = 0;
  for (const delivery of replay) {
    const text = delivery.wsText();
    if (parts.length > 0 && (parts.length >= EVENTS_PER_FRAME || size + text.length > frameBudget)) {
      await sendFrame(ws, parts, maxOutboundBytes / 2);
      if (isClosed()) return;
      parts = [];
      size = 0;
    }
    parts.push(text);
    size += text.length;
  }
  if (parts.length > 0) await sendFrame(ws, parts, maxOutboundBytes / 2);
}

function sendFrame(ws: WebSocket, parts: string[], pauseAbove: number): Promise<void> {
  const text = parts.length === 1 ? parts[0]! : `[${parts.join(',')}]`;
  return new Promise((resolve) => {
    // The callback fires once the frame is handed to the kernel (or the socket failed).
    ws.send(text, { compress: false }, () => resolve());
    if (ws.bufferedAmount <= pauseAbove) resolve();
  });
}
