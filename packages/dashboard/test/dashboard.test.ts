import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startServer, type HeraldServer } from '@herald/server';
import { launchChromium, recordLongTasks, watchPage } from '../../server/test/support/browser.js';
import { getJson, postEvents, tempDir } from '../../server/test/support/hub.js';

const DASHBOARD = new URL('../dist', import.meta.url).pathname;
const SCREENSHOTS = new URL('../../../test-output/screenshots/', import.meta.url).pathname;
/** What Chromium itself logs while the hub is down; anything else in the console is a bug. */
const NETWORK_FAILURE = /ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|WebSocket connection to .* failed|Failed to load resource/;

describe('dashboard in real Chromium', () => {
  const dataDir = tempDir('herald-dashboard-');
  let hub: HeraldServer;
  let port: number;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const dialogs: string[] = [];

  const start = async () => {
    hub = await startServer({ port: port ?? 0, dataDir, logLevel: 'silent', dashboardDir: DASHBOARD, stallAfterMs: 60_000 });
    port = hub.port;
  };
  const go = async (hash: string) => {
    await page.evaluate((h) => (window.location.hash = h), hash);
  };
  /** The feed shows what is published once its subscriptions are confirmed ("live"), not before. */
  const feedLive = () => page.waitForSelector('[data-testid="feed-live"][data-live="true"]');
  /** Each test opens its view with a fresh page load, so that none depends on what another left behind. */
  const open = async (hash: string) => {
    // From a blank page: going to the URL already shown would keep the old page and its state.
    await page.goto('about:blank');
    await page.goto(`${hub.url}/${hash}`);
    await page.waitForSelector('.connection[data-state="connected"]');
    if (hash.startsWith('#/feed')) await feedLive();
  };
  const shot = (name: string) => page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
  /** The feed subscribed to exactly `sources` (space-separated) and the hub confirmed them all. */
  const sourcesLive = (sources: string) => page.waitForSelector(`[data-testid="feed-live"][data-live="true"][data-sources="${sources}"]`);
  const rows = () => page.$$eval('[data-testid="feed-row"]', (els) => els.map((el) => `${el.getAttribute('data-channel')}#${el.getAttribute('data-offset')}`));

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await start();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    watchPage(page, { consoleErrors, dialogs });
    // Long tasks are collected from the first paint on.
    await recordLongTasks(page);
  });

  after(async () => {
    await browser?.close();
    await hub?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loads with the indicator green, and an event published over HTTP appears in the feed within 1 s', async () => {
    await open('#/feed');
    const color = await page.$eval('.connection', (el) => getComputedStyle(el).borderColor);
    assert.equal(color, 'rgb(22, 163, 74)', 'green');
    const { json } = await postEvents(hub.url, 'demo.first', { type: 'deploy.finished', severity: 'success', data: { message: 'web v42 is live' } });
    await page.waitForSelector(`[data-testid="feed-row"][data-channel="demo.first"][data-offset="${json.offsets[0]}"]`, { timeout: 1000 });
    assert.equal(await page.textContent('[data-channel="demo.first"] [data-testid="feed-preview"]'), 'web v42 is live');
    await page.click('[data-channel="demo.first"]');
    await page.waitForSelector('[data-testid="event-detail"] .json');
    await shot('feed');
  });

  it('shows a scripted run live: progress bar, steps, logs, and the timeline in its detail view', async () => {
    await open('#/runs');
    await postEvents(hub.url, 'runs.e2e-1', [
      { type: 'run.started', data: { title: 'Checkout e2e', labels: { team: 'web' } } },
      { type: 'step.started', data: { step: 'login', name: 'Log in' } },
      { type: 'run.progress', data: { percent: 25, message: 'logging in' } },
    ]);
    await page.waitForSelector('tr[data-run="e2e-1"] [role="progressbar"][aria-valuenow="25"]');
    assert.equal(await page.textContent('tr[data-run="e2e-1"] [data-testid="run-status"]'), 'running');
    await shot('runs');

    await page.click('tr[data-run="e2e-1"]');
    await page.waitForSelector('[data-testid="run-detail"]');
    await page.waitForSelector('[data-step="login"][data-status="running"]');
    await postEvents(hub.url, 'runs.e2e-1', [
      { type: 'log', data: { message: 'user signed in' } },
      { type: 'step.completed', data: { step: 'login', status: 'passed' } },
      { type: 'step.started', data: { step: 'pay', name: 'Pay' } },
      { type: 'log', severity: 'error', data: { message: 'card declined' } },
      { type: 'step.completed', data: { step: 'pay', status: 'failed', message: 'declined' } },
      { type: 'metric', data: { name: 'latency', value: 120, unit: 'ms' } },
      { type: 'metric', data: { name: 'latency', value: 340, unit: 'ms' } },
      { type: 'run.progress', data: { percent: 80, message: 'paying' } },
    ]);
    await page.waitForSelector('[data-testid="run-percent"]:text("80%")');
    await page.waitForSelector('[data-step="login"][data-status="passed"]');
    await page.waitForSelector('[data-step="pay"][data-status="failed"]');
    await page.waitForSelector('[data-testid="run-log"] >> text=card declined');
    await page.waitForSelector('[data-testid="run-log"] >> text=user signed in');
    // An event held back (say by an outage) shows when it happened; hovering shows both times.
    const held = Date.now() - 3_600_000;
    await postEvents(hub.url, 'runs.e2e-1', { type: 'log', data: { message: 'held back' }, ts: held });
    const heldRow = page.locator('[data-testid="run-log"] > div', { hasText: 'held back' });
    await heldRow.waitFor();
    const shown = await page.evaluate((t) => { const d = new Date(t); return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`; }, held);
    assert.equal(await heldRow.locator('[data-testid="log-time"]').textContent(), shown);
    assert.match((await heldRow.locator('[data-testid="log-time"]').getAttribute('title'))!, /^published .* · received /);
    assert.equal(await page.textContent('[data-testid="run-message"]'), 'paying');
    // 100, +2 clamped at 100, −5 for the error log, −10 for the failed step.
    assert.match((await page.getAttribute('[data-testid="health-gauge"]', 'aria-label'))!, /health 85 \(stable\)/);
    await postEvents(hub.url, 'runs.e2e-1', { type: 'run.completed', data: { status: 'failed', summary: { passed: 1, failed: 1 } } });
    await page.waitForSelector('[data-testid="run-detail"] [data-testid="run-status"]:text("failed")');
    await shot('run-detail');
  });

  it('opens the feed with the newest 200 events across channels, then the next live one within 1 s, each once; older ones load for a pattern', async () => {
    // A hub of its own: the newest 200 must not depend on what other tests (their run summaries) publish.
    const own = await startServer({ port: 0, dataDir: tempDir('herald-dashboard-history-'), logLevel: 'silent', dashboardDir: DASHBOARD });
    try {
    // 300 events on 20 channels, in 15 rounds: hist.c<k> holds offsets 1–15.
    for (let round = 1; round <= 15; round++) {
      await Promise.all(Array.from({ length: 20 }, (_, c) => postEvents(own.url, `hist.c${c}`, { type: 'hist', data: { round, c } })));
    }
    const expected = (await getJson(`${own.url}/api/channels/${encodeURIComponent('hist.>')}/events?limit=300`)).json.events.map((e: { channel: string; offset: number }) => `${e.channel}#${e.offset}`);
    assert.equal(expected.length, 300);
    await page.goto('about:blank');
    await page.goto(`${own.url}/#/feed`);
    await page.waitForSelector('.connection[data-state="connected"]');
    await feedLive();
    await page.fill('input[aria-label="channel pattern"]', 'hist.>');
    // The hub subscription follows the box once it settles: wait for it, not for the first list to fill.
    await sourcesLive('hist.>');
    await page.waitForSelector('[data-testid="feed-count"]:text-matches("^200 shown")');
    // The newest 20 are the last round, one event per channel (in one round, several share a millisecond).
    assert.deepEqual((await rows()).slice(0, 20).sort(), expected.slice(0, 20).sort(), 'newest first, at once');
    assert.ok((await rows()).slice(0, 20).every((key) => key.endsWith('#15')));
    const { json } = await postEvents(own.url, 'hist.c3', { type: 'hist', data: { live: true } });
    await page.waitForSelector(`[data-testid="feed-row"][data-channel="hist.c3"][data-offset="${json.offsets[0]}"]`, { timeout: 1000 });
    await page.waitForSelector('[data-testid="feed-count"]:text-matches("^201 shown")');
    assert.equal((await rows())[0], `hist.c3#${json.offsets[0]}`);
    // Older pages until there are none (pages already on screen are passed over): all 301, each once.
    for (let clicks = 0; (await page.textContent('[data-testid="load-older"]')) !== 'No older events'; clicks++) {
      assert.ok(clicks < 5, 'a few pages at most');
      const before = await page.textContent('[data-testid="feed-count"]');
      await page.click('[data-testid="load-older"]');
      await page.waitForFunction((text) => document.querySelector('[data-testid="feed-count"]')?.textContent !== text || document.querySelector('[data-testid="load-older"]')?.textContent === 'No older events', before);
    }
    assert.match((await page.textContent('[data-testid="feed-count"]'))!, /^301 shown/, 'each event once');
    await page.fill('input[aria-label="channel pattern"]', '');
    } finally {
      await own.close();
    }
  });

  it('turns red when the hub stops and green when it is back; events published meanwhile appear exactly once', async () => {
    await open('#/feed');
    await postEvents(hub.url, 'demo.restart', { type: 'before' });
    await page.waitForSelector('[data-channel="demo.restart"][data-offset="1"]');
    const errorsBefore = consoleErrors.length;
    await hub.close();
    await page.waitForSelector('.connection[data-state="disconnected"]');
    assert.equal(await page.$eval('.connection', (el) => getComputedStyle(el).borderColor), 'rgb(220, 38, 38)', 'red');
    await page.waitForSelector('.connection >> text=Retry now');
    await shot('reconnecting');
    await start();
    await postEvents(hub.url, 'demo.restart', [{ type: 'meanwhile-1' }, { type: 'meanwhile-2' }]);
    await page.waitForSelector('.connection[data-state="connected"]', { timeout: 15_000 });
    await postEvents(hub.url, 'demo.restart', { type: 'after' });
    await page.waitForSelector('[data-channel="demo.restart"][data-offset="4"]');
    await page.waitForTimeout(300);
    const seen = (await rows()).filter((r) => r.startsWith('demo.restart#'));
    assert.deepEqual(seen, ['demo.restart#4', 'demo.restart#3', 'demo.restart#2', 'demo.restart#1'], 'each once, newest first');
    const unexpected = consoleErrors.slice(errorsBefore).filter((e) => !NETWORK_FAILURE.test(e));
    assert.deepEqual(unexpected, []);
    consoleErrors.splice(errorsBefore); // the hub was down on purpose: its network errors are expected
  });

  it('goes through 20 hub restarts in a row under CPU load, each time with every event exactly once', { timeout: 240_000 }, async () => {
    // Two busy processes (one per core of the CI machine) for the length of the test.
    const burners = [0, 1].map(() => spawn(process.execPath, ['-e', 'const end = Date.now() + 200000; while (Date.now() < end) {}'], { stdio: 'ignore' }));
    const errorsBefore = consoleErrors.length;
    try {
      await open('#/feed');
      for (let round = 1; round <= 20; round++) {
        const channel = `restart.r${round}`;
        await postEvents(hub.url, channel, { type: 'before' });
        await page.waitForSelector(`[data-channel="${channel}"][data-offset="1"]`);
        await hub.close();
        await page.waitForSelector('.connection[data-state="disconnected"]');
        await start();
        await postEvents(hub.url, channel, [{ type: 'meanwhile-1' }, { type: 'meanwhile-2' }]);
        await page.waitForSelector('.connection[data-state="connected"]', { timeout: 20_000 });
        await postEvents(hub.url, channel, { type: 'after' });
        await page.waitForSelector(`[data-channel="${channel}"][data-offset="4"]`);
        const seen = (await rows()).filter((r) => r.startsWith(`${channel}#`));
        assert.deepEqual(seen, [`${channel}#4`, `${channel}#3`, `${channel}#2`, `${channel}#1`], `round ${round}: each once, newest first`);
      }
    } finally {
      for (const burner of burners) burner.kill('SIGKILL');
    }
    const unexpected = consoleErrors.slice(errorsBefore).filter((e) => !NETWORK_FAILURE.test(e));
    assert.deepEqual(unexpected, []);
    consoleErrors.splice(errorsBefore);
  });

  it('renders hostile payloads as text and opens no dialog', async () => {
    await open('#/feed');
    const attack = '<img src=x onerror=alert(1)>';
    await postEvents(hub.url, 'demo.xss', { type: attack, data: { message: attack, html: `<script>alert(2)</script>${attack}` } });
    await page.waitForSelector('[data-channel="demo.xss"]');
    assert.equal(await page.textContent('[data-channel="demo.xss"] [data-testid="feed-type"]'), attack);
    await page.click('[data-channel="demo.xss"]');
    await page.waitForSelector('[data-testid="event-detail"] .json');
    assert.equal(await page.$$eval('[data-testid="feed"] img, [data-testid="event-detail"] img, [data-testid="event-detail"] script', (els) => els.length), 0);
    assert.match((await page.textContent('[data-testid="event-detail"]'))!, /<script>alert\(2\)<\/script>/);
    await page.waitForTimeout(200);
    assert.deepEqual(dialogs, []);
  });

  it('filters by type, severity, channel and text, and pauses', async () => {
    await open('#/feed');
    await postEvents(hub.url, 'demo.filter', [
      { type: 'alpha', severity: 'info', data: { message: 'first needle' } },
      { type: 'beta', severity: 'error', data: { message: 'second' } },
      { type: 'alpha', severity: 'warning', data: { message: 'third needle' } },
    ]);
    await page.waitForSelector('[data-channel="demo.filter"][data-offset="3"]');
    await page.fill('input[aria-label="channel pattern"]', 'demo.filter');
    await sourcesLive('demo.filter');
    await page.fill('input[aria-label="type"]', 'alpha');
    assert.deepEqual(await rows(), ['demo.filter#3', 'demo.filter#1']);
    await page.uncheck('input[aria-label="severity warning"]');
    assert.deepEqual(await rows(), ['demo.filter#1']);
    await page.check('input[aria-label="severity warning"]');
    await page.fill('input[aria-label="type"]', '');
    await page.fill('input[aria-label="search"]', 'needle');
    assert.deepEqual(await rows(), ['demo.filter#3', 'demo.filter#1']);
    await page.fill('input[aria-label="search"]', '');

    await page.click('[data-testid="pause"]');
    await postEvents(hub.url, 'demo.filter', [{ type: 'while-paused' }, { type: 'while-paused' }]);
    await page.waitForSelector('[data-testid="pause"]:text("Resume (2 new)")');
    assert.deepEqual(await rows(), ['demo.filter#3', 'demo.filter#2', 'demo.filter#1'], 'nothing added while paused');
    // The channel box changed while paused: the feed subscribes anew (it read the newest events again,
    // #4 and #5 among them), and still adds nothing until resumed — then each event once.
    await page.fill('input[aria-label="channel pattern"]', 'demo.*');
    await sourcesLive('demo.*');
    const whilePaused = await rows();
    assert.ok(!whilePaused.includes('demo.filter#4') && !whilePaused.includes('demo.filter#5'), `nothing published while paused shows when the sources change: ${whilePaused.join(' ')}`);
    await page.waitForSelector('[data-testid="pause"]:text("Resume (2 new)")');
    await page.fill('input[aria-label="channel pattern"]', 'demo.filter');
    await sourcesLive('demo.filter');
    await page.click('[data-testid="pause"]');
    await page.waitForSelector('[data-channel="demo.filter"][data-offset="5"]');
    assert.deepEqual(await rows(), ['demo.filter#5', 'demo.filter#4', 'demo.filter#3', 'demo.filter#2', 'demo.filter#1']);
    await page.fill('input[aria-label="channel pattern"]', '');
  });

  it('stays usable under 1 000 events/s for 10 s: no long task over 200 ms, only visible rows drawn', async () => {
    await open('#/feed');
    await page.evaluate(() => ((window as any).longTasks = []));
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < 10_000) {
      const tick = Date.now();
      await Promise.all([0, 1, 2, 3].map((c) => postEvents(hub.url, `load.c${c}`, Array.from({ length: 25 }, (_, i) => ({ type: 'tick', severity: i % 10 === 0 ? 'warning' : 'info', data: { i: sent + i } })))));
      sent += 100;
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tick))));
    }
    const seconds = (Date.now() - started) / 1000;
    const longTasks: number[] = await page.evaluate(() => (window as any).longTasks);
    const total = longTasks.reduce((a, b) => a + b, 0);
    console.log(`# load: ${sent} events in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)}/s); long tasks: ${longTasks.length}, total ${Math.round(total)} ms, longest ${Math.round(Math.max(0, ...longTasks))} ms`);
    assert.ok(sent / seconds >= 900, `the load reached only ${Math.round(sent / seconds)} events/s`);
    assert.ok(Math.max(0, ...longTasks) <= 200, `a long task of ${Math.round(Math.max(...longTasks))} ms while 1 000 events/s arrived`);
    await page.waitForFunction(() => document.querySelector('[data-testid="feed-count"]')?.textContent?.includes('1000 live'));
    assert.ok((await rows()).length > 0 && (await rows()).length < 100, 'only visible rows are rendered');
    await page.click('[data-testid="pause"]');
    await page.waitForSelector('[data-testid="pause"]:text-matches("Resume")');
    await page.click('[data-testid="pause"]');
    await shot('feed-under-load');
  });

  it('shows the overview and channels, publishes from the form, and has a light theme', async () => {
    await postEvents(hub.url, 'demo.listed', { type: 'listed' });
    await postEvents(hub.url, 'runs.themed', { type: 'run.started', data: { title: 'Themed' } });
    await open('#/overview');
    await page.waitForSelector('[data-testid="card-total"] .value:not(:text("—"))');
    await page.waitForTimeout(1500); // a few chart samples
    await shot('overview');
    await go('#/channels');
    await page.waitForSelector('[data-testid="channels-table"] tr[data-channel="demo.listed"]');
    await page.fill('[data-testid="publish-form"] input >> nth=0', 'demo.form');
    await page.click('[data-testid="publish-form"] button[type="submit"]');
    await page.waitForSelector('[data-testid="publish-result"]:text("Published demo.form #1")');
    await shot('channels');
    const first = await page.getAttribute('html', 'data-theme');
    await page.click('button[aria-label="switch theme"]');
    const second = await page.getAttribute('html', 'data-theme');
    assert.deepEqual([first, second].sort(), ['dark', 'light']);
    await go('#/runs');
    await page.waitForSelector('tr[data-run="themed"]');
    await shot(`runs-${second}`);
    await page.setViewportSize({ width: 2560, height: 1440 });
    await go('#/overview');
    await shot('overview-wall');
    assert.deepEqual(consoleErrors, []);
  });

  it('shows a steady channel rate: no 0.0/s between polls, no double rate', async () => {
    await page.setViewportSize({ width: 1440, height: 900 });
    await open('#/channels');
    await page.fill('[data-testid="channel-prefix"]', 'steady');
    const rate = () => page.textContent('[data-testid="channels-table"] tr[data-channel="steady.rate"] td:nth-child(3)');
    // 20 events/s for 8 s, while the page is read every 250 ms (reads re-render nothing; the theme
    // toggle below does, as any other state change would).
    const started = Date.now();
    let sent = 0;
    const readings: number[] = [];
    while (Date.now() - started < 8000) {
      await postEvents(hub.url, 'steady.rate', [{ type: 'tick' }, { type: 'tick' }, { type: 'tick' }, { type: 'tick' }, { type: 'tick' }]);
      sent += 5;
      await page.waitForTimeout(250);
      const text = Date.now() - started > 4500 ? await rate() : null;
      if (text) readings.push(Number.parseFloat(text));
      if (readings.length % 3 === 1) await page.click('button[aria-label="switch theme"]');
    }
    const truth = (sent * 1000) / (Date.now() - started);
    console.log(`# channel rate readings ${readings.join(' ')} (true ≈ ${truth.toFixed(1)}/s)`);
    assert.ok(readings.length >= 8, `${readings.length} readings`);
    for (const r of readings) assert.ok(r > truth * 0.6 && r < truth * 1.4, `read ${r}/s for a true ${truth.toFixed(1)}/s`);
    await page.fill('[data-testid="channel-prefix"]', '');
  });
});
