import { ConnectionStatus } from '@herald/react';
import { href } from '../lib/route.js';
import { useSession } from '../lib/session.js';
import type { StatsResponse } from '@herald/protocol';
import { Account } from './Account.js';

const VIEWS = [
  ['overview', 'Overview'],
  ['feed', 'Live feed'],
  ['runs', 'Runs'],
  ['channels', 'Channels'],
] as const;

export function Header({ view, stats, theme, onTheme }: { view: string; stats: StatsResponse | undefined; theme: string; onTheme: () => void }) {
  const { admin } = useSession();
  return (
    <header className="header">
      <span className="brand">Herald</span>
      <nav className="nav">
        {VIEWS.map(([id, label]) => (
          <a key={id} href={href(id)} className={view === id ? 'active' : ''}>{label}</a>
        ))}
      </nav>
      <span className="spacer" />
      {/* Hub-wide numbers are the admin's: other users see only their own channels and runs. */}
      {admin ? (
        <>
          <span className="stat" data-testid="header-rate"><b>{stats ? stats.cluster.totals.inPerSecond : '—'}</b> events/s</span>
          <span className="stat" data-testid="header-clients"><b>{stats ? stats.cluster.totals.connections : '—'}</b> clients</span>
          {stats && stats.cluster.totals.nodes > 1 ? <span className="stat" data-testid="header-hubs"><b>{stats.cluster.totals.nodes}</b> hubs</span> : null}
        </>
      ) : null}
      <ConnectionStatus variant="badge" className="connection" />
      <Account />
      <button type="button" onClick={onTheme} aria-label="switch theme" title="switch theme">{theme === 'dark' ? '☀' : '☾'}</button>
    </header>
  );
}
