import { memo } from 'react';
import type { DeliveredEvent } from '@herald/client';
import { ansiSegments, type AnsiSegment } from '../lib/ansi.js';
import { clockTime, duration, eventTimes, preview, SEVERITY_ICONS, showText } from '../lib/format.js';
import type { LogRow as Row } from '../lib/log-model.js';
import { lineHref } from '../lib/route.js';
import { attachmentsOf, EventAttachments } from './Attachments.js';

/** Characters of one line drawn (the download has all of them): 500, as the log always cut them. */
const LINE_CUT = 500;
export const ROW_HEIGHT = 20;
/** A line with attachments holds their 40 px thumbnails. */
const ATTACHMENT_ROW_HEIGHT = 48;
const INDENT = 14;

const segmentCache = new WeakMap<DeliveredEvent, AnsiSegment[]>();
const attachedCache = new WeakMap<DeliveredEvent, boolean>();

function hasAttachments(e: DeliveredEvent): boolean {
  let known = attachedCache.get(e);
  if (known === undefined) attachedCache.set(e, (known = attachmentsOf(e).length > 0));
  return known;
}

export function rowHeight(row: Row): number {
  return !row.header && hasAttachments(row.line.event) ? ATTACHMENT_ROW_HEIGHT : ROW_HEIGHT;
}

/** A log message with its ANSI colours, as text spans (the parser's segments; never HTML), cut at LINE_CUT. */
function AnsiText({ event, message }: { event: DeliveredEvent; message: string }) {
  let segments = segmentCache.get(event);
  if (!segments) segmentCache.set(event, (segments = ansiSegments(message)));
  const spans = [];
  let left = LINE_CUT;
  for (const [i, s] of segments.entries()) {
    if (left <= 0) break;
    const text = showText(s.text, left);
    left -= s.text.length;
    const classes = [s.fgClass && `ansi-fg-${s.fgClass}`, s.bgClass && `ansi-bg-${s.bgClass}`, ...s.decorations.map((d) => `ansi-${d}`)].filter(Boolean).join(' ');
    spans.push(<span key={i} className={classes || undefined} style={s.fg || s.bg ? { color: s.fg ? `rgb(${s.fg})` : undefined, background: s.bg ? `rgb(${s.bg})` : undefined } : undefined}>{text}</span>);
  }
  return <span className="log-text user-text">{spans}</span>;
}

export interface RowProps {
  row: Row;
  runId: string;
  height: number;
  timestamps: boolean;
  open: boolean;
  now: number;
  /** The permalink's line, or the current search match. */
  mark: 'target' | 'match' | 'current' | null;
  onToggle: (groupId: number) => void;
}

/** One row of the run log: a group's header (toggle, title, duration) or a line of output. */
export const LogRow = memo(function LogRow({ row, runId, height, timestamps, open, now, mark, onToggle }: RowProps) {
  const { line } = row;
  const e = line.event;
  const times = eventTimes(e);
  const head = (
    <>
      <a className="log-num" href={lineHref(runId, line.offset)} data-testid="log-link" title="link to this line">{line.offset}</a>
      {timestamps ? <span className="muted log-time" title={times.title} data-testid="log-time">{clockTime(times.at)}</span> : null}
    </>
  );
  const style = { height, paddingLeft: row.depth * INDENT };
  const className = `log-row mono${mark ? ` log-${mark}` : ''}`;
  if (row.header) {
    const group = line.group!;
    const ran = (group.endAt ?? now) - group.startAt;
    return (
      <div className={`${className} log-group${group.failed ? ' sev-error' : ''}`} style={style} data-offset={line.offset} data-testid="log-group" data-open={open} data-failed={group.failed}>
        {head}
        <button type="button" className="log-toggle" aria-expanded={open} aria-label={`${open ? 'collapse' : 'expand'} group`} onClick={() => onToggle(group.id)}>{open ? '▾' : '▸'}</button>
        <span className="log-title user-text"><bdi>{showText(group.title, 300)}</bdi></span>
        <span className="muted" data-testid="group-lines">{group.lines} {group.lines === 1 ? 'line' : 'lines'}</span>
        <span className="muted" data-testid="group-duration" title={group.endAt === null ? 'still running' : undefined}>{duration(ran)}{group.endAt === null ? '…' : ''}</span>
        {group.failed ? <span className="badge sev-error">failed</span> : null}
      </div>
    );
  }
  const message = e.event.type === 'log' ? (e.event.data as { message?: unknown } | undefined)?.message : undefined;
  return (
    <div className={className} style={style} data-offset={line.offset} data-testid="log-line">
      {head}
      <span className={`sev-${line.error ? 'error' : e.event.severity}`}>{SEVERITY_ICONS[line.error ? 'error' : e.event.severity]}{e.event.type === 'log' ? '' : ` ${showText(e.event.type)}`}</span>
      {typeof message === 'string' ? <AnsiText event={e} message={message} /> : <span className="log-text user-text">{preview(e.event.data, LINE_CUT)}</span>}
      {hasAttachments(e) ? <EventAttachments event={e} compact /> : null}
    </div>
  );
});
