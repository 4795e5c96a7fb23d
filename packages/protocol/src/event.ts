import { Defaults, MAX_EVENT_ID_LENGTH, MAX_EVENT_TYPE_LENGTH, MAX_SOURCE_LENGTH } from './limits.js';

export const SEVERITIES = ['debug', 'info', 'success', 'warning', 'error'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** What a publisher sends. */
export interface EventInput<TData = unknown> {
  type: string;
  severity?: Severity;
  data?: TData;
  /** The publisher's own timestamp: milliseconds since the epoch, or an ISO-8601 string. */
  ts?: number | string;
  /** Idempotency key: a second event with the same id in the same channel is not stored again. */
  id?: string;
  source?: string;
}

/** An event after validation: severity filled in, `ts` as milliseconds. */
export interface HeraldEvent<TData = unknown> {
  type: string;
  severity: Severity;
  data?: TData;
  ts?: number;
  id?: string;
  source?: string;
}

/** An event as the hub delivers it: the publisher's event plus where and when the hub stored it. */
export interface DeliveredEvent<TData = unknown> {
  channel: string;
  /** Position in the channel: 1, 2, 3… with no gaps. */
  offset: number;
  /** Changes only when the channel's history was lost or reset. */
  epoch: string;
  /** The hub's receive time, milliseconds since the epoch. */
  time: number;
  /** Set when this subscriber lagged: the events of the channel just before this one it was not sent, replaced by later ones of their kind (docs/protocol.md#conflation). */
  conflated?: number;
  event: HeraldEvent<TData>;
}

/** An ISO-8601 date and time with no zone: read as UTC, not in the local time of whoever parses it. */
const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

const EVENT_KEYS = new Set(['type', 'severity', 'data', 'ts', 'id', 'source']);
const SEVERITY_SET: ReadonlySet<string> = new Set(SEVERITIES);

/** Limits on the shape of an event's `data`; a hub may be configured to other values than the defaults. */
export interface EventShapeLimits {
  /** Deepest nesting of objects and arrays: a plain value is 0 deep, `{"a":[1]}` 2. */
  maxDepth: number;
  /** Most object keys plus array elements, counted over the whole value. */
  maxKeys: number;
}

export const DEFAULT_EVENT_SHAPE: EventShapeLimits = { maxDepth: Defaults.maxEventDepth, maxKeys: Defaults.maxEventKeys };

/**
 * Which limit `data` breaks, if any. The walk keeps its own stack and stops at the first breach, so a
 * hostile value costs at most `maxKeys` steps and no call-stack frames, however deep or large it is.
 */
export function checkEventShape(data: unknown, limits: EventShapeLimits): keyof EventShapeLimits | 'nonFinite' | undefined {
  // JSON.parse reads 1e309 as Infinity, which would be stored and sent back as null.
  if (typeof data === 'number' && !Number.isFinite(data)) return 'nonFinite';
  if (typeof data !== 'object' || data === null) return undefined;
  const stack: Array<{ value: object; depth: number }> = [{ value: data, depth: 1 }];
  let keys = 0;
  for (let node = stack.pop(); node; node = stack.pop()) {
    if (node.depth > limits.maxDepth) return 'maxDepth';
    const children: unknown[] = Array.isArray(node.value) ? node.value : Object.values(node.value);
    keys += children.length;
    if (keys > limits.maxKeys) return 'maxKeys';
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: node.depth + 1 });
      else if (typeof child === 'number' && !Number.isFinite(child)) return 'nonFinite';
    }
  }
  return undefined;
}

/** `limit` names the shape limit an event broke, so that the hub can say how its operator changes it. */
export type EventCheck = { ok: true; event: HeraldEvent } | { ok: false; reason: string; limit?: keyof EventShapeLimits };

/**
 * Validates a published event and normalises it. Unknown fields are refused so that typos show up, and
 * `data` must keep within `limits` (see EventShapeLimits).
 */
export function checkEvent(input: unknown, limits: EventShapeLimits = DEFAULT_EVENT_SHAPE): EventCheck {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { ok: false, reason: 'event must be a JSON object' };
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!EVENT_KEYS.has(key)) return { ok: false, reason: `unknown event field "${key}" (allowed: type, severity, data, ts, id, source)` };
  }
  const { type, severity, data, ts, id, source } = raw;
  if (typeof type !== 'string' || type.length === 0) return { ok: false, reason: 'event.type must be a non-empty string' };
  if (type.length > MAX_EVENT_TYPE_LENGTH) return { ok: false, reason: `event.type is longer than ${MAX_EVENT_TYPE_LENGTH} characters` };
  if (severity !== undefined && (typeof severity !== 'string' || !SEVERITY_SET.has(severity))) {
    return { ok: false, reason: `event.severity must be one of ${SEVERITIES.join(', ')}` };
  }
  const event: HeraldEvent = { type, severity: (severity as Severity | undefined) ?? 'info' };
  if (data !== undefined) {
    const broken = checkEventShape(data, limits);
    if (broken === 'maxDepth') return { ok: false, limit: broken, reason: `event.data is nested more than ${limits.maxDepth} levels deep` };
    if (broken === 'maxKeys') return { ok: false, limit: broken, reason: `event.data holds more than ${limits.maxKeys} keys and array elements in all` };
    if (broken === 'nonFinite') return { ok: false, reason: 'event.data holds a number JSON cannot carry (such as 1e309); send it as a string' };
    event.data = data;
  }
  if (ts !== undefined) {
    const millis = typeof ts === 'number' ? ts : typeof ts === 'string' ? Date.parse(LOCAL_DATE_TIME.test(ts) ? `${ts}Z` : ts) : Number.NaN;
    if (!Number.isFinite(millis)) return { ok: false, reason: 'event.ts must be milliseconds since the epoch or an ISO-8601 string' };
    event.ts = millis;
  }
  if (id !== undefined) {
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_EVENT_ID_LENGTH) {
      return { ok: false, reason: `event.id must be a string of 1 to ${MAX_EVENT_ID_LENGTH} characters` };
    }
    event.id = id;
  }
  if (source !== undefined) {
    if (typeof source !== 'string' || source.length > MAX_SOURCE_LENGTH) {
      return { ok: false, reason: `event.source must be a string of at most ${MAX_SOURCE_LENGTH} characters` };
    }
    event.source = source;
  }
  return { ok: true, event };
}
