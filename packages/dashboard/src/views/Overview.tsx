import { Chart } from '../components/Chart.js';
import { MetricCard } from '../components/bits.js';
import { count, duration } from '../lib/format.js';
import type { HubStats } from '../lib/use-poll.js';

/** The hub at a glance: cards and the events-per-second chart (samples come from the stats poll). */
export function Overview({ stats, samples }: { stats: HubStats | undefined; samples: number[][] }) {
  return (
    <>
      <div className="cards" data-testid="overview-cards">
        <MetricCard label="Total events" value={count(stats?.events.in)} testId="card-total" />
        <MetricCard label="Events / s" value={stats ? String(stats.events.inPerSecond) : '—'} testId="card-rate" />
        <MetricCard label="Active runs" value={stats ? String((stats.runs.running ?? 0) + (stats.runs.stalled ?? 0)) : '—'} testId="card-active" />
        <MetricCard label="Failed runs" value={stats ? String(stats.runs.failed ?? 0) : '—'} testId="card-failed" />
        <MetricCard label="Clients" value={stats ? String(stats.connections.total) : '—'} testId="card-clients" />
        <MetricCard label="Uptime" value={stats ? duration(stats.uptimeSeconds * 1000) : '—'} testId="card-uptime" />
      </div>
      <div className="panel">
        <h2>Events per second</h2>
        <Chart data={samples} series={[{ label: 'in', color: '#6366f1' }, { label: 'delivered', color: '#22c55e' }]} height={240} />
      </div>
    </>
  );
}
