import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { DeliveredEvent, Subscription } from '@herald/client';
import { useHerald } from '@herald/react';
import { checkChannel, matchesPattern, SEVERITIES, type Severity } from '@herald/protocol';
import { ErrorBoundary } from '../components/ErrorBoundary.js';
import { EventDetail } from '../components/EventDetail.js';
import { VirtualList } from '../components/VirtualList.js';
import { Watching } from '../components/Watching.js';
import { clockTime, eventTimes, preview, SEVERITY_ICONS, showText } from '../lib/format.js';
import { feedSources, narrowSources } from '../lib/feed-sources.js';
import { jsonText } from '../lib/json-text.js';
import { useNotices } from '../lib/notices.js';
import { useSession } from '../lib/session.js';

const LIVE_CAP = 1000;
/** Events shown the moment the feed opens, before live ones. */
const FIRST_PAGE = 200;
const OLDER_PAGE = 100;
const ROW_HEIGHT = 30;
/** How long the filter box must stay unchanged before the feed subscribes to what it holds. */
const SETTLE_MS = 300;
const keyOf = (e: DeliveredEvent) => `${e.channel}#${e.offset}`;

/**
 * Every channel the user may read, newest first. Incoming events are buffered and handed to React once
 * per animation frame, and only visible rows are rendered, so the page stays usable at a thousand
 * events a second.
 */
export function Feed({ initialPattern = '>' }: { initialPattern?: string }) {
  const client = useHerald();
  const { reportMissing } = useNotices();
  const { grant } = useSession();
  const grantSources = useMemo(() => feedSources(grant), [grant]);
  const [refused, setRefused] = useState<string[]>([]);
  /** How many of the sources the hub has confirmed ("live"). */
  const [confirmed, setConfirmed] = useState(0);
  const [olderProblem, setOlderProblem] = useState<string>();
  const [events, setEvents] = useState<DeliveredEvent[]>([]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState(0);
  const [pattern, setPattern] = useState(initialPattern);
  // The hub subscription follows the filter box once it has settled (not one subscription per keystroke).
  const [settled, setSettled] = useState(initialPattern);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(pattern), SETTLE_MS);
    return () => clearTimeout(timer);
  }, [pattern]);
  const sources = useMemo(() => narrowSources(grantSources, settled, grant), [grantSources, settled, grant]);
  // A new list of sources is a new array only when its contents change: the subscriptions stay otherwise.
  const sourcesKey = sources.join(' ');
  const [type, setType] = useState('');
  const [text, setText] = useState('');
  const [severities, setSeverities] = useState<Set<Severity>>(new Set(SEVERITIES));
  const [showSummaries, setShowSummaries] = useState(false);
  const [selected, setSelected] = useState<DeliveredEvent>();
  const [older, setOlder] = useState<DeliveredEvent[]>([]);
  const [olderDone, setOlderDone] = useState(false);
  const buffer = useRef<DeliveredEvent[]>([]);
  /** The list on screen, for the seed of new sources to leave alone while paused. */
  const shownRef = useRef<DeliveredEvent[]>([]);
  shownRef.current = events;
  const pausedRef = useRef(false);
  const frame = useRef(0);
  /** Where "Load older" goes on for a pattern: the cursor of the last page it read. */
  const olderCursor = useRef<{ pattern: string; next: string | undefined }>(undefined);

  const flush = useCallback(() => {
    frame.current = 0;
    if (pausedRef.current) {
      setHeld(buffer.current.length);
      return;
    }
    const batch = buffer.current.reverse();
    buffer.current = [];
    setFresh(new Set(batch.map(keyOf)));
    setEvents((current) => [...batch, ...current].slice(0, LIVE_CAP));
    setHeld(0);
  }, []);

  useEffect(() => {
    // Several sources can overlap (`runs.*.build` and `runs.team-a.>`): each channel's events arrive in
    // order, so anything at or below the last offset seen in the same epoch is a copy.
    const last = new Map<string, { epoch: string; offset: number }>();
    const isCopy = (event: DeliveredEvent) => {
      if (sources.length < 2) return false;
      const seen = last.get(event.channel);
      if (seen && seen.epoch === event.epoch && event.offset <= seen.offset) return true;
      last.set(event.channel, { epoch: event.epoch, offset: event.offset });
      return false;
    };
    const receive = (event: DeliveredEvent) => {
      if (isCopy(event)) return;
      buffer.current.push(event);
      if (buffer.current.length > LIVE_CAP) buffer.current.splice(0, buffer.current.length - LIVE_CAP);
      frame.current ||= requestAnimationFrame(flush);
    };
    let cancelled = false;
    const subs: Subscription[] = [];
    const count = () => setConfirmed(subs.filter((sub) => sub.state === 'subscribed').length);
    setRefused([]);
    setConfirmed(0);
    // The newest events first (what was published a moment before the page opened is there), then live
    // from exactly where each page ended: no gap and no duplicate between the two.
    void Promise.all(sources.map((source) => client.newest(source, { limit: FIRST_PAGE }).catch(() => undefined))).then((pages) => {
      if (cancelled) return;
      const seed = pages
        .flatMap((page) => page?.events ?? [])
        .sort((a, b) => a.time - b.time || (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : a.offset - b.offset))
        .filter((e) => !isCopy(e))
        .reverse()
        .slice(0, FIRST_PAGE);
      // Events the old subscriptions left in the buffer that the seed holds too would show twice.
      const seeded = new Set(seed.map(keyOf));
      buffer.current = buffer.current.filter((e) => !seeded.has(keyOf(e)));
      let visible = seed;
      if (pausedRef.current) {
        // Paused while the sources changed (the filter box settled): what is newer than the list on
        // screen waits with the live events and shows on resume, so nothing is added while paused.
        const onScreen = shownRef.current;
        const newest = onScreen[0]?.time;
        if (newest !== undefined) {
          const known = new Set(onScreen.map(keyOf));
          const later = seed.filter((e) => !known.has(keyOf(e)) && e.time >= newest);
          visible = seed.filter((e) => !later.includes(e));
          buffer.current.push(...later.reverse());
          setHeld(buffer.current.length);
        }
      }
      setEvents(visible);
      // Older pages belonged to the list the seed replaced: "Load older" starts again below the new one.
      setOlder([]);
      setOlderDone(false);
      olderCursor.current = undefined;
      sources.forEach((source, i) => {
        const page = pages[i];
        const sub = client.subscribe(source, receive, page ? { since: page.resumeFrom } : {});
        sub.on('state', count);
        sub.on('reset', (info) => reportMissing(info.channel));
        sub.on('error', (error) => setRefused((list) => [...list, `${source}: ${error.message}`]));
        subs.push(sub);
      });
      count();
    });
    return () => {
      cancelled = true;
      subs.forEach((sub) => sub.unsubscribe());
      cancelAnimationFrame(frame.current);
    };
    // `sourcesKey` stands for `sources`: the effect runs again when what to subscribe to changes.
  }, [client, flush, reportMissing, sourcesKey]);

  const togglePause = () => {
    pausedRef.current = !pausedRef.current;
    setPaused(pausedRef.current);
    if (!pausedRef.current) flush();
  };

  const live = sources.length > 0 && confirmed >= sources.length;
  const patternValid = checkChannel(pattern, true).ok;
  const exactChannel = checkChannel(pattern, false).ok ? pattern : undefined;
  const visible = useMemo(() => {
    const needle = text.trim().toLowerCase();
    const typeNeedle = type.trim().toLowerCase();
    return [...events, ...older].filter(
      (e) =>
        (!patternValid || matchesPattern(pattern, e.channel)) &&
        (showSummaries || e.event.type !== 'run.summary') &&
        severities.has(e.event.severity) &&
        (!typeNeedle || e.event.type.toLowerCase().includes(typeNeedle)) &&
        (!needle || `${e.channel} ${e.event.type} ${jsonText(e.event.data ?? '')}`.toLowerCase().includes(needle)),
    );
  }, [events, older, pattern, patternValid, type, text, severities, showSummaries]);

  const loadOlder = () => {
    setOlderProblem(undefined);
    loadOlderPage().catch((error: unknown) => setOlderProblem(error instanceof Error ? error.message : String(error)));
  };
  const loadOlderPage = async () => {
    const shown = [...events, ...older].filter((e) => (exactChannel ? e.channel === exactChannel : matchesPattern(patternValid ? pattern : '>', e.channel)));
    const known = new Set(shown.map(keyOf));
    if (!exactChannel) {
      // A pattern's history, newest first: pages already on screen are passed over (bounded: ten pages).
      const wanted = patternValid ? pattern : '>';
      let before = olderCursor.current?.pattern === wanted ? olderCursor.current.next : undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await client.newest(wanted, { limit: OLDER_PAGE, ...(before ? { before } : {}) });
        const fetched = page.events.filter((e) => !known.has(keyOf(e)));
        before = page.next;
        olderCursor.current = { pattern: wanted, next: before };
        if (fetched.length > 0 || before === undefined) {
          setOlder((current) => [...current, ...fetched]);
          if (before === undefined) setOlderDone(true);
          return;
        }
      }
      return;
    }
    const oldest = shown.length ? Math.min(...shown.map((e) => e.offset)) : undefined;
    const page = oldest === undefined ? await client.history(exactChannel, { last: OLDER_PAGE }) : await client.history(exactChannel, { since: Math.max(0, oldest - OLDER_PAGE - 1), limit: Math.min(OLDER_PAGE, oldest - 1) });
    const fetched = page.events.filter((e) => !known.has(keyOf(e))).reverse();
    setOlder((current) => [...current, ...fetched]);
    if (fetched.length === 0 || fetched.at(-1)!.offset <= page.earliest) setOlderDone(true);
  };

  const toggleSeverity = (severity: Severity) =>
    setSeverities((current) => {
      const next = new Set(current);
      if (next.has(severity)) next.delete(severity);
      else next.add(severity);
      return next;
    });

  return (
    <div className="split">
      <section>
        <div className="toolbar">
          <input aria-label="channel pattern" placeholder="channel or pattern (runs.*, >)" value={pattern} onChange={(e) => { setPattern(e.target.value || '>'); setOlder([]); setOlderDone(false); }} style={{ width: '14em', borderColor: patternValid ? undefined : 'var(--error)' }} />
          <input aria-label="type" placeholder="type" value={type} onChange={(e) => setType(e.target.value)} style={{ width: '9em' }} />
          <input aria-label="search" className="grow" placeholder="search text" value={text} onChange={(e) => setText(e.target.value)} />
          <span className="sev-toggle">
            {SEVERITIES.map((severity) => (
              <label key={severity} className={`sev-${severity}`} title={severity}>
                <input type="checkbox" aria-label={`severity ${severity}`} checked={severities.has(severity)} onChange={() => toggleSeverity(severity)} />
                {SEVERITY_ICONS[severity]}
              </label>
            ))}
          </span>
          <label className="muted"><input type="checkbox" checked={showSummaries} onChange={(e) => setShowSummaries(e.target.checked)} /> run summaries</label>
          {/* The feed shows what arrives once the hub has confirmed its subscriptions, not earlier events. */}
          <span className={live ? 'sev-success' : 'muted'} data-testid="feed-live" data-live={String(live)} data-sources={sourcesKey} title={live ? 'subscribed: new events appear as they are published' : 'waiting for the hub to confirm the subscription'}>
            {live ? '\u25CF live' : '\u25CB subscribing\u2026'}
          </span>
          {exactChannel ? <Watching channel={exactChannel} /> : null}
          <button type="button" onClick={togglePause} data-testid="pause" className={paused ? 'primary' : ''}>
            {paused ? `Resume${held ? ` (${held} new)` : ''}` : 'Pause'}
          </button>
        </div>
        {sources[0] !== '>' ? (
          <div className="muted" data-testid="feed-sources" style={{ marginBottom: 8 }}>
            {sources.length === 0 ? 'Your credential may read no channels: nothing can appear here.' : `Live from the channels you may read: ${sources.join(', ')}`}
          </div>
        ) : null}
        {refused.length ? <div className="sev-error" role="alert" style={{ marginBottom: 8 }}>Not subscribed — {refused.join('; ')}</div> : null}
        <VirtualList
          className="feed"
          testId="feed"
          items={visible}
          rowHeight={ROW_HEIGHT}
          rowKey={keyOf}
          render={(e, style) => (
            <div
              className={`row${fresh.has(keyOf(e)) ? ' fresh' : ''}${selected && keyOf(selected) === keyOf(e) ? ' selected' : ''}`}
              style={style}
              data-testid="feed-row"
              data-channel={e.channel}
              data-offset={e.offset}
              onClick={() => setSelected(e)}
            >
              {/* A row that cannot be drawn (only an event the hub never checked could do that) costs one row. */}
              <ErrorBoundary what="this event" compact>
                <FeedCells event={e} />
              </ErrorBoundary>
            </div>
          )}
        />
        <div className="toolbar" style={{ marginTop: 8 }}>
          <span className="muted" data-testid="feed-count">{visible.length} shown · {events.length} live{older.length ? ` · ${older.length} older` : ''}</span>
          <span className="grow" />
          {olderProblem ? <span className="sev-error">{olderProblem}</span> : null}
          <button type="button" data-testid="load-older" onClick={loadOlder} disabled={olderDone || !patternValid}>{olderDone ? 'No older events' : 'Load older'}</button>
        </div>
      </section>
      <aside className="panel" data-testid="event-detail">
        <h2>Event</h2>
        {selected ? (
          <ErrorBoundary what="this event" resetKey={keyOf(selected)} compact>
            <EventDetail event={selected} />
          </ErrorBoundary>
        ) : (
          <div className="empty">Select an event to see its data.</div>
        )}
      </aside>
    </div>
  );
}

/** A row's cells, a component of their own so that whatever fails in them is caught by the row's boundary. */
function FeedCells({ event: e }: { event: DeliveredEvent }) {
  return (
    <>
      <span className="muted mono" title={eventTimes(e).title}>{clockTime(e.time)}</span>
      <span className="mono channel-col" title={`${e.channel} #${e.offset}`}>{e.channel}</span>
      <span className={`sev-${e.event.severity}`} title={e.event.severity}>{SEVERITY_ICONS[e.event.severity]}</span>
      <span className={`sev-${e.event.severity}`} data-testid="feed-type">{showText(e.event.type)}</span>
      <span className="muted" data-testid="feed-preview">{preview(e.event.data)}</span>
    </>
  );
}
