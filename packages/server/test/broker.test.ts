import { MemoryBroker, MemoryBus } from '../src/index.js';
import { describeBrokerConformance } from './broker-conformance.js';

describeBrokerConformance('memory', async () => {
  const bus = new MemoryBus();
  return [new MemoryBroker(bus), new MemoryBroker(bus)];
});
