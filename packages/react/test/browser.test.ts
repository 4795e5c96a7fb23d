import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../server/test/support/browser.js';
import { postEvents, startHub, type TestHub } from '../../server/test/support/hub.js';


/** Serves the test page from its own origin, as a user's app would be: the hub is cross-origin. */
async function serveApp(hubUrl: string): Promise<{ url: string; server: Server }> {
  const bundle = await build({
    entryPoints: [new URL('./fixtures/app.tsx', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    jsx: 'automatic',
    write: false,
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]!.text;
  const html = `<!doctype html><html><body><div id="root"></div><script>window.HUB_URL=${JSON.stringify(hubUrl)}</script><script src="/app.js"></script></body></html>`;
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/app.js')) res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('in real Chromium', () => {
  let hub: TestHub;
  let app: { url: string; server: Server };
  let browser: Browser;
  const consoleErrors: string[] = [];

  before(async () => {
    hub = await startHub();
    app = await serveApp(hub.url);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    app?.server.close();
    await hub?.dispose();
  });

  async function open(query = ''): Promise<Page> {
    const page = await browser.newPage();
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(`${app.url}/${query}`);
    return page;
  }

  it('the client bundle connects, subscribes, publishes and receives in the browser', async () => {
    const page = await open();
    // Browser code as text: the test runner's compiler adds helpers to functions that the page lacks.
    const received = await page.evaluate(`(async () => {
      const client = window.Herald.createClient({ url: window.HUB_URL });
      const got = [];
      client.subscribe('b.raw', (e) => got.push({ offset: e.offset, type: e.event.type }));
      await new Promise((resolve) => client.on('state', (s) => s.to === 'connected' && resolve()));
      await new Promise((r) => setTimeout(r, 50));
      const published = await client.publish('b.raw', { type: 'from-browser' });
      const history = await client.history('b.raw');
      while (got.length < 1) await new Promise((r) => setTimeout(r, 10));
      client.close();
      return { got, published: published.offset, stored: history.events.length };
    })()`);
    assert.deepEqual(received, { got: [{ offset: 1, type: 'from-browser' }], published: 1, stored: 1 });
    await page.close();
  });

  it('the React hooks render history, then live data, and the status badge', async () => {
    await postEvents(hub.url, 'b.feed', [{ type: 'h1' }, { type: 'h2' }, { type: 'h3' }]);
    const page = await open('?react');
    await page.waitForSelector('#status:text("live")');
    assert.deepEqual(await page.$$eval('#feed li', (items) => items.map((li) => li.textContent)), ['h1', 'h2', 'h3']);
    await page.waitForSelector('[data-state="connected"]');
    assert.equal(await page.textContent('#transport'), 'websocket');

    await postEvents(hub.url, 'b.feed', [{ type: 'l4' }, { type: 'l5' }, { type: 'l6' }, { type: 'l7' }]);
    await postEvents(hub.url, 'b.other', { type: 'elsewhere' });
    await page.waitForSelector('#feed li[data-offset="7"]');
    assert.deepEqual(await page.$$eval('#feed li', (items) => items.map((li) => li.textContent)), ['l3', 'l4', 'l5', 'l6', 'l7'].map((t) => t.replace('l3', 'h3')));
    await page.waitForFunction(() => document.querySelector('#pattern-count')?.textContent === '5');
    await page.close();
    assert.deepEqual(consoleErrors, []);
  });
});
