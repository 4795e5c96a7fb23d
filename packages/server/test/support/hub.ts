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

/** A real hub on port 0 with a real SQLite file in a temporary folder. */
export async function startHub(config: Partial<HeraldConfig> = {}): Promise<TestHub> {
  const dataDir = config.dataDir ?? tempDir();
  const server = await startServer({ port: 0, logLevel: 'silent', ...config, dataDir });
  return Object.assign(server, {
    dataDir,
    dispose: async () => {
      await server.close();
      if (!config.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  });
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
