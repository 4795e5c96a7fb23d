/** Entries per block: small enough that a removal's splice is cheap, large enough that blocks stay few. */
const BLOCK = 64;

interface Slot<T> {
  readonly seq: number;
  readonly value: T;
  block: Block<T>;
}

interface Block<T> {
  /** The seq of the first slot ever put in the block: blocks stay sorted by it (binary search). */
  readonly first: number;
  readonly slots: Slot<T>[];
}

/**
 * A set that keeps insertion order and pages through it with a cursor, in work proportional to the page
 * whatever its size (a channel with 50 000 watchers answers a page of 100 without looking at the rest).
 *
 * Every value gets a sequence number from a counter the caller passes in (shared by all rosters of a
 * registry, so that a cursor of a roster that emptied and came back never skips anyone). Values sit in
 * blocks of at most 64 in sequence order; a page binary-searches the block holding its cursor, then
 * walks forward. Blocks are never empty (an emptied one is dropped), so a page of n visits at most n+1
 * blocks. A removal costs a splice in its block, plus one in the block list when the block empties.
 */
export class Roster<T> {
  private readonly blocks: Block<T>[] = [];
  private readonly slots = new Map<T, Slot<T>>();

  get size(): number {
    return this.slots.size;
  }

  has(value: T): boolean {
    return this.slots.has(value);
  }

  /** Adds `value` (once) with sequence number `seq`, which must be higher than any given before. */
  add(value: T, seq: number): void {
    if (this.slots.has(value)) return;
    let last = this.blocks.at(-1);
    if (!last || last.slots.length >= BLOCK) {
      last = { first: seq, slots: [] };
      this.blocks.push(last);
    }
    const slot: Slot<T> = { seq, value, block: last };
    last.slots.push(slot);
    this.slots.set(value, slot);
  }

  /** Removes `value`; false when it was not there. */
  delete(value: T): boolean {
    const slot = this.slots.get(value);
    if (!slot) return false;
    this.slots.delete(value);
    const block = slot.block;
    block.slots.splice(block.slots.indexOf(slot), 1);
    if (block.slots.length === 0) this.blocks.splice(this.blockIndex(block.first), 1);
    return true;
  }

  /**
   * Up to `limit` values with a sequence number above `after` (0: from the start), in order, and the
   * cursor of the next page (undefined when nothing follows).
   */
  page(after: number, limit: number): { values: T[]; next: number | undefined } {
    const values: T[] = [];
    let last = after;
    for (let b = Math.max(0, this.blockIndex(after)); b < this.blocks.length; b++) {
      for (const slot of this.blocks[b]!.slots) {
        if (slot.seq <= after) continue;
        if (values.length === limit) return { values, next: last };
        values.push(slot.value);
        last = slot.seq;
      }
    }
    return { values, next: undefined };
  }

  /** The index of the last block whose first seq is at most `seq` (-1 when there is none). */
  private blockIndex(seq: number): number {
    let low = 0;
    let high = this.blocks.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (this.blocks[mid]!.first <= seq) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  }
}
