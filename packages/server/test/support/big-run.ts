import assert from 'node:assert/strict';
import { postEvents } from './hub.js';

/**
 * Hub settings for tests that build a big run in seconds: 40 000 events at once are over the default
 * per-connection and per-address rates (a real publisher waits out the 429s; these tests are about
 * the run's size, not about the rate quotas, which quotas.test.ts covers).
 */
export const BIG_RUN_HUB = { maxEventsPerSecond: 0, maxIpEventsPerSecond: 0 } as const;

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
