import { useEffect, useMemo, useState } from 'react';
import { useHerald } from '@herald/react';
import { RUN_STATUSES, RUN_SUMMARY_CHANNEL, type RunSummary } from '@herald/protocol';
import { HealthBadge, ProgressBar, StatusBadge } from '../components/bits.js';
import { RunNotifications } from '../components/RunNotifications.js';
import { duration, showText } from '../lib/format.js';
import { href } from '../lib/route.js';
import { useSession } from '../lib/session.js';
import { useNow } from '../lib/use-now.js';

/** Runs fetched at once (the hub's largest page). */
const PAGE = 200;
/** How often the list is fetched for users who may not read the summary channel. */
const POLL_MS = 2000;

/**
 * Every run the user may read, newest first. Kept live by the `runs` summary channel — which describes
 * every run, so the hub allows it only to users who may read `runs.>` — or, for everyone else, by
 * polling the run list, which the hub filters for them.
 */
export function Runs() {
  const client = useHerald();
  const { may, fetch: hubFetch } = useSession();
  const live = may('subscribe', RUN_SUMMARY_CHANNEL);
  const [runs, setRuns] = useState<Map<string, RunSummary>>(new Map());
  const [status, setStatus] = useState('');
  const [text, setText] = useState('');
  const now = useNow(1000);

  useEffect(() => {
    let active = true;
    const load = () =>
      hubFetch(`api/runs?limit=${PAGE}`)
        .then((r) => (r.ok ? (r.json() as Promise<{ runs: RunSummary[] }>) : undefined))
        .catch(() => undefined);
    if (!live) {
      const poll = () =>
        void load().then((page) => {
          if (active && page) setRuns(new Map(page.runs.map((r) => [r.id, r])));
        });
      poll();
      const timer = setInterval(poll, POLL_MS);
      return () => {
        active = false;
        clearInterval(timer);
      };
    }
    // Subscribe first, then load the list: summaries that arrive meanwhile are applied on top.
    const sub = client.subscribe<RunSummary>(RUN_SUMMARY_CHANNEL, (e) => {
      if (e.event.type !== 'run.summary') return;
      setRuns((current) => new Map(current).set(e.event.data!.id, e.event.data!));
    });
    void load().then((page) => {
      if (!active || !page) return;
      setRuns((current) => {
        const next = new Map(page.runs.map((r) => [r.id, r]));
        for (const [id, run] of current) next.set(id, run);
        return next;
      });
    });
    return () => {
      active = false;
      sub.unsubscribe();
    };
  }, [client, live, hubFetch]);

  const list = useMemo(() => {
    const needle = text.trim().toLowerCase();
    return [...runs.values()]
      .filter((r) => (!status || r.status === status) && (!needle || `${r.title} ${r.id} ${Object.values(r.labels).join(' ')}`.toLowerCase().includes(needle)))
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
  }, [runs, status, text]);

  return (
    <section className="panel">
      <div className="toolbar">
        <select aria-label="status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">all statuses</option>
          {RUN_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <input aria-label="search runs" className="grow" placeholder="search title, id, labels" value={text} onChange={(e) => setText(e.target.value)} />
        <span className="muted">{list.length === 1 ? '1 run' : `${list.length} runs`}</span>
        <RunNotifications runs={runs.values()} />
      </div>
      {list.length === 0 ? (
        <div className="empty">No runs yet. Publish <code>run.started</code> on a <code>runs.&lt;id&gt;</code> channel, or try <code>npx herald run -- npm test</code>.</div>
      ) : (
        <table data-testid="runs-table">
          <thead>
            <tr><th>Run</th><th>Status</th><th style={{ width: '22%' }}>Progress</th><th>Health</th><th>Steps</th><th>Duration</th></tr>
          </thead>
          <tbody>
            {list.map((run) => (
              <tr key={run.id} className="clickable" data-run={run.id} onClick={() => (window.location.hash = href('runs', run.id))}>
                <td className="user-text"><a href={href('runs', run.id)}><bdi>{showText(run.title)}</bdi></a><div className="muted mono">{run.id}</div></td>
                <td><StatusBadge status={run.status} /></td>
                <td><ProgressBar percent={run.percent} /> <span className="muted user-text">{run.percent === null ? '' : `${Math.round(run.percent)}%`} <bdi>{showText(run.message ?? '', 200)}</bdi></span></td>
                <td><HealthBadge health={run.health} /></td>
                <td className="muted">{run.steps.passed}✔ {run.steps.failed}✖ {run.steps.running ? `${run.steps.running}…` : ''}</td>
                <td className="mono">{duration(run.startedAt === null ? null : (run.finishedAt ?? now) - run.startedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
