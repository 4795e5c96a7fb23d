import { HeraldError } from '../errors.js';
import type { StoredEvent } from '../store/types.js';
import type { Broker, BrokerEphemeralListener, BrokerListener, EphemeralEvent } from './types.js';

/**
 * Connects the memory brokers of one process, as a Redis server connects the hubs of a cluster: each
 * broker made on the same bus receives what any of them publishes. A hub gets a bus of its own unless
 * several are given one (tests of several hubs in one process).
 */
export class MemoryBus {
  readonly brokers = new Set<MemoryBroker>();
}

/**
 * In-process fan-out: delivers synchronously inside `publish`, so order is the order of publish calls.
 * It delivers every event to every broker on its bus, whatever the interest: the hub's index picks the
 * subscribers, and filtering here would match every event twice on the hot path.
 */
export class MemoryBroker implements Broker {
  /** Delivered synchronously inside `publish`, to every broker on the bus: nothing is lost or reordered. */
  readonly lossless = true;
  private readonly listeners = new Set<BrokerListener>();
  private readonly ephemeralListeners = new Set<BrokerEphemeralListener>();
  private closed = false;

  constructor(private readonly bus: MemoryBus = new MemoryBus()) {
    bus.brokers.add(this);
  }

  async publish(epoch: string, events: readonly StoredEvent[]): Promise<void> {
    if (this.closed) throw new HeraldError('shutting_down', 'the broker is closed');
    for (const broker of this.bus.brokers) broker.deliver(epoch, events);
  }

  async publishEphemeral(event: EphemeralEvent): Promise<void> {
    if (this.closed) throw new HeraldError('shutting_down', 'the broker is closed');
    for (const broker of this.bus.brokers) for (const listener of broker.ephemeralListeners) listener(event);
  }

  async subscribe(_channel: string): Promise<void> {
    if (this.closed) throw new HeraldError('shutting_down', 'the broker is closed');
  }

  unsubscribe(_channel: string): void {}

  onEvents(listener: BrokerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onEphemeral(listener: BrokerEphemeralListener): () => void {
    this.ephemeralListeners.add(listener);
    return () => this.ephemeralListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.bus.brokers.delete(this);
    this.listeners.clear();
    this.ephemeralListeners.clear();
  }

  private deliver(epoch: string, events: readonly StoredEvent[]): void {
    for (const listener of this.listeners) listener(epoch, events);
  }
}
