/**
 * The SQLite checkpointer thread. In WAL mode a commit only appends to the write-ahead log; a checkpoint
 * copies the log back into the database file and fsyncs it. SQLite runs one by itself on the committing
 * connection once the log passes 1000 pages, so every ~250th commit of 16 KB events paid for copying
 * 4 MB before the publishers it carried were answered (a commit's p99 6.2 ms against 1.1 ms without, on
 * this machine). The writer turns that off (`wal_autocheckpoint = 0`) and this thread, on a connection of
 * its own, runs PASSIVE checkpoints beside it: they never wait for or block the writer or the readers,
 * they copy what no reader still needs; once the log is large and copied, a short RESTART checkpoint
 * makes the writer start it over from its beginning (with `journal_size_limit` cutting the file back).
 *
 * Durability is unchanged: a commit is durable once it is in the log (synchronous = FULL fsyncs the log
 * at every commit); checkpoints only move it. A checkpoint that fails (a full disk) is reported and
 * tried again at the next tick; one that only met a lock is tried again without a report. The writer's
 * own faults are what the store reports as health.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { join } from 'node:path';

export interface CheckpointerData {
  dataDir: string;
  intervalMs: number;
}
/** What the thread reports after a checkpoint that had frames to copy (or failed). */
export type CheckpointReport = { ok: true; mode: 'passive' | 'restart'; ms: number; walPages: number; copiedPages: number } | { ok: false; message: string };

const { dataDir, intervalMs } = workerData as CheckpointerData;
// The writer created the database and set WAL mode (a property of the file); this connection only checkpoints.
const db = new Database(join(dataDir, 'herald.db'), { fileMustExist: true });
db.pragma('busy_timeout = 0');

interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

/**
 * Past this many pages (16 MB) a log that PASSIVE checkpoints have copied is started over with a
 * RESTART checkpoint. Under steady writes PASSIVE never catches up at the moment a commit begins (frames
 * keep arriving while it copies), so the writer would never start the log over and it would grow without
 * end. RESTART takes the writer's lock, but only for what PASSIVE left (the frames of the last tick) and
 * with no busy wait: when a commit is running it answers busy at once and is tried at the next tick.
 */
const RESTART_PAGES = 4096;

/** The log's pages and how many were copied, at the last checkpoint: unchanged, there is nothing to report. */
let lastLog = -1;
let lastCopied = -1;

function run(mode: 'PASSIVE' | 'RESTART'): { row: CheckpointRow; ms: number } {
  const started = performance.now();
  const row = (db.pragma(`wal_checkpoint(${mode})`) as CheckpointRow[])[0]!;
  return { row, ms: performance.now() - started };
}

function checkpoint(): void {
  let done: { row: CheckpointRow; ms: number; mode: 'passive' | 'restart' };
  try {
    done = { ...run('PASSIVE'), mode: 'passive' };
    if (done.row.log >= RESTART_PAGES && done.row.checkpointed === done.row.log) {
      const restart = run('RESTART');
      if (restart.row.busy === 0) done = { ...restart, mode: 'restart' };
    }
  } catch (error) {
    // A checkpoint is opportunistic: one that met a lock (the statement's schema read, with no busy wait
    // on this connection, can meet the writer mid-commit on a loaded machine) is tried at the next tick,
    // and is no failure. Failures are what would stay: a full disk, an I/O error.
    if (isBusy(error)) return;
    parentPort!.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) } satisfies CheckpointReport);
    return;
  }
  const { row, ms, mode } = done;
  // log -1: the database is not in WAL mode (yet); the same log, copied as far as before: nothing new.
  if (row.log < 0 || (row.log === lastLog && row.checkpointed === lastCopied)) return;
  lastLog = row.log;
  lastCopied = row.checkpointed;
  parentPort!.postMessage({ ok: true, mode, ms, walPages: row.log, copiedPages: row.checkpointed } satisfies CheckpointReport);
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

const timer = setInterval(checkpoint, intervalMs);
parentPort!.on('message', (message: 'close') => {
  if (message !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort!.close();
});
