import type { Severity } from '@herald/protocol';

export const SEVERITY_ICONS: Record<Severity, string> = { debug: '·', info: 'ℹ', success: '✔', warning: '⚠', error: '✖' };

export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
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

/** A one-line preview of any payload, shortened: rows stay one line, the detail panel shows it all. */
export function preview(value: unknown, max = 200): string {
  if (value === undefined) return '';
  const data = value as { message?: unknown };
  const text = typeof data === 'object' && data !== null && typeof data.message === 'string' ? data.message : typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
