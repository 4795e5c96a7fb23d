import { useEffect, useState } from 'react';

/** Fetches JSON from the hub now and every `intervalMs`; keeps the last good answer. */
export function usePoll<T>(path: string, intervalMs: number): T | undefined {
  const [value, setValue] = useState<T>();
  useEffect(() => {
    let active = true;
    const load = async () => {
      try {
        const response = await fetch(path);
        if (response.ok && active) setValue((await response.json()) as T);
      } catch {
        // The hub is unreachable; the connection indicator already says so.
      }
    };
    void load();
    const timer = setInterval(load, intervalMs);
    return () => {
      active = false;
      clearInterval(timer);
    };
  }, [path, intervalMs]);
  return value;
}

export interface HubStats {
  uptimeSeconds: number;
  connections: { total: number; websocket: number; sse: number };
  channels: number;
  events: { in: number; out: number; inPerSecond: number; outPerSecond: number };
  runs: Record<string, number>;
}
