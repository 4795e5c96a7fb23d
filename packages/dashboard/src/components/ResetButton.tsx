import { useEffect, useState } from 'react';
import { useSession } from '../lib/session.js';

/** How long the second click may take before the button forgets the first. */
const CONFIRM_MS = 5000;

/**
 * Deletes a channel's history (admins only). Two clicks, no dialog: the first arms the button, the
 * second resets; the armed state times out so a stray click later does nothing. A channel without
 * events leaves the list, and this button with it: `onReset` tells the view, which outlives the row.
 */
export function ResetButton({ channel, onReset }: { channel: string; onReset: (channel: string) => void }) {
  const { fetch: hubFetch } = useSession();
  const [state, setState] = useState<'idle' | 'armed' | 'busy'>('idle');
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    if (state !== 'armed') return;
    const timer = setTimeout(() => setState('idle'), CONFIRM_MS);
    return () => clearTimeout(timer);
  }, [state]);

  const reset = async () => {
    setState('busy');
    setProblem(undefined);
    try {
      const response = await hubFetch(`api/channels/${encodeURIComponent(channel)}`, { method: 'DELETE' });
      if (!response.ok) {
        const body = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
        throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
      }
      setState('idle');
      onReset(channel);
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
      setState('idle');
    }
  };

  return (
    <span className="reset">
      <button
        type="button"
        data-testid="reset-channel"
        className={state === 'armed' ? 'danger' : ''}
        disabled={state === 'busy'}
        title={state === 'armed' ? `Deletes every stored event of ${channel}: click again to confirm.` : 'Delete this channel\u2019s history'}
        onClick={() => (state === 'armed' ? void reset() : setState('armed'))}
      >
        {state === 'armed' ? 'Confirm reset' : state === 'busy' ? 'Resetting…' : 'Reset'}
      </button>
      {problem ? <span className="sev-error" role="alert"> {problem}</span> : null}
    </span>
  );
}
