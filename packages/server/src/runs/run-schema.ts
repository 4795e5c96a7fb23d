import { summarize, type RunSnapshot } from '@herald/protocol';
import type Database from 'better-sqlite3';

/**
 * The archive's tables. A run is one small row (its snapshot without steps, and its summary for lists)
 * plus one row per step, so that a flush writes the steps that changed, not the whole run: rewriting a
 * 20 000-step snapshot every 250 ms cost ~145 ms of main thread per flush.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  title TEXT NOT NULL,
  labels TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  snapshot TEXT NOT NULL,
  summary TEXT,
  steps_total INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_newest ON runs (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS runs_updated ON runs (updated_at);
CREATE TABLE IF NOT EXISTS run_steps (
  run_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (run_id, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_metrics (
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  time INTEGER NOT NULL,
  value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS run_metrics_series ON run_metrics (run_id, name, time);
CREATE VIRTUAL TABLE IF NOT EXISTS run_text USING fts5(run_id UNINDEXED, kind UNINDEXED, offset UNINDEXED, text);
`;

/** 1: steps in run_steps, summaries in runs.summary. 0: whole snapshots (steps included) in runs.snapshot. */
const SCHEMA_VERSION = 1;

/** The stored form of a snapshot: everything but the steps. */
export function headJson(run: RunSnapshot): string {
  const { steps: _steps, stepsTotal: _total, ...head } = run;
  return JSON.stringify(head);
}

/** Creates the tables, or brings an archive written by an older hub up to date (kept, not rebuilt). */
export function prepareSchema(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  const existing = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('runs')`).all().map((c) => c.name);
  db.transaction(() => {
    if (existing.length > 0 && !existing.includes('summary')) {
      db.exec('ALTER TABLE runs ADD COLUMN summary TEXT; ALTER TABLE runs ADD COLUMN steps_total INTEGER NOT NULL DEFAULT 0;');
    }
    db.exec(SCHEMA);
    if (version < 1 && existing.length > 0) splitSteps(db);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

/** Version 0 → 1: each stored snapshot's steps move to run_steps; its summary is written beside it. */
function splitSteps(db: Database.Database): void {
  const rows = db.prepare<[], { id: string; snapshot: string }>('SELECT id, snapshot FROM runs').all();
  const insertStep = db.prepare('INSERT OR REPLACE INTO run_steps (run_id, position, json) VALUES (?, ?, ?)');
  const update = db.prepare('UPDATE runs SET snapshot = ?, summary = ?, steps_total = ? WHERE id = ?');
  for (const row of rows) {
    const run = JSON.parse(row.snapshot) as RunSnapshot;
    const steps = Array.isArray(run.steps) ? run.steps : [];
    steps.forEach((step, position) => insertStep.run(row.id, position, JSON.stringify(step)));
    run.steps = steps;
    update.run(headJson(run), JSON.stringify(summarize(run)), steps.length, row.id);
  }
}
