import { checkChannel, checkEvent } from '@herald/protocol';
import { HeraldError } from './errors.js';
import type { AppendInput } from './store/types.js';

/** Checks a channel name for publishing (no wildcards) and throws the documented error. */
export function requireChannel(channel: unknown): string {
  const check = checkChannel(channel, false);
  if (!check.ok) throw new HeraldError('invalid_channel', check.reason);
  return channel as string;
}

/**
 * Validates and serialises published events, all or nothing: a batch with one bad event stores none.
 * Each event is serialised here once; the same text is stored and sent to every subscriber.
 */
export function prepareEvents(raw: readonly unknown[], maxMessageBytes: number): AppendInput[] {
  return raw.map((input, index) => {
    const where = raw.length > 1 ? `event ${index}: ` : '';
    const check = checkEvent(input);
    if (!check.ok) throw new HeraldError('invalid_event', where + check.reason);
    const json = JSON.stringify(check.event);
    const bytes = Buffer.byteLength(json);
    if (bytes > maxMessageBytes) throw new HeraldError('too_large', `${where}event is ${bytes} bytes; the cap is ${maxMessageBytes}`);
    return { event: check.event, json };
  });
}
