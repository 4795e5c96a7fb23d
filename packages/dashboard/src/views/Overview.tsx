import type { ChannelListResponse, RunSummary, StatsResponse } from '@herald/protocol';
import { Chart } from '../components/Chart.js';
import { MetricCard } from '../components/bits.js';
import { byteSize, count, duration } from '../lib/format.js';
import { useSession } from '../lib/session.js';
import { usePoll } from '../lib/use-poll.js';

/**
 * The hub at a glance: cards and the events-per-second chart (samples come from the stats poll). With
 * several hubs on one Redis the figures are the cluster's, and a table shows each hub. "Stored" figures
 * are the history's (what the store retains, whoever stored it, however long ago); counters of the hub
 * processes are labelled "since start", since a restart sets them back to 0.
 */
export function Overview({ stats, samples }: { stats: StatsResponse | undefined; samples: number[][] }) {
  const { admin } = useSession();
  if (!admin) return <ReadableOverview />;
  const totals = stats?.cluster.totals;
  return (
    <>
      <div className="cards" data-testid="overview-cards">
        <MetricCard label="Stored events" value={count(stats?.stored.events)} testId="card-stored-events" />
        <MetricCard label="Stored" value={byteSize(stats?.stored.bytes)} testId="card-stored-bytes" />
        <MetricCard label="Channels" value={count(stats?.channels)} testId="card-channels" />
        <MetricCard label="Events in since start" value={count(stats?.cluster.nodes.reduce((sum, node) => sum + node.events.in, 0))} testId="card-total" />
        <MetricCard label="Events / s" value={totals ? String(totals.inPerSecond) : '—'} testId="card-rate" />
        <MetricCard label="Active runs" value={stats ? String((stats.runs.running ?? 0) + (stats.runs.stalled ?? 0)) : '—'} testId="card-active" />
        <MetricCard label="Failed runs" value={stats ? String(stats.runs.failed ?? 0) : '—'} testId="card-failed" />
        <MetricCard label="Clients" value={totals ? String(totals.connections) : '—'} testId="card-clients" />
        {totals && totals.nodes > 1 ? (
          <MetricCard label="Hubs" value={String(totals.nodes)} testId="card-hubs" />
        ) : (
          <MetricCard label="Uptime" value={stats ? duration(stats.uptimeSeconds * 1000) : '—'} testId="card-uptime" />
        )}
      </div>
      <div className="panel">
        <h2>Events per second</h2>
        <Chart data={samples} series={[{ label: 'in', color: '#6366f1' }, { label: 'delivered', color: '#22c55e' }]} height={240} />
      </div>
      {stats && stats.cluster.nodes.length > 1 ? <Hubs stats={stats} /> : null}
    </>
  );
}

/** Each hub of the cluster: the one this page talks to first. */
function Hubs({ stats }: { stats: StatsResponse }) {
  return (
    <div className="panel" data-testid="overview-hubs">
      <h2>Hubs</h2>
      <table>
        <thead>
          <tr><th>Hub</th><th>Host</th><th>Clients</th><th>In / s</th><th>Delivered / s</th><th>Up</th></tr>
        </thead>
        <tbody>
          {stats.cluster.nodes.map((node) => (
            <tr key={node.id} data-testid="hub-row">
              <td>{node.url}{node.id === stats.node ? ' (this page)' : ''}</td>
              <td>{node.host} · pid {node.pid}</td>
              <td>{node.connections.total}</td>
              <td>{node.events.inPerSecond}</td>
              <td>{node.events.outPerSecond}</td>
              <td>{duration(node.seenAt - node.startedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * For users who are not admins: hub-wide numbers (`/api/stats`) are not theirs to see, so the cards
 * count what they may read — the hub filters both lists.
 */
function ReadableOverview() {
  // One page of the biggest size: a user with more channels than that sees "1000+".
  const channels = usePoll<ChannelListResponse>('api/channels?limit=1000', 2000);
  const more = channels?.next ? '+' : '';
  const runs = usePoll<{ runs: RunSummary[] }>('api/runs?limit=200', 2000);
  const byStatus = (...statuses: string[]) => (runs ? String(runs.runs.filter((r) => statuses.includes(r.status)).length) : '—');
  return (
    <>
      <div className="cards" data-testid="overview-cards">
        <MetricCard label="Your channels" value={channels ? `${channels.channels.length}${more}` : '—'} testId="card-channels" />
        <MetricCard label="Events in them" value={channels ? `${count(channels.channels.reduce((sum, c) => sum + c.offset, 0))}${more}` : '—'} testId="card-total" />
        <MetricCard label="Active runs" value={byStatus('running', 'stalled')} testId="card-active" />
        <MetricCard label="Failed runs" value={byStatus('failed')} testId="card-failed" />
      </div>
      <div className="panel muted" data-testid="overview-scope">
        These numbers count the channels and runs you may read. Hub-wide numbers — events per second, clients, uptime — are shown to admins.
      </div>
    </>
  );
}
