import { MAX_CHANNEL_LENGTH } from './limits.js';

/**
 * Channel names are segments of [A-Za-z0-9_-] joined by `.` (`runs.build-42`, `system`).
 * Patterns follow NATS: `*` stands for exactly one segment, `>` (last segment only) for one or more.
 */
const SEGMENT = /^[A-Za-z0-9_-]+$/;

export type ChannelCheck = { ok: true; isPattern: boolean } | { ok: false; reason: string };

/** Checks a channel name, or a pattern when `allowPattern` is true. */
export function checkChannel(name: unknown, allowPattern: boolean): ChannelCheck {
  if (typeof name !== 'string' || name.length === 0) return { ok: false, reason: 'channel must be a non-empty string' };
  if (name.length > MAX_CHANNEL_LENGTH) return { ok: false, reason: `channel is longer than ${MAX_CHANNEL_LENGTH} characters` };
  const segments = name.split('.');
  let isPattern = false;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '*' || segment === '>') {
      if (!allowPattern) return { ok: false, reason: `wildcard "${segment}" is only allowed in subscriptions, not in a channel name` };
      if (segment === '>' && i !== segments.length - 1) return { ok: false, reason: '">" may only be the last segment' };
      isPattern = true;
      continue;
    }
    if (!SEGMENT.test(segment)) {
      return { ok: false, reason: segment === '' ? 'empty segment (leading, trailing or double ".")' : `segment "${segment}" has characters outside [A-Za-z0-9_-]` };
    }
  }
  return { ok: true, isPattern };
}

export function isPattern(name: string): boolean {
  return name === '>' || name === '*' || name.includes('*') || name.endsWith('.>');
}

/**
 * Whether `channel` matches `pattern`. This is the reference definition; the hub indexes subscriptions
 * in a trie that must agree with it (a property test checks that).
 */
export function matchesPattern(pattern: string, channel: string): boolean {
  if (pattern === channel) return true;
  const p = pattern.split('.');
  const c = channel.split('.');
  for (let i = 0; i < p.length; i++) {
    const seg = p[i];
    if (seg === '>') return c.length > i;
    if (i >= c.length) return false;
    if (seg !== '*' && seg !== c[i]) return false;
  }
  return p.length === c.length;
}
