import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { applyRunEvent, DEFAULT_HEALTH_WEIGHTS, emptySnapshot, type HeraldEvent, type RunSnapshot, type RunStep } from '@herald/protocol';
import { partedSnapshot, STEPS_PER_PART } from '../src/runs/snapshot-parts.js';
import { sendSnapshotParts } from '../src/ws/snapshot-parts.js';

const event = (type: string, data: object): HeraldEvent => ({ type, severity: 'info', data }) as HeraldEvent;

function bigRun(n: number): RunSnapshot {
  const run = emptySnapshot('parts', 'runs.parts', 1);
  for (let i = 0; i < n; i++) applyRunEvent(run, i + 1, 10 + i, event('step.started', { step: `s${i}` }), DEFAULT_HEALTH_WEIGHTS);
  return run;
}

describe('partedSnapshot', () => {
  it('describes the run at its offset while the run goes on: later events change no part', () => {
    const run = bigRun(2500);
    const taken = partedSnapshot(run);
    const reply = taken.snapshot as RunSnapshot;
    assert.deepEqual([reply.steps.length, reply.stepsTotal, taken.offset], [STEPS_PER_PART, 2500, 2500]);
    // The run goes on: a step in the first part, one in a later part, a new step, a metric.
    for (const [i, step] of [[2501, 's0'], [2502, 's2400']] as const) applyRunEvent(run, i, 9000, event('step.completed', { step, status: 'failed' }), DEFAULT_HEALTH_WEIGHTS);
    applyRunEvent(run, 2503, 9001, event('step.started', { step: 'new' }), DEFAULT_HEALTH_WEIGHTS);
    applyRunEvent(run, 2504, 9002, event('metric', { name: 'cpu', value: 1 }), DEFAULT_HEALTH_WEIGHTS);
    const steps: RunStep[] = [...reply.steps];
    for (let text = taken.parts!.next(); text !== undefined; text = taken.parts!.next()) {
      const message = JSON.parse(text);
      assert.deepEqual([message.op, message.channel, message.offset, message.from], ['steps', 'runs.parts', 2500, steps.length]);
      steps.push(...message.steps);
    }
    assert.equal(steps.length, 2500);
    assert.ok(steps.every((s) => s.status === 'running'), 'the steps as they were at offset 2500');
    assert.deepEqual([reply.offset, reply.counts.info, reply.metrics], [2500, 2500, {}]);
  });

  it('sends a small run whole, without stepsTotal or parts', () => {
    const taken = partedSnapshot(bigRun(3));
    assert.equal(taken.parts, undefined);
    assert.equal('stepsTotal' in (taken.snapshot as object), false);
    assert.equal((taken.snapshot as RunSnapshot).steps.length, 3);
  });
});

describe('sendSnapshotParts', () => {
  /** A socket whose queue stays full: each send waits for its write callback. */
  const fullSocket = (sent: string[]) => ({ bufferedAmount: 10 * 1024 * 1024, send: (text: string, _o: unknown, done: () => void) => (sent.push(text), setTimeout(done, 5)) }) as unknown as WebSocket;
  const parts = (n: number) => {
    let i = 0;
    return { next: () => (i < n ? `{"part":${i++}}` : undefined) };
  };

  it('waits for the socket between parts and stops at once when the subscription ends', async () => {
    const sent: string[] = [];
    let cancelled = false;
    setTimeout(() => (cancelled = true), 12);
    const end = await sendSnapshotParts(fullSocket(sent), parts(100), 1024 * 1024, 5000, () => cancelled);
    assert.equal(end, 'closed');
    assert.ok(sent.length >= 1 && sent.length <= 4, `${sent.length} parts sent before the unsubscribe, none after`);
    const count = sent.length;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(sent.length, count);
  });

  it('reports a reader that takes nothing for stallMs as stalled', async () => {
    const stuck = { bufferedAmount: 10 * 1024 * 1024, send: () => {} } as unknown as WebSocket;
    assert.equal(await sendSnapshotParts(stuck, parts(3), 1024 * 1024, 30, () => false), 'stalled');
    assert.equal(await sendSnapshotParts(fullSocket([]), parts(3), 1024 * 1024, 5000, () => false), 'done');
  });
});
