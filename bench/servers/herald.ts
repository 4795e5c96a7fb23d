import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '@herald/server';
import { answerStats } from './report.js';

// Herald as users run it: durable SQLite store (or `memory` when asked), one process, one port. With
// `redis <url> <prefix>` it is one hub of a cluster (`herald serve --store redis --redis … --redis-prefix …`).
const store = (process.argv[2] ?? process.env.BENCH_STORE ?? 'sqlite') as 'sqlite' | 'memory' | 'redis';
const [redisUrl, redisPrefix] = [process.argv[3], process.argv[4]];
if (store === 'redis' && (!redisUrl || !redisPrefix)) throw new Error('usage: herald.ts redis <redis://host:port> <prefix>');
const dataDir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
const hub = await startServer({ port: 0, store, dataDir, logLevel: 'error', heartbeatMs: 600_000, maxSubscriptions: 10,
  ...(store === 'redis' ? { redisUrl, redisPrefix } : {}),
  // The benchmarks measure the engine at full load from one machine: the quotas that stop one client
  // from doing exactly that are off (docs/operations.md#quotas).
  maxConnectionsPerIp: 0, maxEventsPerSecond: 0, maxIpEventsPerSecond: 0, maxChannels: 0, maxNewChannelsPerMinute: 0 });
answerStats(async () => {
  await hub.close();
  rmSync(dataDir, { recursive: true, force: true });
});
process.send!({ cmd: 'ready', port: hub.port });
