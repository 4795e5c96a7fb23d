import type { DeliveredEvent } from '@herald/client';
import { SEVERITY_ICONS, showText } from '../lib/format.js';
import { JsonView } from './JsonView.js';
import { EventAttachments } from './Attachments.js';

/**
 * One event from the feed: where and when it was received, its type, source and id, and its data.
 * Publisher-chosen text shows its invisible characters as escapes and sits in `<bdi>`, so right-to-left
 * text in a type does not reorder the text around it.
 */
export function EventDetail({ event: e }: { event: DeliveredEvent }) {
  return (
    <div className="event-head" data-channel={e.channel} data-offset={e.offset}>
      <div className="mono">{e.channel} #{e.offset}</div>
      <div className={`sev-${e.event.severity}`} data-testid="detail-type">{SEVERITY_ICONS[e.event.severity]} {e.event.severity} · <bdi>{showText(e.event.type)}</bdi></div>
      <div className="muted">{e.event.ts !== undefined ? <>published {new Date(e.event.ts).toLocaleString()} · </> : null}received {new Date(e.time).toLocaleString()} · epoch {e.epoch}</div>
      {e.event.source ? <div className="muted">source <bdi>{showText(e.event.source)}</bdi></div> : null}
      {e.event.id ? <div className="muted">id <bdi>{showText(e.event.id)}</bdi></div> : null}
      <EventAttachments event={e} />
      <JsonView value={e.event.data ?? null} />
    </div>
  );
}
