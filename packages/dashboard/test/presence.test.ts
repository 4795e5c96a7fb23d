import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, watchPage } from '../../server/test/support/browser.js';
import { postEvents, startHub, type TestHub } from '../../server/test/support/hub.js';
import { SseReader } from '../../server/test/support/sse-reader.js';
import { TestClient } from '../../server/test/support/ws-client.js';

const DASHBOARD = new URL('../dist', import.meta.url).pathname;

describe('"N watching" on the run page, in real Chromium', () => {
  let hub: TestHub;
  let browser: Browser;
  const consoleErrors: string[] = [];
  before(async () => {
    hub = await startHub({ dashboardDir: DASHBOARD });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await hub?.dispose();
  });

  const watching = async (page: Page, count: number) => {
    await page.waitForSelector(`[data-testid="watching"][data-count="${count}"]`);
    assert.equal((await page.textContent('[data-testid="watching"]'))?.trim(), `${count} watching`);
  };

  it('counts the page itself and two more watchers (WebSocket and SSE), follows one leaving, and lists them on click', async () => {
    assert.equal((await postEvents(hub.url, 'runs.watched', { type: 'run.started', data: { title: 'watched run' } })).status, 201);
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    watchPage(page, { consoleErrors });
    await page.goto(`${hub.url}/#/runs/watched`);
    await page.waitForSelector('[data-testid="run-detail"]');
    await watching(page, 1);

    const viewer = await TestClient.connect(hub.url, '?clientId=second-viewer');
    assert.equal((await viewer.request({ op: 'subscribe', channel: 'runs.watched' })).op, 'subscribed');
    const stream = await SseReader.open(`${hub.url}/api/channels/runs.watched/stream`);
    await stream.waitFor((m) => m.event === 'subscribed');
    await watching(page, 3);
    assert.match((await page.getAttribute('[data-testid="watching"]', 'title'))!, /second-viewer \(WebSocket, since /);

    viewer.close();
    await watching(page, 2);
    await page.click('[data-testid="watching"]');
    const items = await page.locator('[data-testid="watching-list"] li').allTextContents();
    assert.equal(items.length, 2);
    assert.ok(items.some((text) => text.includes('(SSE, since ')), items.join(' | '));
    assert.ok(!items.some((text) => text.includes('second-viewer')), 'the one who left is not listed');
    stream.close();
    await watching(page, 1);
    assert.deepEqual(consoleErrors, []);
    await context.close();
  });
});
