import type { AppendInput } from './types.js';

/**
 * Most appends, and about the most bytes, one batch sends to an engine (a group commit in SQLite, a
 * pipeline to Redis); the rest wait for the next. A batch's answers settle in one task of the event
 * loop: 100 000 appends answered at once held it for over a second.
 */
export const MAX_BATCH_APPENDS = 1000;
export const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** Removes and returns the oldest pending appends that fit in one batch (always at least one). */
export function takeBatch<T extends { inputs: readonly AppendInput[] }>(pending: T[]): T[] {
  let size = 0;
  let take = 0;
  while (take < pending.length && take < MAX_BATCH_APPENDS && size < MAX_BATCH_BYTES) {
    for (const input of pending[take]!.inputs) size += input.json.length;
    take++;
  }
  return pending.splice(0, take);
}
