import type { DeliveredEvent, Severity } from '@herald/protocol';
import { escapeControls, safeJson } from './safe-text.js';

const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
/** The only escape sequences herald writes are these colours, and only to a terminal. */
const paint = (code: number, text: string) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);

const SEVERITY: Record<Severity, { icon: string; color: number }> = {
  debug: { icon: '·', color: 90 },
  info: { icon: 'ℹ', color: 36 },
  success: { icon: '✔', color: 32 },
  warning: { icon: '⚠', color: 33 },
  error: { icon: '✖', color: 31 },
};

/**
 * One line per event for people: time, channel and offset, severity, type, then the message or data.
 * Everything the publisher wrote passes through escapeControls, so an event can neither steer the
 * terminal nor fake a second line.
 */
export function formatEvent(delivered: DeliveredEvent): string {
  const { event } = delivered;
  const time = new Date(delivered.time).toISOString().slice(11, 23);
  const style = SEVERITY[event.severity];
  const data = event.data as Record<string, unknown> | undefined;
  const detail = typeof data?.message === 'string' ? data.message : event.data === undefined ? '' : JSON.stringify(event.data);
  const where = escapeControls(`${delivered.channel}#${delivered.offset}`);
  return `${paint(90, time)} ${paint(35, where)} ${paint(style.color, `${style.icon} ${escapeControls(event.type)}`)} ${escapeControls(detail)}`;
}

/** One JSON object per line for programs, with no raw control character in it. */
export function formatEventJson(delivered: DeliveredEvent): string {
  return safeJson(delivered);
}

/** A line on standard error; its text may quote the hub (error messages, close reasons), so it is escaped too. */
export function notice(text: string): void {
  process.stderr.write(`${paint(90, `herald: ${escapeControls(text)}`)}\n`);
}
