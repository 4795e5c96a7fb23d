import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { freePort } from './process.js';
import { after } from 'node:test';
import { Redis } from 'ioredis';

/** The Redis other tests share too: only ever touch keys under a prefix of your own. */
export const SHARED_REDIS_URL = process.env.HERALD_TEST_REDIS ?? 'redis://127.0.0.1:6379';
export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** Whether a Redis answers at `url` (one PING, a second at most). */
export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 1000, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * For one test file: a maker of random key prefixes whose keys are all deleted when the file's tests
 * end (SCAN over the prefix, never KEYS or FLUSH: the Redis is shared).
 */
export function scratchPrefixes(url = SHARED_REDIS_URL): () => string {
  const prefixes: string[] = [];
  after(async () => {
    if (prefixes.length === 0) return;
    const client = new Redis(url, { maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    try {
      for (const prefix of prefixes) await deleteKeys(client, prefix);
    } finally {
      client.disconnect();
    }
  });
  return () => {
    const prefix = `herald-test-${randomBytes(6).toString('hex')}`;
    prefixes.push(prefix);
    return prefix;
  };
}

/** Deletes the keys of one store prefix: `P:…` (global indexes) and `{P:…}:…` (per channel). */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  for (const match of [`${prefix}:*`, `{${prefix}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
  }
}

export interface OwnRedis {
  url: string;
  port: number;
  child: ChildProcess;
  /** A client for destructive commands (FLUSHALL…) on this server only. */
  admin: Redis;
  /** Stops the server (SIGKILL by PID) and waits for its exit. */
  stop(): Promise<void>;
  /** Stops it and starts an empty one on the same port. */
  restart(): Promise<void>;
}

/** A redis-server of this test's own (no persistence), for what must not be done to the shared one. */
export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await redisAnswers(url))) {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return child;
  };
  const kill = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid!, 'SIGKILL');
    await exited;
  };
  const own: OwnRedis = {
    url,
    port,
    child: await launch(),
    admin: new Redis(url, { maxRetriesPerRequest: 1 }),
    stop: async () => {
      own.admin.disconnect();
      await kill(own.child);
    },
    restart: async () => {
      await kill(own.child);
      own.child = await launch();
    },
  };
  own.admin.on('error', () => {});
  return own;
}
