import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Roster } from '../src/presence/roster.js';

/** Pages through a roster with `limit`, applying `between` after each page; returns what was listed. */
function pageThrough(roster: Roster<number>, limit: number, between: (page: number, listed: readonly number[]) => void): number[] {
  const listed: number[] = [];
  let after = 0;
  for (let page = 0; ; page++) {
    const answer = roster.page(after, limit);
    assert.ok(answer.values.length <= limit);
    listed.push(...answer.values);
    between(page, listed);
    if (answer.next === undefined) return listed;
    after = answer.next;
  }
}

describe('Roster', () => {
  it('pages in insertion order, each value once, whatever is added and removed between pages (model check)', () => {
    const op = fc.oneof(fc.record({ add: fc.integer({ min: 1, max: 40 }) }), fc.record({ remove: fc.nat(400) }));
    fc.assert(
      fc.property(fc.nat(300), fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 70 }), (initial, ops, limit) => {
        const roster = new Roster<number>();
        let seq = 0;
        let next = 0;
        const model: number[] = [];
        const add = (n: number) => {
          for (let i = 0; i < n; i++) {
            roster.add(next, ++seq);
            model.push(next++);
          }
        };
        add(initial);
        const there = [...model];
        const removed = new Map<number, number>();
        const listed = pageThrough(roster, limit, (page, soFar) => {
          const change = ops[page];
          if (!change) return;
          if ('add' in change) add(change.add);
          else if (model.length > 0) {
            const [value] = model.splice(change.remove % model.length, 1);
            assert.equal(roster.delete(value!), true);
            removed.set(value!, soFar.length);
          }
        });
        assert.equal(roster.size, model.length);
        // In order, no repeats, nobody listed who was gone before their page, everybody there throughout listed.
        assert.deepEqual([...listed].sort((a, b) => a - b), listed);
        assert.equal(new Set(listed).size, listed.length);
        for (const value of there) if (!removed.has(value)) assert.ok(listed.includes(value), `${value} was there throughout and not listed`);
        // Nobody is listed after they were removed.
        for (const [value, at] of removed) assert.ok(!listed.slice(at).includes(value), `${value} listed after it was removed`);
      }),
      { numRuns: 300, seed: 0x70e5 },
    );
  });

  it('deletes once, ignores a second add, and forgets emptied blocks', () => {
    const roster = new Roster<string>();
    for (let i = 0; i < 200; i++) roster.add(`v${i}`, i + 1);
    roster.add('v0', 999);
    assert.equal(roster.size, 200);
    for (let i = 0; i < 199; i++) assert.equal(roster.delete(`v${i}`), true);
    assert.equal(roster.delete('v0'), false);
    assert.deepEqual(roster.page(0, 10), { values: ['v199'], next: undefined });
    roster.add('w', 1000);
    assert.deepEqual(roster.page(200, 10), { values: ['w'], next: undefined });
    assert.deepEqual(roster.page(0, 1), { values: ['v199'], next: 200 });
  });
});
