import type { Severity } from './event.js';

/**
 * Runs: a run lives on channel `runs.<runId>`; the hub keeps a snapshot of it from the events below.
 * docs/runs.md is the prose version of this file.
 */

export const RUN_CHANNEL_PREFIX = 'runs.';
/** Channel carrying one small `run.summary` event per run change, for list views. */
export const RUN_SUMMARY_CHANNEL = 'runs';

export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'stalled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const FINAL_RUN_STATUSES = ['succeeded', 'failed', 'cancelled'] as const;
export type FinalRunStatus = (typeof FINAL_RUN_STATUSES)[number];

export const STEP_RESULTS = ['passed', 'failed', 'skipped'] as const;
export type StepResult = (typeof STEP_RESULTS)[number];
export type StepStatus = 'running' | StepResult;

export type HealthBand = 'stable' | 'degraded' | 'critical';

/** Event types with a meaning for runs. Any other type passes through and counts as activity. */
export interface RunEventData {
  'run.started': { title?: string; labels?: Record<string, string> };
  'run.progress': { percent?: number; message?: string };
  'step.started': { step: string; name?: string; parent?: string };
  'step.completed': { step: string; status: StepResult; durationMs?: number; message?: string };
  log: { message: string };
  metric: { name: string; value: number; unit?: string };
  'run.heartbeat': Record<string, never>;
  'run.completed': { status: FinalRunStatus; summary?: unknown; message?: string };
  /** Published by the hub itself when a running run went silent. */
  'run.stalled': { silentMs: number };
}
export type RunEventType = keyof RunEventData;

export interface RunStep {
  step: string;
  name: string;
  parent?: string;
  status: StepStatus;
  startedAt?: number;
  finishedAt?: number;
  durationMs?: number;
  message?: string;
}

export interface RunMetricValue {
  value: number;
  unit?: string;
  time: number;
}

export interface RunSnapshot {
  id: string;
  channel: string;
  title: string;
  labels: Record<string, string>;
  status: RunStatus;
  percent: number | null;
  message: string | null;
  /** Steps in the order they were first seen; `parent` links build the tree. */
  steps: RunStep[];
  /**
   * Only on a snapshot whose `steps` were cut (HTTP answers, and the `subscribed` reply of a big run):
   * how many steps the run has. The rest come in `steps` messages (WebSocket, which `@herald/client`
   * puts together before it emits the snapshot) or from `GET /api/runs/{id}/steps`.
   */
  stepsTotal?: number;
  counts: Record<Severity, number>;
  events: number;
  lastError: { type: string; message: string; time: number; offset: number } | null;
  metrics: Record<string, RunMetricValue>;
  health: { score: number; band: HealthBand };
  summary: unknown;
  createdAt: number;
  startedAt: number | null;
  updatedAt: number;
  finishedAt: number | null;
  /** Offset of the last event applied: the snapshot describes the channel up to and including it. */
  offset: number;
}

/** What list views need, sent on the summary channel and returned by `GET /api/runs`. */
export interface RunSummary {
  id: string;
  title: string;
  labels: Record<string, string>;
  status: RunStatus;
  percent: number | null;
  message: string | null;
  health: { score: number; band: HealthBand };
  counts: Record<Severity, number>;
  steps: { total: number; passed: number; failed: number; running: number };
  createdAt: number;
  startedAt: number | null;
  updatedAt: number;
  finishedAt: number | null;
}

/**
 * The run id of a run channel: everything after `runs.`, so `runs.build-42` is run `build-42` and
 * `runs.team-a.build-42` is run `team-a.build-42` — teams can be given `runs.team-a.>` and own their runs.
 */
export function runIdOfChannel(channel: string): string | undefined {
  if (!channel.startsWith(RUN_CHANNEL_PREFIX)) return undefined;
  const id = channel.slice(RUN_CHANNEL_PREFIX.length);
  return id.length > 0 && !id.includes('*') && !id.includes('>') ? id : undefined;
}

export function healthBand(score: number): HealthBand {
  return score >= 80 ? 'stable' : score >= 50 ? 'degraded' : 'critical';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown, max = 10_000): v is string => typeof v === 'string' && v.length <= max;

/**
 * Checks the data of a run event. Returns a sentence when it is wrong, undefined when it is fine (or the
 * type has no rules). A run event with bad data is refused whole, so that a snapshot never takes in
 * nonsense such as 150 %.
 */
export function checkRunEventData(type: string, data: unknown): string | undefined {
  const d = isObject(data) ? data : undefined;
  const need = () => `${type} needs data as an object`;
  switch (type) {
    case 'run.started':
      if (data === undefined) return undefined;
      if (!d) return need();
      if (d.title !== undefined && !isText(d.title, 500)) return 'run.started: title must be a string of at most 500 characters';
      if (d.labels !== undefined && (!isObject(d.labels) || !Object.values(d.labels).every((v) => isText(v, 200)))) {
        return 'run.started: labels must be an object of strings';
      }
      return undefined;
    case 'run.progress':
      if (!d) return need();
      if (d.percent !== undefined && (typeof d.percent !== 'number' || !Number.isFinite(d.percent) || d.percent < 0 || d.percent > 100)) {
        return `run.progress: percent must be a number from 0 to 100 (got ${JSON.stringify(d.percent)})`;
      }
      if (d.message !== undefined && !isText(d.message)) return 'run.progress: message must be a string';
      return undefined;
    case 'step.started':
      if (!d) return need();
      if (!isText(d.step, 200) || d.step === '') return 'step.started: step (the step id) must be a non-empty string';
      if (d.name !== undefined && !isText(d.name, 500)) return 'step.started: name must be a string';
      if (d.parent !== undefined && !isText(d.parent, 200)) return 'step.started: parent must be a step id';
      return undefined;
    case 'step.completed':
      if (!d) return need();
      if (!isText(d.step, 200) || d.step === '') return 'step.completed: step (the step id) must be a non-empty string';
      if (!STEP_RESULTS.includes(d.status as StepResult)) return `step.completed: status must be one of ${STEP_RESULTS.join(', ')} (got ${JSON.stringify(d.status)})`;
      if (d.durationMs !== undefined && (typeof d.durationMs !== 'number' || !(d.durationMs >= 0))) return 'step.completed: durationMs must be a number ≥ 0';
      if (d.message !== undefined && !isText(d.message)) return 'step.completed: message must be a string';
      return undefined;
    case 'log':
      if (!d || !isText(d.message, 65_536)) return 'log: data.message must be a string';
      return undefined;
    case 'metric':
      if (!d) return need();
      if (!isText(d.name, 200) || d.name === '') return 'metric: name must be a non-empty string';
      if (typeof d.value !== 'number' || !Number.isFinite(d.value)) return 'metric: value must be a finite number';
      if (d.unit !== undefined && !isText(d.unit, 50)) return 'metric: unit must be a string';
      return undefined;
    case 'run.completed':
      if (!d) return need();
      if (!FINAL_RUN_STATUSES.includes(d.status as FinalRunStatus)) {
        return `run.completed: status must be one of ${FINAL_RUN_STATUSES.join(', ')} (got ${JSON.stringify(d.status)})`;
      }
      if (d.message !== undefined && !isText(d.message)) return 'run.completed: message must be a string';
      return undefined;
    default:
      return undefined;
  }
}
