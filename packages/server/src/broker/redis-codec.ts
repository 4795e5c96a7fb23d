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

/**
 * The payload of one ephemeral event, on the same Redis channel as the channel's stored events (so it
 * reaches the same interest), in a format of its own that `decodeBatch` refuses, so that it is never
 * taken for a stored event with an offset:
 *
 *   x1 <sender>:<sequence> <time>\n<json>
 *
 * `<sender>:<sequence>` (a random id of the publishing broker and its count of ephemeral publishes)
 * makes every publish's payload unique: the broker drops a message equal to the one just before it as
 * a copy sent for overlapping interests, and two equal ephemerals (a cursor that did not move) in the
 * same millisecond must not look like one.
 */
const EPHEMERAL_VERSION = 'x1';
const EPHEMERAL_HEADER = /^x1 ([A-Za-z0-9]+:\d+) (\d+)$/;

export interface DecodedEphemeral {
  time: number;
  json: string;
}

export function isEphemeralPayload(payload: string): boolean {
  return payload.startsWith(`${EPHEMERAL_VERSION} `);
}

export function encodeEphemeral(sender: string, sequence: number, time: number, json: string): string {
  if (!Number.isSafeInteger(time) || time < 0) throw new Error(`time ${time} cannot be published: it must be whole milliseconds`);
  return `${EPHEMERAL_VERSION} ${sender}:${sequence} ${time}\n${json}`;
}

/** The event of a payload from `encodeEphemeral`; undefined for anything else. */
export function decodeEphemeral(payload: string): DecodedEphemeral | undefined {
  const newline = payload.indexOf('\n');
  if (newline < 0) return undefined;
  const header = EPHEMERAL_HEADER.exec(payload.slice(0, newline));
  if (!header || newline + 1 === payload.length) return undefined;
  return { time: Number(header[2]), json: payload.slice(newline + 1) };
}

/**
 * The payload of one presence change, on the channel's Redis channel (so it reaches exactly the hubs
 * with subscribers there), in a format of its own that neither `decodeBatch` nor `decodeEphemeral`
 * reads:
 *
 *   p1 <join|leave> <node>:<n>\n<entry JSON>
 *
 * `<node>` is the id of the hub the subscriber is on (a hub drops its own: it announced them locally),
 * `<n>` that hub's count of subscriptions, so every payload is unique (see the copy rule above). The
 * presence directory's Lua scripts (presence/redis-scripts.ts) PUBLISH these themselves, in the same
 * script that changes the directory, so a change and its announcement are one atomic step; they build
 * the header from a directory member `<node>:<n> <entry JSON>` exactly as `encodePresence` does.
 */
const PRESENCE_HEADER = /^p1 (join|leave) (\S+):(\d+)$/;

export interface DecodedPresence {
  op: 'join' | 'leave';
  node: string;
  /** The PresenceEntry as JSON text. */
  json: string;
}

export function isPresencePayload(payload: string): boolean {
  return payload.startsWith('p1 ');
}

export function encodePresence(op: 'join' | 'leave', memberId: string, json: string): string {
  return `p1 ${op} ${memberId}\n${json}`;
}

/** The change of a payload from `encodePresence` (or a directory script); undefined for anything else. */
export function decodePresence(payload: string): DecodedPresence | undefined {
  const newline = payload.indexOf('\n');
  if (newline < 0) return undefined;
  const header = PRESENCE_HEADER.exec(payload.slice(0, newline));
  if (!header || newline + 1 === payload.length) return undefined;
  return { op: header[1] as 'join' | 'leave', node: header[2]!, json: payload.slice(newline + 1) };
}

/** `P:ev:`, the start of the Redis channel of every Herald channel: the broker and the presence directory share it. */
export function brokerChannelPrefix(prefix: string): string {
  return `${prefix}:ev:`;
}
