import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { matchesPattern } from '@herald/protocol';
import { Subscription, SubscriptionIndex, type Subscriber } from '../src/index.js';

const subscriber = (): Subscriber => ({ deliveryMark: 0, deliver: () => {} });
const segment = fc.constantFrom('a', 'b', 'c');
const channel = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('.'));
const pattern = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', 'c', '*'), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([segments, rest]) => (rest ? [...segments.slice(0, -1), '>'] : segments).join('.'));

describe('SubscriptionIndex', () => {
  it('finds exactly the subscriptions whose pattern matches (agrees with matchesPattern)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(pattern, channel), { minLength: 1, maxLength: 12 }), channel, fc.array(fc.nat(), { maxLength: 4 }), (names, target, removals) => {
        const index = new SubscriptionIndex();
        let subs = names.map((name) => new Subscription(subscriber(), name, name.includes('*') || name.includes('>')));
        for (const sub of subs) index.add(sub);
        for (const r of removals) {
          const victim = subs[r % subs.length];
          if (!victim) continue;
          index.remove(victim);
          subs = subs.filter((s) => s !== victim);
        }
        const found = new Set<Subscription>();
        index.forEachMatch(target, (sub) => found.add(sub));
        const expected = subs.filter((sub) => matchesPattern(sub.channel, target));
        assert.deepEqual([...found].map((s) => s.channel).sort(), expected.map((s) => s.channel).sort());
      }),
      { numRuns: 500 },
    );
  });
});
