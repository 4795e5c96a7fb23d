import type { DeliveredEvent } from '@herald/client';
import { eventTime } from '@herald/protocol';
import { plainText } from './ansi.js';
import { jsonText } from './json-text.js';

/**
 * A run's events as a CI log: one line per event, grouped by markers (docs/runs.md#log-groups) —
 * GitHub Actions' `::group::Title` / `::endgroup::` in a log message, or `data.group: 'start' | 'end'`
 * on a `log` event. Groups nest; each knows its duration (from the events' times) and whether it
 * failed (an error line inside, or an end marker of severity error or with `status: 'failed'`).
 */
export interface LogGroup {
  /** The offset of its start line: stable while the log grows, and what a permalink names. */
  id: number;
  title: string;
  parent: LogGroup | null;
  depth: number;
  startAt: number;
  endAt: number | null;
  failed: boolean;
  lines: number;
}

export interface LogLine {
  event: DeliveredEvent;
  offset: number;
  /** The line's plain text (ANSI and control characters removed): what search and downloads see. */
  plain: string;
  kind: 'line' | 'start' | 'end';
  /** The innermost group the line is in; for a start line, the group it opens. */
  group: LogGroup | null;
  error: boolean;
}

export interface LogModel {
  lines: LogLine[];
  groups: LogGroup[];
}

/** Groups deeper than this are read as plain lines: a runaway `::group::` loop stays one screen deep. */
const MAX_DEPTH = 8;
const GH_START = /^::group::(.*)$/;
const GH_END = /^::endgroup::\s*$/;
const GH_ERROR = /^::error(?:\s[^:]*)?::/;

const plainCache = new WeakMap<DeliveredEvent, string>();

/** What a line is, worked out once per event: the log is rebuilt on every change, 20 000 lines at a time. */
interface LineFacts {
  plain: string;
  mark: { kind: 'start' | 'end'; title: string } | null;
  error: boolean;
  /** When it happened: the publisher's ts when the run rules believe it (`eventTimes(e).at`, without its hover text). */
  at: number;
}
const factsCache = new WeakMap<DeliveredEvent, LineFacts>();

function factsOf(e: DeliveredEvent): LineFacts {
  let facts = factsCache.get(e);
  if (!facts) {
    const plain = plainOf(e);
    facts = { plain, mark: marker(e, plain), error: e.event.severity === 'error' || (e.event.type === 'log' && GH_ERROR.test(plain)), at: eventTime(e.time, e.event.ts) };
    factsCache.set(e, facts);
  }
  return facts;
}

/** The text of an event's line: a log's message, any other event as its type and data. */
export function plainOf(e: DeliveredEvent): string {
  let text = plainCache.get(e);
  if (text === undefined) {
    const data = e.event.data as { message?: unknown } | undefined;
    text = e.event.type === 'log' && typeof data?.message === 'string' ? plainText(data.message) : `[${plainText(e.event.type)}] ${plainText(jsonText(e.event.data ?? null, 2000))}`;
    plainCache.set(e, text);
  }
  return text;
}

function marker(e: DeliveredEvent, plain: string): { kind: 'start' | 'end'; title: string } | null {
  if (e.event.type !== 'log') return null;
  const data = e.event.data as { group?: unknown; title?: unknown } | undefined;
  if (data?.group === 'start') return { kind: 'start', title: typeof data.title === 'string' ? plainText(data.title) : plain };
  if (data?.group === 'end') return { kind: 'end', title: '' };
  const first = plain.split('\n', 1)[0]!;
  const start = GH_START.exec(first);
  if (start) return { kind: 'start', title: start[1]!.trim() || 'group' };
  return GH_END.test(first) ? { kind: 'end', title: '' } : null;
}

/** Builds the lines and groups of a log (events in offset order). `finished`: the run ended, so open groups are over. */
export function buildLog(events: readonly DeliveredEvent[], runFailed: boolean): LogModel {
  const lines: LogLine[] = [];
  const groups: LogGroup[] = [];
  let open: LogGroup | null = null;
  for (const e of events) {
    const { plain, mark, error, at } = factsOf(e);
    if (mark?.kind === 'start' && (open?.depth ?? -1) + 1 < MAX_DEPTH) {
      const group: LogGroup = { id: e.offset, title: mark.title, parent: open, depth: open ? open.depth + 1 : 0, startAt: at, endAt: null, failed: error, lines: 0 };
      groups.push(group);
      lines.push({ event: e, offset: e.offset, plain, kind: 'start', group, error });
      open = group;
      continue;
    }
    if (mark?.kind === 'end' && open) {
      const status = (e.event.data as { status?: unknown } | undefined)?.status;
      open.endAt = at;
      if (error || status === 'failed') markFailed(open);
      lines.push({ event: e, offset: e.offset, plain, kind: 'end', group: open, error });
      open = open.parent;
      continue;
    }
    lines.push({ event: e, offset: e.offset, plain, kind: 'line', group: open, error });
    for (let g = open; g; g = g.parent) g.lines++;
    if (error && open) markFailed(open);
  }
  // A group still open in a failed run is where it failed.
  if (runFailed) for (let g = open; g; g = g.parent) g.failed = true;
  return { lines, groups };
}

function markFailed(group: LogGroup): void {
  for (let g: LogGroup | null = group; g; g = g.parent) g.failed = true;
}

/** Open unless the user closed it: failed and running groups start open, ended ones closed. */
export function isOpen(group: LogGroup, toggled: ReadonlyMap<number, boolean>): boolean {
  return toggled.get(group.id) ?? (group.failed || group.endAt === null);
}

export interface LogRow {
  line: LogLine;
  /** A group's header (its start line), or a line of output. */
  header: boolean;
  depth: number;
}

/**
 * What is on screen: every line whose groups are all open, headers always (when their parent is open);
 * end markers are not drawn. `shows` filters output lines (severity), never headers.
 */
export function visibleRows(model: LogModel, toggled: ReadonlyMap<number, boolean>, shows: (line: LogLine) => boolean): LogRow[] {
  const rows: LogRow[] = [];
  const openCache = new Map<LogGroup, boolean>();
  const allOpen = (g: LogGroup | null): boolean => {
    if (!g) return true;
    let known = openCache.get(g);
    if (known === undefined) openCache.set(g, (known = isOpen(g, toggled) && allOpen(g.parent)));
    return known;
  };
  for (const line of model.lines) {
    if (line.kind === 'end') continue;
    if (line.kind === 'start') {
      if (allOpen(line.group!.parent)) rows.push({ line, header: true, depth: line.group!.depth });
    } else if (allOpen(line.group) && shows(line)) rows.push({ line, header: false, depth: line.group ? line.group.depth + 1 : 0 });
  }
  return rows;
}

/** The groups to open so that the line at `offset` is on screen (an end marker shows as its group's header). */
export function groupsToOpen(model: LogModel, offset: number): number[] {
  const line = model.lines.find((l) => l.offset === offset);
  if (!line) return [];
  const ids: number[] = [];
  for (let g = line.kind === 'line' ? line.group : line.group!.parent; g; g = g.parent) ids.push(g.id);
  return ids;
}

/** The offsets of the lines whose text contains `needle` (case-insensitive), in order. */
export function searchLines(model: LogModel, needle: string): number[] {
  const wanted = needle.toLowerCase();
  if (!wanted) return [];
  return model.lines.filter((l) => l.kind !== 'end' && l.plain.toLowerCase().includes(wanted)).map((l) => l.offset);
}

/**
 * Merges events into a log sorted by offset, each once, keeping the newest `cap`. Both inputs are
 * sorted; live events (the usual case) only append, so this is linear, not a sort per frame.
 */
export function mergeLog(current: readonly DeliveredEvent[], incoming: readonly DeliveredEvent[], cap: number): DeliveredEvent[] {
  const sorted = [...incoming].sort((a, b) => a.offset - b.offset);
  const merged: DeliveredEvent[] = [];
  let i = 0;
  let j = 0;
  while (i < current.length || j < sorted.length) {
    const a = current[i];
    const b = sorted[j];
    const next = !b || (a && a.offset <= b.offset) ? (i++, a!) : (j++, b);
    if (merged.length === 0 || merged[merged.length - 1]!.offset !== next.offset) merged.push(next);
  }
  return merged.length > cap ? merged.slice(-cap) : merged;
}

/** The log as text, as the program printed it: the `log` events' messages, ANSI removed, one per line. */
export function logText(events: readonly DeliveredEvent[]): string {
  return events
    .filter((e) => e.event.type === 'log')
    .map((e) => `${plainOf(e)}\n`)
    .join('');
}

/** The events as NDJSON, one delivered event (channel, offset, epoch, time, event) per line. */
export function eventsNdjson(events: readonly DeliveredEvent[]): string {
  return events.map((e) => `${JSON.stringify({ channel: e.channel, offset: e.offset, epoch: e.epoch, time: e.time, event: e.event })}\n`).join('');
}
