import { checkEvent, checkEventShape, Defaults, type EventShapeLimits } from '@herald/protocol';
import { HeraldError } from '../errors.js';
import type { ReplyInput } from './exchange.js';

/** The limits a request or reply is held to: those of an event. */
export interface PayloadLimits {
  maxMessageBytes: number;
  maxEventDepth: number;
  maxEventKeys: number;
}

const shapeOf = (limits: PayloadLimits): EventShapeLimits => ({ maxDepth: limits.maxEventDepth, maxKeys: limits.maxEventKeys });

/**
 * A request's `type`, `data` and `timeoutMs`, checked as an event is (type rules, data shape, bytes)
 * so that a request costs the hub and the responder no more than a publish. `timeoutMs` defaults to
 * `Defaults.replyTimeoutMs` and may not pass `Defaults.maxReplyTimeoutMs` (refused, not clamped: a
 * caller that asks for ten minutes should hear that it will not get them).
 */
export function checkRequest(raw: { type?: unknown; data?: unknown; timeoutMs?: unknown }, limits: PayloadLimits): { type: string; data?: unknown; timeoutMs: number } {
  const timeoutMs = raw.timeoutMs ?? Defaults.replyTimeoutMs;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > Defaults.maxReplyTimeoutMs) {
    throw new HeraldError('bad_request', `timeoutMs must be a whole number of milliseconds from 1 to ${Defaults.maxReplyTimeoutMs} (default ${Defaults.replyTimeoutMs})`);
  }
  const check = checkEvent(raw.data === undefined ? { type: raw.type } : { type: raw.type, data: raw.data }, shapeOf(limits));
  if (!check.ok) throw new HeraldError('invalid_event', `request: ${check.reason.replace(/^event\./, '')}`);
  checkBytes('request data', raw.data, limits.maxMessageBytes);
  return check.event.data === undefined ? { type: check.event.type, timeoutMs } : { type: check.event.type, data: check.event.data, timeoutMs };
}

/** A reply's `data` or `error` (a sentence), not both. */
export function checkReply(raw: { data?: unknown; error?: unknown }, limits: PayloadLimits): ReplyInput {
  if (raw.error !== undefined) {
    if (raw.data !== undefined) throw new HeraldError('bad_request', 'a reply carries either data or error, not both');
    if (typeof raw.error !== 'string') throw new HeraldError('bad_request', 'error must be a string (a sentence saying why the request was refused)');
    return { error: raw.error };
  }
  const broken = checkEventShape(raw.data, shapeOf(limits));
  if (broken === 'maxDepth') throw new HeraldError('invalid_event', `reply data is nested more than ${limits.maxEventDepth} levels deep`);
  if (broken === 'maxKeys') throw new HeraldError('invalid_event', `reply data holds more than ${limits.maxEventKeys} keys and array elements in all`);
  if (broken === 'nonFinite') throw new HeraldError('invalid_event', 'reply data holds a number JSON cannot carry (such as 1e309); send it as a string');
  checkBytes('reply data', raw.data, limits.maxMessageBytes);
  return raw.data === undefined ? {} : { data: raw.data };
}

function checkBytes(what: string, data: unknown, max: number): void {
  if (data === undefined) return;
  const text = JSON.stringify(data);
  const bytes = text.length * 3 <= max ? 0 : Buffer.byteLength(text);
  if (bytes > max) throw new HeraldError('too_large', `${what} is ${bytes} bytes; the cap is ${max}`);
}
