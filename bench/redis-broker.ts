// Two RedisBroker nodes on one Redis (HERALD_BENCH_REDIS, default the local one) under a random prefix:
// events/s from node A's publish to node B's listener, and the latency of single events.
// Run: npx tsx bench/redis-broker.ts
import { randomBytes } from 'node:crypto';
import { RedisBroker, type StoredEvent } from '../packages/server/src/index.js';

const url = process.env.HERALD_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const prefix = `herald-bench-${randomBytes(6).toString('hex')}`;
const json = JSON.stringify({ type: 'log', severity: 'info', data: { message: 'x'.repeat(100) } });
const event = (offset: number): StoredEvent => ({ channel: 'bench.c', offset, time: Date.now(), json });

const a = new RedisBroker({ url, prefix });
const b = new RedisBroker({ url, prefix });
let received = 0;
let onEvent: (offset: number) => void = () => {};
b.onEvents((_, events) => {
  for (const e of events) {
    received++;
    onEvent(e.offset);
  }
});
await b.subscribe('bench.c');
if (process.env.BENCH_PATTERN !== '0') await b.subscribe('bench.>'); // name and pattern: Redis sends two copies

// Throughput: 10 000 publishes of one event each, back to back (as 10 000 single publishes through a hub).
const total = 10_000;
const done = new Promise<void>((resolve) => (onEvent = (offset) => offset === total && resolve()));
const started = performance.now();
await Promise.all(Array.from({ length: total }, (_, i) => a.publish('e', [event(i + 1)])));
await done;
const seconds = (performance.now() - started) / 1000;
console.log(`throughput: ${total} events in ${(seconds * 1000).toFixed(0)} ms = ${Math.round(total / seconds)} events/s (received ${received})`);

// Latency: one event at a time, publish → the other node's listener.
const samples: number[] = [];
for (let i = 1; i <= 2000; i++) {
  const offset = total + i;
  const arrived = new Promise<void>((resolve) => (onEvent = (o) => o === offset && resolve()));
  const t0 = performance.now();
  await a.publish('e', [event(offset)]);
  await arrived;
  samples.push(performance.now() - t0);
}
samples.sort((x, y) => x - y);
const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!.toFixed(3);
console.log(`latency publish → other node: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms (${samples.length} samples)`);
await Promise.all([a.close(), b.close()]);
