import { useEffect, useState } from 'react';
import { notifyChosen, notifySupport, pageNotifier, setNotify, type WatchedRun } from '../lib/notify.js';

/**
 * The notifications toggle of a runs view, and the watch behind it: the runs given are compared with
 * what the page saw of them before, after every render (a run detail's snapshot changes in place).
 * Rules: lib/notify.ts.
 */
export function RunNotifications({ runs }: { runs: Iterable<WatchedRun> }) {
  const [support, setSupport] = useState(notifySupport);
  const [on, setOn] = useState(() => notifyChosen() && support === 'granted');
  const [asking, setAsking] = useState(false);

  useEffect(() => {
    pageNotifier.observe(runs, on);
  });

  const toggle = () => {
    setAsking(true);
    void setNotify(!on).then((now) => {
      setOn(now);
      setSupport(notifySupport());
      setAsking(false);
    });
  };
  if (support === 'unsupported') return null;
  const blocked = support === 'denied';
  return (
    <button
      type="button"
      data-testid="notify-toggle"
      aria-pressed={on}
      disabled={asking || blocked}
      onClick={toggle}
      title={blocked ? 'Notifications are blocked for this site: allow them in the browser’s site settings' : on ? 'You are notified when a run shown here fails or stalls. Click to stop.' : 'Notify me when a run shown here fails or stalls'}
    >
      {blocked ? '🔕 Notifications blocked' : on ? '🔔 Notifying' : '🔕 Notify'}
    </button>
  );
}
