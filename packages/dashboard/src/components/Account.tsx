import { useState } from 'react';
import { useSession, type Session } from '../lib/session.js';

export function roleOf(session: Pick<Session, 'admin' | 'canPublish'>): string {
  return session.admin ? 'admin' : session.canPublish ? 'read & publish' : 'read-only';
}

/** Who is signed in, and the way out. Nothing on an open hub: there is nobody to sign out. */
export function Account() {
  const session = useSession();
  const [problem, setProblem] = useState<string>();
  const principal = session.info.principal;
  if (!session.signOut || !principal) return null;
  const signOut = session.signOut;
  const grant = session.grant;
  const details = session.admin
    ? 'admin: every channel, publish, reset and hub stats'
    : `reads ${grant.subscribe.join(', ') || 'nothing'}; publishes ${grant.publish.join(', ') || 'nothing'}`;
  return (
    <span className="account" data-testid="account">
      <span title={`${principal.kind === 'key' ? 'API key' : 'token'} “${principal.name}” — ${details}`}>
        <b data-testid="signed-in-as">{principal.name}</b> <span className="badge muted" data-testid="role">{roleOf(session)}</span>
      </span>
      <button
        type="button"
        data-testid="sign-out"
        title={problem}
        onClick={() => signOut().catch((error: unknown) => setProblem(`Sign-out failed: ${error instanceof Error ? error.message : String(error)}`))}
      >
        {problem ? 'Sign out (retry)' : 'Sign out'}
      </button>
    </span>
  );
}
