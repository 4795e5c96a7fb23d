import { cutText, revealInvisible } from '../lib/format.js';

/**
 * The JSON viewer's model: a value laid out as flat rows, computed with an explicit stack. Nothing here
 * recurses, so an event of any depth — the hub allows up to 512 levels when configured so, and history
 * written before it had a limit may hold thousands — costs no call-stack frames and no nested DOM; the
 * work per render is bounded by the rows shown, not by the size of the event.
 */

/** Levels open on first sight; deeper containers start closed and open one level per click. */
export const OPEN_LEVELS = 2;
/** Rows shown on first sight in all: past this, containers start closed even above `OPEN_LEVELS`. */
export const FIRST_SIGHT_ROWS = 400;
/** Children shown per container before a "… K more" button; each click shows this many more. */
export const CHILDREN_PAGE = 100;
/** Characters of a string value shown before "show all". */
export const STRING_CUT = 1000;
/** Characters of an object key shown; longer keys are cut with no way to open them (they are rare). */
export const KEY_CUT = 200;

/**
 * Where a value sits, as a number: the root is 0, and `Places` numbers each (parent, child index) pair
 * on first visit. A place is as short at level 5 000 as at level 1, and whatever the keys hold.
 */
export type Path = number;
export const ROOT: Path = 0;

/** The numbering of places in one value; keep one per value, so that what is open stays open. */
export class Places {
  private readonly ids = new Map<string, Path>();

  child(parent: Path, index: number): Path {
    const key = `${parent}/${index}`;
    let id = this.ids.get(key);
    if (id === undefined) this.ids.set(key, (id = this.ids.size + 1));
    return id;
  }
}

export interface ViewState {
  /** Containers shown open. */
  open: ReadonlySet<Path>;
  /** Children shown per container, when more than the first page. */
  shown: ReadonlyMap<Path, number>;
  /** Strings shown whole. */
  whole: ReadonlySet<Path>;
}

export type Row =
  | { kind: 'container'; path: Path; depth: number; label: string | undefined; array: boolean; size: number; open: boolean }
  | { kind: 'string'; path: Path; depth: number; label: string | undefined; text: string; length: number; cut: boolean }
  | { kind: 'scalar'; path: Path; depth: number; label: string | undefined; text: string; className: string }
  | { kind: 'more'; path: Path; depth: number; remaining: number };

type Container = Record<string, unknown> | unknown[];

const keyCache = new WeakMap<object, string[]>();
/** An object's keys, listed once per object: a 6 000-key object is not listed again on every click. */
function keysOf(value: Record<string, unknown>): string[] {
  let keys = keyCache.get(value);
  if (!keys) keyCache.set(value, (keys = Object.keys(value)));
  return keys;
}

const isContainer = (value: unknown): value is Container => typeof value === 'object' && value !== null;
const sizeOf = (value: Container): number => (Array.isArray(value) ? value.length : keysOf(value).length);

/** The places, labels and values of a container's first `count` children. */
function childrenOf(value: Container, path: Path, count: number, places: Places): Array<[Path, string, unknown]> {
  const out: Array<[Path, string, unknown]> = [];
  if (Array.isArray(value)) {
    for (let i = 0; i < Math.min(value.length, count); i++) out.push([places.child(path, i), String(i), value[i]]);
  } else {
    const keys = keysOf(value);
    for (let i = 0; i < Math.min(keys.length, count); i++) out.push([places.child(path, i), showKey(keys[i]!), value[keys[i]!]]);
  }
  return out;
}

function showKey(key: string): string {
  const cut = cutText(key, KEY_CUT);
  return revealInvisible(JSON.stringify(cut)) + (cut.length < key.length ? `…(${key.length} chars)` : '');
}

function leaf(value: unknown, path: Path, depth: number, label: string | undefined, whole: boolean): Row {
  if (typeof value === 'string') {
    const shown = whole ? value : cutText(value, STRING_CUT);
    const cut = shown.length < value.length;
    // A cut string has no closing quote: it does not end there.
    const text = cut ? `${JSON.stringify(shown).slice(0, -1)}…` : JSON.stringify(shown);
    return { kind: 'string', path, depth, label, text: revealInvisible(text), length: value.length, cut };
  }
  const className = value === null || typeof value === 'boolean' ? 'b' : typeof value === 'number' ? 'n' : '';
  return { kind: 'scalar', path, depth, label, text: String(value), className };
}

/** The rows to draw for `value` as `state` has it open, in document order. */
export function layOut(value: unknown, state: ViewState, places: Places): Row[] {
  const rows: Row[] = [];
  // Pushed in reverse so that they pop in order; a `more` entry stands for the rest of a container.
  const stack: Array<{ path: Path; depth: number; label: string | undefined; value: unknown } | Extract<Row, { kind: 'more' }>> = [
    { path: ROOT, depth: 0, label: undefined, value },
  ];
  for (let item = stack.pop(); item; item = stack.pop()) {
    if ('kind' in item) {
      rows.push(item);
      continue;
    }
    const { path, depth, label } = item;
    if (!isContainer(item.value)) {
      rows.push(leaf(item.value, path, depth, label, state.whole.has(path)));
      continue;
    }
    const size = sizeOf(item.value);
    const open = size > 0 && state.open.has(path);
    rows.push({ kind: 'container', path, depth, label, array: Array.isArray(item.value), size, open });
    if (!open) continue;
    const count = Math.min(size, state.shown.get(path) ?? CHILDREN_PAGE);
    if (count < size) stack.push({ kind: 'more', path, depth: depth + 1, remaining: size - count });
    const children = childrenOf(item.value, path, count, places);
    for (let i = children.length - 1; i >= 0; i--) {
      const [childPath, childLabel, child] = children[i]!;
      stack.push({ path: childPath, depth: depth + 1, label: childLabel, value: child });
    }
  }
  return rows;
}

/**
 * The containers open on first sight: level by level from the top, down to `OPEN_LEVELS`, while the
 * rows they would show fit in `FIRST_SIGHT_ROWS`. A 10 000-key event opens a few hundred rows, not ten
 * thousand, and a small one opens whole.
 */
export function firstSight(value: unknown, places: Places): Set<Path> {
  const open = new Set<Path>();
  let rows = 1;
  let level: Array<[Path, Container]> = isContainer(value) ? [[ROOT, value]] : [];
  for (let depth = 0; depth < OPEN_LEVELS && level.length > 0; depth++) {
    const next: Array<[Path, Container]> = [];
    for (const [path, container] of level) {
      const size = sizeOf(container);
      const adds = Math.min(size, CHILDREN_PAGE) + (size > CHILDREN_PAGE ? 1 : 0);
      if (rows + adds > FIRST_SIGHT_ROWS) return open;
      open.add(path);
      rows += adds;
      for (const [childPath, , child] of childrenOf(container, path, CHILDREN_PAGE, places)) if (isContainer(child)) next.push([childPath, child]);
    }
    level = next;
  }
  return open;
}
