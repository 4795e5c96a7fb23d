/**
 * Browser notifications for runs that fail or stall (opt-in, remembered in this browser).
 *
 * Which runs: those on screen — the run open in its detail view, or every run of the runs list while
 * it is open. Each run notifies once per status it turns into (`failed`, `stalled`), on the change only:
 * a run first seen already failed or stalled (it was so when the page opened) never notifies, and a
 * run that stalls, wakes and stalls again notifies once.
 */
import { href } from './route.js';

export const NOTIFY_STORAGE_KEY = 'herald.notifications';
/** The statuses a watcher wants to hear about. */
const ALERT_STATUSES = new Set(['failed', 'stalled']);

export interface WatchedRun {
  id: string;
  title: string;
  status: string;
  finishedAt: number | null;
}

/** What the toggle can offer in this browser. */
export type NotifySupport = 'unsupported' | 'denied' | 'default' | 'granted';

export function notifySupport(): NotifySupport {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

/** The user's choice, remembered in this browser (off unless they turned it on). */
export function notifyChosen(): boolean {
  try {
    return localStorage.getItem(NOTIFY_STORAGE_KEY) === 'on';
  } catch {
    return false;
  }
}

function remember(on: boolean): void {
  try {
    localStorage.setItem(NOTIFY_STORAGE_KEY, on ? 'on' : 'off');
  } catch {
    // Storage refused (private mode): the choice lasts for this page only.
  }
}

/**
 * Turns notifications on — asking for the permission, which browsers allow only from a click — or off.
 * Resolves with whether they are on now.
 */
export async function setNotify(on: boolean): Promise<boolean> {
  if (!on || notifySupport() === 'unsupported') {
    remember(false);
    return false;
  }
  const permission = Notification.permission === 'default' ? await Notification.requestPermission() : Notification.permission;
  remember(permission === 'granted');
  return permission === 'granted';
}

/**
 * Remembers each watched run's status and notifies on a change into an alert status. One per page:
 * runs seen in the list and then in the detail view are the same runs, and notify once.
 */
export class RunNotifier {
  private readonly seen = new Map<string, string>();
  private readonly notified = new Set<string>();

  constructor(
    /** When the page opened (ms): a run first seen failed had failed before, unless it finished later. */
    private readonly openedAt: number,
    private readonly show: (run: WatchedRun) => void,
  ) {}

  observe(runs: Iterable<WatchedRun>, enabled: boolean): void {
    for (const run of runs) {
      const before = this.seen.get(run.id);
      if (before === run.status) continue;
      this.seen.set(run.id, run.status);
      if (!ALERT_STATUSES.has(run.status)) continue;
      // First seen: only a failure after the page opened is news (a stall may have begun at any time).
      if (before === undefined && !(run.status === 'failed' && run.finishedAt !== null && run.finishedAt > this.openedAt)) continue;
      const key = `${run.id}\n${run.status}`;
      if (this.notified.has(key)) continue;
      this.notified.add(key);
      if (enabled) this.show(run);
    }
  }
}

/** A system notification for the run; a click brings this tab to the run's page. */
export function showRunNotification(run: WatchedRun): void {
  if (notifySupport() !== 'granted') return;
  const notification = new Notification(run.title || run.id, {
    body: run.status === 'failed' ? `Run ${run.id} failed` : `Run ${run.id} stalled: no events for a while`,
    tag: `herald-run-${run.id}-${run.status}`,
  });
  notification.onclick = () => {
    window.focus();
    window.location.hash = href('runs', run.id);
    notification.close();
  };
}

/** The page's notifier: statuses are remembered across views for as long as the page is open. */
export const pageNotifier = new RunNotifier(Date.now(), showRunNotification);
