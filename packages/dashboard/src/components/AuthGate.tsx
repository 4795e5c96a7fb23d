import { Fragment, useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { AuthInfo } from '@herald/protocol';
import { signOut, whoAmI } from '../lib/auth-api.js';
import { SessionProvider, sessionOf, type Session } from '../lib/session.js';
import { SignIn } from '../views/SignIn.js';

/** How often the first look at the hub is retried while it cannot be reached. */
const RETRY_MS = 2000;
/** setTimeout cannot wait longer than this; a later expiry is checked when it comes closer. */
const MAX_TIMER_MS = 2 ** 31 - 1;
export const SESSION_ENDED = 'Your session ended (it expired, was signed out elsewhere, or its key was revoked). Sign in again.';

type Gate =
  | { phase: 'checking'; problem?: string }
  | { phase: 'signed-out'; notice?: string }
  /** `generation` remounts everything below on each sign-in: a fresh client, no state of the last user. */
  | { phase: 'signed-in'; info: AuthInfo; generation: number };

/**
 * Shows the sign-in page until someone is signed in (only when the hub requires credentials), then the
 * dashboard. Every sign of a dead session — a 401, an auth close code on the socket, the credential's
 * own expiry — leads back here through `check`, which asks the hub before it signs anyone out.
 */
export function AuthGate({ children }: { children: (session: Session) => ReactNode }) {
  const [gate, setGate] = useState<Gate>({ phase: 'checking' });
  const generation = useRef(0);
  const checking = useRef(false);

  const enter = useCallback((info: AuthInfo) => {
    if (info.mode === 'required' && !info.principal) setGate({ phase: 'signed-out' });
    else setGate({ phase: 'signed-in', info, generation: ++generation.current });
  }, []);

  const isChecking = gate.phase === 'checking';
  useEffect(() => {
    if (!isChecking) return;
    let active = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const attempt = () =>
      whoAmI().then(
        (info) => active && enter(info),
        (error: unknown) => {
          if (!active) return;
          setGate({ phase: 'checking', problem: error instanceof Error ? error.message : String(error) });
          timer = setTimeout(attempt, RETRY_MS);
        },
      );
    void attempt();
    return () => {
      active = false;
      clearTimeout(timer);
    };
  }, [isChecking, enter]);

  const check = useCallback(() => {
    if (checking.current) return;
    checking.current = true;
    whoAmI()
      .then(
        (info) => {
          if (info.mode === 'required' && !info.principal) {
            setGate((current) => (current.phase === 'signed-in' ? { phase: 'signed-out', notice: SESSION_ENDED } : current));
          }
        },
        // Unreachable is not signed out: the connection indicator says the hub is down.
        () => {},
      )
      .finally(() => (checking.current = false));
  }, []);

  const hubFetch = useCallback<typeof fetch>(
    async (input, init) => {
      const response = await fetch(input, init);
      if (response.status === 401) check();
      return response;
    },
    [check],
  );

  const info = gate.phase === 'signed-in' ? gate.info : undefined;
  const session = useMemo(() => {
    if (!info) return undefined;
    const end = async () => {
      await signOut();
      setGate({ phase: 'signed-out', notice: 'Signed out.' });
    };
    return sessionOf(info, { fetch: hubFetch, check, ...(info.mode === 'required' ? { signOut: end } : {}) });
  }, [info, hubFetch, check]);

  // The credential's own expiry: sign-in again at that moment, not at the next failed request.
  const expiresAt = info?.principal?.expiresAt;
  useEffect(() => {
    if (expiresAt === undefined) return;
    const timer = setTimeout(check, Math.min(MAX_TIMER_MS, Math.max(0, expiresAt - Date.now() + 250)));
    return () => clearTimeout(timer);
  }, [expiresAt, check]);

  if (gate.phase === 'signed-out') return <SignIn notice={gate.notice} onSignedIn={enter} />;
  if (gate.phase === 'signed-in' && session) {
    return (
      <SessionProvider value={session}>
        <Fragment key={gate.generation}>{children(session)}</Fragment>
      </SessionProvider>
    );
  }
  return (
    <div className="gate" data-testid="auth-checking">
      <div className="panel">
        Connecting to the hub…
        {gate.phase === 'checking' && gate.problem ? <div className="muted">{gate.problem} — retrying.</div> : null}
      </div>
    </div>
  );
}
