import { useEffect, useRef, useState } from 'react';
import { useHerald } from '@herald/react';
import { CloseCodes, type StatsResponse } from '@herald/protocol';
import { ErrorBoundary } from './components/ErrorBoundary.js';
import { Header } from './components/Header.js';
import { NoticeProvider, useNotices } from './lib/notices.js';
import { useHashRoute } from './lib/route.js';
import { useSession } from './lib/session.js';
import { usePoll } from './lib/use-poll.js';
import { Channels } from './views/Channels.js';
import { Feed } from './views/Feed.js';
import { Overview } from './views/Overview.js';
import { RunDetail } from './views/RunDetail.js';
import { Runs } from './views/Runs.js';

const CHART_POINTS = 180;
/** Close codes after which the socket's credentials (the session cookie) may no longer work. */
const AUTH_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCodes.unauthorized.code, CloseCodes.authExpired.code, CloseCodes.authTimeout.code]);

/**
 * Stats are polled once for the whole page (hub-wide numbers: admins only when the hub requires
 * credentials); the chart keeps the last few minutes of samples.
 */
function useStatsSeries(enabled: boolean): [StatsResponse | undefined, number[][]] {
  const stats = usePoll<StatsResponse>(enabled ? 'api/stats' : null, 1000);
  const samples = useRef<number[][]>([[], [], []]);
  const [series, setSeries] = useState<number[][]>(samples.current);
  useEffect(() => {
    if (!stats) return;
    const [t, i, o] = samples.current as [number[], number[], number[]];
    t.push(Date.now() / 1000);
    // The whole cluster's rates (a hub on its own is a cluster of one).
    i.push(stats.cluster.totals.inPerSecond);
    o.push(stats.cluster.totals.outPerSecond);
    if (t.length > CHART_POINTS) [t, i, o].forEach((a) => a.shift());
    setSeries([[...t], [...i], [...o]]);
  }, [stats]);
  return [stats, series];
}

/**
 * A socket closed for its credentials means the session may have ended: ask the hub. So does every
 * reconnect on a hub that requires credentials — sessions do not outlive a hub restart, and the socket
 * of a dead session would otherwise wait out the auth timeout before it is told.
 */
function useSessionWatch(): void {
  const client = useHerald();
  const { check, info } = useSession();
  const required = info.mode === 'required';
  useEffect(
    () =>
      client.on('state', (change) => {
        if ((change.code !== undefined && AUTH_CLOSE_CODES.has(change.code)) || (required && change.from === 'disconnected' && change.to === 'connecting')) check();
      }),
    [client, check, required],
  );
}

function MissingBanner() {
  const { missing, dismiss } = useNotices();
  if (missing.length === 0) return null;
  return (
    <div className="banner" role="alert" data-testid="missing-banner">
      <span>Some events may be missing — reloaded ({missing.join(', ')}): the hub's history no longer covered the time this page was away.</span>
      <button type="button" onClick={dismiss}>Dismiss</button>
    </div>
  );
}

export function App({ theme, onTheme }: { theme: string; onTheme: () => void }) {
  const [view = 'overview', param] = useHashRoute();
  const { admin } = useSession();
  const [stats, samples] = useStatsSeries(admin);
  useSessionWatch();
  return (
    <NoticeProvider>
      <div className="app">
        <Header view={view} stats={stats} theme={theme} onTheme={onTheme} />
        <MissingBanner />
        <main className="main">
          <ErrorBoundary what="this view" resetKey={`${view}/${param ?? ''}`}>
            {view === 'feed' ? <Feed key={param ?? '>'} initialPattern={param ?? '>'} /> : null}
            {view === 'runs' && param ? <RunDetail key={param} id={param} /> : null}
            {view === 'runs' && !param ? <Runs /> : null}
            {view === 'channels' ? <Channels /> : null}
            {view === 'overview' ? <Overview stats={stats} samples={samples} /> : null}
          </ErrorBoundary>
        </main>
      </div>
    </NoticeProvider>
  );
}
