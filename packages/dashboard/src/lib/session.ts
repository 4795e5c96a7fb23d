import { createContext, useContext } from 'react';
import { FULL_GRANT, grantAllows, type AuthInfo, type Grant, type Permission } from '@herald/protocol';

/**
 * Who is using the dashboard and what they may do. Views ask `may(…)` before they offer a control or
 * subscribe to something, so that a read-only user is never shown a button that can only fail. The
 * hub decides anyway: this only keeps the page honest about it.
 */
export interface Session {
  info: AuthInfo;
  /** The signed-in principal's grant; everything on an open hub. */
  grant: Grant;
  admin: boolean;
  /** Whether publishing is possible at all (admin, or any publish grant). */
  canPublish: boolean;
  may(permission: Permission, channel: string): boolean;
  /** `fetch` for the hub's API: a 401 makes the dashboard check the session (and show sign-in if it ended). */
  fetch: typeof fetch;
  /** Set only when the hub requires credentials. */
  signOut?: () => Promise<void>;
  /** Asks the hub whether the session still works; called on a 401 or an auth close code. */
  check(): void;
}

export function sessionOf(info: AuthInfo, actions: Pick<Session, 'fetch' | 'check'> & { signOut?: () => Promise<void> }): Session {
  const grant = info.principal?.grant ?? (info.mode === 'open' ? FULL_GRANT : { subscribe: [], publish: [], admin: false });
  return {
    info,
    grant,
    admin: grant.admin,
    canPublish: grant.admin || grant.publish.length > 0,
    may: (permission, channel) => grantAllows(grant, permission, channel),
    ...actions,
  };
}

const SessionContext = createContext<Session | null>(null);
export const SessionProvider = SessionContext.Provider;

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession() needs the <AuthGate> above it');
  return session;
}
