import { useEffect, useState, type CSSProperties } from 'react';
import { shouldReconnect } from '@herald/protocol';
import { useHerald } from './context.js';
import { useConnectionState, type ConnectionInfo } from './hooks.js';

const COLORS = { connected: '#16a34a', connecting: '#ca8a04', disconnected: '#dc2626', closed: '#6b7280' } as const;
const LABELS = { connected: 'Connected', connecting: 'Connecting…', disconnected: 'Reconnecting', closed: 'Closed' } as const;

/** Disconnected by a close code after which the client does not retry (4003, 4401…): nothing to count down to. */
function isTerminal(info: ConnectionInfo): boolean {
  return info.state === 'disconnected' && info.code !== undefined && !shouldReconnect(info.code);
}

export interface ConnectionStatusProps {
  variant?: 'badge' | 'inline' | 'alert';
  className?: string;
  style?: CSSProperties;
}

/** Seconds until the scheduled reconnect, ticking once a second. */
function useCountdown(retryAt: number | undefined): number | undefined {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (retryAt === undefined) return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [retryAt]);
  return retryAt === undefined ? undefined : Math.max(0, Math.ceil((retryAt - now) / 1000));
}

/**
 * The connection at a glance: `badge` (dot and word), `inline` (a sentence), or `alert` (a banner
 * shown only while not connected). Reconnecting shows a countdown and a button to retry now; after a
 * terminal close code (the client stays disconnected) it shows "Disconnected" and the hub's reason.
 */
export function ConnectionStatus({ variant = 'badge', className, style }: ConnectionStatusProps) {
  const client = useHerald();
  const info = useConnectionState();
  const terminal = isTerminal(info);
  const seconds = useCountdown(info.state === 'disconnected' && !terminal ? info.retryAt : undefined);
  const color = COLORS[info.state];
  if (terminal) {
    const reason = info.reason ? `${info.reason} (${info.code})` : `close code ${info.code}`;
    const attributes = { className, 'data-state': info.state, 'data-terminal': 'true', role: variant === 'alert' ? ('alert' as const) : ('status' as const) };
    const box = variant === 'alert' ? { padding: '8px 12px', borderLeft: `4px solid ${color}`, background: '#fef2f2' } : variant === 'badge' ? { display: 'inline-flex', alignItems: 'center', gap: 6, padding: '2px 8px', borderRadius: 999, border: `1px solid ${color}` } : {};
    return (
      <span {...attributes} style={{ ...box, ...style }}>
        {variant === 'badge' ? <span style={{ width: 8, height: 8, borderRadius: '50%', background: color }} /> : null}
        <span style={{ color: variant === 'badge' ? undefined : color }}>Disconnected</span>
        <span data-reason="">: {reason}</span>
      </span>
    );
  }
  const retry =
    info.state === 'disconnected' ? (
      <button type="button" onClick={() => client.reconnectNow()} style={{ marginLeft: 8 }}>
        Retry now
      </button>
    ) : null;
  const countdown = seconds !== undefined ? ` in ${seconds}s` : '';
  const attributes = { className, 'data-state': info.state, role: 'status' as const };

  if (variant === 'alert') {
    if (info.state === 'connected') return null;
    return (
      <div {...attributes} role="alert" style={{ padding: '8px 12px', borderLeft: `4px solid ${color}`, background: '#fef2f2', ...style }}>
        {info.state === 'disconnected' ? `Connection lost. Reconnecting${countdown}.` : `${LABELS[info.state]}`}
        {retry}
      </div>
    );
  }
  if (variant === 'inline') {
    return (
      <span {...attributes} style={style}>
        <span style={{ color }}>{LABELS[info.state]}</span>
        {info.state === 'disconnected' ? countdown : info.transport === 'sse' ? ' (SSE fallback)' : ''}
        {retry}
      </span>
    );
  }
  return (
    <span {...attributes} style={{ display: 'inline-flex', alignItems: 'center', gap: 6, padding: '2px 8px', borderRadius: 999, border: `1px solid ${color}`, ...style }}>
      <span style={{ width: 8, height: 8, borderRadius: '50%', background: color }} />
      {LABELS[info.state]}
      {info.state === 'disconnected' ? countdown : ''}
      {retry}
    </span>
  );
}
