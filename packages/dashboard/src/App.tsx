import { useEffect, useRef, useState } from 'react';
import { Header } from './components/Header.js';
import { NoticeProvider, useNotices } from './lib/notices.js';
import { useHashRoute } from './lib/route.js';
import { usePoll, type HubStats } from './lib/use-poll.js';
import { Channels } from './views/Channels.js';
import { Feed } from './views/Feed.js';
import { Overview } from './views/Overview.js';
import { RunDetail } from './views/RunDetail.js';
import { Runs } from './views/Runs.js';

const CHART_POINTS = 180;

function useTheme(): [string, () => void] {
  const [theme, setTheme] = useState(() => localStorage.getItem('herald.theme') ?? (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark'));
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('herald.theme', theme);
  }, [theme]);
  return [theme, () => setTheme((t) => (t === 'dark' ? 'light' : 'dark'))];
}

/** Stats are polled once for the whole page; the chart keeps the last few minutes of samples. */
function useStatsSeries(): [HubStats | undefined, number[][]] {
  const stats = usePoll<HubStats>('api/stats', 1000);
  const samples = useRef<number[][]>([[], [], []]);
  const [series, setSeries] = useState<number[][]>(samples.current);
  useEffect(() => {
    if (!stats) return;
    const [t, i, o] = samples.current as [number[], number[], number[]];
    t.push(Date.now() / 1000);
    i.push(stats.events.inPerSecond);
    o.push(stats.events.outPerSecond);
    if (t.length > CHART_POINTS) [t, i, o].forEach((a) => a.shift());
    setSeries([[...t], [...i], [...o]]);
  }, [stats]);
  return [stats, series];
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

export function App() {
  const [view = 'overview', param] = useHashRoute();
  const [theme, toggleTheme] = useTheme();
  const [stats, samples] = useStatsSeries();
  return (
    <NoticeProvider>
      <div className="app">
        <Header view={view} stats={stats} theme={theme} onTheme={toggleTheme} />
        <MissingBanner />
        <main className="main">
          {view === 'feed' ? <Feed key={param ?? '>'} initialPattern={param ?? '>'} /> : null}
          {view === 'runs' && param ? <RunDetail key={param} id={param} /> : null}
          {view === 'runs' && !param ? <Runs /> : null}
          {view === 'channels' ? <Channels /> : null}
          {view === 'overview' ? <Overview stats={stats} samples={samples} /> : null}
        </main>
      </div>
    </NoticeProvider>
  );
}
