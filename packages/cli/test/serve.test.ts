import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { CloseCodes } from '@herald/protocol';
import { scratchDirs } from '../../server/test/support/hub.js';
import { TestClient } from '../../server/test/support/ws-client.js';
import { CLI, spawnHub, until } from '../../server/test/support/process.js';

const ARCHIVE_FILES = ['runs.db', 'runs.db-wal', 'runs.db-shm'];

/** The offset of the run's snapshot in the archive, read from the file the way the hub writes it; -1 if absent. */
function archivedOffset(dataDir: string, runId: string): number {
  if (!existsSync(join(dataDir, 'runs.db'))) return -1;
  const db = new Database(join(dataDir, 'runs.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare<[string], { snapshot: string }>('SELECT snapshot FROM runs WHERE id = ?').get(runId);
    return row ? (JSON.parse(row.snapshot) as { offset: number }).offset : -1;
  } catch {
    return -1; // not created yet
  } finally {
    db.close();
  }
}

/** One POST on its own connection; resolves with the acknowledged offsets, rejects if not acknowledged. */
function publish(url: string, channel: string, events: unknown[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/channels/${channel}/events`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => (res.statusCode === 201 ? resolve(JSON.parse(body).offsets) : reject(new Error(`status ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(events));
  });
}

describe('herald serve', () => {
  const scratchDir = scratchDirs('herald-serve-');

  it('loses no acknowledged event when killed with SIGKILL in the middle of publishing', async () => {
    const dataDir = scratchDir();
    const first = await spawnHub(dataDir);
    const acknowledged = new Map<string, number>();
    let killed = false;
    // Eight publishers, each sending small batches with idempotency ids as fast as the hub answers.
    const publishers = Array.from({ length: 8 }, async (_, p) => {
      for (let i = 0; !killed; i++) {
        const events = [0, 1, 2].map((k) => ({ type: 'load', id: `p${p}-${i}-${k}`, data: { p, i, k } }));
        try {
          const offsets = await publish(first.url, 'durable', events);
          events.forEach((e, k) => acknowledged.set(e.id, offsets[k]!));
        } catch {
          return; // the hub died under this request: it was never acknowledged
        }
      }
    });
    while (acknowledged.size < 600) await new Promise((r) => setTimeout(r, 5));
    first.child.kill('SIGKILL');
    killed = true;
    await first.exited;
    await Promise.all(publishers);

    const second = await spawnHub(dataDir);
    try {
      const stored = new Map<string, number>();
      for (let since = 0; ; ) {
        const page = await fetch(`${second.url}/api/channels/durable/events?since=${since}&limit=1000`).then((r) => r.json() as Promise<any>);
        for (const e of page.events) stored.set(e.event.id, e.offset);
        if (page.events.length === 0) break;
        since = page.next;
      }
      assert.ok(acknowledged.size >= 600);
      for (const [id, offset] of acknowledged) assert.equal(stored.get(id), offset, `acknowledged event ${id} at offset ${offset} survived`);
      const offsets = [...stored.values()].sort((a, b) => a - b);
      assert.deepEqual(offsets, Array.from({ length: offsets.length }, (_, i) => i + 1), 'offsets have no gaps');
    } finally {
      await second.kill();
    }
  });

  it('rebuilds run snapshots that were not yet written when the hub was killed', async () => {
    const dataDir = scratchDir();
    const saved = scratchDir();
    const first = await spawnHub(dataDir);
    assert.deepEqual(await publish(first.url, 'runs.crash', [{ type: 'run.started', data: { title: 'killed mid-flight' } }]), [1]);
    // The archive takes in offset 1; a copy of it at that moment stands for an archive the kill cut short.
    await until(() => archivedOffset(dataDir, 'crash') === 1, 'the archive to take in the first event');
    for (const file of ARCHIVE_FILES) if (existsSync(join(dataDir, file))) copyFileSync(join(dataDir, file), join(saved, file));
    const events = [
      { type: 'step.started', data: { step: 'a' } },
      { type: 'step.completed', data: { step: 'a', status: 'failed' } },
      { type: 'log', severity: 'error', data: { message: 'kaboom in the reactor' } },
      { type: 'run.progress', data: { percent: 40 } },
    ];
    assert.deepEqual(await publish(first.url, 'runs.crash', events), [2, 3, 4, 5]);
    await first.kill();
    // The event history holds offsets 1–5, the archive only 1: whatever the flush timer did before the
    // kill, only replaying the history can produce the state below.
    for (const file of ARCHIVE_FILES) rmSync(join(dataDir, file), { force: true });
    for (const file of ARCHIVE_FILES) if (existsSync(join(saved, file))) copyFileSync(join(saved, file), join(dataDir, file));
    assert.equal(archivedOffset(dataDir, 'crash'), 1);
    const second = await spawnHub(dataDir);
    try {
      const run = (await fetch(`${second.url}/api/runs/crash`).then((r) => r.json())) as any;
      assert.equal(run.title, 'killed mid-flight');
      assert.equal(run.offset, 5);
      assert.equal(run.percent, 40);
      assert.equal(run.health.score, 85);
      assert.equal(run.steps[0].status, 'failed');
      const search = (await fetch(`${second.url}/api/search?q=reactor`).then((r) => r.json())) as any;
      assert.deepEqual(search.hits.map((h: any) => h.runId), ['crash']);
    } finally {
      await second.kill();
    }
    // With no archive at all, the whole run comes back from the history.
    for (const file of ARCHIVE_FILES) rmSync(join(dataDir, file), { force: true });
    const third = await spawnHub(dataDir);
    try {
      const run = (await fetch(`${third.url}/api/runs/crash`).then((r) => r.json())) as any;
      assert.deepEqual([run.title, run.offset, run.percent, run.steps[0].status], ['killed mid-flight', 5, 40, 'failed']);
    } finally {
      await third.kill();
    }
  });

  it('shuts down gracefully on SIGTERM: clients are closed with 1012 and the process exits 0', async () => {
    const dataDir = scratchDir();
    const hub = await spawnHub(dataDir);
    const client = await TestClient.connect(hub.url);
    await client.request({ op: 'subscribe', channel: 'bye' });
    hub.child.kill('SIGTERM');
    const { code } = await client.closed;
    assert.equal(code, CloseCodes.restart.code);
    assert.deepEqual(await hub.exited, { code: 0, signal: null });
  });

  it('refuses to start with a sentence and exit code 2 when its Redis cannot be reached', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as { port: number };
        probe.close(() => resolve(free));
      });
    });
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--store', 'redis', '--redis', `redis://127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, new RegExp(`cannot start: .*Redis cannot be reached.*start Redis \\(or check --redis 127\\.0\\.0\\.1:${port}\\)`));
    assert.doesNotMatch(stderr, /\n\s+at /, 'a sentence, not a stack trace');
  });

  it('refuses a bad setting with a sentence and exit code 2', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', 'abc'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /--port: "abc" is not a whole number/);
  });
});
