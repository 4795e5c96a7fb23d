/** One entry of `Deadlines`: where it sits in the heap (-1 once it left). */
export interface DeadlineEntry<T> {
  readonly item: T;
  readonly at: number;
  index: number;
}

/**
 * Items that expire at a time, behind one Node timer: a binary min-heap by deadline, the timer armed for
 * the earliest. Adding and removing cost O(log n), so a hub with thousands of requests waiting holds
 * one timer, not thousands, and an answered request leaves the heap at once (nothing waits to expire).
 */
export class Deadlines<T> {
  private readonly heap: Array<DeadlineEntry<T>> = [];
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;

  constructor(
    private readonly onExpire: (item: T) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  add(item: T, at: number): DeadlineEntry<T> {
    const entry: DeadlineEntry<T> = { item, at, index: this.heap.length };
    this.heap.push(entry);
    this.up(entry.index);
    this.arm();
    return entry;
  }

  /** Takes an entry out (safe to call for one that expired or was removed already). */
  remove(entry: DeadlineEntry<T>): void {
    const i = entry.index;
    if (i < 0 || this.heap[i] !== entry) return;
    entry.index = -1;
    const last = this.heap.pop()!;
    if (last !== entry) {
      this.heap[i] = last;
      last.index = i;
      this.down(i);
      this.up(last.index);
    }
    if (this.heap.length === 0) this.disarm();
  }

  /** Forgets every entry without expiring them (shutdown). */
  clear(): void {
    for (const entry of this.heap) entry.index = -1;
    this.heap.length = 0;
    this.disarm();
  }

  private expire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = this.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const entry = this.heap[0]!;
      this.remove(entry);
      this.onExpire(entry.item);
    }
    this.arm();
  }

  private arm(): void {
    const first = this.heap[0];
    if (!first || first.at >= this.armedFor) return;
    clearTimeout(this.timer);
    this.armedFor = first.at;
    this.timer = setTimeout(() => this.expire(), Math.max(0, first.at - this.now()));
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private up(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && heap[left]!.at < heap[least]!.at) least = left;
      if (right < heap.length && heap[right]!.at < heap[least]!.at) least = right;
      if (least === i) return;
      this.swap(i, least);
      i = least;
    }
  }

  private swap(a: number, b: number): void {
    const heap = this.heap;
    const x = heap[a]!;
    const y = heap[b]!;
    heap[a] = y;
    heap[b] = x;
    y.index = a;
    x.index = b;
  }
}
