/**
 * WebSocket, SSE and held long-poll connections per client address. One address that opens thousands of long
 * connections holds memory, file descriptors and fan-out work for everyone; past `max` the next one is
 * refused (429 too_many_connections) before anything is set up for it. 0 turns the limit off.
 */
export class ConnectionCounter {
  private readonly counts = new Map<string, number>();

  constructor(readonly max: number) {}

  /** Counts a connection for `address` if there is room; the caller must `release` it exactly once. */
  tryAcquire(address: string): boolean {
    const count = this.counts.get(address) ?? 0;
    if (this.max > 0 && count >= this.max) return false;
    this.counts.set(address, count + 1);
    return true;
  }

  release(address: string): void {
    const count = (this.counts.get(address) ?? 0) - 1;
    if (count > 0) this.counts.set(address, count);
    else this.counts.delete(address);
  }

  /** `release` bound to one acquisition, safe to call more than once (close events may repeat). */
  releaser(address: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(address);
    };
  }

  held(address: string): number {
    return this.counts.get(address) ?? 0;
  }
}
