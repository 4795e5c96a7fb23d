import type { Readable } from 'node:stream';

/**
 * The attachment seam: files uploaded to a channel, named by the SHA-256 of their bytes, kept while a
 * retained event of the channel references them. `FileAttachmentStore` keeps them in the data folder
 * (SQLite hubs), `MemoryAttachmentStore` in memory (`--store memory`); hubs on Redis refuse them
 * (`RefusingAttachmentStore`, docs/cluster.md#attachments). Every engine passes
 * test/attachment-store-conformance.ts.
 */

export interface AttachmentRecord {
  channel: string;
  /** SHA-256 of the bytes, lowercase hex. */
  id: string;
  /** As stored: the essence, and `charset` for text. */
  contentType: string;
  size: number;
  /** When it was last uploaded (ms): a new upload of the same bytes renews it. */
  uploadedAt: number;
}

export interface AttachmentUpload {
  contentType: string;
  /** The bytes, as they arrive: read no further than the cap. */
  body: AsyncIterable<Uint8Array>;
}

/** Where the newest event that references an attachment is: the file stays while that event does. */
export interface AttachmentReference {
  id: string;
  epoch: string;
  offset: number;
}

/** A channel's retained range, to tell whether a referencing event is still there. */
export interface RetainedRange {
  epoch: string;
  /** Offset of the oldest event still retained. */
  earliest: number;
}

export interface AttachmentLimits {
  /** Largest attachment: the upload is refused (`attachment_too_large`) at the byte past it. */
  maxBytes: number;
  /** Bytes kept in all (0: no limit): an upload that would pass it is refused (`quota_exceeded`). */
  maxTotalBytes: number;
  /** Attachments kept in all: past it uploads are refused (`quota_exceeded`). */
  maxCount: number;
  /** How long an attachment no event references yet is kept (ms). */
  unreferencedGraceMs: number;
}

export interface AttachmentStore {
  /**
   * Stores the bytes (hashing them as they arrive) and answers their record. The same bytes uploaded
   * again to the channel are stored once; the upload renews the record (type, time). Throws
   * `attachment_too_large` past `maxBytes` having read no more than that, `quota_exceeded` past the totals.
   */
  put(channel: string, upload: AttachmentUpload): Promise<AttachmentRecord>;
  /** The record and a stream of the bytes, or undefined. */
  open(channel: string, id: string): Promise<{ record: AttachmentRecord; body: Readable } | undefined>;
  /** Events that reference attachments were stored: each referenced one is kept while its newest referencing event is. */
  referenced(channel: string, references: readonly AttachmentReference[]): void;
  /** The channel was reset: its attachments are deleted now. Returns how many. */
  dropChannel(channel: string): Promise<number>;
  /**
   * Deletes, among at most `limit` attachments (taken round-robin, so every one is looked at in turn),
   * those no retained event references: the newest referencing event is gone (trimmed, aged out, or
   * the channel is in another epoch), or none ever referenced it and it is older than
   * `unreferencedGraceMs`. Returns how many were deleted.
   */
  sweep(range: (channel: string) => Promise<RetainedRange>, now: number, limit: number): Promise<number>;
  /** Attachments and bytes held. */
  totals(): { count: number; bytes: number };
  close(): Promise<void>;
}
