import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

/** Where an attachment store keeps the bytes; the index (which ones, whose, referenced by what) is its own. */
export interface Blobs {
  /** Somewhere to put bytes as they arrive, before their hash (their name) is known. */
  begin(): Promise<BlobWriter>;
  /** The bytes, or undefined when they are gone. */
  open(channel: string, id: string): Promise<Readable | undefined>;
  delete(channel: string, id: string): Promise<void>;
  dropChannel(channel: string): Promise<void>;
}

export interface BlobWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Keeps the bytes as `channel`/`id` (same bytes there already: nothing changes). */
  commit(channel: string, id: string): Promise<void>;
  /** Forgets the bytes (safe after a failed write, and twice). */
  abort(): Promise<void>;
}

/**
 * `<dir>/<channel>/<sha256>`: channel names are segments of [A-Za-z0-9_-] joined by dots, never empty
 * or starting with a dot, so a name is always one plain folder. Bytes arrive in `<dir>/.incoming/` and
 * are renamed into place once complete, so a reader never sees half a file.
 */
export class FileBlobs implements Blobs {
  private readonly incoming: string;

  constructor(
    private readonly dir: string,
    private readonly fsync: boolean,
  ) {
    this.incoming = join(dir, '.incoming');
  }

  async begin(): Promise<BlobWriter> {
    await mkdir(this.incoming, { recursive: true });
    const path = join(this.incoming, randomBytes(12).toString('hex'));
    let handle: FileHandle | undefined = await open(path, 'wx');
    const close = async () => {
      const h = handle;
      handle = undefined;
      await h?.close();
    };
    return {
      write: async (chunk) => void (await handle!.write(chunk)),
      commit: async (channel, id) => {
        if (this.fsync) await handle!.sync();
        await close();
        await mkdir(join(this.dir, channel), { recursive: true });
        await rename(path, join(this.dir, channel, id));
      },
      abort: async () => {
        await close().catch(() => {});
        await rm(path, { force: true });
      },
    };
  }

  async open(channel: string, id: string): Promise<Readable | undefined> {
    const path = join(this.dir, channel, id);
    const found = await stat(path).catch(() => undefined);
    return found?.isFile() ? createReadStream(path) : undefined;
  }

  async delete(channel: string, id: string): Promise<void> {
    await rm(join(this.dir, channel, id), { force: true });
  }

  async dropChannel(channel: string): Promise<void> {
    await rm(join(this.dir, channel), { recursive: true, force: true });
  }
}

/** For `--store memory`: nothing on disk, bounded by the store's byte total like the files are. */
export class MemoryBlobs implements Blobs {
  private readonly channels = new Map<string, Map<string, Buffer>>();

  async begin(): Promise<BlobWriter> {
    let chunks: Uint8Array[] = [];
    return {
      write: async (chunk) => void chunks.push(chunk),
      commit: async (channel, id) => {
        let files = this.channels.get(channel);
        if (!files) this.channels.set(channel, (files = new Map()));
        files.set(id, Buffer.concat(chunks));
        chunks = [];
      },
      abort: async () => void (chunks = []),
    };
  }

  async open(channel: string, id: string): Promise<Readable | undefined> {
    const bytes = this.channels.get(channel)?.get(id);
    return bytes ? Readable.from([bytes]) : undefined;
  }

  async delete(channel: string, id: string): Promise<void> {
    const files = this.channels.get(channel);
    files?.delete(id);
    if (files?.size === 0) this.channels.delete(channel);
  }

  async dropChannel(channel: string): Promise<void> {
    this.channels.delete(channel);
  }
}
