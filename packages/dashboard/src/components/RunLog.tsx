import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { DeliveredEvent } from '@herald/client';
import { SEVERITIES, type Severity } from '@herald/protocol';
import { buildLog, eventsNdjson, groupsToOpen, isOpen, logText, searchLines, visibleRows, type LogModel } from '../lib/log-model.js';
import { lineTarget, useHashRoute } from '../lib/route.js';
import { LogRow, rowHeight } from './LogRow.js';
import './run-log.css';

/** Rows drawn above and below the ones in view. */
const OVERSCAN = 10;
const TIMESTAMPS_KEY = 'herald.log.timestamps';

/**
 * A run's log as a CI screen (docs/dashboard.md#run-log): ANSI colours, collapsible groups with their
 * durations, line permalinks (`#/runs/<id>/L<offset>`), follow mode, find with next/previous, and
 * downloads. Only the rows in view are drawn, so a 20 000-line log costs a screenful per frame.
 */
export function RunLog({ runId, events, runFailed, now }: { runId: string; events: readonly DeliveredEvent[]; runFailed: boolean; now: number }) {
  const [, , linePart] = useHashRoute();
  const target = lineTarget(linePart);
  const [severity, setSeverity] = useState<Severity | ''>('');
  const [query, setQuery] = useState('');
  const [matchIndex, setMatchIndex] = useState(0);
  const [toggled, setToggled] = useState<ReadonlyMap<number, boolean>>(new Map());
  const [timestamps, setTimestamps] = useState(() => localStorage.getItem(TIMESTAMPS_KEY) !== 'off');
  const [follow, setFollow] = useState(target === null);
  const [pausedAt, setPausedAt] = useState(0);
  /** A line to bring into view on the next layout, once its row is there. */
  const [jump, setJump] = useState<number | null>(null);
  const reached = useRef<number | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [measured, setMeasured] = useState(0);
  /** Set when this component moved the scroll position: the scroll event that follows is not the reader's. */
  const ownScroll = useRef(false);

  const model: LogModel = useMemo(() => buildLog(events, runFailed), [events, runFailed]);
  const rows = useMemo(() => visibleRows(model, toggled, (line) => !severity || line.event.event.severity === severity), [model, toggled, severity]);
  const tops = useMemo(() => {
    const t = new Float64Array(rows.length + 1);
    for (let i = 0; i < rows.length; i++) t[i + 1] = t[i]! + rowHeight(rows[i]!);
    return t;
  }, [rows]);
  const matches = useMemo(() => searchLines(model, query.trim()), [model, query]);
  const current = matches.length ? matches[Math.min(matchIndex, matches.length - 1)]! : null;
  const matchSet = useMemo(() => new Set(matches), [matches]);
  const lastOffset = model.lines.at(-1)?.offset ?? 0;
  const newLines = useMemo(() => {
    if (follow) return 0;
    let n = 0;
    for (let i = model.lines.length - 1; i >= 0 && model.lines[i]!.offset > pausedAt; i--) if (model.lines[i]!.kind !== 'end') n++;
    return n;
  }, [model, follow, pausedAt]);

  /** Opens the groups around a line and scrolls to it (follow pauses: the reader is looking back). */
  const reveal = useCallback((offset: number) => {
    const ids = groupsToOpen(model, offset);
    if (ids.some((id) => !isOpen(model.groups.find((g) => g.id === id)!, toggled))) setToggled((t) => new Map([...t, ...ids.map((id) => [id, true] as const)]));
    setFollow(false);
    setPausedAt(lastOffset);
    setJump(offset);
  }, [model, toggled, lastOffset]);

  // A permalink: once its line has loaded (history comes a page at a time), reveal it, once per link.
  useEffect(() => {
    if (target === null || reached.current === target || !model.lines.some((l) => l.offset === target)) return;
    reached.current = target;
    reveal(target);
  }, [target, model, reveal]);

  useEffect(() => {
    const element = box.current!;
    const observer = new ResizeObserver(() => setMeasured(element.clientHeight));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  useLayoutEffect(() => {
    const element = box.current!;
    const scrollTo = (top: number) => {
      const before = element.scrollTop;
      element.scrollTop = top;
      if (element.scrollTop !== before) ownScroll.current = true;
      setScrollTop(element.scrollTop);
    };
    if (jump !== null) {
      const line = model.lines.find((l) => l.offset === jump);
      const shownAs = line?.kind === 'end' ? line.group!.id : jump;
      const index = rows.findIndex((r) => r.line.offset === shownAs);
      if (index < 0) return;
      scrollTo(Math.max(0, tops[index]! - element.clientHeight / 2));
      element.scrollIntoView({ block: 'nearest' });
      setJump(null);
    } else if (follow) scrollTo(element.scrollHeight);
  }, [rows, tops, jump, follow, model]);

  const onScroll = () => {
    const element = box.current!;
    setScrollTop(element.scrollTop);
    if (ownScroll.current) return void (ownScroll.current = false);
    const atBottom = element.scrollTop + element.clientHeight >= element.scrollHeight - 2;
    if (atBottom && !follow && jump === null) setFollow(true);
    else if (!atBottom && follow) pause();
  };
  const pause = () => {
    setFollow(false);
    setPausedAt(lastOffset);
  };
  const toggle = useCallback((id: number) => setToggled((t) => {
    const group = model.groups.find((g) => g.id === id);
    return group ? new Map(t).set(id, !isOpen(group, t)) : t;
  }), [model]);

  const step = (by: number) => {
    if (!matches.length) return;
    const next = (Math.min(matchIndex, matches.length - 1) + by + matches.length) % matches.length;
    setMatchIndex(next);
    reveal(matches[next]!);
  };
  const onFind = (value: string) => {
    setQuery(value);
    setMatchIndex(0);
    const first = searchLines(model, value.trim())[0];
    if (first !== undefined) reveal(first);
  };
  const onFindKey = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    step(event.shiftKey ? -1 : 1);
  };
  const download = (text: string, name: string, type: string) => {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = Object.assign(document.createElement('a'), { href: url, download: name });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };
  const fileName = runId.replace(/[^A-Za-z0-9._-]/g, '_');

  // The box is as tall as its rows up to 60vh: while it grows, draw enough for the tallest it can be.
  const viewHeight = Math.max(measured, window.innerHeight * 0.6);
  let first = 0;
  let hi = rows.length;
  while (first < hi) {
    const mid = (first + hi) >> 1;
    if (tops[mid + 1]! <= scrollTop) first = mid + 1;
    else hi = mid;
  }
  first = Math.max(0, first - OVERSCAN);
  let last = first;
  while (last < rows.length && tops[last]! < scrollTop + viewHeight) last++;
  last = Math.min(rows.length, last + OVERSCAN);
  const total = tops[rows.length]!;

  return (
    <>
      <div className="toolbar">
        <select aria-label="log severity" value={severity} onChange={(e) => setSeverity(e.target.value as Severity | '')}>
          <option value="">all severities</option>
          {SEVERITIES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <input aria-label="search log" className="grow" placeholder="find in log (Enter: next, Shift+Enter: previous)" value={query} onChange={(e) => onFind(e.target.value)} onKeyDown={onFindKey} />
        {query.trim() ? <span className="muted" data-testid="log-matches">{matches.length ? `${Math.min(matchIndex, matches.length - 1) + 1} of ${matches.length}` : 'no matches'}</span> : null}
        <button type="button" aria-label="previous match" disabled={!matches.length} onClick={() => step(-1)}>↑</button>
        <button type="button" aria-label="next match" disabled={!matches.length} onClick={() => step(1)}>↓</button>
        <label className="muted"><input type="checkbox" aria-label="timestamps" checked={timestamps} onChange={(e) => { setTimestamps(e.target.checked); localStorage.setItem(TIMESTAMPS_KEY, e.target.checked ? 'on' : 'off'); }} /> timestamps</label>
        <button type="button" data-testid="download-log" onClick={() => download(logText(events), `${fileName}.log.txt`, 'text/plain;charset=utf-8')}>⤓ log</button>
        <button type="button" data-testid="download-events" onClick={() => download(eventsNdjson(events), `${fileName}.events.ndjson`, 'application/x-ndjson')}>⤓ events</button>
      </div>
      {events.length && events[0]!.offset > 1 ? <div className="muted" data-testid="log-partial">From event #{events[0]!.offset}: the page holds the newest {events.length.toLocaleString()} events (downloads too).</div> : null}
      <div className="log-frame">
        <div data-testid="run-log" className="run-log" ref={box} onScroll={onScroll} onWheel={(e) => e.deltaY < 0 && follow && pause()}>
          {/* Spacers, not padding: padding taller than the box's max-height would stretch the box. */}
          <div aria-hidden style={{ height: tops[first] }} />
          {rows.slice(first, last).map((row) => (
            <LogRow
              key={row.line.offset}
              row={row}
              runId={runId}
              height={rowHeight(row)}
              timestamps={timestamps}
              open={row.header ? isOpen(row.line.group!, toggled) : false}
              now={row.header && row.line.group!.endAt === null ? now : 0}
              mark={row.line.offset === target ? 'target' : row.line.offset === current ? 'current' : matchSet.has(row.line.offset) ? 'match' : null}
              onToggle={toggle}
            />
          ))}
          <div aria-hidden style={{ height: total - tops[last]! }} />
        </div>
        {!follow ? (
          <button type="button" className="log-follow" data-testid="log-follow" onClick={() => setFollow(true)}>
            {newLines ? `${newLines.toLocaleString()} new ${newLines === 1 ? 'line' : 'lines'} ↓` : 'follow ↓'}
          </button>
        ) : null}
      </div>
    </>
  );
}
