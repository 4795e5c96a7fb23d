import type { HealthBand, RunStatus } from '@herald/protocol';

export function MetricCard({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div className="card" data-testid={testId}>
      <div className="label">{label}</div>
      <div className="value">{value}</div>
    </div>
  );
}

export function StatusBadge({ status }: { status: RunStatus }) {
  return <span className={`badge status-${status}`} data-testid="run-status">{status}</span>;
}

export function ProgressBar({ percent, big }: { percent: number | null; big?: boolean }) {
  const value = percent ?? 0;
  return (
    <div className={`progress${big ? ' big' : ''}`} role="progressbar" aria-valuenow={value} aria-valuemin={0} aria-valuemax={100} title={`${value}%`}>
      <div style={{ width: `${value}%` }} />
    </div>
  );
}

export function HealthBadge({ health }: { health: { score: number; band: HealthBand } }) {
  return <span className={`badge band-${health.band}`}>{health.band} · {health.score}</span>;
}

/** The health score as a half-circle gauge, coloured by band. */
export function HealthGauge({ health }: { health: { score: number; band: HealthBand } }) {
  const angle = Math.PI * (1 - health.score / 100);
  const x = 60 + 48 * Math.cos(angle);
  const y = 60 - 48 * Math.sin(angle);
  return (
    <svg viewBox="0 0 120 70" width="180" role="img" aria-label={`health ${health.score} (${health.band})`} data-testid="health-gauge">
      <path d="M12 60 A48 48 0 0 1 108 60" fill="none" stroke="var(--panel-2)" strokeWidth="10" strokeLinecap="round" />
      <path d={`M12 60 A48 48 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)}`} fill="none" stroke={`var(--${health.band === 'stable' ? 'success' : health.band === 'degraded' ? 'warning' : 'error'})`} strokeWidth="10" strokeLinecap="round" />
      <text x="60" y="56" textAnchor="middle" fontSize="20" fontWeight="700" fill="var(--text)">{health.score}</text>
      <text x="60" y="68" textAnchor="middle" fontSize="9" fill="var(--muted)">{health.band}</text>
    </svg>
  );
}
