import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { patternCovers, summarize, type RunSnapshot, type RunStatus, type RunStep, type RunSummary } from '@herald/protocol';
import Database from 'better-sqlite3';
import { HeraldError } from '../errors.js';
import { headJson, prepareSchema } from './run-schema.js';

/** A run that changed since the last write, and the positions of its steps that did. */
export interface RunChange {
  run: RunSnapshot;
  steps: Iterable<number>;
}

/** A run's snapshot with only some of its steps, and how many it has. */
export type RunView = RunSnapshot & { stepsTotal: number };

export interface MetricPoint {
  runId: string;
  name: string;
  time: number;
  value: number;
}

export interface TextEntry {
  runId: string;
  kind: 'title' | 'log';
  offset: number;
  text: string;
}

export interface RunQuery {
  status?: RunStatus;
  label?: { key: string; value: string };
  text?: string;
  limit: number;
  /** Opaque cursor from a previous page's `next`. */
  cursor?: string;
  /** Only runs whose channel one of these patterns covers (undefined: all). */
  readable?: readonly string[];
}

export interface SearchHit {
  runId: string;
  title: string;
  kind: 'title' | 'log';
  offset: number;
  snippet: string;
}

/**
 * The run archive: the latest snapshot of every run (a small row, and its steps one row each), metric
 * series, and a full-text index of titles and log messages (SQLite FTS5). Writes come in batches from
 * the tracker, one transaction each, with only the steps that changed.
 */
export class RunStore {
  private readonly db: Database.Database;
  private readonly statements;

  /** `dataDir` undefined keeps everything in memory (the hub's memory store). */
  constructor(dataDir: string | undefined, sync: 'full' | 'normal' = 'full') {
    if (dataDir) mkdirSync(dataDir, { recursive: true });
    this.db = new Database(dataDir ? join(dataDir, 'runs.db') : ':memory:');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${sync === 'normal' ? 'NORMAL' : 'FULL'}`);
    prepareSchema(this.db);
    // Lists and search show only runs the caller may read: the grant's patterns, matched in SQL so that
    // keyset pagination still returns full pages.
    this.db.function('herald_readable', { deterministic: true }, (patterns, channel) =>
      (JSON.parse(String(patterns)) as string[]).some((p) => patternCovers(p, String(channel))) ? 1 : 0,
    );
    const db = this.db;
    this.statements = {
      upsert: db.prepare(
        `INSERT INTO runs (id, status, title, labels, created_at, updated_at, snapshot, summary, steps_total)
         VALUES (@id, @status, @title, @labels, @createdAt, @updatedAt, @snapshot, @summary, @stepsTotal)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, title = excluded.title, labels = excluded.labels, updated_at = excluded.updated_at,
           snapshot = excluded.snapshot, summary = excluded.summary, steps_total = excluded.steps_total`,
      ),
      upsertStep: db.prepare(
        'INSERT INTO run_steps (run_id, position, json) VALUES (?, ?, ?) ON CONFLICT (run_id, position) DO UPDATE SET json = excluded.json',
      ),
      get: db.prepare<[string], { snapshot: string; stepsTotal: number }>('SELECT snapshot, steps_total AS stepsTotal FROM runs WHERE id = ?'),
      steps: db.prepare<[string, number, number], { json: string }>('SELECT json FROM run_steps WHERE run_id = ? AND position >= ? ORDER BY position LIMIT ?'),
      unfinished: db.prepare<[], { id: string }>(`SELECT id FROM runs WHERE status IN ('queued', 'running', 'stalled')`),
      insertMetric: db.prepare('INSERT INTO run_metrics (run_id, name, time, value) VALUES (?, ?, ?, ?)'),
      insertText: db.prepare('INSERT INTO run_text (run_id, kind, offset, text) VALUES (?, ?, ?, ?)'),
      metricNames: db.prepare<[string], { name: string }>('SELECT DISTINCT name FROM run_metrics WHERE run_id = ? ORDER BY name'),
      metricRange: db.prepare<[string, string, number], { count: number; first: number | null; last: number | null }>(
        'SELECT COUNT(*) AS count, MIN(time) AS first, MAX(time) AS last FROM run_metrics WHERE run_id = ? AND name = ? AND time > ?',
      ),
      metricPoints: db.prepare<[string, string, number], { time: number; value: number }>(
        'SELECT time, value FROM run_metrics WHERE run_id = ? AND name = ? AND time > ? ORDER BY time',
      ),
      metricBuckets: db.prepare<[{ runId: string; name: string; since: number; first: number; buckets: number; span: number }], { time: number; value: number }>(
        `SELECT CAST(AVG(time) AS INTEGER) AS time, AVG(value) AS value FROM run_metrics
         WHERE run_id = @runId AND name = @name AND time > @since
         GROUP BY MIN(CAST((time - @first) * @buckets / @span AS INTEGER), @buckets - 1) ORDER BY time`,
      ),
      expiredRuns: db.prepare<[number], { id: string }>(`SELECT id FROM runs WHERE updated_at < ?`),
      deleteRun: db.prepare('DELETE FROM runs WHERE id = ?'),
      deleteSteps: db.prepare('DELETE FROM run_steps WHERE run_id = ?'),
      deleteMetrics: db.prepare('DELETE FROM run_metrics WHERE run_id = ?'),
      deleteText: db.prepare('DELETE FROM run_text WHERE run_id = ?'),
    };
  }

  /** Writes changed runs (the small row, and only the steps that changed), new metric points and new text in one transaction. */
  write(changes: Iterable<RunChange>, metrics: readonly MetricPoint[], texts: readonly TextEntry[]): void {
    this.db.transaction(() => {
      for (const { run, steps } of changes) {
        this.statements.upsert.run({
          id: run.id,
          status: run.status,
          title: run.title,
          labels: JSON.stringify(run.labels),
          createdAt: run.createdAt,
          updatedAt: run.updatedAt,
          snapshot: headJson(run),
          summary: JSON.stringify(summarize(run)),
          stepsTotal: run.steps.length,
        });
        for (const position of steps) this.statements.upsertStep.run(run.id, position, JSON.stringify(run.steps[position]));
      }
      for (const m of metrics) this.statements.insertMetric.run(m.runId, m.name, m.time, m.value);
      for (const t of texts) this.statements.insertText.run(t.runId, t.kind, t.offset, t.text);
    })();
  }

  /** The whole snapshot, steps and all. */
  get(id: string): RunSnapshot | undefined {
    const view = this.view(id, Number.MAX_SAFE_INTEGER);
    if (!view) return undefined;
    const { stepsTotal: _total, ...run } = view;
    return run;
  }

  /** The snapshot with its first `stepLimit` steps, and how many it has. */
  view(id: string, stepLimit: number): RunView | undefined {
    const row = this.statements.get.get(id);
    if (!row) return undefined;
    const run = JSON.parse(row.snapshot) as RunSnapshot;
    return Object.assign(run, { steps: stepLimit > 0 ? this.readSteps(id, 0, stepLimit) : [], stepsTotal: row.stepsTotal });
  }

  /** Steps from position `from` (0 is the first), at most `limit`. */
  steps(id: string, from: number, limit: number): { offset: number; stepsTotal: number; steps: RunStep[] } | undefined {
    const view = this.view(id, 0);
    return view ? { offset: view.offset, stepsTotal: view.stepsTotal, steps: this.readSteps(id, from, limit) } : undefined;
  }

  unfinished(): RunSnapshot[] {
    return this.statements.unfinished.all().flatMap((r) => this.get(r.id) ?? []);
  }

  private readSteps(id: string, from: number, limit: number): RunStep[] {
    const rows = this.statements.steps.all(id, from, limit);
    // One parse for the page instead of one per step.
    return rows.length === 0 ? [] : (JSON.parse(`[${rows.map((r) => r.json).join(',')}]`) as RunStep[]);
  }

  /** Newest first (by creation), filtered; keyset-paginated so that new runs do not shift pages. */
  list(query: RunQuery): { runs: RunSummary[]; next: string | null } {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.status) {
      where.push('status = ?');
      params.push(query.status);
    }
    if (query.label) {
      where.push('EXISTS (SELECT 1 FROM json_each(runs.labels) WHERE json_each.key = ? AND json_each.value = ?)');
      params.push(query.label.key, query.label.value);
    }
    if (query.text) {
      where.push(`(title LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')`);
      const like = `%${query.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      params.push(like, like);
    }
    if (query.readable) {
      where.push(`herald_readable(?, 'runs.' || id)`);
      params.push(JSON.stringify(query.readable));
    }
    if (query.cursor) {
      const [createdAt, id] = decodeCursor(query.cursor);
      where.push('(created_at, id) < (?, ?)');
      params.push(createdAt, id);
    }
    const sql = `SELECT summary FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`;
    const rows = this.db.prepare<unknown[], { summary: string }>(sql).all(...params, query.limit + 1);
    const runs = rows.slice(0, query.limit).map((r) => JSON.parse(r.summary) as RunSummary);
    const last = runs.at(-1);
    return { runs, next: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null };
  }

  /** How many runs there are in each status. */
  countByStatus(): Partial<Record<RunStatus, number>> {
    const rows = this.db.prepare<[], { status: RunStatus; count: number }>('SELECT status, COUNT(*) AS count FROM runs GROUP BY status').all();
    return Object.fromEntries(rows.map((r) => [r.status, r.count]));
  }

  metricNames(runId: string): string[] {
    return this.statements.metricNames.all(runId).map((r) => r.name);
  }

  /**
   * A series with at most `maxPoints` points: the raw points when they fit, otherwise the average of
   * equal time buckets (enough for a chart, and bounded whatever the run's length).
   */
  metricSeries(runId: string, name: string, since: number, maxPoints: number): Array<[number, number]> {
    const range = this.statements.metricRange.get(runId, name, since);
    if (!range || range.count === 0) return [];
    if (range.count <= maxPoints) return this.statements.metricPoints.all(runId, name, since).map((p) => [p.time, p.value]);
    const span = Math.max(1, range.last! - range.first! + 1);
    return this.statements.metricBuckets.all({ runId, name, since, first: range.first!, buckets: maxPoints, span }).map((p) => [p.time, p.value]);
  }

  /** Full-text search over run titles and log messages; every word must match (prefixes allowed). */
  search(text: string, limit: number, readable?: readonly string[]): SearchHit[] {
    const words = text.match(/[\p{L}\p{N}_]+/gu) ?? [];
    if (words.length === 0) return [];
    const match = words.map((w) => `"${w}"*`).join(' ');
    const rows = this.db
      .prepare<unknown[], { runId: string; kind: 'title' | 'log'; offset: number; snippet: string; title: string | null }>(
        `SELECT run_text.run_id AS runId, run_text.kind AS kind, run_text.offset AS offset,
                snippet(run_text, 3, '[', ']', '…', 12) AS snippet, runs.title AS title
         FROM run_text LEFT JOIN runs ON runs.id = run_text.run_id
         WHERE run_text MATCH ? ${readable ? `AND herald_readable(?, 'runs.' || run_text.run_id)` : ''} ORDER BY rank LIMIT ?`,
      )
      .all(match, ...(readable ? [JSON.stringify(readable)] : []), limit);
    return rows.map((r) => ({ runId: r.runId, title: r.title ?? r.runId, kind: r.kind, offset: r.offset, snippet: r.snippet }));
  }

  /** Drops runs (with their metrics and text) not updated since `cutoff`. */
  sweep(cutoff: number): number {
    const expired = this.statements.expiredRuns.all(cutoff);
    this.delete(expired.map((r) => r.id));
    return expired.length;
  }

  /** Drops runs with their metrics and text (their channel was reset, or they aged out). */
  delete(ids: readonly string[]): void {
    this.db.transaction(() => {
      for (const id of ids) {
        this.statements.deleteRun.run(id);
        this.statements.deleteSteps.run(id);
        this.statements.deleteMetrics.run(id);
        this.statements.deleteText.run(id);
      }
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

function decodeCursor(cursor: string): [number, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown;
    if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'string') return [value[0], value[1]];
  } catch {
    // fall through to the error below
  }
  throw new HeraldError('bad_request', 'cursor is not one this hub gave out; pass the `next` of a previous page');
}
