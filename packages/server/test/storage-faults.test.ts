import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataCorruptError, startServer } from '../src/index.js';
import { Bystander } from './support/bystander.js';
import { getJson, postEvents, scratchDirs, tempDir } from './support/hub.js';
import { CLI } from './support/process.js';

const dirs = scratchDirs('herald-storage-');

/** A small tmpfs, so that the disk can really fill; undefined where mounting is not allowed. */
function smallDisk(sizeKiB: number): { dir: string; unmount(): void } | undefined {
  const dir = tempDir('herald-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('storage faults are reported honestly', () => {
  it('a full disk: 503 storage_unavailable, /health degraded, back to ok once space is freed, nothing acknowledged lost', async (t) => {
    const disk = smallDisk(4096);
    if (!disk) return t.skip('mounting a tmpfs is not allowed here (needs root)');
    const logged: string[] = [];
    const { PassThrough } = await import('node:stream');
    const logStream = new PassThrough();
    logStream.on('data', (d: Buffer) => logged.push(d.toString()));
    const dataDir = join(disk.dir, 'data');
    const hub = await startServer({ port: 0, dataDir, logLevel: 'info' }, { logStream });
    try {
      const bystander = await Bystander.start(hub.url);
      // Leave little room: a filler file takes most of what is free.
      const filler = join(disk.dir, 'filler');
      const fd = openSync(filler, 'w');
      try {
        const chunk = Buffer.alloc(64 * 1024, 1);
        for (;;) writeSync(fd, chunk);
      } catch {
        // ENOSPC: the disk is full now
      } finally {
        closeSync(fd);
      }
      const acked: number[] = [];
      let refused: { status: number; json: any } | undefined;
      for (let i = 0; i < 200 && !refused; i++) {
        const res = await postEvents(hub.url, 'disk', { type: 'fill', data: { i, pad: 'p'.repeat(30_000) } });
        if (res.status === 201) acked.push(res.json.offsets[0]);
        else refused = res;
      }
      assert.ok(refused, 'the disk filled up');
      assert.equal(refused.status, 503);
      assert.equal(refused.json.error.code, 'storage_unavailable');
      for (let i = 0; i < 20; i++) assert.equal((await postEvents(hub.url, 'disk', { type: 'more' })).status, 503);
      const health = (await getJson(`${hub.url}/health`)).json;
      assert.equal(health.status, 'degraded');
      assert.match(health.reason, /SQLITE_FULL/);
      const faultLines = logged.filter((l) => l.includes('storage unavailable'));
      assert.equal(faultLines.length, 1, 'one log line for the episode, not one per publish');
      assert.ok(!logged.some((l) => l.includes('"stack"')), 'no stack traces');

      rmSync(filler);
      const deadline = Date.now() + 10_000;
      while ((await getJson(`${hub.url}/health`)).json.status !== 'ok') {
        assert.ok(Date.now() < deadline, 'health came back to ok after the space was freed');
        await new Promise((r) => setTimeout(r, 100));
      }
      const after = await postEvents(hub.url, 'disk', { type: 'after' });
      assert.equal(after.status, 201);
      const history = (await getJson(`${hub.url}/api/channels/disk/events?limit=1000`)).json;
      const stored = history.events.map((e: any) => e.offset);
      for (const offset of acked) assert.ok(stored.includes(offset), `acknowledged offset ${offset} is in the history`);
      assert.deepEqual(stored, Array.from({ length: stored.length }, (_, i) => i + 1), 'no gap');
      assert.ok(logged.some((l) => l.includes('storage recovered')));
      await bystander.verify();
    } finally {
      await hub.close();
      disk.unmount();
    }
  });

  it('a database with corrupt pages: the hub refuses to start, with a sentence (in-process and herald serve)', async () => {
    const dataDir = dirs();
    const hub = await startServer({ port: 0, dataDir, logLevel: 'silent' });
    for (let i = 0; i < 20; i++) await postEvents(hub.url, `c${i}`, Array.from({ length: 50 }, (_, k) => ({ type: 'x', data: { k, pad: 'q'.repeat(500) } })));
    await hub.close();
    const file = join(dataDir, 'herald.db');
    const size = statSync(file).size;
    assert.ok(size > 64 * 1024, `the database has pages to break (${size} bytes)`);
    const bytes = readFileSync(file);
    // Scribble over pages in the middle (not the header, which would make it "not a database").
    for (let at = 8 * 4096; at < Math.min(size, 16 * 4096); at += 97) bytes[at] = 0xa5;
    writeFileSync(file, bytes);

    await assert.rejects(startServer({ port: 0, dataDir, logLevel: 'silent' }), (error: unknown) => {
      assert.ok(error instanceof DataCorruptError, String(error));
      assert.match(error.message, /is corrupt.*will not start.*recover/);
      return true;
    });
    const serve = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    serve.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => serve.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /is corrupt/);
    assert.ok(!stderr.includes('    at '), 'a sentence, not a stack trace');
  });
});
