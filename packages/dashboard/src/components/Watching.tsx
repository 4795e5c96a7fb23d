import { usePresence } from '@herald/react';
import { clockTime, showText } from '../lib/format.js';
import { useSession } from '../lib/session.js';

/**
 * "3 watching": the channel's subscribers on this hub (this page included), kept live by joins and
 * leaves; the names on hover, the list on click. Nothing for a channel the user may not read.
 */
export function Watching({ channel }: { channel: string }) {
  const { may } = useSession();
  return may('subscribe', channel) ? <WatchingCount channel={channel} /> : null;
}

function WatchingCount({ channel }: { channel: string }) {
  const { count, clients } = usePresence(channel);
  const who = (c: (typeof clients)[number]) => `${c.user ?? c.clientId} (${c.transport === 'sse' ? 'SSE' : 'WebSocket'}, since ${clockTime(c.since)})`;
  return (
    <details className="watching">
      <summary className="badge muted" data-testid="watching" data-count={count} title={clients.map(who).join('\n')}>
        {count} watching
      </summary>
      <ul data-testid="watching-list">
        {clients.map((c) => <li key={`${c.clientId} ${c.since}`} className="mono"><bdi>{showText(who(c), 200)}</bdi></li>)}
        {count > clients.length ? <li className="muted">and {count - clients.length} more</li> : null}
      </ul>
    </details>
  );
}
