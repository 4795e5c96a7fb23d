import type { RunStep } from '@herald/protocol';
import { duration, showText } from '../lib/format.js';

/** Deepest indentation; it also ends a walk up a cycle of parents (a → b → a), which publishers can send. */
const MAX_NESTING = 8;

/** Steps as bars on one time axis (a small Gantt chart), nested steps indented under their parent. */
export function StepTimeline({ steps, start, now }: { steps: RunStep[]; start: number; now: number }) {
  if (steps.length === 0) return <div className="empty">No steps yet.</div>;
  const ends = steps.map((s) => s.finishedAt ?? (s.status === 'running' ? now : s.startedAt ?? start));
  const end = Math.max(start + 1, ...ends);
  const span = end - start;
  // Parents are looked up in a map, not by searching the list: a run may have thousands of steps.
  const parents = new Map(steps.map((s) => [s.step, s.parent]));
  const depth = (step: RunStep): number => {
    let d = 0;
    for (let parent = step.parent; parent && d < MAX_NESTING; d++) parent = parents.get(parent);
    return d;
  };
  return (
    <div className="timeline" data-testid="step-timeline">
      {steps.map((step, i) => {
        const from = (step.startedAt ?? start) - start;
        const to = ends[i]! - start;
        return (
          <div className="step" key={step.step} data-step={step.step} data-status={step.status}>
            <span className="step-name" style={{ paddingLeft: `${depth(step)}em` }} title={showText(step.message ?? '', 1000)}><bdi>{showText(step.name)}</bdi></span>
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
