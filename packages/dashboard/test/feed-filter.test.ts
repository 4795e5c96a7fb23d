import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startServer, type HeraldServer } from '@herald/server';
import { launchChromium } from '../../server/test/support/browser.js';
import { getJson, postEvents, tempDir } from '../../server/test/support/hub.js';

const DASHBOARD = new URL('../dist', import.meta.url).pathname;

describe('feed filter box in real Chromium', () => {
  const dataDir = tempDir('herald-feed-filter-');
  let hub: HeraldServer;
  before(async () => {
    hub = await startServer({ port: 0, dataDir, logLevel: 'silent', dashboardDir: DASHBOARD });
  });
  after(async () => {
    await hub.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Subscriptions on the hub that match each channel (exact and pattern), from the channel list. */
  const subscribers = async () => {
    const { json } = await getJson(`${hub.url}/api/channels?prefix=filter.`);
    return Object.fromEntries((json.channels as Array<{ name: string; subscribers: number }>).map((c) => [c.name, c.subscribers]));
  };
  const until = async (what: string, check: () => Promise<boolean>) => {
    const deadline = Date.now() + 5000;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`not within 5 s: ${what} (now ${JSON.stringify(await subscribers())})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it('a channel typed in the box becomes the hub subscription (no `>` firehose); emptied, the feed is on `>` again', async () => {
    await postEvents(hub.url, 'filter.a', [{ type: 'a-old' }]);
    await postEvents(hub.url, 'filter.b', [{ type: 'b-old' }]);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${hub.url}/#/feed`);
      await page.waitForSelector('[data-testid="feed-live"][data-live="true"]');
      // The whole feed: one `>` subscription, which matches both channels.
      await until('`>` covers filter.a and filter.b', async () => {
        const s = await subscribers();
        return s['filter.a'] === 1 && s['filter.b'] === 1;
      });

      await page.fill('[aria-label="channel pattern"]', 'filter.a');
      await until('only filter.a is subscribed', async () => {
        const s = await subscribers();
        return s['filter.a'] === 1 && s['filter.b'] === 0;
      });
      await page.waitForSelector('[data-testid="feed-live"][data-live="true"]');
      // History of the chosen channel on open, then its live events; the other channel's never reach the page.
      await page.waitForSelector('[data-testid="feed-row"][data-channel="filter.a"][data-offset="1"]');
      await postEvents(hub.url, 'filter.b', [{ type: 'b-new' }]);
      const { json } = await postEvents(hub.url, 'filter.a', [{ type: 'a-new' }]);
      await page.waitForSelector(`[data-testid="feed-row"][data-channel="filter.a"][data-offset="${json.offsets[0]}"]`, { timeout: 1000 });
      assert.equal(await page.$$eval('[data-testid="feed-row"][data-channel="filter.b"]', (rows) => rows.length), 0);

      await page.fill('[aria-label="channel pattern"]', '');
      await until('`>` again', async () => {
        const s = await subscribers();
        return s['filter.a'] === 1 && s['filter.b'] === 1;
      });
      await page.waitForSelector('[data-testid="feed-row"][data-channel="filter.b"][data-offset="2"]');
    } finally {
      await browser.close();
    }
  });
});
