import type { WebSocket } from 'ws';
import type { SnapshotParts } from '../hub.js';
import { sendFrame, type ReplayEnd } from './replay.js';

/**
 * Sends the rest of a big snapshot (a run's steps) one message per frame, each only once the socket's
 * queue is below half the outbound cap: a 20 000-step run reaches a reader that keeps up without ever
 * holding more than the cap, and one that reads nothing for `stallMs` is reported `stalled`.
 */
export async function sendSnapshotParts(ws: WebSocket, parts: SnapshotParts, maxOutboundBytes: number, stallMs: number, isClosed: () => boolean): Promise<ReplayEnd> {
  for (let text = parts.next(); text !== undefined; text = parts.next()) {
    if (isClosed()) return 'closed';
    const drained = await sendFrame(ws, [text], maxOutboundBytes / 2, stallMs);
    if (isClosed()) return 'closed';
    if (!drained) return 'stalled';
  }
  return 'done';
}
