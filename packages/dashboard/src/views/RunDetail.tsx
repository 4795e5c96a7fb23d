import { useEffect, useRef, useState } from 'react';
import type { DeliveredEvent } from '@herald/client';
import { useHerald } from '@herald/react';
import { applyRunEvent, DEFAULT_HEALTH_WEIGHTS, emptySnapshot, eventTime, SEVERITIES, type RunSnapshot } from '@herald/protocol';
import { HealthGauge, ProgressBar, StatusBadge } from '../components/bits.js';
import { RunGallery } from '../components/Attachments.js';
import { Chart } from '../components/Chart.js';
import { ErrorBoundary } from '../components/ErrorBoundary.js';
import { JsonView } from '../components/JsonView.js';
import { RunLog } from '../components/RunLog.js';
import { RunNotifications } from '../components/RunNotifications.js';
import { StepTimeline } from '../components/StepTimeline.js';
import { Watching } from '../components/Watching.js';
import { clockTime, duration, SEVERITY_ICONS, showText } from '../lib/format.js';
import { mergeLog } from '../lib/log-model.js';
import { useNotices } from '../lib/notices.js';
import { href } from '../lib/route.js';
import { loadRunHistory, RUN_LOG_CAP } from '../lib/run-history.js';
import { useSession } from '../lib/session.js';
import { useNow } from '../lib/use-now.js';

/** Characters of a run's message or last error shown; publishers may send 10 000. */
const MESSAGE_CUT = 300;
const COLORS = ['#6366f1', '#22c55e', '#eab308', '#ef4444', '#38bdf8', '#a855f7'];

interface Series {
  name: string;
  unit: string | null;
  points: Array<[number, number]>;
}

/**
 * One run: its snapshot (sent with the subscription, then kept current by applying each event with the
 * same reducer the hub uses), a step timeline, the live log, metric charts and the health gauge.
 */
export function RunDetail({ id }: { id: string }) {
  const client = useHerald();
  const { reportMissing } = useNotices();
  const { may, fetch: hubFetch } = useSession();
  const channel = `runs.${id}`;
  const readable = may('subscribe', channel);
  const [refused, setRefused] = useState<string>();
  const run = useRef<RunSnapshot | null>(null);
  const [, setVersion] = useState(0);
  const [log, setLog] = useState<DeliveredEvent[]>([]);
  const [series, setSeries] = useState<Series[]>([]);
  const [missing, setMissing] = useState(false);
  const now = useNow(1000);

  useEffect(() => {
    if (!readable) return;
    let active = true;
    let frame = 0;
    const pending: DeliveredEvent[] = [];
    run.current = null;
    setLog([]);
    const render = () => {
      frame = 0;
      const batch = pending.splice(0);
      setVersion((v) => v + 1);
      if (batch.length) setLog((current) => mergeLog(current, batch, RUN_LOG_CAP));
      const metrics = batch.filter((e) => e.event.type === 'metric');
      if (metrics.length) setSeries((current) => addPoints(current, metrics));
    };
    const sub = client.subscribe(channel, (event) => {
      // A run opened before its first event starts from an empty snapshot, as on the hub.
      run.current ??= emptySnapshot(id, channel, event.time);
      if (event.offset > run.current.offset) applyRunEvent(run.current, event.offset, event.time, event.event, DEFAULT_HEALTH_WEIGHTS);
      pending.push(event);
      frame ||= requestAnimationFrame(render);
    }, { snapshot: true });
    sub.on('snapshot', ({ snapshot }) => {
      // The client hands each subscription a snapshot of its own (assembled from parts for a big run):
      // this view may apply events to it in place without a copy (20 000 steps are ~4 MB).
      run.current = snapshot as RunSnapshot | null;
      setMissing(snapshot === null);
      frame ||= requestAnimationFrame(render);
    });
    sub.on('reset', () => reportMissing(channel));
    sub.on('error', (error) => setRefused(error.message));
    // A refusal here is the subscription's to report (above); these only fill in the past.
    loadRunHistory(client, channel, RUN_LOG_CAP, (events) => setLog((current) => mergeLog(current, events, RUN_LOG_CAP)), () => active).catch(() => {});
    hubFetch(`api/runs/${encodeURIComponent(id)}/metrics?points=500`)
      .then((r) => (r.ok ? (r.json() as Promise<{ series: Series[] }>) : { series: [] }))
      .then((body) => active && setSeries((current) => (current.length ? current : body.series)), () => {});
    return () => {
      active = false;
      cancelAnimationFrame(frame);
      sub.unsubscribe();
    };
  }, [client, channel, id, reportMissing, readable, hubFetch]);

  const snapshot = run.current;
  if (!readable || refused) {
    return (
      <section className="panel">
        <a href={href('runs')}>← Runs</a>
        <div className="empty" data-testid="run-refused">{refused ? `Run “${id}” cannot be shown: ${refused}` : `You may not read run “${id}”.`}</div>
      </section>
    );
  }
  if (!snapshot) {
    return (
      <section className="panel">
        <a href={href('runs')}>← Runs</a>
        <div className="empty">{missing ? `No events for run "${id}" yet.` : 'Loading…'}</div>
      </section>
    );
  }
  const start = snapshot.startedAt ?? snapshot.createdAt;
  return (
    <div data-testid="run-detail">
      <div className="toolbar">
        <a href={href('runs')}>← Runs</a>
        <h1 className="run-title"><bdi>{showText(snapshot.title)}</bdi></h1>
        <StatusBadge status={snapshot.status} />
        <span className="muted mono">{snapshot.id}</span>
        <RunNotifications runs={[snapshot]} />
        <Watching channel={channel} />
        {Object.entries(snapshot.labels).map(([k, v]) => <span key={k} className="badge muted"><bdi>{showText(k, 200)}</bdi>=<bdi>{showText(v, 200)}</bdi></span>)}
      </div>
      <div className="cards">
        <div className="card">
          <div className="label">Progress</div>
          <div className="value" data-testid="run-percent">{snapshot.percent === null ? '—' : `${Math.round(snapshot.percent)}%`}</div>
          <ProgressBar percent={snapshot.percent} big />
          <div className="muted user-text" data-testid="run-message">{showText(snapshot.message ?? '', MESSAGE_CUT)}</div>
        </div>
        <div className="card"><div className="label">Health</div><HealthGauge health={snapshot.health} /></div>
        <div className="card"><div className="label">Duration</div><div className="value">{duration((snapshot.finishedAt ?? now) - start)}</div></div>
        <div className="card">
          <div className="label">Events</div>
          <div className="value">{snapshot.events}</div>
          <div className="muted">{SEVERITIES.filter((s) => snapshot.counts[s]).map((s) => `${SEVERITY_ICONS[s]} ${snapshot.counts[s]}`).join('  ')}</div>
        </div>
      </div>
      {snapshot.lastError ? (
        <div className="panel sev-error user-text" data-testid="run-last-error">Last error: <bdi>{showText(snapshot.lastError.message, MESSAGE_CUT)}</bdi> <span className="muted">(<bdi>{showText(snapshot.lastError.type)}</bdi>, {clockTime(snapshot.lastError.time)})</span></div>
      ) : null}
      <div className="panel">
        <h2>Steps</h2>
        <ErrorBoundary what="the steps" compact><StepTimeline run={snapshot} start={start} now={snapshot.finishedAt ?? now} /></ErrorBoundary>
      </div>
      <RunGallery events={log} />
      <div className="split">
        <div className="panel">
          <h2>Log</h2>
          <ErrorBoundary what="the log" compact>
            <RunLog runId={id} events={log} runFailed={snapshot.status === 'failed'} now={snapshot.finishedAt ?? now} />
          </ErrorBoundary>
        </div>
        <div>
          {series.map((s, i) => (
            <div className="panel" key={s.name}>
              {/* Metric names are the publisher's: `toString` or `__proto__` is not looked up on Object.prototype. */}
              <h2 className="user-text"><bdi>{showText(s.name)}</bdi>{s.unit ? <> (<bdi>{showText(s.unit)}</bdi>)</> : ''} <span className="muted">{Object.hasOwn(snapshot.metrics, s.name) ? snapshot.metrics[s.name]!.value : ''}</span></h2>
              <ErrorBoundary what="this chart" compact>
                <Chart data={[s.points.map((p) => p[0] / 1000), s.points.map((p) => p[1])]} series={[{ label: s.name, color: COLORS[i % COLORS.length]! }]} height={160} />
              </ErrorBoundary>
            </div>
          ))}
          {snapshot.summary !== null ? <div className="panel"><h2>Summary</h2><JsonView value={snapshot.summary} /></div> : null}
        </div>
      </div>
    </div>
  );
}

function addPoints(current: Series[], events: DeliveredEvent[]): Series[] {
  const next = current.map((s) => ({ ...s, points: [...s.points] }));
  for (const e of events) {
    const data = e.event.data as { name: string; value: number; unit?: string };
    let s = next.find((x) => x.name === data.name);
    if (!s) next.push((s = { name: data.name, unit: data.unit ?? null, points: [] }));
    s.points.push([eventTime(e.time, e.event.ts), data.value]);
    if (s.points.length > 2000) s.points.shift();
  }
  return next;
}
