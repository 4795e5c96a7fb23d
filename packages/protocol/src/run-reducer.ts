import type { HeraldEvent } from './event.js';
import { healthBand, type RunSnapshot, type RunStep, type RunSummary, type StepResult } from './runs.js';

export interface HealthWeights {
  /** Added for each passed step. */
  stepPassed: number;
  /** Subtracted for each failed step. */
  stepFailed: number;
  /** Subtracted for each other event of severity `error`. */
  error: number;
}

export const DEFAULT_HEALTH_WEIGHTS: HealthWeights = { stepPassed: 2, stepFailed: 10, error: 5 };

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
 * Folds one stored event into a run's snapshot, in place. Pure apart from that: the same events in the
 * same order always give the same snapshot, which is what lets the hub rebuild it after a crash.
 * The event was validated before it was stored (checkRunEventData), so fields can be trusted here.
 */
export function applyRunEvent(run: RunSnapshot, offset: number, time: number, event: HeraldEvent, weights: HealthWeights): void {
  const data = (event.data ?? {}) as Record<string, any>;
  run.offset = offset;
  run.updatedAt = time;
  run.events++;
  run.counts[event.severity]++;
  let scoreDelta = 0;

  switch (event.type) {
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
      const step = findStep(run, data.step) ?? addStep(run, data.step);
      step.name = typeof data.name === 'string' ? data.name : step.name;
      if (typeof data.parent === 'string') step.parent = data.parent;
      step.status = 'running';
      step.startedAt = time;
      delete step.finishedAt;
      delete step.durationMs;
      break;
    }
    case 'step.completed': {
      const step = findStep(run, data.step) ?? addStep(run, data.step);
      step.status = data.status as StepResult;
      step.finishedAt = time;
      const duration = typeof data.durationMs === 'number' ? data.durationMs : step.startedAt !== undefined ? time - step.startedAt : undefined;
      if (duration !== undefined) step.durationMs = duration;
      if (typeof data.message === 'string') step.message = data.message;
      if (step.status === 'passed') scoreDelta += weights.stepPassed;
      if (step.status === 'failed') scoreDelta -= weights.stepFailed;
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
      if (data.summary !== undefined) run.summary = data.summary;
      if (run.status === 'succeeded' && run.percent !== null) run.percent = 100;
      break;
    case 'run.stalled':
      if (run.status === 'running') run.status = 'stalled';
      break;
  }
  // Any activity revives a stalled run (run.completed and run.started have set the status already).
  if (run.status === 'stalled' && event.type !== 'run.stalled') run.status = 'running';
  if (event.severity === 'error' && !(event.type === 'step.completed' && data.status === 'failed')) {
    scoreDelta -= weights.error;
    run.lastError = { type: event.type, message: errorMessage(event), time, offset };
  }
  if (event.type === 'step.completed' && data.status === 'failed') {
    run.lastError = { type: event.type, message: data.message ?? `step ${data.step} failed`, time, offset };
  }
  if (scoreDelta !== 0) {
    const score = Math.min(100, Math.max(0, run.health.score + scoreDelta));
    run.health = { score, band: healthBand(score) };
  }
}

function findStep(run: RunSnapshot, id: string): RunStep | undefined {
  return run.steps.find((s) => s.step === id);
}

function addStep(run: RunSnapshot, id: string): RunStep {
  const step: RunStep = { step: id, name: id, status: 'running' };
  run.steps.push(step);
  return step;
}

function errorMessage(event: HeraldEvent): string {
  const data = event.data as Record<string, unknown> | undefined;
  if (data && typeof data.message === 'string') return data.message;
  if (typeof event.data === 'string') return event.data;
  return event.type;
}

export function summarize(run: RunSnapshot): RunSummary {
  const steps = { total: run.steps.length, passed: 0, failed: 0, running: 0 };
  for (const step of run.steps) {
    if (step.status === 'passed') steps.passed++;
    else if (step.status === 'failed') steps.failed++;
    else if (step.status === 'running') steps.running++;
  }
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

