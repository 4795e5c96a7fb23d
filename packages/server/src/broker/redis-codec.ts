import type { StoredEvent } from '../store/types.js';

/**
 * The payload of one PUBLISH of the Redis broker: one channel's stored events (the channel is the Redis
 * channel's name, so it is not repeated here). A header line, then the events' JSON texts back to back:
 *
 *   h1 <epoch> <offset>:<time>:<length> <offset>:<time>:<length> …\n<json><json>…
 *
 * `length` counts UTF-16 code units of the JSON text, as JavaScript strings do. The stored texts travel
 * unchanged and unescaped (a JSON envelope would escape every quote of every event, and parsing them
 * back out of one would cost a JSON.parse of the whole event plus a JSON.stringify that may not give the
 * stored bytes back); the receiving hub slices them out without parsing them. `h1` names the format, so
 * that a hub of a later version can tell and a hub of this one refuses what it cannot read.
 */
const VERSION = 'h1';
const ENTRY = /^(\d+):(\d+):(\d+)$/;

export interface DecodedBatch {
  epoch: string;
  events: StoredEvent[];
}

export function encodeBatch(epoch: string, events: readonly StoredEvent[]): string {
  if (!/^[^\s]+$/.test(epoch)) throw new Error(`epoch "${epoch}" cannot be published: it must be non-empty without spaces`);
  let header = `${VERSION} ${epoch}`;
  let bodies = '';
  for (const event of events) {
    header += ` ${event.offset}:${event.time}:${event.json.length}`;
    bodies += event.json;
  }
  return `${header}\n${bodies}`;
}

/** The events of a payload from `encodeBatch`; undefined for anything else (another format, garbage). */
export function decodeBatch(channel: string, payload: string): DecodedBatch | undefined {
  const newline = payload.indexOf('\n');
  if (newline < 0) return undefined;
  const header = payload.slice(0, newline).split(' ');
  if (header[0] !== VERSION || header.length < 2 || header[1] === '') return undefined;
  const events: StoredEvent[] = [];
  let at = newline + 1;
  for (let i = 2; i < header.length; i++) {
    const entry = ENTRY.exec(header[i]!);
    if (!entry) return undefined;
    const length = Number(entry[3]);
    if (at + length > payload.length) return undefined;
    events.push({ channel, offset: Number(entry[1]), time: Number(entry[2]), json: payload.slice(at, at + length) });
    at += length;
  }
  if (at !== payload.length) return undefined;
  return { epoch: header[1]!, events };
}
