import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyRunEvent, DEFAULT_HEALTH_WEIGHTS, emptySnapshot, findRunStep, summarize, type HeraldEvent, type RunSnapshot } from '../src/index.js';

/**
 * A run whose `steps` array counts every read of an element: the work the reducer does on the steps,
 * whatever the machine's speed (a timing would be flaky; a count is not).
 */
function countingRun(id: string): { run: RunSnapshot; reads: () => number } {
  const run = emptySnapshot(id, `runs.${id}`, 1000);
  let reads = 0;
  run.steps = new Proxy(run.steps, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  return { run, reads: () => reads };
}

const event = (type: string, data: object): HeraldEvent => ({ type, severity: 'info', data }) as HeraldEvent;

/** Starts and completes `n` steps, summarising every 100 events as the hub's flush would. */
function build(n: number): number {
  const { run, reads } = countingRun(`big-${n}`);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    applyRunEvent(run, ++offset, 1000 + offset, event('step.started', { step: `s${i}`, name: `step ${i}` }), DEFAULT_HEALTH_WEIGHTS);
    applyRunEvent(run, ++offset, 1000 + offset, event('step.completed', { step: `s${i}`, status: i % 10 === 0 ? 'failed' : 'passed' }), DEFAULT_HEALTH_WEIGHTS);
    if (offset % 100 === 0) summarize(run);
  }
  assert.equal(run.steps.length, n);
  assert.deepEqual(summarize(run).steps, { total: n, passed: n - Math.ceil(n / 10), failed: Math.ceil(n / 10), running: 0 });
  return reads();
}

describe('run reducer at scale', () => {
  it('adds 20 000 and 40 000 steps with a constant number of step reads per event (linear, not O(n²))', () => {
    const small = build(20_000);
    const large = build(40_000);
    // A search through the steps would read ~n²/2 elements: 2·10^8 for 20 000 steps.
    assert.ok(small <= 4 * 2 * 20_000, `20 000 steps: ${small} step reads`);
    assert.ok(large <= 2.2 * small, `twice the steps, ${(large / small).toFixed(2)}× the reads`);
  });

  it('keeps each changed step a new object, so a copy of `steps` stays the steps at its offset', () => {
    const run = emptySnapshot('cow', 'runs.cow', 1);
    applyRunEvent(run, 1, 10, event('step.started', { step: 'a' }), DEFAULT_HEALTH_WEIGHTS);
    const frozen = run.steps.slice();
    applyRunEvent(run, 2, 20, event('step.completed', { step: 'a', status: 'passed' }), DEFAULT_HEALTH_WEIGHTS);
    assert.equal(frozen[0]!.status, 'running');
    assert.equal(run.steps[0]!.status, 'passed');
    assert.equal(findRunStep(run, 'a'), run.steps[0]);
  });

  it('finds steps and counts them in a snapshot parsed from JSON, and after `steps` is replaced', () => {
    const run = emptySnapshot('json', 'runs.json', 1);
    applyRunEvent(run, 1, 10, event('step.started', { step: 'a' }), DEFAULT_HEALTH_WEIGHTS);
    applyRunEvent(run, 2, 11, event('step.completed', { step: 'a', status: 'failed' }), DEFAULT_HEALTH_WEIGHTS);
    const parsed = JSON.parse(JSON.stringify(run)) as RunSnapshot;
    assert.deepEqual(summarize(parsed).steps, { total: 1, passed: 0, failed: 1, running: 0 });
    applyRunEvent(parsed, 3, 12, event('step.started', { step: 'a' }), DEFAULT_HEALTH_WEIGHTS);
    assert.equal(parsed.steps.length, 1, 'a restart, not a new step');
    assert.deepEqual(summarize(parsed).steps, { total: 1, passed: 0, failed: 0, running: 1 });
    parsed.steps = [...parsed.steps, { step: 'b', name: 'b', status: 'passed' }];
    assert.deepEqual(summarize(parsed).steps, { total: 2, passed: 1, failed: 0, running: 1 });
    assert.equal(findRunStep(parsed, 'b')?.status, 'passed');
  });
});
