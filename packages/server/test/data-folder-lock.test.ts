import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataFolderInUseError, SqliteStore, prepareEvents } from '../src/index.js';
import { getJson, postEvents, scratchDirs, startHub } from './support/hub.js';
import { CLI, spawnHub } from './support/process.js';

const dataDir = scratchDirs('herald-lock-');
const retention = { maxCount: 100, maxAgeMs: 86_400_000 };
const HELD = /the data folder .* is held by another hub \(in this process or another one\); stop that hub first, or give this one another folder with --data/;

const types = async (url: string, channel: string) => (await getJson(`${url}/api/channels/${channel}/events`)).json.events.map((e: any) => e.event.type);

/** Runs `herald serve` on `dir` until it exits; it should not get as far as listening. */
function serveRefused(dir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data', dir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000); // a second hub that started would never exit
    child.on('close', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
  });
}

describe('one hub per data folder', () => {
  it('refuses a second store on the same folder in the same process until the first closes', async () => {
    const dir = dataDir();
    const first = new SqliteStore({ dataDir: dir, retention });
    await first.append('kept', prepareEvents([{ type: 'one' }], 65536));
    assert.throws(
      () => new SqliteStore({ dataDir: dir, retention }),
      (error: Error) => error instanceof DataFolderInUseError && HELD.test(error.message) && error.message.includes(dir),
    );
    assert.deepEqual((await first.append('kept', prepareEvents([{ type: 'two' }], 65536))).offsets, [2], 'the first store is untouched');
    await first.close();
    await first.close(); // safe twice
    const next = new SqliteStore({ dataDir: dir, retention });
    assert.deepEqual((await next.read('kept', 0, 10)).events.map((e) => e.offset), [1, 2]);
    await next.close();
  });

  it('refuses a second hub on the same folder in the same process; after the first closes a new one starts', async () => {
    const dir = dataDir();
    const first = await startHub({ dataDir: dir });
    try {
      assert.equal((await postEvents(first.url, 'kept', { type: 'before' })).status, 201);
      await assert.rejects(startHub({ dataDir: dir }), (error: Error) => error instanceof DataFolderInUseError && error.message.includes(dir));
      assert.equal((await postEvents(first.url, 'kept', { type: 'after' })).status, 201, 'the first hub carries on');
    } finally {
      await first.close();
    }
    const next = await startHub({ dataDir: dir });
    try {
      assert.deepEqual(await types(next.url, 'kept'), ['before', 'after']);
    } finally {
      await next.close();
    }
  });

  it('makes a second herald serve exit with a sentence; after SIGKILL of the first, the next one starts', async () => {
    const dir = dataDir();
    const first = await spawnHub(dir);
    try {
      assert.equal((await postEvents(first.url, 'kept', { type: 'before' })).status, 201);
      const refused = await serveRefused(dir);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, HELD);
      assert.ok(refused.stderr.includes(dir), 'the message names the folder');
      assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
      assert.doesNotMatch(refused.stdout, /listening/);
      assert.equal((await postEvents(first.url, 'kept', { type: 'after' })).status, 201, 'the first hub carries on');
      assert.ok(!existsSync(join(dir, 'herald.lock-journal')), 'the lock leaves no journal to clean up');
    } finally {
      await first.kill(); // SIGKILL: nothing is released by the hub itself
    }
    const next = await spawnHub(dir);
    try {
      assert.deepEqual(await types(next.url, 'kept'), ['before', 'after']);
    } finally {
      await next.kill();
    }
  });
});
