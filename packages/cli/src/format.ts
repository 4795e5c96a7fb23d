import type { DeliveredEvent, Severity } from '@herald/protocol';

const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, text: string) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);

const SEVERITY: Record<Severity, { icon: string; color: number }> = {
  debug: { icon: '·', color: 90 },
  info: { icon: 'ℹ', color: 36 },
  success: { icon: '✔', color: 32 },
  warning: { icon: '⚠', color: 33 },
  error: { icon: '✖', color: 31 },
};

/** One line per event for people: time, channel and offset, severity, type, then the message or data. */
export function formatEvent(delivered: DeliveredEvent): string {
  const { event } = delivered;
  const time = new Date(delivered.time).toISOString().slice(11, 23);
  const style = SEVERITY[event.severity];
  const data = event.data as Record<string, unknown> | undefined;
  const detail = typeof data?.message === 'string' ? data.message : event.data === undefined ? '' : JSON.stringify(event.data);
  return `${paint(90, time)} ${paint(35, `${delivered.channel}#${delivered.offset}`)} ${paint(style.color, `${style.icon} ${event.type}`)} ${detail}`;
}

export function notice(text: string): void {
  process.stderr.write(`${paint(90, `herald: ${text}`)}\n`);
}
