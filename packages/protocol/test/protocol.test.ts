import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkChannel, checkEvent, CloseCodes, matchesPattern, shouldReconnect } from '../src/index.js';

describe('checkChannel', () => {
  const valid = ['system', 'runs.build-42', 'a_b.C-9.x', 'x'.repeat(160)];
  const invalid = ['', 'a..b', '.a', 'a.', 'a b', 'runs/1', 'é', 'x'.repeat(161), 'runs.*', '>'];
  for (const name of valid) it(`accepts ${name.slice(0, 20)}`, () => assert.equal(checkChannel(name, false).ok, true));
  for (const name of invalid) it(`refuses "${name.slice(0, 20)}" as a channel name`, () => assert.equal(checkChannel(name, false).ok, false));
  it('accepts patterns only where allowed, with > last', () => {
    assert.deepEqual(checkChannel('runs.*', true), { ok: true, isPattern: true });
    assert.deepEqual(checkChannel('>', true), { ok: true, isPattern: true });
    assert.deepEqual(checkChannel('runs.42', true), { ok: true, isPattern: false });
    assert.equal(checkChannel('runs.>.x', true).ok, false);
    assert.equal(checkChannel('runs.a*', true).ok, false);
  });
});

describe('matchesPattern', () => {
  const table: Array<[string, string, boolean]> = [
    ['runs.*', 'runs.1', true],
    ['runs.*', 'runs.1.x', false],
    ['runs.*', 'runs', false],
    ['runs.>', 'runs.1', true],
    ['runs.>', 'runs.1.x', true],
    ['runs.>', 'runs', false],
    ['>', 'anything.at.all', true],
    ['*.log', 'a.log', true],
    ['*.log', 'a.b', false],
    ['a.b', 'a.b', true],
  ];
  for (const [pattern, channel, expected] of table) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${channel}`, () => assert.equal(matchesPattern(pattern, channel), expected));
  }
});

describe('checkEvent', () => {
  it('fills in severity and normalises ts', () => {
    const check = checkEvent({ type: 'log', ts: '2026-01-01T00:00:00Z', data: { a: 1 } });
    assert.deepEqual(check, { ok: true, event: { type: 'log', severity: 'info', data: { a: 1 }, ts: Date.UTC(2026, 0, 1) } });
  });
  const bad: Array<[unknown, RegExp]> = [
    [null, /object/],
    [[], /object/],
    [{}, /type/],
    [{ type: 'x'.repeat(65) }, /64/],
    [{ type: 't', severity: 'fatal' }, /severity/],
    [{ type: 't', ts: 'yesterday' }, /ts/],
    [{ type: 't', id: '' }, /id/],
    [{ type: 't', severty: 'error' }, /unknown event field "severty"/],
  ];
  for (const [input, reason] of bad) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      const check = checkEvent(input);
      assert.equal(check.ok, false);
      assert.match((check as { reason: string }).reason, reason);
    });
  }
});

describe('close codes', () => {
  it('tells clients to reconnect after restarts and network loss, not after terminal codes', () => {
    assert.equal(shouldReconnect(CloseCodes.restart.code), true);
    assert.equal(shouldReconnect(CloseCodes.slowConsumer.code), true);
    assert.equal(shouldReconnect(1006), true);
    assert.equal(shouldReconnect(CloseCodes.normal.code), false);
    assert.equal(shouldReconnect(CloseCodes.invalidClientId.code), false);
  });
});
