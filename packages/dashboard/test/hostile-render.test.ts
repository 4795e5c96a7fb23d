import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, recordLongTasks, watchPage } from '../../server/test/support/browser.js';
import { postEvents, request, startHub, type TestHub } from '../../server/test/support/hub.js';

const DASHBOARD = new URL('../dist', import.meta.url).pathname;
const SCREENSHOTS = new URL('../../../test-output/screenshots/', import.meta.url).pathname;
/** Opening one 10 000-key event may not block the page longer than this. */
const LONGEST_TASK_MS = 200;

/** `{level: 1, next: {level: 2, … {level: depth, leaf: 'bottom'}}}`: `depth` objects deep. */
function nested(depth: number): unknown {
  let value: Record<string, unknown> = { level: depth, leaf: 'bottom' };
  for (let level = depth - 1; level >= 1; level--) value = { level, next: value };
  return value;
}
/** The same as JSON text, written by hand: `JSON.stringify` itself overflows the stack at these depths. */
const nestedText = (depth: number) => `${'{"next":'.repeat(depth - 1)}{"leaf":"bottom"}${'}'.repeat(depth - 1)}`;

const RTL = '\u202E';
const ZERO_WIDTH = '\u200B\u200C\u200D\u2060\uFEFF';
const LONG_WORD = 'abcdefghij'.repeat(6000);
/** 2 + 5 000 + 4 998: the hub's 10 000 keys and elements in all, in under 64 KiB. */
const WIDE = {
  keys: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [i.toString(36), i % 10])),
  list: Array.from({ length: 4998 }, (_, i) => i % 10),
};
/** 100 rows of 99: 10 000 elements, every row a container the viewer could open. */
const GRID = Array.from({ length: 100 }, (_, row) => Array.from({ length: 99 }, (_, col) => (row * col) % 10));
const XSS = {
  '<script>alert(1)</script>': '<img src=x onerror=alert(2)>',
  html: '<script>alert(3)</script><svg onload=alert(4)>',
  link: 'javascript:alert(5)',
};
const UNICODE = {
  [`${RTL}key`]: `user ${RTL}txt.exe`,
  zeroWidth: `zero${ZERO_WIDTH}width`,
  combining: `Z${'\u0301\u0316\u0340'.repeat(300)}`,
  family: '👩‍👩‍👧‍👦'.repeat(50),
  rtlText: 'שלום مرحبا',
  loneSurrogate: '\uD800',
  ['__proto__']: { polluted: true },
};

describe('dashboard renders hostile events at the hub\u2019s limits, in real Chromium', () => {
  let hub: TestHub;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];
  const dialogs: string[] = [];

  const publish = async (channel: string, body: unknown) => {
    const { status, json } = await postEvents(hub.url, channel, body);
    assert.equal(status, 201, JSON.stringify(json));
  };
  const go = (hash: string) => page.evaluate((h) => (window.location.hash = h), hash);
  const shot = (name: string) => page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
  const detailText = async () => (await page.textContent('[data-testid="event-detail"]')) ?? '';
  /** Clicks the feed row of the newest event on `channel` and waits for its data in the detail pane. */
  const open = async (channel: string) => {
    await page.click(`[data-testid="feed-row"][data-channel="${channel}"]`);
    await page.waitForSelector(`[data-testid="event-detail"] .event-head[data-channel="${channel}"] [data-testid="json"]`);
  };
  /** What a user would notice if a render went wrong: the page still has its header and no failure panel. */
  const assertPageIntact = async () => {
    assert.equal(await page.locator('header .brand').count(), 1, 'the header is still there');
    assert.equal(await page.locator('[data-testid="render-failed"]').count(), 0, 'no render failed');
    assert.equal(await page.$$eval('main img, main script, main svg:not([data-testid="health-gauge"])', (els) => els.length), 0, 'no element from the data');
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(dialogs, []);
  };

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    hub = await startHub({ dashboardDir: DASHBOARD, stallAfterMs: 60_000 });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    watchPage(page, { consoleErrors, dialogs });
    await recordLongTasks(page);
    await page.goto(`${hub.url}/#/feed`);
    await page.waitForSelector('.connection[data-state="connected"]');
    await page.waitForSelector('[data-testid="feed-live"][data-live="true"]'); // what is published from here on is in the feed
  });

  after(async () => {
    await browser?.close();
    await hub?.dispose();
  });

  it('publishes at the limits: one level deeper or one key more is refused', async () => {
    assert.equal((await postEvents(hub.url, 'hostile.refused', { type: 'deep', data: nested(33) })).status, 400);
    assert.equal((await postEvents(hub.url, 'hostile.refused', { type: 'wide', data: { ...WIDE, one: 'more' } })).status, 400);
    assert.equal((await postEvents(hub.url, 'hostile.refused', { type: 't'.repeat(65) })).status, 400);
  });

  it('opens an event nested 32 deep: a few levels open, the rest one level per click down to the bottom', async () => {
    await publish('hostile.deep', { type: 'deep', data: nested(32) });
    await open('hostile.deep');
    assert.doesNotMatch(await detailText(), /bottom/, 'deep levels start closed');
    let clicks = 0;
    while (!/"bottom"/.test(await detailText())) {
      assert.ok(++clicks <= 32, 'one click per level');
      await page.click('[data-testid="event-detail"] .json-toggle[aria-expanded="false"]');
    }
    assert.equal(await page.$eval('[data-testid="event-detail"] [data-testid="json"]', (el) => el.lastElementChild!.getAttribute('data-depth')), '32');
    await assertPageIntact();
  });

  it('opens events of 10 000 keys and elements with a page of children each and no long task over 200 ms', async () => {
    await publish('hostile.wide', { type: 'wide', data: WIDE });
    await publish('hostile.grid', { type: 'grid', data: GRID });
    for (const channel of ['hostile.wide', 'hostile.grid']) {
      await page.waitForSelector(`[data-testid="feed-row"][data-channel="${channel}"]`);
      await page.waitForTimeout(300); // the row's own arrival is not what is measured
      await page.evaluate(() => ((window as any).longTasks = []));
      const started = Date.now();
      await open(channel);
      const openedMs = Date.now() - started;
      await page.waitForTimeout(500); // long tasks are reported after they end
      const longTasks: number[] = await page.evaluate(() => (window as any).longTasks);
      const rows = await page.locator('[data-testid="event-detail"] .json-row').count();
      console.log(`# ${channel}: opened in ${openedMs} ms, ${rows} rows drawn, long tasks ${JSON.stringify(longTasks.map(Math.round))}`);
      assert.ok(Math.max(0, ...longTasks) <= LONGEST_TASK_MS, `long tasks: ${longTasks.join(', ')} ms`);
      assert.ok(rows < 500, `${rows} rows drawn`);
      if (channel === 'hostile.wide') {
        assert.match(await detailText(), /… 4,900 more.*… 4,898 more/s);
        await page.click('[data-testid="event-detail"] .json-more >> nth=0');
        await page.waitForSelector('[data-testid="event-detail"] .json-more:text("… 4,800 more")');
      }
    }
    await shot('hostile-wide');
    await assertPageIntact();
  });

  it('cuts a 60 000-character word with "show all", and wraps it whole when shown', async () => {
    await publish('hostile.long', { type: 'long', data: { word: LONG_WORD } });
    await page.waitForSelector('[data-testid="feed-row"][data-channel="hostile.long"]');
    assert.ok((await page.textContent('[data-channel="hostile.long"] [data-testid="feed-preview"]'))!.length <= 201, 'the row shows a preview');
    await open('hostile.long');
    const cut = await detailText();
    assert.ok(cut.includes(LONG_WORD.slice(0, 1000)) && cut.length < 2000, `${cut.length} characters shown`);
    await page.click('[data-testid="event-detail"] .json-more:text("show all (60,000 chars)")');
    assert.ok((await detailText()).includes(LONG_WORD));
    const width = await page.$eval('[data-testid="event-detail"]', (el) => ({ scroll: el.scrollWidth, client: el.clientWidth, page: document.documentElement.scrollWidth }));
    assert.ok(width.scroll <= width.client + 1 && width.page <= 1440, `no horizontal overflow: ${JSON.stringify(width)}`);
    await assertPageIntact();
  });

  it('shows right-to-left overrides and zero-width characters as escapes, and markup as text', async () => {
    const type = `${RTL}${'a'.repeat(62)}\u200B`;
    assert.equal(type.length, 64);
    await publish('hostile.unicode', { type, source: `${RTL}source`, data: UNICODE });
    await publish('hostile.xss', { type: '<img src=x onerror=alert(1)>', source: '<script>alert(6)</script>', id: '<img src=x onerror=alert(7)>', data: XSS });
    await publish('hostile.numbers', { type: 'numbers', data: { max: 1e308, min: -1e308, tiny: 5e-324, huge: 123456789012345678901234567890 } });

    await open('hostile.unicode');
    const json = (await page.textContent('[data-testid="event-detail"] [data-testid="json"]'))!;
    assert.ok(json.includes('"user \\u202etxt.exe"') && json.includes('"\\u202ekey"'), json.slice(0, 300));
    assert.ok(json.includes('"zero\\u200b\\u200c\\u200d\\u2060\\ufeffwidth"'));
    assert.ok(!json.includes(RTL) && !json.includes('\u200B'), 'no invisible character is drawn as such');
    assert.ok(json.includes('"__proto__"') && json.includes('"polluted"'));
    assert.equal(await page.$eval('[data-testid="detail-type"] bdi', (el) => el.textContent), `\\u202e${'a'.repeat(62)}\\u200b`, 'the type, isolated, with its invisible characters shown');
    const feedText = (await page.textContent('[data-testid="feed"]'))!;
    assert.ok(feedText.includes('\\u202e') && !feedText.includes(RTL), 'the feed shows the override, and is not reordered by it');

    await open('hostile.xss');
    const xss = (await detailText())!;
    for (const text of ['<script>alert(1)</script>', '<img src=x onerror=alert(2)>', '<script>alert(3)</script><svg onload=alert(4)>', 'source <script>alert(6)</script>', 'id <img src=x onerror=alert(7)>']) {
      assert.ok(xss.includes(text), text);
    }
    assert.equal(await page.textContent('[data-channel="hostile.xss"] [data-testid="feed-type"]'), '<img src=x onerror=alert(1)>');

    await open('hostile.numbers');
    assert.match(await detailText(), /"max": 1e\+308.*"min": -1e\+308.*"tiny": 5e-324.*"huge": 1\.2345678901234568e\+29/s);
    await page.waitForTimeout(200);
    await shot('hostile-feed');
    await assertPageIntact();
  });

  it('shows a run with hostile titles, step names, logs, metrics and summary', async () => {
    await publish('runs.x', [
      { type: 'run.started', data: { title: `${RTL}<img src=x onerror=alert(8)>${'T'.repeat(400)}`, labels: { '<b>label</b>': `${RTL}evil`, ['__proto__']: 'x' } } },
      { type: 'step.started', data: { step: 's1', name: `${RTL}exe.txt` } },
      { type: 'step.started', data: { step: 's2', name: '<script>alert(9)</script>', parent: 's3' } },
      { type: 'step.started', data: { step: 's3', name: 'y'.repeat(500), parent: 's2' } },
      { type: 'step.started', data: { step: '__proto__', name: `zero${ZERO_WIDTH}width` } },
      { type: 'step.started', data: { step: 'constructor', name: '<img src=x onerror=alert(10)>', parent: 'constructor' } },
      { type: 'step.completed', data: { step: 's1', status: 'failed', message: `${RTL}<img src=x onerror=alert(11)>` } },
      { type: 'log', data: { message: 'w'.repeat(60_000) } },
      { type: 'log', severity: 'error', data: { message: `<img src=x onerror=alert(12)>${RTL}revo`, detail: nested(30) } },
      { type: 'log', data: { message: `zero${ZERO_WIDTH}width` } },
      { type: 'run.progress', data: { percent: 50, message: `${RTL}${'m'.repeat(9000)}` } },
      { type: 'metric', data: { name: '__proto__', value: 1e308 } },
      { type: 'metric', data: { name: 'toString', value: -1e308, unit: '<b>' } },
      { type: 'metric', data: { name: 'constructor', value: 5e-324 } },
      { type: 'run.completed', data: { status: 'failed', summary: { grid: GRID.slice(0, 90), deep: nested(29), xss: XSS } } },
    ]);
    await go('#/runs');
    await page.waitForSelector('tr[data-run="x"]');
    await page.click('tr[data-run="x"]');
    await page.waitForSelector('[data-testid="run-detail"] [data-testid="run-status"]:text("failed")');
    await page.waitForSelector('[data-testid="run-log"] >> text=revo');
    const steps = await page.$$eval('[data-testid="step-timeline"] .step', (els) => els.map((el) => el.getAttribute('data-step')));
    assert.deepEqual(steps, ['s1', 's2', 's3', '__proto__', 'constructor']);
    const detail = (await page.textContent('[data-testid="run-detail"]'))!;
    for (const text of ['<script>alert(9)</script>', '<img src=x onerror=alert(10)>', '<img src=x onerror=alert(12)>', '<b>label</b>=\\u202eevil', '\\u202e<img src=x onerror=alert(8)>TTT']) assert.ok(detail.includes(text), text);
    assert.ok(!detail.includes(RTL) && !detail.includes('\u200B'), 'no invisible character is drawn as such');
    assert.equal(await page.textContent('[data-testid="run-message"]'), `\\u202e${'m'.repeat(299)}…`, 'a long message is cut at 300 characters');
    const log = (await page.textContent('[data-testid="run-log"]'))!;
    assert.ok(log.includes('w'.repeat(500)) && !log.includes('w'.repeat(501)), 'a long log line is cut');
    assert.match((await page.textContent('[data-testid="run-detail"] [data-testid="json"]'))!, /"grid": ▾ \[ 90 items \].*"deep": ▾ \{ 2 keys \}/s);
    await page.setViewportSize({ width: 1440, height: 2200 }); // the whole run in one picture
    await shot('hostile-run');
    await page.setViewportSize({ width: 1440, height: 900 });
    await assertPageIntact();
    // Every view renders the same hub; none of them breaks on what it holds.
    for (const view of ['#/overview', '#/channels', '#/runs', '#/feed']) {
      await go(view);
      await page.waitForTimeout(300);
      await assertPageIntact();
    }
  });
});

describe('dashboard error boundaries, with events the hub would never send (rewritten on the wire)', () => {
  let hub: TestHub;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const dialogs: string[] = [];
  /**
   * React reports each error a boundary catches to the console, as the error itself; this test causes
   * those on purpose. Anything else in the console, or any uncaught error, is a bug.
   */
  const caughtOnly = () => {
    assert.deepEqual(pageErrors, []);
    assert.ok(consoleErrors.every((e) => /^(TypeError|Error): /.test(e)), consoleErrors.join('\n'));
  };

  before(async () => {
    hub = await startHub({ dashboardDir: DASHBOARD, stallAfterMs: 60_000 });
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    watchPage(page, { consoleErrors, pageErrors, dialogs });
    // A hub (or a proxy) that sends what ours refuses: markers in the hub's frames are swapped for
    // an object where text belongs, and for data nested 10 000 deep, as history stored before the
    // depth limit may hold.
    await page.routeWebSocket(/\/ws/, (ws) => {
      const server = ws.connectToServer();
      server.onMessage((message) =>
        ws.send(
          String(message)
            .replaceAll('"poison-type"', '{"not":"text"}')
            .replaceAll('"poison-source"', '{"not":"text"}')
            .replaceAll('"poison-title"', '{"not":"text"}')
            .replaceAll('{"swap":"deep"}', nestedText(10_000)),
        ),
      );
    });
    await page.goto(`${hub.url}/#/feed`);
    await page.waitForSelector('.connection[data-state="connected"]');
    await page.waitForSelector('[data-testid="feed-live"][data-live="true"]'); // what is published from here on is in the feed
  });

  after(async () => {
    await browser?.close();
    await hub?.dispose();
  });

  it('opens an event nested 10 000 deep without recursion, one level per click', async () => {
    await publish(hub, 'legacy.deep', { type: 'legacy', data: { swap: 'deep' } });
    await page.waitForSelector('[data-testid="feed-row"][data-channel="legacy.deep"]');
    assert.match((await page.textContent('[data-channel="legacy.deep"] [data-testid="feed-preview"]'))!, /^\{"next":\{"next":/);
    await page.click('[data-testid="feed-row"][data-channel="legacy.deep"]');
    await page.waitForSelector('[data-testid="event-detail"] [data-testid="json"]');
    for (let i = 0; i < 20; i++) await page.click('[data-testid="event-detail"] .json-toggle[aria-expanded="false"]');
    assert.equal(await page.locator('[data-testid="event-detail"] .json-row[data-depth="21"]').count(), 1);
    assert.equal(await page.textContent('[data-testid="event-detail"] .json-row[data-depth="21"] .json-depth'), '21›', 'deep rows show their depth');
    await page.fill('input[aria-label="search"]', 'bottom');
    await page.waitForSelector('[data-testid="feed-count"]:text-matches("^1 shown")');
    await page.fill('input[aria-label="search"]', '');
    assert.equal(await page.locator('[data-testid="render-failed"]').count(), 0);
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(pageErrors, []);
  });

  it('a row or a detail that cannot be drawn shows a small panel; the feed goes on', async () => {
    await publish(hub, 'poison.row', { type: 'poison-type' });
    await publish(hub, 'poison.detail', { type: 'fine', source: 'poison-source' });
    await publish(hub, 'poison.after', { type: 'after', data: { message: 'still live' } });
    await page.waitForSelector('[data-testid="feed-row"][data-channel="poison.row"] [data-testid="render-failed"]:has-text("Could not render this event")');
    await page.waitForSelector('[data-testid="feed-row"][data-channel="poison.after"] [data-testid="feed-preview"]:text("still live")');
    await page.click('[data-testid="feed-row"][data-channel="poison.detail"]');
    await page.waitForSelector('[data-testid="event-detail"] [data-testid="render-failed"]:has-text("Could not render this event")');
    await page.click('[data-testid="feed-row"][data-channel="poison.after"]');
    await page.waitForSelector('[data-testid="event-detail"] [data-testid="json"]:has-text("still live")');
    assert.equal(await page.locator('[data-testid="event-detail"] [data-testid="render-failed"]').count(), 0, 'another event gets another try');
    await page.screenshot({ path: `${SCREENSHOTS}render-failed-row.png` });
    assert.ok(consoleErrors.length > 0, 'React reported what the boundaries caught');
    caughtOnly();
  });

  it('a view that cannot be drawn shows "could not render this view — reload"; the header and other views keep working', async () => {
    await publish(hub, 'runs.poisoned', { type: 'run.started', data: { title: 'poison-title' } });
    await page.evaluate(() => (window.location.hash = '#/runs/poisoned'));
    await page.waitForSelector('main > [data-testid="render-failed"]:has-text("Could not render this view")');
    assert.equal(await page.locator('main [data-testid="render-failed"] button:text("reload")').count(), 1);
    assert.equal(await page.locator('header .brand').count(), 1);
    await page.screenshot({ path: `${SCREENSHOTS}render-failed-view.png` });
    await page.click('header a:text("Live feed")');
    await page.waitForSelector('.connection[data-state="connected"]');
    await publish(hub, 'poison.later', { type: 'later' });
    await page.waitForSelector('[data-testid="feed-row"][data-channel="poison.later"]');
    assert.equal(await page.locator('[data-testid="render-failed"]').count(), 0);
    caughtOnly();
    assert.deepEqual(dialogs, []);
  });
});

async function publish(hub: TestHub, channel: string, body: unknown): Promise<void> {
  const { status, text } = await request('POST', `${hub.url}/api/channels/${encodeURIComponent(channel)}/events`, JSON.stringify(body));
  assert.equal(status, 201, text);
}
