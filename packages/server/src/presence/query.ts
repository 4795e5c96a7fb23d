import { Defaults, isPattern } from '@herald/protocol';
import { HeraldError } from '../errors.js';
import { requireChannel } from '../events-in.js';

/** `after` is the `next` of an earlier answer: a decimal sequence number. */
const CURSOR = /^[1-9][0-9]{0,15}$/;

export interface PresenceQuery {
  channel: string;
  limit: number;
  /** 0: the first page. */
  after: number;
}

/** Checks a presence question as a client sent it (WebSocket command or HTTP query), with sentences that say what to do. */
export function parsePresenceQuery(channel: unknown, limit: unknown, after: unknown): PresenceQuery {
  if (typeof channel === 'string' && isPattern(channel)) {
    throw new HeraldError('bad_request', 'presence lists the subscribers of one channel: give a channel name, not a pattern (pattern subscribers are not listed)');
  }
  const name = requireChannel(channel);
  if (limit !== undefined && !(Number.isInteger(limit) && (limit as number) >= 1 && (limit as number) <= Defaults.maxPresencePage)) {
    throw new HeraldError('bad_request', `limit must be an integer from 1 to ${Defaults.maxPresencePage}`);
  }
  if (after !== undefined && !(typeof after === 'string' && CURSOR.test(after))) {
    throw new HeraldError('bad_request', 'after must be the "next" of an earlier presence answer');
  }
  return { channel: name, limit: (limit as number | undefined) ?? Defaults.maxPresencePage, after: after === undefined ? 0 : Number(after) };
}
