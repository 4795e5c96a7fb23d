import { useEffect, useState } from 'react';
import type { PresenceEntry } from '@herald/client';
import { useHerald } from './context.js';

export interface PresenceView {
  /** Everyone subscribed to the channel (on every hub of a cluster; this page's own subscription included). */
  count: number;
  /** The first page of them (at most 100), oldest first, then those who joined since. */
  clients: PresenceEntry[];
}

const PAGE = 100;
const same = (a: PresenceEntry, b: PresenceEntry) => a.clientId === b.clientId && a.since === b.since;

/**
 * Who watches a channel, kept live: subscribes with `presence: true`, asks `client.presence()` each time
 * the subscription is (re)confirmed, and applies the joins and leaves that come after the answer (those
 * before it are in it: both travel on the one connection, in order; across hubs a join may also come just
 * after an answer that lists it, and is then not counted again).
 */
export function usePresence(channel: string): PresenceView {
  const client = useHerald();
  const [view, setView] = useState<PresenceView>({ count: 0, clients: [] });
  useEffect(() => {
    let current: PresenceView | undefined;
    const show = (next: PresenceView) => setView((current = next));
    const sub = client.subscribe(channel, undefined, { presence: true });
    sub.on('state', ({ to }) => {
      current = undefined;
      if (to === 'subscribed') client.presence(channel).then((page) => sub.state === 'subscribed' && show({ count: page.count, clients: page.clients }), () => {});
    });
    sub.on('presence', ({ op, client: entry }) => {
      if (!current) return;
      const clients = current.clients.filter((c) => !same(c, entry));
      // Across hubs a join can arrive just after an answer that already lists it: counted once.
      const listed = clients.length < current.clients.length;
      if (op === 'join') show({ count: listed ? current.count : current.count + 1, clients: clients.length < PAGE ? [...clients, entry] : clients });
      else show({ count: Math.max(0, current.count - 1), clients });
    });
    return () => sub.unsubscribe();
  }, [client, channel]);
  return view;
}
