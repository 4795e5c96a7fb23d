import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { grantAllows, matchesPattern, parseAllowRule, parseGrant, patternCovers, type Grant } from '../src/index.js';

/** Patterns over a small alphabet, with `*` anywhere and `>` only last, as the naming rules allow. */
const pattern = fc
  .tuple(fc.array(fc.constantFrom('a', 'b', '*'), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([segments, tail]) => (tail ? [...segments.slice(0, -1), '>'] : segments).join('.'));

/**
 * Every channel up to `maxLength` segments over the pattern alphabet plus one letter no pattern uses,
 * which stands for "any other name" — enough to tell covering from not covering by brute force.
 */
function universe(maxLength: number): string[] {
  const letters = ['a', 'b', 'z'];
  let level = letters.slice();
  const all = [...level];
  for (let length = 2; length <= maxLength; length++) {
    level = level.flatMap((prefix) => letters.map((l) => `${prefix}.${l}`));
    all.push(...level);
  }
  return all;
}
const CHANNELS = universe(6);

function coversByBruteForce(allowed: string, requested: string): boolean {
  return CHANNELS.every((c) => !matchesPattern(requested, c) || matchesPattern(allowed, c));
}

describe('patternCovers', () => {
  it('agrees with brute-force matching over every channel (fast-check, 10 000 pairs)', () => {
    fc.assert(
      fc.property(pattern, pattern, (allowed, requested) => patternCovers(allowed, requested) === coversByBruteForce(allowed, requested)),
      { numRuns: 10_000 },
    );
  });

  const table: Array<[string, string, boolean]> = [
    ['runs.team-a.>', 'runs.team-a.x', true],
    ['runs.team-a.>', 'runs.team-a.*', true],
    ['runs.team-a.>', 'runs.team-a.>', true],
    ['runs.team-a.>', 'runs.>', false],
    ['runs.team-a.>', 'runs.*', false],
    ['runs.team-a.>', '>', false],
    ['runs.team-a.>', 'runs.team-a', false],
    ['runs.team-a.>', 'runs.team-b.x', false],
    ['runs.*', 'runs.x', true],
    ['runs.*', 'runs.x.y', false],
    ['runs.*', 'runs.>', false],
    ['>', '>', true],
    ['>', 'a.*.c', true],
    ['*.>', '>', false],
    ['a.*.>', 'a.>', false],
  ];
  for (const [allowed, requested, expected] of table) {
    it(`${allowed} ${expected ? 'covers' : 'does not cover'} ${requested}`, () => assert.equal(patternCovers(allowed, requested), expected));
  }
});

describe('grants', () => {
  it('admin allows everything; lists allow what they cover', () => {
    const team: Grant = { subscribe: ['runs.team-a.>'], publish: ['runs.team-a.ci'], admin: false };
    assert.equal(grantAllows(team, 'subscribe', 'runs.team-a.x'), true);
    assert.equal(grantAllows(team, 'publish', 'runs.team-a.x'), false);
    assert.equal(grantAllows(team, 'publish', 'runs.team-a.ci'), true);
    assert.equal(grantAllows({ subscribe: [], publish: [], admin: true }, 'publish', 'x'), true);
    // The run summary channel describes every run: reading it takes every run.
    assert.equal(grantAllows(team, 'subscribe', 'runs'), false);
    assert.equal(grantAllows({ subscribe: ['runs.>'], publish: [], admin: false }, 'subscribe', 'runs'), true);
    assert.equal(grantAllows({ subscribe: ['runs'], publish: [], admin: false }, 'subscribe', 'runs'), false);
  });

  it('reads the herald claim strictly: malformed claims are refused, not read as empty', () => {
    assert.deepEqual(parseGrant({ subscribe: ['a.>'], admin: true }), { subscribe: ['a.>'], publish: [], admin: true });
    assert.deepEqual(parseGrant(undefined), { subscribe: [], publish: [], admin: false });
    assert.equal(typeof parseGrant({ subscribe: 'a.>' }), 'string');
    assert.equal(typeof parseGrant({ publish: ['a..b'] }), 'string');
    assert.equal(typeof parseGrant({ admin: 'yes' }), 'string');
  });

  it('parses --allow rules', () => {
    const grant: Grant = { subscribe: [], publish: [], admin: false };
    assert.equal(parseAllowRule('publish:runs.>', grant), undefined);
    assert.equal(parseAllowRule('subscribe:>', grant), undefined);
    assert.equal(parseAllowRule('admin', grant), undefined);
    assert.deepEqual(grant, { subscribe: ['>'], publish: ['runs.>'], admin: true });
    assert.match(parseAllowRule('read:x', grant)!, /not a permission/);
    assert.match(parseAllowRule('publish:a..b', grant)!, /empty segment/);
  });
});
