import assert from 'node:assert/strict';
import { rmSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createPublisher } from '@herald/client/publisher';
import { getJson, startHub, tempDir } from '../../server/test/support/hub.js';
import { spawnHub } from '../../server/test/support/process.js';

async function history(url: string, channel: string): Promise<any[]> {
  const events: any[] = [];
  for (let since = 0; ; ) {
    const page = (await getJson(`${url}/api/channels/${channel}/events?since=${since}&limit=1000`)).json;
    events.push(...page.events);
    if (page.events.length === 0) return events;
    since = page.next;
  }
}

describe('createPublisher', () => {
  it('loses and duplicates nothing when the hub is down for seconds mid-stream', async () => {
    const dir = tempDir();
    let hub = await spawnHub(dir);
    const publisher = createPublisher({ url: hub.url, retry: { initialDelayMs: 50, maxDelayMs: 400 }, maxBatch: 50 });
    const total = 1500;
    let restarted: Promise<void> | undefined;
    for (let i = 0; i < total; i++) {
      publisher.publish('p.stream', { type: 'tick', data: { i } });
      if (i === 500) {
        await publisher.flush();
        await hub.kill();
        // Down for about two seconds while the producer keeps going.
        restarted = new Promise((r) => setTimeout(r, 2000)).then(async () => {
          hub = await spawnHub(dir, [], hub.port);
        });
      }
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await restarted;
    await publisher.flush();
    assert.equal(publisher.queued, 0);
    const stored = await history(hub.url, 'p.stream');
    assert.deepEqual(stored.map((e) => e.event.data.i), Array.from({ length: total }, (_, i) => i), 'every event once, in order');
    assert.equal(new Set(stored.map((e) => e.event.id)).size, total);
    assert.equal(await publisher.close(), true);
    await hub.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('isolates an event the hub refuses and delivers the rest of its batch', async () => {
    const hub = await startHub();
    try {
      const dropped: string[] = [];
      const publisher = createPublisher({ url: hub.url, onDrop: (info) => dropped.push(info.reason) });
      publisher.publish('p.bad', { type: 'ok-1' });
      publisher.publish('p.bad', { type: 'run.progress', data: { percent: 150 } } as any);
      publisher.publish('p.bad', { type: 'ok-2' });
      publisher.publish('runs.p-bad', { type: 'run.progress', data: { percent: 150 } });
      await publisher.flush();
      assert.deepEqual((await history(hub.url, 'p.bad')).map((e) => e.event.type), ['ok-1', 'run.progress', 'ok-2'], 'an unknown type is fine outside runs');
      assert.equal(dropped.length, 1);
      assert.match(dropped[0]!, /HTTP 400.*percent/);
      await publisher.close();
    } finally {
      await hub.dispose();
    }
  });

  it('keeps unacknowledged events in its spool file across a restart of the publisher', async () => {
    const hub = await startHub();
    const spoolFile = join(hub.dataDir, 'spool.ndjson');
    try {
      // A publisher that could not reach any hub and was stopped.
      const offline = createPublisher({ url: 'http://127.0.0.1:9', spoolFile, retry: { initialDelayMs: 10, maxDelayMs: 20 } });
      offline.publish('p.spool', { type: 'a' });
      offline.publish('p.spool', { type: 'b' });
      assert.equal(await offline.close({ timeoutMs: 100 }), false);
      assert.equal(readFileSync(spoolFile, 'utf8').trim().split('\n').length, 2);
      // Its successor picks the spool up and delivers it.
      const next = createPublisher({ url: hub.url, spoolFile });
      await next.flush();
      assert.deepEqual((await history(hub.url, 'p.spool')).map((e) => e.event.type), ['a', 'b']);
      assert.equal(existsSync(spoolFile) ? readFileSync(spoolFile, 'utf8') : '', '');
      await next.close();
    } finally {
      writeFileSync(spoolFile, '');
      await hub.dispose();
    }
  });
});
