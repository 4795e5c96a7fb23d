import type { RunSnapshot, RunStep } from '@herald/protocol';
import type { FeatureSnapshot, SnapshotParts } from '../hub.js';
import { headJson } from './run-schema.js';

/** At most this many steps go in one message (the `subscribed` reply, or one `steps` message)… */
export const STEPS_PER_PART = 1000;
/** …and at most about this many characters of them (at least one step, which is at most ~11 KB). */
export const PART_CHARS = 128 * 1024;

/**
 * A run's snapshot for a subscriber: the reply carries the run with its first steps, and when there are
 * more, `stepsTotal` and `parts` — `{"op":"steps",…}` messages with the rest. All of it is the run at
 * `run.offset`, however long the sending takes: the steps are a copy of the array taken now, and the
 * reducer never changes a step object in place (a changed step is a new object), so the copy holds the
 * steps as they are at this offset. The copy costs a pointer per step; the rest is a copy of the small part.
 */
export function partedSnapshot(run: RunSnapshot): FeatureSnapshot {
  const steps = run.steps.slice();
  const head = JSON.parse(headJson(run)) as RunSnapshot;
  const offset = run.offset;
  const first = takePart(steps, 0);
  if (first.count === steps.length) return { snapshot: { ...head, steps }, offset };
  let from = first.count;
  const channel = JSON.stringify(run.channel);
  const parts: SnapshotParts = {
    next() {
      if (from >= steps.length) return undefined;
      const part = takePart(steps, from);
      const text = `{"op":"steps","channel":${channel},"offset":${offset},"from":${from},"steps":[${part.texts.join(',')}]}`;
      from += part.count;
      return text;
    },
  };
  return { snapshot: { ...head, steps: steps.slice(0, first.count), stepsTotal: steps.length }, offset, parts };
}

function takePart(steps: readonly RunStep[], from: number): { texts: string[]; count: number } {
  const texts: string[] = [];
  let chars = 0;
  for (let i = from; i < steps.length && texts.length < STEPS_PER_PART; i++) {
    const text = JSON.stringify(steps[i]);
    if (texts.length > 0 && chars + text.length > PART_CHARS) break;
    texts.push(text);
    chars += text.length + 1;
  }
  return { texts, count: texts.length };
}
