import { findRunStep, type RunSnapshot, type RunStep } from '@herald/protocol';
import { duration, showText } from '../lib/format.js';
import { VirtualList } from './VirtualList.js';

/** Deepest indentation; it also ends a walk up a cycle of parents (a → b → a), which publishers can send. */
const MAX_NESTING = 8;
const ROW_HEIGHT = 24;

/**
 * Steps as bars on one time axis (a small Gantt chart), nested steps indented under their parent. A run
 * may have tens of thousands of steps: only the rows in view are rendered, and parents are found through
 * the reducer's index (`findRunStep`), so a live step event costs the rows in view, not the whole run.
 */
export function StepTimeline({ run, start, now }: { run: RunSnapshot; start: number; now: number }) {
  const steps = run.steps;
  if (steps.length === 0) return <div className="empty">No steps yet.</div>;
  const endOf = (s: RunStep) => s.finishedAt ?? (s.status === 'running' ? now : s.startedAt ?? start);
  // One pass without allocation: Math.max(...ends) would build an array and pass 20 000 arguments.
  let end = start + 1;
  for (const step of steps) end = Math.max(end, endOf(step));
  const span = end - start;
  const depth = (step: RunStep): number => {
    let d = 0;
    for (let parent = step.parent; parent && d < MAX_NESTING; d++) parent = findRunStep(run, parent)?.parent;
    return d;
  };
  return (
    <>
      <div className="muted" data-testid="step-count">{steps.length} steps</div>
      <VirtualList
        className="timeline"
        testId="step-timeline"
        items={steps}
        rowHeight={ROW_HEIGHT}
        rowKey={(step) => step.step}
        render={(step, { top, height }) => {
          const from = (step.startedAt ?? start) - start;
          const to = endOf(step) - start;
          return (
            <div className="step" style={{ position: 'absolute', left: 0, right: 0, top, height }} data-step={step.step} data-status={step.status}>
              <span className="step-name" style={{ paddingLeft: `${depth(step)}em` }} title={showText(step.message ?? '', 1000)}><bdi>{showText(step.name)}</bdi></span>
              <div className="track">
                <div className={`bar bar-${step.status}`} style={{ left: `${(from / span) * 100}%`, width: `${(Math.max(to - from, 0) / span) * 100}%` }} />
              </div>
              <span className="muted">{step.status === 'running' ? 'running' : duration(step.durationMs)}</span>
            </div>
          );
        }}
      />
    </>
  );
}
