import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHILDREN_PAGE, FIRST_SIGHT_ROWS, firstSight, layOut, OPEN_LEVELS, Places, ROOT, STRING_CUT, type Path, type Row, type ViewState } from '../src/components/json-rows.js';

const closed = (): ViewState => ({ open: new Set(), shown: new Map(), whole: new Set() });
const atFirstSight = (value: unknown, places: Places): ViewState => ({ ...closed(), open: firstSight(value, places) });
/** Opens every closed container shown, `times` times over: one more level each time. */
const openAll = (value: unknown, state: ViewState, places: Places, times: number): ViewState => {
  const open = new Set(state.open);
  for (let i = 0; i < times; i++) for (const row of layOut(value, { ...state, open }, places)) if (row.kind === 'container') open.add(row.path);
  return { ...state, open };
};
const last = (rows: Row[]) => rows[rows.length - 1]!;
const nested = (depth: number): unknown => {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = { next: value };
  return value;
};

describe('JSON viewer rows', () => {
  it('opens a small value whole, down to OPEN_LEVELS', () => {
    const value = { a: 1, b: { c: [true, null] } };
    const places = new Places();
    const rows = layOut(value, atFirstSight(value, places), places);
    assert.deepEqual(
      rows.map((r) => [r.kind, r.depth, r.kind === 'more' ? undefined : r.label]),
      [['container', 0, undefined], ['scalar', 1, '"a"'], ['container', 1, '"b"'], ['container', 2, '"c"']],
    );
    assert.equal(OPEN_LEVELS, 2, 'the third level starts closed');
  });

  it('lays out a value 100 000 levels deep without recursion, one level more per opened path', () => {
    const deep = nested(100_000);
    const places = new Places();
    const state = atFirstSight(deep, places);
    assert.equal(layOut(deep, state, places).length, OPEN_LEVELS + 1);
    const open = new Set(state.open);
    for (let i = 0, path: Path = ROOT; i < 5000; i++, path = places.child(path, 0)) open.add(path);
    const rows = layOut(deep, { ...state, open }, places);
    assert.equal(rows.length, 5001);
    assert.equal(last(rows).depth, 5000);
  });

  it('shows a page of children with the rest counted, and another page per click', () => {
    const wide = Object.fromEntries(Array.from({ length: 6000 }, (_, i) => [`k${i}`, i]));
    const places = new Places();
    const state = atFirstSight(wide, places);
    let rows = layOut(wide, state, places);
    assert.equal(rows.length, 1 + CHILDREN_PAGE + 1);
    assert.deepEqual(last(rows), { kind: 'more', path: ROOT, depth: 1, remaining: 6000 - CHILDREN_PAGE });
    rows = layOut(wide, { ...state, shown: new Map([[ROOT, 2 * CHILDREN_PAGE]]) }, places);
    assert.deepEqual(last(rows), { kind: 'more', path: ROOT, depth: 1, remaining: 6000 - 2 * CHILDREN_PAGE });
    assert.equal(rows.length, 1 + 2 * CHILDREN_PAGE + 1);
  });

  it('opens at most FIRST_SIGHT_ROWS rows of a 10 000-element event on first sight', () => {
    const grid = Array.from({ length: 100 }, () => Array.from({ length: 99 }, (_, i) => i));
    const places = new Places();
    const rows = layOut(grid, atFirstSight(grid, places), places);
    assert.ok(rows.length <= FIRST_SIGHT_ROWS, `${rows.length} rows`);
    assert.ok(rows.length > CHILDREN_PAGE, 'yet more than the top level');
  });

  it('cuts long strings (not inside a surrogate pair) until shown whole, and shows invisible characters as escapes', () => {
    const long = `${'x'.repeat(STRING_CUT - 1)}😀tail`;
    const row = layOut(long, closed(), new Places())[0]!;
    assert.ok(row.kind === 'string' && row.cut);
    assert.equal(row.kind === 'string' && row.text, `"${'x'.repeat(STRING_CUT - 1)}…`);
    const whole = layOut(long, { ...closed(), whole: new Set([ROOT]) }, new Places())[0]!;
    assert.equal(whole.kind === 'string' && whole.text, JSON.stringify(long));
    const hidden = layOut('a\u202Etxt.exe\u200B', closed(), new Places())[0]!;
    assert.equal(hidden.kind === 'string' && hidden.text, '"a\\u202etxt.exe\\u200b"');
  });

  it('gives every place its own path and label, whatever the keys hold, and a place keeps its path', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a\\"b": 1, "a": {"\\"b": 2}, "": {"": [[], {}]}, "[0]": 3}') as unknown;
    const places = new Places();
    const state = openAll(value, closed(), places, 5);
    const rows = layOut(value, state, places);
    const paths = rows.map((r) => r.path);
    assert.equal(new Set(paths).size, paths.length);
    assert.deepEqual(rows.map((r) => r.kind !== 'more' && r.label).slice(1), ['"__proto__"', '"polluted"', '"a\\"b"', '"a"', '"\\"b"', '""', '""', '0', '1', '"[0]"']);
    assert.deepEqual(layOut(value, state, places).map((r) => r.path), paths, 'the same paths on the next render');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
