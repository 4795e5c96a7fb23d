import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { startServer, type HeraldServer } from '@herald/server';
import { launchChromium } from '../../server/test/support/browser.js';
import { getJson, postEvents, tempDir } from '../../server/test/support/hub.js';

const DASHBOARD = new URL('../dist', import.meta.url).pathname;

describe('Overview: stored totals in real Chromium', () => {
  const dataDir = tempDir('herald-overview-');
  let hub: HeraldServer | undefined;
  after(async () => {
    await hub?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows what the history stores, also after a restart, beside the counters labelled "since start"', async () => {
    hub = await startServer({ port: 0, dataDir, logLevel: 'silent', dashboardDir: DASHBOARD });
    await postEvents(hub.url, 'stored.a', Array.from({ length: 30 }, (_, i) => ({ type: 'tick', data: { i } })));
    await postEvents(hub.url, 'stored.b', Array.from({ length: 12 }, (_, i) => ({ type: 'tick', data: { i } })));
    const port = hub.port;
    await hub.close();
    // A restarted hub has stored nothing itself, and its history still holds 42 events.
    hub = await startServer({ port, dataDir, logLevel: 'silent', dashboardDir: DASHBOARD });
    const stats = (await getJson(`${hub.url}/api/stats`)).json;
    assert.equal(stats.stored.events, 42);
    assert.equal(stats.events.in, 0);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${hub.url}/#/overview`);
      await page.waitForSelector('[data-testid="card-stored-events"] .value:text("42")');
      const card = async (id: string) => page.$eval(`[data-testid="${id}"]`, (el) => [el.querySelector('.label')!.textContent, el.querySelector('.value')!.textContent]);
      assert.deepEqual(await card('card-stored-events'), ['Stored events', '42']);
      const [label, bytes] = await card('card-stored-bytes');
      assert.equal(label, 'Stored');
      assert.match(bytes!, /^\d+(\.\d)? (B|KiB)$/);
      assert.deepEqual(await card('card-channels'), ['Channels', '2']);
      assert.deepEqual(await card('card-total'), ['Events in since start', '0']);
    } finally {
      await browser.close();
    }
  });
});
