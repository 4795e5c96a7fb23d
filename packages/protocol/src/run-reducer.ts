import type { HeraldEvent } from './event.js';
import { healthBand, STEP_RESULTS, type RunSnapshot, type RunStep, type RunSummary, type StepResult } from './runs.js';

export interface HealthWeights {
  /** Added for each passed step. */
  stepPassed: number;
  /** Subtracted for each failed step. */
  stepFailed: number;
  /** Subtracted for each other event of severity `error`. */
  error: number;
}

export const DEFAULT_HEALTH_WEIGHTS: HealthWeights = { stepPassed: 2, stepFailed: 10, error: 5 };

/** The types the run conventions give a meaning; a team's own types may still name a step (below). */
const RUN_TYPES: ReadonlySet<string> = new Set(['run.started', 'run.progress', 'step.started', 'step.completed', 'log', 'metric', 'run.heartbeat', 'run.completed', 'run.stalled', 'run.summary']);

/**
 * A team's own event type (`test_start`, `test_complete`…) drives a step when its data names one:
 * `data.step` (an id of at most 200 characters) with `status` passed/failed/skipped completes the step
 * (with `durationMs` and `message` as for `step.completed`); with no status, or `running`, it starts it
 * (with `name` and `parent`). The rule reads only the event, so every reducer of the run — the hub's,
 * the dashboard's, `useRun` — agrees without any configuration.
 */
function stepKindOf(type: string, data: Record<string, any>): 'step.started' | 'step.completed' | undefined {
  if (RUN_TYPES.has(type) || typeof data.step !== 'string' || data.step === '' || data.step.length > 200) return undefined;
  if ((STEP_RESULTS as readonly unknown[]).includes(data.status)) return 'step.completed';
  if (data.status === undefined || data.status === 'running') return 'step.started';
  return undefined;
}

/** How far ahead of the hub's clock a publisher's `ts` may be and still be believed (clock skew). */
export const MAX_TS_AHEAD_MS = 60_000;
/** How far behind the hub's receive time a `ts` may be: events held back by an outage keep their time. */
export const MAX_TS_BEHIND_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * When an event happened: the publisher's own `ts` when it has one that is sane — at most a minute
 * ahead of the hub's receive time and at most seven days behind it — and the receive time otherwise.
 * Step durations and start/finish times use it, so a batch sent after an outage keeps its real timing.
 */
export function eventTime(receivedAt: number, ts: number | undefined): number {
  return ts !== undefined && ts <= receivedAt + MAX_TS_AHEAD_MS && ts >= receivedAt - MAX_TS_BEHIND_MS ? ts : receivedAt;
}

export function emptySnapshot(id: string, channel: string, time: number): RunSnapshot {
  return {
    id,
    channel,
    title: id,
    labels: {},
    status: 'queued',
    percent: null,
    message: null,
    steps: [],
    counts: { debug: 0, info: 0, success: 0, warning: 0, error: 0 },
    events: 0,
    lastError: null,
    metrics: {},
    health: { score: 100, band: 'stable' },
    summary: null,
    createdAt: time,
    startedAt: null,
    updatedAt: time,
    finishedAt: null,
    offset: 0,
  };
}

/**
 * Beside each snapshot, out of its JSON: where each step id sits in `run.steps` and how many steps are in
 * each status, so that a step event and a summary cost O(1) however many steps the run has (a linear
 * search made a 20 000-step run O(n²) to build). Built on first use from `run.steps` — a snapshot parsed
 * from JSON gets one then — and rebuilt if `run.steps` was replaced or changed length behind its back.
 */
interface StepIndex {
  steps: RunStep[];
  length: number;
  positions: Map<string, number>;
  counts: StepCounts;
}

/** Steps by status, as in a summary. */
export interface StepCounts {
  total: number;
  passed: number;
  failed: number;
  running: number;
}

const indexes = new WeakMap<RunSnapshot, StepIndex>();

function stepIndex(run: RunSnapshot): StepIndex {
  const known = indexes.get(run);
  if (known && known.steps === run.steps && known.length === run.steps.length) return known;
  const index: StepIndex = { steps: run.steps, length: run.steps.length, positions: new Map(), counts: { total: run.steps.length, passed: 0, failed: 0, running: 0 } };
  run.steps.forEach((step, position) => {
    // The first step with an id wins, as a search from the start would find it.
    if (!index.positions.has(step.step)) index.positions.set(step.step, position);
    count(index.counts, step.status, 1);
  });
  indexes.set(run, index);
  return index;
}

function count(counts: StepCounts, status: RunStep['status'], by: number): void {
  if (status === 'passed') counts.passed += by;
  else if (status === 'failed') counts.failed += by;
  else if (status === 'running') counts.running += by;
}

/** The step with this id, in O(1). */
export function findRunStep(run: RunSnapshot, id: string): RunStep | undefined {
  const position = stepIndex(run).positions.get(id);
  return position === undefined ? undefined : run.steps[position];
}

/** How many steps the run has in each status, in O(1). */
export function stepCounts(run: RunSnapshot): StepCounts {
  return { ...stepIndex(run).counts };
}

/**
 * Folds one stored event into a run's snapshot, in place. Pure apart from that: the same events in the
 * same order always give the same snapshot, which is what lets the hub rebuild it after a crash.
 * The event was validated before it was stored (checkRunEventData), so fields can be trusted here.
 *
 * Step objects are never changed once in `run.steps`: a changed step is a new object at the same
 * position. So a shallow copy of `run.steps` stays exactly the steps at that offset while the run goes
 * on (the hub sends a big snapshot in parts from such a copy). Returns the position of the step the
 * event added or changed, if any.
 */
export function applyRunEvent(run: RunSnapshot, offset: number, receivedAt: number, event: HeraldEvent, weights: HealthWeights): number | undefined {
  const data = (event.data ?? {}) as Record<string, any>;
  // When it happened, for the run's timing; when the hub heard of it, for activity (stall detection).
  const time = eventTime(receivedAt, event.ts);
  run.offset = offset;
  run.updatedAt = receivedAt;
  run.events++;
  run.counts[event.severity]++;
  let scoreDelta = 0;
  let touched: number | undefined;

  const kind = stepKindOf(event.type, data);
  switch (kind ?? event.type) {
    case 'run.started':
      run.status = 'running';
      run.startedAt = time;
      run.finishedAt = null;
      if (typeof data.title === 'string') run.title = data.title;
      if (data.labels) run.labels = { ...data.labels };
      break;
    case 'run.progress':
      if (typeof data.percent === 'number') run.percent = data.percent;
      if (typeof data.message === 'string') run.message = data.message;
      break;
    case 'step.started': {
      // A team's own type with no status names a step it belongs to: it starts a new one, and leaves a
      // known one as it is.
      if (kind !== undefined && data.status === undefined && stepIndex(run).positions.has(data.step)) break;
      const edit = editStep(run, data.step);
      const step = run.steps[(touched = edit.position)]!;
      step.name = typeof data.name === 'string' ? data.name : step.name;
      if (typeof data.parent === 'string') step.parent = data.parent;
      step.status = 'running';
      step.startedAt = time;
      delete step.finishedAt;
      delete step.durationMs;
      settle(run, edit);
      break;
    }
    case 'step.completed': {
      const edit = editStep(run, data.step);
      const step = run.steps[(touched = edit.position)]!;
      step.status = data.status as StepResult;
      step.finishedAt = time;
      const duration = typeof data.durationMs === 'number' && data.durationMs >= 0 ? data.durationMs : step.startedAt !== undefined ? Math.max(0, time - step.startedAt) : undefined;
      if (duration !== undefined) step.durationMs = duration;
      if (typeof data.message === 'string') step.message = data.message;
      if (step.status === 'passed') scoreDelta += weights.stepPassed;
      if (step.status === 'failed') scoreDelta -= weights.stepFailed;
      settle(run, edit);
      break;
    }
    case 'metric':
      // An own property whatever the name: `run.metrics["__proto__"] = …` would replace the prototype.
      Object.defineProperty(run.metrics, data.name, {
        value: data.unit === undefined ? { value: data.value, time } : { value: data.value, unit: data.unit, time },
        enumerable: true,
        writable: true,
        configurable: true,
      });
      break;
    case 'run.completed':
      run.status = data.status;
      run.finishedAt = time;
      // A failed run counts once, whatever its severity, and says why (or just "failed").
      if (data.status === 'failed') {
        scoreDelta -= weights.error;
        run.lastError = { type: event.type, message: typeof data.message === 'string' ? data.message : 'failed', time, offset };
      }
      if (data.summary !== undefined) run.summary = data.summary;
      if (run.status === 'succeeded' && run.percent !== null) run.percent = 100;
      break;
    case 'run.stalled':
      if (run.status === 'running') run.status = 'stalled';
      break;
  }
  // Any activity revives a stalled run (run.completed and run.started have set the status already).
  if (run.status === 'stalled' && event.type !== 'run.stalled') run.status = 'running';
  const failedStep = (kind ?? event.type) === 'step.completed' && data.status === 'failed';
  if (event.severity === 'error' && !failedStep && !(event.type === 'run.completed' && data.status === 'failed')) {
    scoreDelta -= weights.error;
    run.lastError = { type: event.type, message: errorMessage(event), time, offset };
  }
  if (failedStep) {
    run.lastError = { type: event.type, message: data.message ?? `step ${data.step} failed`, time, offset };
  }
  if (scoreDelta !== 0) {
    const score = Math.min(100, Math.max(0, run.health.score + scoreDelta));
    run.health = { score, band: healthBand(score) };
  }
  return touched;
}

interface StepEdit {
  position: number;
  /** The step's status before the edit (undefined for a new step). */
  before: RunStep['status'] | undefined;
}

/**
 * Puts a fresh copy of the step `id` at its position (a new step at the end); the caller edits
 * `run.steps[position]`, then calls `settle` to move the status counts.
 */
function editStep(run: RunSnapshot, id: string): StepEdit {
  const index = stepIndex(run);
  const position = index.positions.get(id);
  if (position === undefined) {
    const added = run.steps.push({ step: id, name: id, status: 'running' }) - 1;
    index.positions.set(id, added);
    index.length = run.steps.length;
    index.counts.total++;
    return { position: added, before: undefined };
  }
  const old = run.steps[position]!;
  run.steps[position] = { ...old };
  return { position, before: old.status };
}

function settle(run: RunSnapshot, edit: StepEdit): void {
  const counts = stepIndex(run).counts;
  if (edit.before !== undefined) count(counts, edit.before, -1);
  count(counts, run.steps[edit.position]!.status, 1);
}

function errorMessage(event: HeraldEvent): string {
  const data = event.data as Record<string, unknown> | undefined;
  if (data && typeof data.message === 'string') return data.message;
  if (typeof event.data === 'string') return event.data;
  return event.type;
}

/** The run's summary; O(1) in the number of steps (the counts are kept as steps change). */
export function summarize(run: RunSnapshot): RunSummary {
  const steps = stepCounts(run);
  return {
    id: run.id,
    title: run.title,
    labels: run.labels,
    status: run.status,
    percent: run.percent,
    message: run.message,
    health: run.health,
    counts: run.counts,
    steps,
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    updatedAt: run.updatedAt,
    finishedAt: run.finishedAt,
  };
}

