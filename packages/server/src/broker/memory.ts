import type { StoredEvent } from '../store/types.js';
import type { Broker } from './types.js';

/** In-process fan-out: delivers synchronously, so order is the order of publish calls. */
export class MemoryBroker implements Broker {
  private listener: ((epoch: string, events: readonly StoredEvent[]) => void) | undefined;

  publish(epoch: string, events: readonly StoredEvent[]): void {
    this.listener?.(epoch, events);
  }

  onEvents(listener: (epoch: string, events: readonly StoredEvent[]) => void): void {
    this.listener = listener;
  }

  async close(): Promise<void> {
    this.listener = undefined;
  }
}
