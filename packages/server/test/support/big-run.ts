import assert from 'node:assert/strict';
import { postEvents } from './hub.js';

/** Events per HTTP publish: the hub takes batches, and a test suite's reporter would send them so. */
const BATCH = 1000;

/** What step `i` of a big run is called, and how it ended (every 50th fails). */
export const bigStep = (i: number) => ({ step: `suite-${i % 40}/test-${i}`, name: `checkout flow › pays with card number ${i} and sees the receipt`, failed: i % 50 === 7 });

/**
 * Publishes a run of `steps` tests over HTTP, each `step.started` then `step.completed`, in batches of
 * 1 000 events (a 20 000-test run's snapshot is ~3 MB). Resolves with the run's last offset.
 */
export async function publishBigRun(url: string, id: string, steps: number): Promise<number> {
  const events: object[] = [{ type: 'run.started', data: { title: `${steps} tests` } }];
  for (let i = 0; i < steps; i++) {
    const { step, name, failed } = bigStep(i);
    events.push({ type: 'step.started', data: { step, name } });
    events.push({ type: 'step.completed', severity: failed ? 'error' : 'info', data: failed ? { step, status: 'failed', message: `expected receipt ${i}` } : { step, status: 'passed', durationMs: i % 900 } });
  }
  let offset = 0;
  for (let at = 0; at < events.length; at += BATCH) {
    const { status, json } = await postEvents(url, `runs.${id}`, events.slice(at, at + BATCH));
    assert.equal(status, 201, JSON.stringify(json));
    offset = json.offsets.at(-1);
  }
  return offset;
}
