import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';

export const LOCK_FILE = 'herald.lock';

/** A hub refused to start because another hub, in this process or another, holds its data folder. */
export class DataFolderInUseError extends Error {
  override name = 'DataFolderInUseError';
  readonly code = 'data_folder_in_use';

  constructor(readonly dataDir: string) {
    super(`the data folder ${dataDir} is held by another hub (in this process or another one); stop that hub first, or give this one another folder with --data`);
  }
}

/** A hub refused to start because its database has corrupt pages (found by SQLite's quick check). */
export class DataCorruptError extends Error {
  override name = 'DataCorruptError';
  readonly code = 'data_corrupt';

  constructor(
    readonly dataDir: string,
    detail: string,
  ) {
    super(
      `the history database in ${dataDir} is corrupt (${detail.replace(/\s*\n\s*/g, '; ').slice(0, 200)}); the hub will not start on it. ` +
        'Restore herald.db from a backup, or salvage it with: sqlite3 herald.db ".recover" | sqlite3 recovered.db (see docs/operations.md)',
    );
  }
}

/**
 * One hub per data folder: two writers would each hand out the same offsets and corrupt each other's
 * histories. The lock is an exclusive SQLite transaction on `<data>/herald.lock`, held open until
 * release(). SQLite takes it as a POSIX advisory lock, which the kernel drops when the process ends in
 * any way (SIGKILL, a crash, power loss), so no stale lock can outlive its hub and nothing needs
 * cleaning up; and SQLite's own bookkeeping refuses a second connection of the same process, which
 * POSIX locks alone would not. The file stays empty. (Opening and closing it by other means would drop
 * the process's POSIX locks on it: only this class touches it.)
 */
export class DataFolderLock {
  private constructor(private db: Database.Database | undefined) {}

  /** Takes the folder's lock at once, or throws DataFolderInUseError. Creates the folder if needed. */
  static acquire(dataDir: string): DataFolderLock {
    mkdirSync(dataDir, { recursive: true });
    // timeout 0: a held lock is an answer, not something to wait for.
    const db = new Database(join(dataDir, LOCK_FILE), { timeout: 0 });
    try {
      // Nothing is written, so the journal may live in memory: no herald.lock-journal beside the lock.
      db.pragma('journal_mode = MEMORY');
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
    } catch (error) {
      db.close();
      if (/^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown }).code))) throw new DataFolderInUseError(resolve(dataDir));
      throw error;
    }
    return new DataFolderLock(db);
  }

  /** Lets the next hub take the folder. Safe to call twice. */
  release(): void {
    this.db?.close();
    this.db = undefined;
  }
}
