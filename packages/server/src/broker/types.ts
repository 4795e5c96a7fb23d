import type { StoredEvent } from '../store/types.js';

/**
 * The fan-out seam. A broker carries stored events to every hub that shares it (only this process for
 * the memory broker; every hub on the same Redis later). Contract, checked by the conformance suite:
 * events of one channel reach listeners in offset order, each once, and only after they were stored.
 */
export interface Broker {
  publish(epoch: string, events: readonly StoredEvent[]): void;
  /** Registers the one listener of this hub. */
  onEvents(listener: (epoch: string, events: readonly StoredEvent[]) => void): void;
  close(): Promise<void>;
}
