import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { after } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type HeraldConfig, type HeraldServer } from '../../src/index.js';

export function tempDir(prefix = 'herald-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** For one test file: a maker of temporary folders, all removed when the file's tests end. */
export function scratchDirs(prefix = 'herald-test-'): () => string {
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  return () => {
    const dir = tempDir(prefix);
    dirs.push(dir);
    return dir;
  };
}

export interface TestHub extends HeraldServer {
  dataDir: string;
  /** Closes the hub and removes its data folder. */
  dispose(): Promise<void>;
}

/**
 * The history engine the end-to-end suites run on: `HERALD_TEST_ENGINE` = `sqlite` (the default),
 * `memory` or `redis` (a key prefix of its own per hub on the shared test Redis, deleted when the hub is
 * disposed). scripts/run-tests.mjs runs the suites once per engine.
 */
export const TEST_ENGINE = (process.env.HERALD_TEST_ENGINE ?? 'sqlite') as 'sqlite' | 'memory' | 'redis';

/** A real hub on port 0 with a real SQLite file in a temporary folder (or the engine of TEST_ENGINE). */
export async function startHub(config: Partial<HeraldConfig> = {}): Promise<TestHub> {
  const dataDir = config.dataDir ?? tempDir();
  const engine: Partial<HeraldConfig> =
    config.store !== undefined || TEST_ENGINE === 'sqlite'
      ? {}
      : TEST_ENGINE === 'memory'
        ? { store: 'memory' }
        : { store: 'redis', redisUrl: process.env.HERALD_TEST_REDIS ?? 'redis://127.0.0.1:6379', redisPrefix: `herald-test-${randomBytes(6).toString('hex')}` };
  const server = await startServer({ port: 0, logLevel: 'silent', ...engine, ...config, dataDir });
  return Object.assign(server, {
    dataDir,
    dispose: async () => {
      await server.close();
      if (engine.redisPrefix) await dropRedisPrefix(engine.redisUrl!, engine.redisPrefix);
      if (!config.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** Deletes the keys of one test prefix (SCAN, never FLUSH: the Redis is shared). */
async function dropRedisPrefix(url: string, prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    for (const match of [`${prefix}:*`, `{${prefix}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        if (keys.length > 0) await client.unlink(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
  } finally {
    client.disconnect();
  }
}

/**
 * HTTP helpers on a fresh TCP connection per request: a pooled keep-alive socket to a hub that was
 * restarted would fail the next request, which is a property of the pool, not of the hub.
 */
export function request(
  method: string,
  url: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; headers: import('node:http').IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent: false, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function postEvents(base: string, channel: string, body: unknown): Promise<{ status: number; json: any }> {
  const url = `${base}/api/channels/${encodeURIComponent(channel)}/events`;
  const { status, text } = await request('POST', url, typeof body === 'string' ? body : JSON.stringify(body));
  return { status, json: JSON.parse(text) };
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const { status, text } = await request('GET', url, undefined, headers);
  return { status, json: JSON.parse(text) };
}

export const bearer = (credential: string): Record<string, string> => ({ authorization: `Bearer ${credential}` });
