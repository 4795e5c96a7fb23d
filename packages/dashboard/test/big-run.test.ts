import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startServer, type HeraldServer } from '@herald/server';
import { BIG_RUN_HUB, bigStep, publishBigRun } from '../../server/test/support/big-run.js';
import { launchChromium, recordLongTasks, watchPage } from '../../server/test/support/browser.js';
import { postEvents, tempDir } from '../../server/test/support/hub.js';

const DASHBOARD = new URL('../dist', import.meta.url).pathname;
const STEPS = 20_000;

describe('dashboard: the run page of a 20 000-step run in real Chromium', () => {
  const dataDir = tempDir('herald-dashboard-big-');
  let hub: HeraldServer;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    hub = await startServer({ port: 0, dataDir, logLevel: 'silent', dashboardDir: DASHBOARD, stallAfterMs: 60_000, ...BIG_RUN_HUB });
    await publishBigRun(hub.url, 'big', STEPS);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    watchPage(page, { consoleErrors });
    await recordLongTasks(page);
  });

  after(async () => {
    await browser?.close();
    await hub?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('renders the steps within 2 s of navigation and shows a new live step', async () => {
    await page.goto(`${hub.url}/#/runs`);
    await page.waitForSelector('.connection[data-state="connected"]');
    const started = Date.now();
    await page.evaluate(() => (window.location.hash = '#/runs/big'));
    await page.waitForSelector(`[data-step="${bigStep(0).step}"][data-status="passed"]`, { timeout: 2000 });
    await page.waitForSelector(`[data-testid="step-count"]:text("${STEPS} steps")`, { timeout: 2000 - (Date.now() - started) });
    const elapsed = Date.now() - started;
    console.log(`run page of a ${STEPS}-step run: steps shown ${elapsed} ms after navigation`);
    assert.ok(elapsed < 2000, `${elapsed} ms`);
    const rows = await page.$$eval('[data-testid="step-timeline"] .step', (els) => els.length);
    assert.ok(rows > 10 && rows < 200, `only the rows in view are in the page (${rows})`);

    // Scrolled to the end, a step published now appears there, live.
    await page.$eval('[data-testid="step-timeline"]', (el) => (el.scrollTop = el.scrollHeight));
    await page.waitForSelector(`[data-step="${bigStep(STEPS - 1).step}"]`);
    await postEvents(hub.url, 'runs.big', { type: 'step.started', data: { step: 'late-arrival', name: 'Late arrival' } });
    await page.waitForSelector('[data-step="late-arrival"][data-status="running"]', { timeout: 2000 });
    await page.waitForSelector(`[data-testid="step-count"]:text("${STEPS + 1} steps")`);
    await postEvents(hub.url, 'runs.big', { type: 'step.completed', data: { step: 'late-arrival', status: 'passed' } });
    await page.waitForSelector('[data-step="late-arrival"][data-status="passed"]', { timeout: 2000 });
    const longest = Math.max(0, ...(await page.evaluate(() => (window as any).longTasks as number[])));
    console.log(`longest task on the page: ${longest.toFixed(0)} ms`);
    assert.deepEqual(consoleErrors, []);
  });
});
