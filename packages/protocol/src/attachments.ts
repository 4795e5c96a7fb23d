/**
 * Events reference uploaded files as `data.attachments: [{id, name, contentType?, size?}]`, in the
 * channel they were uploaded to (docs/runs.md#attachments). The hub checks the shape on publish, keeps
 * a file while a retained event references it, and the dashboard renders the references.
 */

/** One reference from an event's `data.attachments`. */
export interface AttachmentRef {
  /** The attachment's id: the SHA-256 of its bytes, 64 lowercase hex characters. */
  id: string;
  /** What to call it (a file name): shown by the dashboard, used as the download name. */
  name: string;
  contentType?: string;
  size?: number;
}

/** Most references one event may carry. */
export const MAX_ATTACHMENT_REFS = 100;
/** Longest `name` of a reference, in characters. */
export const MAX_ATTACHMENT_NAME = 255;

const ID = /^[0-9a-f]{64}$/;

export function isAttachmentId(id: unknown): id is string {
  return typeof id === 'string' && ID.test(id);
}

/**
 * The references of an event's data: `[]` when it has none, the list when `data.attachments` is well
 * formed, or a sentence saying what is wrong with it.
 */
export function attachmentRefs(data: unknown): AttachmentRef[] | string {
  if (data === null || typeof data !== 'object' || Array.isArray(data) || !Object.hasOwn(data, 'attachments')) return [];
  const list = (data as { attachments: unknown }).attachments;
  if (!Array.isArray(list)) return 'data.attachments must be an array of {id, name}';
  if (list.length > MAX_ATTACHMENT_REFS) return `data.attachments holds ${list.length} references; at most ${MAX_ATTACHMENT_REFS}`;
  for (const [i, ref] of list.entries()) {
    if (ref === null || typeof ref !== 'object' || Array.isArray(ref)) return `data.attachments[${i}] must be an object {id, name}`;
    const { id, name, contentType, size } = ref as Record<string, unknown>;
    if (!isAttachmentId(id)) return `data.attachments[${i}].id must be the id an upload answered (64 hex characters)`;
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_ATTACHMENT_NAME) return `data.attachments[${i}].name must be a string of 1 to ${MAX_ATTACHMENT_NAME} characters`;
    if (contentType !== undefined && typeof contentType !== 'string') return `data.attachments[${i}].contentType must be a string`;
    if (size !== undefined && (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)) return `data.attachments[${i}].size must be a whole number of bytes`;
  }
  return list as AttachmentRef[];
}

/** The path of an attachment on the hub (relative: the dashboard prefixes nothing, a client its base URL). */
export function attachmentPath(channel: string, id: string): string {
  return `/api/channels/${encodeURIComponent(channel)}/attachments/${id}`;
}

/** Raster image types a browser shows in `<img>` and the hub serves inline. */
export const INLINE_IMAGE_TYPES: readonly string[] = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
