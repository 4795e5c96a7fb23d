import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, servePage } from '../../server/test/support/browser.js';
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
  return servePage(script, html);
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

  it('three components on one channel (two useChannel, one useEvents) each get every event exactly once', async () => {
    await postEvents(hub.url, 'b.mux', [{ type: 'h1' }, { type: 'h2' }]);
    const page = await open('?mux');
    await page.waitForSelector('[data-state="connected"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-status="live"]').length === 2 && document.querySelector('#first')?.textContent === '1,2' && document.querySelector('#second')?.textContent === '1,2');
    let next = 3;
    // Published until the live list has one, so that it is known to be subscribed; each event is an offset.
    while ((await page.textContent('#live')) === '') {
      await postEvents(hub.url, 'b.mux', { type: `l${next++}` });
      await page.waitForFunction((n) => document.querySelector('#first')?.textContent?.endsWith(`,${n}`), next - 1);
    }
    const firstLive = Number((await page.textContent('#live'))!.split(',')[0]);
    await postEvents(hub.url, 'b.mux', Array.from({ length: 20 }, (_, i) => ({ type: `l${next + i}` })));
    const last = next + 19;
    await page.waitForFunction((n) => ['#first', '#second', '#live'].every((id) => document.querySelector(id)?.textContent?.endsWith(`,${n}`)), last);
    const all = Array.from({ length: last }, (_, i) => i + 1);
    assert.equal(await page.textContent('#first'), all.join(','));
    assert.equal(await page.textContent('#second'), all.join(','));
    assert.equal(await page.textContent('#live'), all.slice(firstLive - 1).join(','));
    await page.close();
    assert.deepEqual(consoleErrors, []);
  });

  it('useRun renders a scripted run: title, steps, percent, log and the final status', async () => {
    const page = await open('?run=b-script');
    await page.waitForSelector('#run[data-status="missing"]', { state: 'attached' });
    await postEvents(hub.url, 'runs.b-script', [
      { type: 'run.started', data: { title: 'Scripted' } },
      { type: 'step.started', data: { step: 'build', name: 'Build' } },
      { type: 'log', data: { message: 'compiling' } },
      { type: 'run.progress', data: { percent: 40 } },
    ]);
    await page.waitForFunction(() => document.querySelector('#run-percent')?.textContent === '40');
    assert.equal(await page.textContent('#run-title'), 'Scripted');
    assert.equal(await page.textContent('#run-status'), 'running');
    await postEvents(hub.url, 'runs.b-script', [
      { type: 'step.completed', data: { step: 'build', status: 'passed' } },
      { type: 'step.started', data: { step: 'test', name: 'Test' } },
      { type: 'log', data: { message: 'testing' } },
      { type: 'step.completed', data: { step: 'test', status: 'passed' } },
      { type: 'run.completed', data: { status: 'succeeded' } },
    ]);
    await page.waitForFunction(() => document.querySelector('#run-status')?.textContent === 'succeeded');
    assert.equal(await page.textContent('#run-percent'), '100');
    assert.deepEqual(await page.$$eval('#run-steps li', (items) => items.map((li) => `${li.textContent}:${li.getAttribute('data-status')}`)), ['Build:passed', 'Test:passed']);
    assert.deepEqual(await page.$$eval('#run-log li', (items) => items.map((li) => li.textContent)), ['compiling', 'testing']);

    // Opened late, the same run comes from its snapshot.
    const late = await open('?run=b-script');
    await late.waitForFunction(() => document.querySelector('#run-status')?.textContent === 'succeeded');
    assert.equal(await late.textContent('#run-percent'), '100');
    assert.equal(await late.$$eval('#run-steps li', (items) => items.length), 2);
    await late.waitForFunction(() => document.querySelectorAll('#run-log li').length === 2);
    await page.close();
    await late.close();
    assert.deepEqual(consoleErrors, []);
  });

  it('useRuns lists the runs over HTTP, then keeps the list live from the summary channel', async () => {
    await postEvents(hub.url, 'runs.b-list-1', { type: 'run.started', data: { title: 'list one' } });
    await postEvents(hub.url, 'runs.b-other', { type: 'run.started', data: { title: 'not this' } });
    const page = await open('?runs=b-list');
    await page.waitForSelector('#runs[data-status="live"] li[data-run="b-list-1"]');
    await postEvents(hub.url, 'runs.b-list-2', { type: 'run.started', data: { title: 'list two' } });
    await postEvents(hub.url, 'runs.b-list-1', { type: 'run.completed', data: { status: 'failed' } });
    await page.waitForFunction(() => document.querySelector('[data-run="b-list-1"]')?.textContent === 'list one:failed' && document.querySelector('[data-run="b-list-2"]'));
    assert.deepEqual(await page.$$eval('#runs li', (items) => items.map((li) => li.textContent)), ['list two:running', 'list one:failed']);
    await page.close();
    assert.deepEqual(consoleErrors, []);
  });

  it('the status badge shows a terminal close (4003) as such: the reason, no countdown, no retry button', async () => {
    const page = await open('?terminal');
    await page.waitForSelector('[data-state="disconnected"][data-terminal="true"]');
    const badges = await page.$$eval('[data-terminal="true"]', (items) => items.map((el) => el.textContent));
    assert.equal(badges.length, 2);
    for (const text of badges) {
      assert.match(text!, /^Disconnected: .*\(4003\)$/);
      assert.doesNotMatch(text!, /Reconnecting| in \d+s/);
    }
    assert.equal(await page.$$eval('button', (buttons) => buttons.length), 0, 'no Retry now');
    await page.close();
    assert.deepEqual(consoleErrors, []);
  });
});
