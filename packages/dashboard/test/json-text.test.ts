import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { jsonText } from '../src/lib/json-text.js';

const nested = (depth: number): unknown => {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { next: value };
  return value;
};

describe('jsonText', () => {
  it('writes what JSON.stringify writes, for any JSON value', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => assert.equal(jsonText(value), JSON.stringify(value))));
  });

  it('cut to max characters, writes the first max characters of the whole', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(300), (value, max) => {
        const whole = JSON.stringify(value);
        assert.equal(jsonText(value, max), whole.slice(0, max));
      }),
    );
  });

  it('writes a value 100 000 levels deep, where JSON.stringify overflows the stack', () => {
    const deep = nested(100_000);
    assert.throws(() => JSON.stringify(deep), RangeError);
    const text = jsonText(deep);
    assert.ok(text.startsWith('[{"next":[{"next":') || text.startsWith('{"next":[{"next":'));
    assert.ok(text.includes('"bottom"'));
    assert.equal(jsonText(deep, 50).length, 50);
  });

  it('leaves out keys with no JSON form and writes non-finite numbers as null, like JSON.stringify', () => {
    const value = { a: undefined, b: () => 1, c: Number.POSITIVE_INFINITY, d: [undefined, Number.NaN], e: 1e308 };
    assert.equal(jsonText(value, 1000), JSON.stringify(value));
  });
});
