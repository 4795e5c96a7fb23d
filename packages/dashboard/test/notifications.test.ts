import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startServer, type HeraldServer } from '@herald/server';
import { launchChromium, watchPage } from '../../server/test/support/browser.js';
import { postEvents, tempDir } from '../../server/test/support/hub.js';

const DASHBOARD = new URL('../dist', import.meta.url).pathname;
/** Long enough for a run to be seen running first, short enough for the test to watch two stalls. */
const STALL_AFTER_MS = 2500;

interface Shown {
  title: string;
  body?: string;
  tag?: string;
}

describe('run notifications in real Chromium', () => {
  const dataDir = tempDir('herald-notify-');
  let hub: HeraldServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    hub = await startServer({ port: 0, dataDir, logLevel: 'silent', dashboardDir: DASHBOARD, stallAfterMs: STALL_AFTER_MS });
    browser = await launchChromium();
    context = await browser.newContext();
    await context.grantPermissions(['notifications'], { origin: hub.url });
    // The real Notification decides the permission (granted above); every notification made is recorded.
    // As text: a function would be compiled by tsx with helpers (`__name`) the page does not have.
    await context.addInitScript(`
      const Real = window.Notification;
      window.shown = [];
      window.permissionRequests = 0;
      function Recording(title, options) {
        window.shown.push({ title, body: options && options.body, tag: options && options.tag });
        this.onclick = null;
        this.close = () => {};
      }
      Object.defineProperty(Recording, 'permission', { get: () => Real.permission });
      Recording.requestPermission = () => {
        window.permissionRequests++;
        return Real.requestPermission();
      };
      window.Notification = Recording;
    `);
    page = await context.newPage();
    watchPage(page, { consoleErrors });
  });

  after(async () => {
    await browser?.close();
    await hub?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const shown = () => page.evaluate(() => (window as unknown as { shown: Shown[] }).shown);
  const shownFor = async (title: string) => (await shown()).filter((n) => n.title === title);
  const waitShown = (title: string) => page.waitForFunction((t) => (window as unknown as { shown: Shown[] }).shown.some((n) => n.title === t), title, { timeout: 15_000 });
  const rowStatus = (id: string, status: string) => page.waitForSelector(`tr[data-run="${id}"] [data-testid="run-status"]:text-is("${status}")`, { timeout: 15_000 });
  const open = async (hash: string) => {
    await page.goto('about:blank');
    await page.goto(`${hub.url}/${hash}`);
    await page.waitForSelector('.connection[data-state="connected"]');
  };

  it('runs list: once the user turns it on, notifies once when a run fails and once when one stalls, never for a run failed before', async () => {
    await postEvents(hub.url, 'runs.old-fail', [{ type: 'run.started', data: { title: 'Failed before' } }, { type: 'run.completed', data: { status: 'failed' } }]);
    await open('#/runs');
    await rowStatus('old-fail', 'failed');
    const toggle = page.locator('[data-testid="notify-toggle"]');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false', 'off until the user turns it on');
    assert.equal(await page.evaluate(() => (window as unknown as { permissionRequests: number }).permissionRequests), 0, 'no permission asked before a click');
    await toggle.click();
    await page.waitForSelector('[data-testid="notify-toggle"][aria-pressed="true"]');

    await postEvents(hub.url, 'runs.list-fail', { type: 'run.started', data: { title: 'Checkout e2e' } });
    await rowStatus('list-fail', 'running');
    await postEvents(hub.url, 'runs.list-fail', { type: 'run.completed', severity: 'error', data: { status: 'failed' } });
    await waitShown('Checkout e2e');
    // More events for the failed run re-render the list; it stays failed and says so once.
    await postEvents(hub.url, 'runs.list-fail', { type: 'log', data: { message: 'after the end' } });

    await postEvents(hub.url, 'runs.list-stall', { type: 'run.started', data: { title: 'Nightly import' } });
    await rowStatus('list-stall', 'running');
    await waitShown('Nightly import');
    await rowStatus('list-stall', 'stalled');
    // It wakes up and stalls again: still one notification for it.
    await postEvents(hub.url, 'runs.list-stall', { type: 'run.heartbeat' });
    await rowStatus('list-stall', 'running');
    await rowStatus('list-stall', 'stalled');

    assert.deepEqual(await shownFor('Checkout e2e'), [{ title: 'Checkout e2e', body: 'Run list-fail failed', tag: 'herald-run-list-fail-failed' }]);
    assert.deepEqual(await shownFor('Nightly import'), [{ title: 'Nightly import', body: 'Run list-stall stalled: no events for a while', tag: 'herald-run-list-stall-stalled' }]);
    assert.deepEqual(await shownFor('Failed before'), []);
    assert.equal((await shown()).length, 2);
  });

  it('run detail: remembers the choice, notifies for the open run when it fails, not for one opened already failed', async () => {
    await open('#/runs/old-fail');
    await page.waitForSelector('[data-testid="run-detail"] [data-testid="notify-toggle"][aria-pressed="true"]');
    await page.waitForSelector('[data-testid="run-detail"] [data-testid="run-status"]:text-is("failed")');
    assert.deepEqual(await shown(), [], 'a run opened already failed');
    await postEvents(hub.url, 'runs.detail-fail', [{ type: 'run.started', data: { title: 'Deploy web' } }, { type: 'run.heartbeat' }]);
    await open('#/runs/detail-fail');
    await page.waitForSelector('[data-testid="run-detail"] [data-testid="run-status"]:text-is("running")');
    await postEvents(hub.url, 'runs.detail-fail', { type: 'run.completed', data: { status: 'failed' } });
    await waitShown('Deploy web');
    await page.waitForSelector('[data-testid="run-detail"] [data-testid="run-status"]:text-is("failed")');
    await postEvents(hub.url, 'runs.detail-fail', { type: 'log', data: { message: 'after the end' } });
    await page.waitForSelector('[data-testid="run-detail"] .value:text-is("4")'); // the log event arrived and was drawn
    assert.deepEqual(await shown(), [{ title: 'Deploy web', body: 'Run detail-fail failed', tag: 'herald-run-detail-fail-failed' }]);
    assert.deepEqual(consoleErrors, []);
  });
});
