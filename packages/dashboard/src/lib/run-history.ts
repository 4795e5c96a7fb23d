import type { DeliveredEvent, HeraldClient } from '@herald/client';

/** Events of one run the page holds (history and live): a 20 000-line CI log, bounded in memory. */
export const RUN_LOG_CAP = 20_000;
/** The hub's largest history page (`Defaults.maxHistoryPage`). */
const PAGE = 1000;

/**
 * Reads the newest `cap` stored events of a run's channel over HTTP, oldest page first, handing each
 * page over as it comes (the log fills from the top while the rest loads). Stops when `active` turns
 * false (the page was left). A refusal is the subscription's to report; this only fills in the past.
 */
export async function loadRunHistory(client: HeraldClient, channel: string, cap: number, onPage: (events: DeliveredEvent[]) => void, active: () => boolean): Promise<void> {
  const head = await client.history(channel, { limit: 1 });
  const latest = head.latest;
  let since = Math.max(0, latest - cap);
  while (active() && since < latest) {
    const page = await client.history(channel, { since, limit: Math.min(PAGE, latest - since) });
    if (!active() || page.events.length === 0) break;
    onPage(page.events);
    since = page.next;
  }
}
