import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Grant } from '@herald/protocol';
import { mintToken } from '../../server/src/index.js';
import { upload } from '../../server/test/support/attachments.js';
import { launchChromium, watchPage } from '../../server/test/support/browser.js';
import { bearer, scratchDirs, startHub, type TestHub } from '../../server/test/support/hub.js';
import { CLI } from '../../server/test/support/process.js';

const DASHBOARD = new URL('../dist', import.meta.url).pathname;
const SCREENSHOTS = new URL('../../../test-output/screenshots/', import.meta.url).pathname;
const SECRET = 'dashboard-attachments-test-secret-'.padEnd(48, 'x');
const ADMIN: Grant = { subscribe: [], publish: [], admin: true };
const dirs = scratchDirs('herald-attach-ui-');

/** `herald run` as a user runs it: its own process, in the folder the screenshots are in. */
function heraldRun(cwd: string, url: string, apiKey: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'run', ...args], { cwd, env: { ...process.env, HERALD_URL: url, HERALD_API_KEY: apiKey }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('attachments in real Chromium, with access control on', () => {
  let hub: TestHub;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let admin: string;
  const consoleErrors: string[] = [];
  const dialogs: string[] = [];
  let screenshotBytes = 0;

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    hub = await startHub({ store: 'sqlite', jwtSecret: SECRET, dashboardDir: DASHBOARD, stallAfterMs: 60_000 });
    admin = await mintToken(SECRET, { subject: 'root', grant: ADMIN, ttlSeconds: 600 });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    watchPage(page, { consoleErrors, dialogs });
    // Signed in as the dashboard is: the session cookie is what <img> requests carry.
    await page.goto(`${hub.url}/#/overview`);
    await page.fill('[data-testid="credential"]', admin);
    await page.click('[data-testid="sign-in-submit"]');
    await page.waitForSelector('[data-testid="signed-in-as"]');
  });

  after(async () => {
    await browser?.close();
    await hub?.dispose();
  });

  it('shows a real screenshot uploaded by `herald run --attach` inline in the run log and the run gallery, large on click', async () => {
    const work = dirs();
    mkdirSync(join(work, 'screenshots'));
    const png = await page.screenshot();
    screenshotBytes = png.length;
    writeFileSync(join(work, 'screenshots', 'overview.png'), png);
    writeFileSync(join(work, 'report.txt'), 'all green\n');
    const ran = await heraldRun(work, hub.url, admin, ['--channel', 'runs.attach-e2e', '--title', 'Screenshots', '--attach', 'screenshots/*.png', '--attach', 'report.txt', '--', process.execPath, '-e', 'console.log("took a screenshot")']);
    assert.equal(ran.code, 0, ran.output);

    await page.evaluate(() => (window.location.hash = '#/runs/attach-e2e'));
    await page.waitForSelector('[data-testid="run-detail"] [data-testid="run-status"]:text("succeeded")');
    const galleryImage = page.locator('[data-testid="run-gallery"] [data-testid="attachment-thumb"] img');
    const logImage = page.locator('[data-testid="run-log"] [data-testid="attachment-thumb"] img');
    await galleryImage.waitFor();
    await logImage.waitFor();
    // Loaded, not a broken image: the browser decoded the 1280×720 PNG it fetched with the session cookie.
    await page.waitForFunction(() => Array.from(document.querySelectorAll<HTMLImageElement>('[data-testid="attachment-thumb"] img')).every((img) => img.complete && img.naturalWidth === 1280 && img.naturalHeight === 720));
    assert.equal(await page.locator('[data-testid="run-gallery"] [data-testid="attachment-thumb"]').count(), 1, 'the gallery lists images only');
    const link = page.locator('[data-testid="run-log"] [data-testid="attachment-link"]');
    assert.match((await link.textContent())!, /report\.txt/);
    assert.match((await link.getAttribute('href'))!, /^api\/channels\/runs\.attach-e2e\/attachments\/[0-9a-f]{64}\?name=report\.txt$/);
    await page.screenshot({ path: `${SCREENSHOTS}run-attachments.png`, fullPage: true });

    await galleryImage.click();
    await page.waitForSelector('[data-testid="lightbox"]');
    await page.waitForFunction(() => (document.querySelector<HTMLImageElement>('[data-testid="lightbox-image"]')?.naturalWidth ?? 0) === 1280);
    const shown = await page.locator('[data-testid="lightbox-image"]').boundingBox();
    assert.ok(shown && shown.width > 600, `enlarged (${shown?.width} px wide)`);
    await page.screenshot({ path: `${SCREENSHOTS}run-attachment-lightbox.png` });
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="lightbox"]', { state: 'detached' });
    assert.deepEqual(consoleErrors, []);
  });

  it('shows the attachments of an event selected in the feed', async () => {
    await page.evaluate(() => (window.location.hash = '#/feed'));
    await page.waitForSelector('[data-testid="feed-live"][data-live="true"]');
    const shot = (await upload(hub.url, 'demo.shots', await page.screenshot(), 'image/png', bearer(admin))).json();
    const response = await fetch(`${hub.url}/api/channels/demo.shots/events`, {
      method: 'POST',
      headers: { ...bearer(admin), 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'log', data: { message: 'feed shot', attachments: [{ id: shot.id, name: 'feed.png', contentType: 'image/png', size: shot.size }] } }),
    });
    assert.equal(response.status, 201);
    await page.click('[data-testid="feed-row"][data-channel="demo.shots"]');
    await page.waitForFunction(() => (document.querySelector<HTMLImageElement>('[data-testid="event-attachments"] img')?.naturalWidth ?? 0) === 1280);
    assert.deepEqual(consoleErrors, []);
  });

  it('runs no script from an uploaded HTML page or SVG opened in the hub\'s origin, even with the download header taken away', async () => {
    const html = (await upload(hub.url, 'demo.files', '<html><body><script>document.title = "pwned"; alert("pwned")</script><h1>report</h1></body></html>', 'text/html', bearer(admin))).json();
    const svg = (await upload(hub.url, 'demo.files', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\'svg-onload\')"><script>document.title = "pwned"; alert("svg")</script><circle r="5"/></svg>', 'image/svg+xml', bearer(admin))).json();
    for (const info of [html, svg]) {
      // As served: a download, never a page.
      const download = page.waitForEvent('download');
      await page.goto(hub.url + info.url).catch((error: Error) => assert.match(error.message, /Download is starting/));
      await (await download).cancel();
    }
    // A browser that rendered it anyway (Content-Disposition stripped on the way) is held by the CSP sandbox and nosniff.
    await page.route('**/attachments/**', async (route) => {
      const response = await route.fetch();
      const headers = { ...response.headers() };
      delete headers['content-disposition'];
      await route.fulfill({ response, headers });
    });
    for (const info of [html, svg]) {
      await page.goto(hub.url + info.url);
      assert.notEqual(await page.title(), 'pwned', info.contentType);
      assert.equal(await page.evaluate(() => window.origin), 'null', 'the document is in an opaque origin: no cookie, no storage, no same-origin request to the hub');
    }
    await page.unroute('**/attachments/**');
    assert.deepEqual(dialogs, [], 'no alert ran');
    // What the page logs is the CSP refusing the scripts: that is the point.
    assert.ok(consoleErrors.every((e) => /Content Security Policy|sandbox/i.test(e)), consoleErrors.join('\n'));
    consoleErrors.length = 0;
  });

  it('refuses the images to a browser that is not signed in', async () => {
    const other = await browser.newContext();
    try {
      const stranger = await other.newPage();
      await stranger.goto(`${hub.url}/#/overview`);
      const shot = (await upload(hub.url, 'demo.private', Buffer.from('x'), 'image/png', bearer(admin))).json();
      assert.equal(await stranger.evaluate(async (u) => (await fetch(u)).status, shot.url), 401);
    } finally {
      await other.close();
    }
    assert.ok(screenshotBytes > 0);
    console.log(`# screenshot: ${screenshotBytes} bytes`);
  });
});
