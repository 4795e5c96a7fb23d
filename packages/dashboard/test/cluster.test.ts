import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startServer } from '@herald/server';
import { launchChromium, watchPage } from '../../server/test/support/browser.js';
import { postEvents, scratchDirs } from '../../server/test/support/hub.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL } from '../../server/test/support/redis.js';
import { TestClient } from '../../server/test/support/ws-client.js';

const DASHBOARD = new URL('../dist', import.meta.url).pathname;
const available = await redisAnswers(SHARED_REDIS_URL);
const dirs = scratchDirs('herald-dashboard-cluster-');

if (!available) {
  const message = `no Redis answers at ${SHARED_REDIS_URL}`;
  if (process.env.CI === 'true') it('the dashboard of a cluster needs a Redis', () => assert.fail(message));
  else it(`the dashboard of a cluster skipped: ${message}`, (t) => t.skip(message));
} else {
  describe('dashboard of several hubs on one Redis, in real Chromium', () => {
    it('shows the cluster totals and one row per hub, with the clients of the other hubs counted', async () => {
      const config = { port: 0, logLevel: 'silent' as const, redisUrl: SHARED_REDIS_URL, redisPrefix: scratchPrefixes()(), dashboardDir: DASHBOARD };
      const [a, b] = [await startServer({ ...config, dataDir: dirs() }), await startServer({ ...config, dataDir: dirs() })];
      const watchers: TestClient[] = [];
      let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
      try {
        browser = await launchChromium();
        // Two clients on the other hub: the page on `a` must count them.
        for (let n = 0; n < 2; n++) {
          const ws = await TestClient.connect(b.url, '');
          await ws.waitFor((m) => m.op === 'hello');
          watchers.push(ws);
        }
        assert.equal((await postEvents(a.url, 'c', { type: 'n' })).status, 201);
        const page = await browser.newPage();
        const consoleErrors: string[] = [];
        watchPage(page, { consoleErrors });
        await page.goto(`${a.url}/`);
        await page.waitForSelector('[data-testid="card-hubs"] .value:text("2")', { timeout: 10_000 });
        assert.equal(await page.locator('[data-testid="hub-row"]').count(), 2);
        const rows = await page.locator('[data-testid="hub-row"]').allInnerTexts();
        assert.match(rows[0]!, new RegExp(`${a.url.replace(/[.]/g, '\\.')} \\(this page\\)`), 'the page’s own hub first');
        assert.match(rows[1]!, new RegExp(b.url.replace(/[.]/g, '\\.')));
        // The page's own WebSocket is on `a`; the two watchers on `b`: three clients in all, within a report.
        await page.waitForSelector('[data-testid="card-clients"] .value:text("3")', { timeout: 10_000 });
        assert.equal(await page.locator('[data-testid="header-hubs"] b').innerText(), '2');
        assert.deepEqual(consoleErrors, []);
      } finally {
        for (const ws of watchers) ws.close();
        await browser?.close();
        await a.close();
        await b.close();
      }
    });
  });
}
