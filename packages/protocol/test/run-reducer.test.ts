import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyRunEvent, checkEvent, checkRunEventData, DEFAULT_HEALTH_WEIGHTS, emptySnapshot, healthBand, type RunSnapshot } from '../src/index.js';

/** One scripted run: each row is an event and what the snapshot must show right after it. */
const script: Array<[object, (run: RunSnapshot) => void]> = [
  [{ type: 'run.started', data: { title: 'nightly e2e', labels: { team: 'web' } } }, (run) => {
    assert.equal(run.status, 'running');
    assert.equal(run.title, 'nightly e2e');
    assert.deepEqual(run.labels, { team: 'web' });
    assert.equal(run.startedAt, 1001);
  }],
  [{ type: 'run.progress', data: { percent: 10, message: 'booting' } }, (run) => {
    assert.equal(run.percent, 10);
    assert.equal(run.message, 'booting');
  }],
  [{ type: 'step.started', data: { step: 'login', name: 'Log in' } }, (run) => {
    assert.deepEqual(run.steps, [{ step: 'login', name: 'Log in', status: 'running', startedAt: 1003 }]);
  }],
  [{ type: 'step.started', data: { step: 'login.form', name: 'Fill form', parent: 'login' } }, (run) => {
    assert.equal(run.steps[1]!.parent, 'login');
  }],
  [{ type: 'step.completed', data: { step: 'login.form', status: 'passed' } }, (run) => {
    assert.equal(run.steps[1]!.status, 'passed');
    assert.equal(run.steps[1]!.durationMs, 1, 'computed from the start');
    assert.deepEqual(run.health, { score: 100, band: 'stable' }, 'clamped at 100');
  }],
  [{ type: 'log', severity: 'warning', data: { message: 'slow response' } }, (run) => {
    assert.equal(run.counts.warning, 1);
    assert.equal(run.lastError, null, 'a warning is not an error');
  }],
  [{ type: 'step.completed', data: { step: 'login', status: 'failed', durationMs: 420, message: 'timeout' } }, (run) => {
    assert.equal(run.steps[0]!.status, 'failed');
    assert.equal(run.steps[0]!.durationMs, 420, 'given duration wins');
    assert.deepEqual(run.health, { score: 90, band: 'stable' });
    assert.deepEqual(run.lastError, { type: 'step.completed', message: 'timeout', time: 1007, offset: 7 });
  }],
  [{ type: 'log', severity: 'error', data: { message: 'HTTP 500 on /api' } }, (run) => {
    assert.deepEqual(run.health, { score: 85, band: 'stable' });
    assert.equal(run.lastError!.message, 'HTTP 500 on /api');
    assert.equal(run.counts.error, 1);
  }],
  [{ type: 'metric', data: { name: 'latency', value: 230, unit: 'ms' } }, (run) => {
    assert.deepEqual(run.metrics.latency, { value: 230, unit: 'ms', time: 1009 });
  }],
  [{ type: 'metric', data: { name: 'latency', value: 120, unit: 'ms' } }, (run) => {
    assert.equal(run.metrics.latency!.value, 120, 'latest value wins');
  }],
  [{ type: 'custom.thing', data: { anything: true } }, (run) => {
    assert.equal(run.events, 11, 'other types pass through and count as activity');
    assert.equal(run.updatedAt, 1011);
  }],
  [{ type: 'run.stalled', severity: 'warning', data: { silentMs: 60000 } }, (run) => assert.equal(run.status, 'stalled')],
  [{ type: 'run.heartbeat' }, (run) => assert.equal(run.status, 'running', 'any later event revives it')],
  [{ type: 'run.progress', data: { percent: 80 } }, (run) => assert.equal(run.message, 'booting', 'a progress without message keeps the old one')],
  [{ type: 'run.completed', data: { status: 'succeeded', summary: { passed: 1, failed: 1 } } }, (run) => {
    assert.equal(run.status, 'succeeded');
    assert.equal(run.finishedAt, 1015);
    assert.deepEqual(run.summary, { passed: 1, failed: 1 });
    assert.equal(run.offset, 15);
    assert.equal(run.events, 15);
  }],
];

describe('run snapshot reducer', () => {
  it('gives the right snapshot after every event of a scripted run', () => {
    const run = emptySnapshot('r1', 'runs.r1', 1000);
    assert.equal(run.status, 'queued');
    script.forEach(([input, expect], index) => {
      const check = checkEvent(input);
      assert.ok(check.ok, `row ${index} is a valid event`);
      assert.equal(checkRunEventData(check.event.type, check.event.data), undefined, `row ${index} is a valid run event`);
      applyRunEvent(run, index + 1, 1001 + index, check.event, DEFAULT_HEALTH_WEIGHTS);
      expect(run);
    });
  });
});

describe('health score', () => {
  const apply = (events: object[], weights = DEFAULT_HEALTH_WEIGHTS) => {
    const run = emptySnapshot('h', 'runs.h', 0);
    events.forEach((e, i) => {
      const check = checkEvent(e);
      assert.ok(check.ok);
      applyRunEvent(run, i + 1, i, check.event, weights);
    });
    return run.health;
  };
  const failed = (step: string) => ({ type: 'step.completed', data: { step, status: 'failed' } });
  const passed = (step: string) => ({ type: 'step.completed', data: { step, status: 'passed' } });
  const error = { type: 'log', severity: 'error', data: { message: 'x' } };

  it('starts at 100: +2 per passed step, −10 per failed step, −5 per error event, clamped to 0–100', () => {
    assert.deepEqual(apply([]), { score: 100, band: 'stable' });
    assert.deepEqual(apply([failed('a'), failed('b'), passed('c')]), { score: 82, band: 'stable' });
    assert.deepEqual(apply([failed('a'), failed('b'), failed('c')]), { score: 70, band: 'degraded' });
    assert.deepEqual(apply([error, error, failed('a'), failed('b'), failed('c'), failed('d')]), { score: 50, band: 'degraded' });
    assert.deepEqual(apply(Array.from({ length: 12 }, (_, i) => failed(`s${i}`))), { score: 0, band: 'critical' });
  });

  it('counts a failed step once even when it is published with severity error', () => {
    assert.equal(apply([{ ...failed('a'), severity: 'error' }]).score, 90);
  });

  it('uses configured weights', () => {
    assert.equal(apply([failed('a'), error, passed('b')], { stepPassed: 1, stepFailed: 30, error: 1 }).score, 70);
  });

  it('bands: ≥ 80 stable, 50–79 degraded, < 50 critical', () => {
    assert.deepEqual([100, 80, 79, 50, 49, 0].map(healthBand), ['stable', 'stable', 'degraded', 'degraded', 'critical', 'critical']);
  });
});

describe('run event rules', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['run.progress', { percent: 150 }, /percent must be a number from 0 to 100/],
    ['run.progress', { percent: -1 }, /percent/],
    ['run.progress', 'half', /object/],
    ['run.completed', { status: 'exploded' }, /status must be one of succeeded, failed, cancelled/],
    ['step.completed', { step: 'a', status: 'done' }, /status must be one of passed, failed, skipped/],
    ['step.started', {}, /step/],
    ['metric', { name: 'x', value: 'fast' }, /finite number/],
    ['log', { text: 'no message' }, /message/],
    ['run.started', { labels: { a: 1 } }, /labels/],
  ];
  for (const [type, data, reason] of bad) {
    it(`refuses ${type} ${JSON.stringify(data)}`, () => assert.match(checkRunEventData(type, data) ?? '', reason));
  }
  it('lets other types through untouched', () => assert.equal(checkRunEventData('deploy.finished', 42), undefined));
});

describe('run timing from the publisher\u2019s ts', () => {
  const apply = (run: RunSnapshot, offset: number, receivedAt: number, input: object) => {
    const checked = checkEvent(input);
    assert.ok(checked.ok);
    applyRunEvent(run, offset, receivedAt, checked.event, DEFAULT_HEALTH_WEIGHTS);
  };
  const T = Date.UTC(2026, 11, 1, 12, 0, 0);

  it('gives a step its real duration when both events arrive in one batch', () => {
    const run = emptySnapshot('ts', 'runs.ts', T);
    apply(run, 1, T, { type: 'step.started', data: { step: 'build' }, ts: T - 10_000 });
    apply(run, 2, T, { type: 'step.completed', data: { step: 'build', status: 'passed' }, ts: T });
    assert.deepEqual([run.steps[0]!.startedAt, run.steps[0]!.finishedAt, run.steps[0]!.durationMs], [T - 10_000, T, 10_000]);
    assert.equal(run.updatedAt, T, 'activity is when the hub heard of it');
  });

  it('keeps the times of events held back by an outage, and ignores a ts that cannot be right', () => {
    const run = emptySnapshot('late', 'runs.late', T);
    const hourLater = T + 3_600_000;
    apply(run, 1, hourLater, { type: 'run.started', ts: T });
    assert.equal(run.startedAt, T);
    apply(run, 2, hourLater, { type: 'step.started', data: { step: 'a' }, ts: hourLater + 5 * 60_000 });
    assert.equal(run.steps[0]!.startedAt, hourLater, 'five minutes in the future: the receive time');
    apply(run, 3, hourLater, { type: 'step.started', data: { step: 'b' }, ts: 0 });
    assert.equal(run.steps[1]!.startedAt, hourLater, '1970: the receive time');
  });

  it('reads a ts written without a time zone as UTC', () => {
    const checked = checkEvent({ type: 'log', ts: '2026-12-01T12:00:00' });
    assert.ok(checked.ok);
    assert.equal(checked.event.ts, T);
    const zoned = checkEvent({ type: 'log', ts: '2026-12-01T13:00:00+01:00' });
    assert.ok(zoned.ok);
    assert.equal(zoned.event.ts, T);
  });
});

describe('a team\u2019s own event types', () => {
  const apply = (run: RunSnapshot, offset: number, input: object) => {
    const checked = checkEvent(input);
    assert.ok(checked.ok);
    applyRunEvent(run, offset, 1000 + offset, checked.event, DEFAULT_HEALTH_WEIGHTS);
  };

  it('drive steps and health when their data names a step', () => {
    const run = emptySnapshot('own', 'runs.own', 1000);
    apply(run, 1, { type: 'test_start', data: { step: 'latency', name: 'Latency Injection' } });
    assert.deepEqual(run.steps, [{ step: 'latency', name: 'Latency Injection', status: 'running', startedAt: 1001 }]);
    apply(run, 2, { type: 'test_log', data: { step: 'latency', message: 'probing' } });
    assert.equal(run.steps[0]!.status, 'running', 'a line about a known step does not restart it');
    apply(run, 3, { type: 'test_complete', data: { step: 'latency', status: 'passed', durationMs: 523 } });
    assert.deepEqual([run.steps[0]!.status, run.steps[0]!.durationMs], ['passed', 523]);
    apply(run, 4, { type: 'test_complete', severity: 'error', data: { step: 'ui', status: 'failed', message: 'no title' } });
    assert.equal(run.steps[1]!.status, 'failed');
    assert.deepEqual(run.health, { score: 90, band: 'stable' }, '+2 (clamped) then −10, the failed step counted once');
    assert.equal(run.lastError!.message, 'no title');
    apply(run, 5, { type: 'stability', data: { score: 80 } });
    assert.equal(run.steps.length, 2, 'no step named: just activity');
    apply(run, 6, { type: 'log', data: { message: 'about ui', step: 'ui' } });
    assert.equal(run.steps[1]!.status, 'failed', 'the built-in log type keeps its meaning');
  });

  it('count a failing run.completed once, with its message or "failed"', () => {
    const quiet = emptySnapshot('q', 'runs.q', 1000);
    apply(quiet, 1, { type: 'run.completed', data: { status: 'failed' } });
    assert.deepEqual([quiet.health.score, quiet.lastError!.message], [95, 'failed']);
    const loud = emptySnapshot('l', 'runs.l', 1000);
    apply(loud, 1, { type: 'run.completed', severity: 'error', data: { status: 'failed', message: 'budget exceeded' } });
    assert.deepEqual([loud.health.score, loud.lastError!.message], [95, 'budget exceeded']);
  });
});
