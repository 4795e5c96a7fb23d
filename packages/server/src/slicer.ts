import { performance } from 'node:perf_hooks';

/** How long the sliced jobs together may hold one turn of the event loop. */
export const SLICE_MS = 8;

/** Jobs waiting for their next slice, oldest first. */
const waiting: Array<() => void> = [];
let turnStarted = -Infinity;
let scheduled = false;

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(runTurn);
}

/** One job gets the next slice; the others wait for later turns, so other clients' work runs between. */
function runTurn(): void {
  scheduled = false;
  turnStarted = performance.now();
  waiting.shift()?.();
  if (waiting.length > 0) schedule();
}

/**
 * Cuts long loops (a pattern resume over thousands of channels, a catch-up over every run) into slices:
 * `await pause()` between steps returns at once while the current slice has time left, and otherwise
 * waits for a later turn of the event loop. The budget is shared by every sliced job in the process —
 * ten resumes at once get one slice per turn between them, not ten — so however many run, a turn of
 * the loop holds at most about `SLICE_MS` of them plus one step.
 */
export async function pause(): Promise<void> {
  if (performance.now() - turnStarted < SLICE_MS) return;
  await new Promise<void>((resolve) => {
    waiting.push(resolve);
    schedule();
  });
}
