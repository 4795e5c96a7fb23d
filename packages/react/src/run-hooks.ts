import { useEffect, useRef, useState } from 'react';
import type { DeliveredEvent, RunListQuery } from '@herald/client';
import { applyRunEvent, DEFAULT_HEALTH_WEIGHTS, emptySnapshot, RUN_CHANNEL_PREFIX, RUN_SUMMARY_CHANNEL, type RunSnapshot, type RunSummary } from '@herald/protocol';
import { useHerald } from './context.js';
import { onNextFrame } from './frame.js';

export interface RunView {
  /** The run's state: the hub's snapshot, kept current with each event by the hub's own reducer. */
  run: RunSnapshot | null;
  /** The run's events, oldest first: the newest `log` from history, then live. */
  log: DeliveredEvent[];
  /** `missing`: the run has no events yet (it appears with its first one). */
  status: 'loading' | 'live' | 'missing' | 'error';
  error?: string;
}

/**
 * One run, live: subscribes to `runs.<id>` with `snapshot: true` (the state at an offset, then exactly the
 * events after it) and applies each event with `applyRunEvent` from `@herald/protocol`, as the hub does.
 * Health uses the default weights; a hub with other `--health-*` settings is exact again at the next
 * snapshot (after a reset). After a `reset` it starts over from a fresh snapshot.
 */
export function useRun(id: string, options: { log?: number } = {}): RunView {
  const client = useHerald();
  const logLimit = options.log ?? 500;
  const [view, setView] = useState<RunView>({ run: null, log: [], status: 'loading' });
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    const channel = `${RUN_CHANNEL_PREFIX}${id}`;
    let active = true;
    let run: RunSnapshot | null = null;
    let status: RunView['status'] = 'loading';
    let error: string | undefined;
    let log: DeliveredEvent[] = [];
    const render = onNextFrame(() => {
      if (!active) return;
      // A new object per render (the steps array is shared): the run itself is changed in place.
      setView({ run: run ? { ...run } : null, log, status, ...(error === undefined ? {} : { error }) });
    });
    setView({ run: null, log: [], status: 'loading' });
    const sub = client.subscribe(
      channel,
      (event) => {
        // A run opened before its first event starts from an empty snapshot, as on the hub.
        run ??= emptySnapshot(id, channel, event.time);
        if (event.offset > run.offset) applyRunEvent(run, event.offset, event.time, event.event, DEFAULT_HEALTH_WEIGHTS);
        status = 'live';
        log = mergeLog(log, [event], logLimit);
        render();
      },
      { snapshot: true },
    );
    sub.on('snapshot', ({ snapshot }) => {
      // The client gives each subscription a copy of its own: applying events to it in place is safe.
      run = snapshot as RunSnapshot | null;
      status = run ? 'live' : 'missing';
      render();
    });
    sub.on('reset', () => {
      sub.unsubscribe();
      if (active) setGeneration((g) => g + 1);
    });
    sub.on('error', (e) => {
      status = 'error';
      error = e.message;
      render();
    });
    // The past of the log; a refusal is the subscription's to report.
    client.history(channel, { last: logLimit }).then(
      (page) => {
        log = mergeLog(log, page.events, logLimit);
        render();
      },
      () => {},
    );
    return () => {
      active = false;
      sub.unsubscribe();
    };
  }, [client, id, logLimit, generation]);

  return view;
}

function mergeLog(current: DeliveredEvent[], incoming: DeliveredEvent[], limit: number): DeliveredEvent[] {
  const seen = new Set(current.map((e) => e.offset));
  const fresh = incoming.filter((e) => !seen.has(e.offset));
  if (fresh.length === 0) return current;
  return [...current, ...fresh].sort((a, b) => a.offset - b.offset).slice(-limit);
}

export interface RunsView {
  /** Newest first (by creation), at most `limit`. */
  runs: RunSummary[];
  /** `live`: kept current by the summary channel; `polling`: the credentials may not read it, so the list is fetched again every `pollMs`. */
  status: 'loading' | 'live' | 'polling' | 'error';
  error?: string;
}

export interface RunsFilter extends Pick<RunListQuery, 'status' | 'label' | 'q' | 'limit'> {
  /** How often to fetch the list when the summary channel is refused (default 2 s). */
  pollMs?: number;
}

/**
 * The run list, live: the first page over HTTP (`GET /api/runs`, filtered by the hub, only the runs the
 * credentials may read), then the `run.summary` events of the summary channel `runs`. Reading that
 * channel takes read access to every run (`runs.>`); when the hub refuses it, the list is fetched again
 * every `pollMs` instead.
 */
export function useRuns(filter: RunsFilter = {}): RunsView {
  const client = useHerald();
  const { status: wanted, label, q, limit = 50, pollMs = 2000 } = filter;
  const [view, setView] = useState<RunsView>({ runs: [], status: 'loading' });
  const runs = useRef(new Map<string, RunSummary>());

  useEffect(() => {
    let active = true;
    let status: RunsView['status'] = 'loading';
    let error: string | undefined;
    let timer: ReturnType<typeof setInterval> | undefined;
    runs.current = new Map();
    const matches = (run: RunSummary) =>
      (!wanted || run.status === wanted) &&
      (!label || run.labels[label.slice(0, label.indexOf('='))] === label.slice(label.indexOf('=') + 1)) &&
      (!q || `${run.title}\n${run.id}`.toLowerCase().includes(q.toLowerCase()));
    const render = onNextFrame(() => {
      if (!active) return;
      const list = [...runs.current.values()].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)).slice(0, limit);
      setView({ runs: list, status, ...(error === undefined ? {} : { error }) });
    });
    const load = (replace: boolean) =>
      client.runs({ status: wanted, label, q, limit }).then(
        (page) => {
          if (!active) return;
          // Summaries that arrived while the page was read are newer than the page: they stay.
          const live = replace ? new Map<string, RunSummary>() : runs.current;
          const next = new Map(page.runs.map((r) => [r.id, r]));
          for (const [runId, run] of live) next.set(runId, run);
          runs.current = next;
          if (status === 'loading') status = 'live';
          error = undefined;
          render();
        },
        (e: unknown) => {
          if (!active) return;
          error = String(e);
          if (status === 'loading') status = 'error';
          render();
        },
      );
    // Subscribe first, then read the page: nothing falls between the two.
    const sub = client.subscribe<RunSummary>(RUN_SUMMARY_CHANNEL, (event) => {
      const run = event.event.data;
      if (event.event.type !== 'run.summary' || !run) return;
      if (matches(run)) runs.current.set(run.id, run);
      else runs.current.delete(run.id);
      render();
    });
    sub.on('error', () => {
      // Forbidden for credentials that may not read every run: the hub filters the list for them.
      status = 'polling';
      timer = setInterval(() => void load(true), pollMs);
      render();
    });
    sub.on('reset', () => void load(false));
    void load(false);
    return () => {
      active = false;
      clearInterval(timer);
      sub.unsubscribe();
    };
  }, [client, wanted, label, q, limit, pollMs]);

  return view;
}
