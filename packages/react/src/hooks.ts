import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { ConnectionState, DeliveredEvent, StateChange, TransportName } from '@herald/client';
import { useHerald } from './context.js';

export interface ConnectionInfo {
  state: ConnectionState;
  transport: TransportName | undefined;
  code?: number;
  reason?: string;
  /** When a reconnect is scheduled: the time (ms since the epoch) it will happen. */
  retryAt?: number;
}

/** The connection's state, re-rendering on every change. */
export function useConnectionState(): ConnectionInfo {
  const client = useHerald();
  const info = useRef<ConnectionInfo>({ state: client.state, transport: client.transport });
  const subscribe = useCallback(
    (notify: () => void) =>
      client.on('state', (change: StateChange) => {
        info.current = {
          state: change.to,
          transport: client.transport,
          ...(change.code !== undefined ? { code: change.code } : {}),
          ...(change.reason !== undefined ? { reason: change.reason } : {}),
          ...(change.retryInMs !== undefined ? { retryAt: Date.now() + change.retryInMs } : {}),
        };
        notify();
      }),
    [client],
  );
  return useSyncExternalStore(subscribe, () => info.current, () => info.current);
}

/**
 * Collects events and hands them to React at most once per animation frame: at hundreds of events a
 * second, one render per event would make the page unusable.
 */
function useFrameBatchedEvents<T>(limit: number) {
  const [events, setEvents] = useState<DeliveredEvent<T>[]>([]);
  const buffer = useRef<DeliveredEvent<T>[]>([]);
  const scheduled = useRef(false);
  const push = useCallback(
    (event: DeliveredEvent<T>) => {
      buffer.current.push(event);
      if (scheduled.current) return;
      scheduled.current = true;
      const flush = () => {
        scheduled.current = false;
        const batch = buffer.current;
        buffer.current = [];
        setEvents((current) => [...current, ...batch].slice(-limit));
      };
      if (typeof requestAnimationFrame === 'function') requestAnimationFrame(flush);
      else setTimeout(flush, 16);
    },
    [limit],
  );
  return { events, setEvents, push };
}

export interface ChannelView<T> {
  /** Oldest first, at most `limit`. */
  events: DeliveredEvent<T>[];
  status: 'loading' | 'live' | 'error';
  error?: string;
}

/** The last `limit` events of a channel from history, then live; reloads by itself after a reset. */
export function useChannel<T = unknown>(channel: string, options: { limit?: number } = {}): ChannelView<T> {
  const client = useHerald();
  const limit = options.limit ?? 100;
  const { events, setEvents, push } = useFrameBatchedEvents<T>(limit);
  const [status, setStatus] = useState<ChannelView<T>['status']>('loading');
  const [error, setError] = useState<string>();

  useEffect(() => {
    let active = true;
    let unsubscribe = () => {};
    const load = async () => {
      setStatus('loading');
      try {
        const page = await client.history<T>(channel, { last: limit });
        if (!active) return;
        setEvents(page.events);
        const last = page.events.at(-1);
        const sub = client.subscribe<T>(channel, push, { since: { offset: last?.offset ?? page.latest, epoch: page.epoch } });
        sub.on('reset', () => {
          sub.unsubscribe();
          if (active) void load();
        });
        unsubscribe = () => sub.unsubscribe();
        setStatus('live');
      } catch (e) {
        if (!active) return;
        setError(String(e));
        setStatus('error');
      }
    };
    void load();
    return () => {
      active = false;
      unsubscribe();
    };
  }, [client, channel, limit, push, setEvents]);

  return error === undefined ? { events, status } : { events, status, error };
}

/** Live events of a channel or pattern (`runs.*`, `>`), the newest `limit` kept. */
export function useEvents<T = unknown>(pattern: string, options: { limit?: number } = {}): DeliveredEvent<T>[] {
  const client = useHerald();
  const { events, push } = useFrameBatchedEvents<T>(options.limit ?? 100);
  useEffect(() => {
    const sub = client.subscribe<T>(pattern, push);
    return () => sub.unsubscribe();
  }, [client, pattern, push]);
  return events;
}
