import { useEffect, useState } from 'react';
import { useSession } from './session.js';

/**
 * Fetches JSON from the hub now and every `intervalMs`; keeps the last good answer. `null` polls
 * nothing (the signed-in user may not read it). A refusal keeps the page as it was: a 401 already sends
 * the user to sign-in, through the session's fetch.
 */
export function usePoll<T>(path: string | null, intervalMs: number): T | undefined {
  const { fetch: hubFetch } = useSession();
  const [value, setValue] = useState<T>();
  useEffect(() => {
    if (path === null) return;
    let active = true;
    const load = async () => {
      try {
        const response = await hubFetch(path);
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
  }, [path, intervalMs, hubFetch]);
  return value;
}

