import { useEffect, useMemo, useState } from 'react';
import type { DeliveredEvent } from '@herald/client';
import { attachmentPath, attachmentRefs, type AttachmentRef } from '@herald/protocol';
import { byteSize, showText } from '../lib/format.js';

/**
 * The files events reference in `data.attachments` (docs/dashboard.md#attachments): images as
 * thumbnails that open large in the page, everything else as a download link. The hub serves each file
 * so that nothing in it can run in this page's origin; an `<img>` never runs script in any case, so SVG
 * is shown as an image too. Images load with the session cookie, like every request of the dashboard.
 */

/** Types shown as images (an `<img>` of any of these runs nothing). */
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml'];
const IMAGE_NAME = /\.(png|jpe?g|gif|webp|svg)$/i;

export interface Attached extends AttachmentRef {
  channel: string;
  /** Where the event that references it is, for keys and for the gallery's order. */
  offset: number;
}

/** The well-formed references of one event (a malformed list, which the hub refuses, shows nothing). */
export function attachmentsOf(e: DeliveredEvent): Attached[] {
  const refs = attachmentRefs(e.event.data);
  return typeof refs === 'string' ? [] : refs.map((ref) => ({ ...ref, channel: e.channel, offset: e.offset }));
}

export function isImage(ref: AttachmentRef): boolean {
  const essence = ref.contentType?.split(';')[0]!.trim().toLowerCase();
  return essence ? IMAGE_TYPES.includes(essence) : IMAGE_NAME.test(ref.name);
}

/** The file's address, relative like every API call of the dashboard; `name` becomes the download's name. */
export function attachmentUrl(a: Attached): string {
  return `${attachmentPath(a.channel, a.id).slice(1)}?name=${encodeURIComponent(a.name)}`;
}

/** A thumbnail that opens the image large. */
function Thumb({ a, height, onOpen }: { a: Attached; height: number; onOpen: (a: Attached) => void }) {
  const [failed, setFailed] = useState(false);
  if (failed) return <FileLink a={a} note="not available" />;
  return (
    <button type="button" className="attachment-thumb" data-testid="attachment-thumb" data-id={a.id} title={showText(a.name)} onClick={(event) => { event.stopPropagation(); onOpen(a); }} style={{ padding: 0, border: '1px solid var(--border, #8884)', background: 'none', cursor: 'zoom-in', lineHeight: 0 }}>
      <img src={attachmentUrl(a)} alt={showText(a.name)} loading="lazy" onError={() => setFailed(true)} style={{ height, maxWidth: height * 2, objectFit: 'cover', display: 'block' }} />
    </button>
  );
}

function FileLink({ a, note }: { a: Attached; note?: string }) {
  return (
    <a className="attachment-link" data-testid="attachment-link" data-id={a.id} href={attachmentUrl(a)} download={a.name} onClick={(event) => event.stopPropagation()}>
      📎 <bdi>{showText(a.name, 120)}</bdi>{a.size !== undefined ? <span className="muted"> ({byteSize(a.size)})</span> : null}{note ? <span className="muted"> — {note}</span> : null}
    </a>
  );
}

/** The image large, over the page; a click or Escape closes it. */
function Lightbox({ a, onClose }: { a: Attached; onClose: () => void }) {
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => event.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div role="dialog" aria-label={showText(a.name)} data-testid="lightbox" onClick={onClose} style={{ position: 'fixed', inset: 0, background: 'rgba(0,0,0,0.8)', display: 'flex', flexDirection: 'column', alignItems: 'center', justifyContent: 'center', zIndex: 1000, cursor: 'zoom-out' }}>
      <img src={attachmentUrl(a)} alt={showText(a.name)} data-testid="lightbox-image" style={{ maxWidth: '95vw', maxHeight: '88vh', objectFit: 'contain', background: '#fff' }} />
      <div style={{ color: '#fff', marginTop: 8 }}><bdi>{showText(a.name, 200)}</bdi> · <a href={attachmentUrl(a)} download={a.name} style={{ color: '#9cf' }} onClick={(event) => event.stopPropagation()}>download</a></div>
    </div>
  );
}

/** Thumbnails and links of a list of attachments, with the lightbox they open. */
function AttachmentGrid({ items, height, testId }: { items: Attached[]; height: number; testId: string }) {
  const [open, setOpen] = useState<Attached>();
  return (
    <div data-testid={testId} style={{ display: 'flex', flexWrap: 'wrap', gap: 6, alignItems: 'center' }}>
      {items.map((a) => (isImage(a) ? <Thumb key={`${a.offset}:${a.id}`} a={a} height={height} onOpen={setOpen} /> : <FileLink key={`${a.offset}:${a.id}`} a={a} />))}
      {open ? <Lightbox a={open} onClose={() => setOpen(undefined)} /> : null}
    </div>
  );
}

/** One event's attachments, for the event detail (larger) or a log row (`compact`). Nothing when it has none. */
export function EventAttachments({ event, compact }: { event: DeliveredEvent; compact?: boolean }) {
  const items = useMemo(() => attachmentsOf(event), [event]);
  if (items.length === 0) return null;
  return <AttachmentGrid items={items} height={compact ? 40 : 120} testId={compact ? 'row-attachments' : 'event-attachments'} />;
}

/** Every image the run's events reference (each file once, newest first), as a panel; nothing when there is none. */
export function RunGallery({ events }: { events: readonly DeliveredEvent[] }) {
  const images = useMemo(() => {
    const seen = new Set<string>();
    const found: Attached[] = [];
    for (let i = events.length - 1; i >= 0; i--) {
      for (const a of attachmentsOf(events[i]!)) {
        if (isImage(a) && !seen.has(a.id)) {
          seen.add(a.id);
          found.push(a);
        }
      }
    }
    return found;
  }, [events]);
  if (images.length === 0) return null;
  return (
    <div className="panel">
      <h2>Attachments <span className="muted">({images.length})</span></h2>
      <AttachmentGrid items={images} height={120} testId="run-gallery" />
    </div>
  );
}
