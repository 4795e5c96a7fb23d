import type { RunStep } from '@herald/protocol';
import { duration } from '../lib/format.js';

/** Steps as bars on one time axis (a small Gantt chart), nested steps indented under their parent. */
export function StepTimeline({ steps, start, now }: { steps: RunStep[]; start: number; now: number }) {
  if (steps.length === 0) return <div className="empty">No steps yet.</div>;
  const ends = steps.map((s) => s.finishedAt ?? (s.status === 'running' ? now : s.startedAt ?? start));
  const end = Math.max(start + 1, ...ends);
  const span = end - start;
  const depth = (step: RunStep): number => {
    let d = 0;
    for (let parent = step.parent; parent && d < 8; d++) parent = steps.find((s) => s.step === parent)?.parent;
    return d;
  };
  return (
    <div className="timeline" data-testid="step-timeline">
      {steps.map((step, i) => {
        const from = (step.startedAt ?? start) - start;
        const to = ends[i]! - start;
        return (
          <div className="step" key={step.step} data-step={step.step} data-status={step.status}>
            <span style={{ paddingLeft: `${depth(step)}em` }} title={step.message ?? ''}>{step.name}</span>
            <div className="track">
              <div className={`bar bar-${step.status}`} style={{ left: `${(from / span) * 100}%`, width: `${(Math.max(to - from, 0) / span) * 100}%` }} />
            </div>
            <span className="muted">{step.status === 'running' ? 'running' : duration(step.durationMs)}</span>
          </div>
        );
      })}
    </div>
  );
}
