import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { HeraldError } from '../errors.js';
import { FileBlobs, MemoryBlobs, type Blobs, type BlobWriter } from './blobs.js';
import type { AttachmentLimits, AttachmentRecord, AttachmentReference, AttachmentStore, AttachmentUpload, RetainedRange } from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS attachments (
  channel TEXT NOT NULL,
  id TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  uploaded_at INTEGER NOT NULL,
  -- The newest event that references it (NULL: none yet).
  ref_epoch TEXT,
  ref_offset INTEGER,
  PRIMARY KEY (channel, id)
);`;

interface Row {
  rowid: number;
  channel: string;
  id: string;
  content_type: string;
  size: number;
  uploaded_at: number;
  ref_epoch: string | null;
  ref_offset: number | null;
}

const recordOf = (row: Row): AttachmentRecord => ({ channel: row.channel, id: row.id, contentType: row.content_type, size: row.size, uploadedAt: row.uploaded_at });

/**
 * Attachments as bytes (`Blobs`: files in the data folder, or memory) and an index of them in SQLite
 * (`<data>/attachments.db`, or in memory): which channel holds which file, how big, of what type, and
 * the newest event that references it. The index answers the questions retention asks — what does this
 * channel hold, which files has no retained event left — without reading a folder.
 */
export class IndexedAttachmentStore implements AttachmentStore {
  private readonly db: Database.Database;
  private count: number;
  private bytes: number;
  /** Bytes of uploads being read now, counted against the total so that concurrent uploads cannot pass it together. */
  private incoming = 0;
  /** Where the round-robin sweep goes on from (a rowid). */
  private sweepAfter = 0;
  private closed = false;
  private readonly statements;

  constructor(
    dbPath: string,
    private readonly blobs: Blobs,
    private readonly limits: AttachmentLimits,
    sync: 'full' | 'normal' = 'full',
  ) {
    this.db = new Database(dbPath);
    if (dbPath !== ':memory:') this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.exec(SCHEMA);
    this.statements = {
      get: this.db.prepare<[string, string], Row>('SELECT rowid, * FROM attachments WHERE channel = ? AND id = ?'),
      insert: this.db.prepare('INSERT OR IGNORE INTO attachments (channel, id, content_type, size, uploaded_at) VALUES (?, ?, ?, ?, ?)'),
      renew: this.db.prepare('UPDATE attachments SET content_type = ?, uploaded_at = ? WHERE channel = ? AND id = ?'),
      reference: this.db.prepare(
        'UPDATE attachments SET ref_epoch = ?, ref_offset = ? WHERE channel = ? AND id = ? AND (ref_offset IS NULL OR ref_epoch IS NOT ? OR ref_offset < ?)',
      ),
      channelTotals: this.db.prepare<[string], { n: number; bytes: number | null }>('SELECT count(*) AS n, sum(size) AS bytes FROM attachments WHERE channel = ?'),
      dropChannel: this.db.prepare('DELETE FROM attachments WHERE channel = ?'),
      delete: this.db.prepare('DELETE FROM attachments WHERE channel = ? AND id = ?'),
      page: this.db.prepare<[number, number], Row>('SELECT rowid, * FROM attachments WHERE rowid > ? ORDER BY rowid LIMIT ?'),
    };
    const totals = this.db.prepare<[], { n: number; bytes: number | null }>('SELECT count(*) AS n, sum(size) AS bytes FROM attachments').get()!;
    this.count = totals.n;
    this.bytes = totals.bytes ?? 0;
  }

  async put(channel: string, upload: AttachmentUpload): Promise<AttachmentRecord> {
    const { maxBytes, maxTotalBytes, maxCount } = this.limits;
    if (this.count >= maxCount) throw new HeraldError('quota_exceeded', `the hub holds ${this.count} attachments, its most; delete channels that are done (their attachments go with them)`);
    const hash = createHash('sha256');
    const writer: BlobWriter = await this.blobs.begin();
    let size = 0;
    try {
      for await (const chunk of upload.body) {
        size += chunk.byteLength;
        this.incoming += chunk.byteLength;
        if (size > maxBytes) throw new HeraldError('attachment_too_large', `the attachment is larger than the cap of ${maxBytes} bytes (--max-attachment-bytes)`);
        if (maxTotalBytes > 0 && this.bytes + this.incoming > maxTotalBytes) {
          throw new HeraldError('quota_exceeded', `attachments would pass the hub's total of ${maxTotalBytes} bytes (--max-attachment-total-bytes); nothing was stored`);
        }
        hash.update(chunk);
        await writer.write(chunk);
      }
      if (this.closed) throw new HeraldError('shutting_down', 'the hub is shutting down; upload again after it restarts');
      const id = hash.digest('hex');
      const now = Date.now();
      if (this.statements.get.get(channel, id)) {
        await writer.abort();
        this.statements.renew.run(upload.contentType, now, channel, id);
      } else {
        await writer.commit(channel, id);
        if (this.statements.insert.run(channel, id, upload.contentType, size, now).changes === 1) {
          this.count++;
          this.bytes += size;
        } else {
          this.statements.renew.run(upload.contentType, now, channel, id);
        }
      }
      return { channel, id, contentType: upload.contentType, size, uploadedAt: now };
    } catch (error) {
      await writer.abort();
      throw error;
    } finally {
      this.incoming -= size;
    }
  }

  async open(channel: string, id: string): Promise<{ record: AttachmentRecord; body: Readable } | undefined> {
    const row = this.statements.get.get(channel, id);
    if (!row) return undefined;
    const body = await this.blobs.open(channel, id);
    return body ? { record: recordOf(row), body } : undefined;
  }

  referenced(channel: string, references: readonly AttachmentReference[]): void {
    if (this.closed) return;
    for (const { id, epoch, offset } of references) this.statements.reference.run(epoch, offset, channel, id, epoch, offset);
  }

  async dropChannel(channel: string): Promise<number> {
    const totals = this.statements.channelTotals.get(channel)!;
    if (totals.n === 0) return 0;
    this.statements.dropChannel.run(channel);
    this.count -= totals.n;
    this.bytes -= totals.bytes ?? 0;
    await this.blobs.dropChannel(channel);
    return totals.n;
  }

  async sweep(range: (channel: string) => Promise<RetainedRange>, now: number, limit: number): Promise<number> {
    const rows = this.statements.page.all(this.sweepAfter, limit);
    // Round-robin: the next sweep goes on after this page, or starts over once the end is reached.
    this.sweepAfter = rows.length < limit ? 0 : rows.at(-1)!.rowid;
    const ranges = new Map<string, RetainedRange>();
    let deleted = 0;
    for (const row of rows) {
      let gone: boolean;
      if (row.ref_offset === null) {
        gone = now - row.uploaded_at > this.limits.unreferencedGraceMs;
      } else {
        let retained = ranges.get(row.channel);
        if (!retained) ranges.set(row.channel, (retained = await range(row.channel)));
        gone = retained.epoch !== row.ref_epoch || retained.earliest > row.ref_offset;
      }
      if (!gone || this.closed) continue;
      // Read again: an upload or a reference may have renewed it while the range was read.
      const current = this.statements.get.get(row.channel, row.id);
      if (!current || current.uploaded_at !== row.uploaded_at || current.ref_offset !== row.ref_offset || current.ref_epoch !== row.ref_epoch) continue;
      this.statements.delete.run(row.channel, row.id);
      this.count--;
      this.bytes -= row.size;
      await this.blobs.delete(row.channel, row.id);
      deleted++;
    }
    return deleted;
  }

  totals(): { count: number; bytes: number } {
    return { count: this.count, bytes: this.bytes };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/** SQLite hubs: files in `<data>/attachments/`, the index in `<data>/attachments.db`. */
export function fileAttachmentStore(dataDir: string, limits: AttachmentLimits, sync: 'full' | 'normal'): IndexedAttachmentStore {
  mkdirSync(join(dataDir, 'attachments'), { recursive: true });
  return new IndexedAttachmentStore(join(dataDir, 'attachments.db'), new FileBlobs(join(dataDir, 'attachments'), sync === 'full'), limits, sync);
}

/** `--store memory`: nothing on disk; a restart forgets them, as it forgets the events. */
export function memoryAttachmentStore(limits: AttachmentLimits): IndexedAttachmentStore {
  return new IndexedAttachmentStore(':memory:', new MemoryBlobs(), limits);
}

/**
 * Hubs on Redis: attachments are refused with `not_supported` (docs/cluster.md#attachments). Every
 * hub must be able to serve every file, and nothing a hub needs may live on another hub's disk; files
 * of megabytes in Redis would take its memory from the history it is sized for.
 */
export class RefusingAttachmentStore implements AttachmentStore {
  private refuse(): never {
    throw new HeraldError('not_supported', 'attachments are not kept by hubs on Redis (--store redis); see docs/cluster.md#attachments');
  }
  async put(): Promise<AttachmentRecord> {
    return this.refuse();
  }
  async open(): Promise<undefined> {
    return this.refuse();
  }
  referenced(): void {}
  async dropChannel(): Promise<number> {
    return 0;
  }
  async sweep(): Promise<number> {
    return 0;
  }
  totals(): { count: number; bytes: number } {
    return { count: 0, bytes: 0 };
  }
  async close(): Promise<void> {}
}
