import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MemoryBroker, MemoryBus, RedisBroker } from '../src/index.js';
import { describeBrokerConformance } from './broker-conformance.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL } from './support/redis.js';

describeBrokerConformance('memory', async () => {
  const bus = new MemoryBus();
  return [new MemoryBroker(bus), new MemoryBroker(bus)];
});

if (await redisAnswers(SHARED_REDIS_URL)) {
  const prefixes = scratchPrefixes();
  // Two nodes on one Redis and prefix, as two hubs of a cluster.
  describeBrokerConformance('redis', async () => {
    const prefix = prefixes();
    return [new RedisBroker({ url: SHARED_REDIS_URL, prefix }), new RedisBroker({ url: SHARED_REDIS_URL, prefix })];
  });
} else {
  const message = `no Redis answers at ${SHARED_REDIS_URL} (set HERALD_TEST_REDIS to another one)`;
  // In CI a missing Redis is a broken environment, not a reason to pass.
  if (process.env.CI === 'true') it('Broker conformance: redis needs a Redis', () => assert.fail(message));
  else it(`Broker conformance: redis skipped: ${message}`, (t) => t.skip(message));
}
