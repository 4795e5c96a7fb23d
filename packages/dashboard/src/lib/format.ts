import type { DeliveredEvent } from '@herald/client';
import { eventTime, type Severity } from '@herald/protocol';
import { jsonText } from './json-text.js';

export const SEVERITY_ICONS: Record<Severity, string> = { debug: '·', info: 'ℹ', success: '✔', warning: '⚠', error: '✖' };

export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * When an event happened (the publisher's `ts` when the run rules believe it, see `eventTime`), and a
 * hover text with both times when they differ.
 */
export function eventTimes(e: DeliveredEvent): { at: number; title: string } {
  const at = eventTime(e.time, e.event.ts);
  return { at, title: at === e.time ? `received ${clockTime(e.time)}` : `published ${clockTime(at)} · received ${clockTime(e.time)}` };
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function count(n: number | undefined): string {
  if (n === undefined) return '—';
  return n >= 10_000 ? `${(n / 1000).toFixed(n >= 100_000 ? 0 : 1)}k` : n.toLocaleString();
}

/** A byte size in binary units: 512 B, 3.4 KiB, 12.0 MiB, 1.2 GiB. */
export function byteSize(n: number | undefined): string {
  if (n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let unit = 0;
  for (; n >= 1024 && unit < units.length - 1; unit++) n /= 1024;
  return unit === 0 ? `${n} B` : `${n.toFixed(1)} ${units[unit]}`;
}

/**
 * Characters that change how the text around them looks without being seen themselves: bidirectional
 * overrides and isolates (which can make a name ending in `.exe` read as one ending in `.txt`), zero-width spaces and joiners,
 * the byte-order mark, the soft hyphen. The dashboard shows them as escapes, as JSON would write them.
 */
const INVISIBLE = /[\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;
export const revealInvisible = (text: string): string => text.replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** The first `max` characters, not splitting a surrogate pair. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/** Publisher text for one place in a view: invisible characters shown as escapes, cut to `max` with an ellipsis. */
export function showText(text: string, max = Infinity): string {
  const cut = cutText(text, max);
  return revealInvisible(cut) + (cut.length < text.length ? '…' : '');
}

/**
 * A one-line preview of any payload, shortened: rows stay one line, the detail panel shows the rest.
 * Written only as far as shown (jsonText), so it costs the same for a 64 KiB event as for a small one.
 */
export function preview(value: unknown, max = 200): string {
  if (value === undefined) return '';
  const data = value as { message?: unknown };
  const text = typeof data === 'object' && data !== null && typeof data.message === 'string' ? data.message : typeof value === 'string' ? value : jsonText(value, max + 1);
  return showText(text, max);
}
