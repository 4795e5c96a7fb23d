import { useState, type FormEvent } from 'react';
import type { AuthInfo } from '@herald/protocol';
import { HubRefusal, signIn } from '../lib/auth-api.js';

/**
 * The page a hub that requires credentials shows first. The credential goes to the hub once, in a
 * JSON body; what comes back is an HttpOnly cookie, so the page never keeps it.
 */
export function SignIn({ notice, onSignedIn }: { notice?: string; onSignedIn: (info: AuthInfo) => void }) {
  const [credential, setCredential] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const info = await signIn(credential.trim());
      setCredential('');
      onSignedIn(info);
    } catch (failure) {
      setError(failure instanceof HubRefusal ? `Not signed in: ${failure.message}` : `The hub could not be reached (${String(failure)}). Try again.`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="gate">
      <form className="panel sign-in" onSubmit={submit} data-testid="sign-in">
        <span className="brand">Herald</span>
        <h1>Sign in</h1>
        <p className="muted">
          This hub requires credentials. Paste an API key (<code>hk_…</code>, from <code>herald keys create</code>) or a token (JWT) issued for it.
        </p>
        {notice ? <div className="notice" role="status" data-testid="sign-in-notice">{notice}</div> : null}
        <label>
          API key or token
          <input
            type="password"
            autoComplete="off"
            spellCheck={false}
            autoFocus
            value={credential}
            onChange={(e) => setCredential(e.target.value)}
            data-testid="credential"
            style={{ width: '100%' }}
          />
        </label>
        <button type="submit" className="primary" disabled={busy || credential.trim() === ''} data-testid="sign-in-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error ? <div className="sev-error" role="alert" data-testid="sign-in-error">{error}</div> : null}
      </form>
    </div>
  );
}
