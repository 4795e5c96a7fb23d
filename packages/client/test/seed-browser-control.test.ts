import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { WebSocket } from 'ws';
import { HeraldClient, type WebSocketConstructor } from '@herald/client';
import { clientBundle, launchChromium, servePage, watchPage } from '../../server/test/support/browser.js';
import { getJson, startHub, type TestHub } from '../../server/test/support/hub.js';
import { until } from '../../server/test/support/process.js';

/** Waits until an asynchronous check holds (every 20 ms, at most 10 s). */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const PAGE = '<!doctype html><html><body><button id="go">Open login page</button><p id="ack">—</p><p>preview frames: <span id="frames">0</span></p><script src="/app.js"></script></body></html>';

/**
 * Seed 001 (TestBro) rebuilt on Herald: the browser sends `navigate` to the test backend and shows its
 * acknowledgement (request/reply instead of two channels and hand-made correlation ids), and the backend
 * streams live preview frames at 10 a second as ephemeral events, which never fill the history.
 */
describe('seed 001: browser control and live preview, in real Chromium', () => {
  let hub: TestHub;
  let page: { url: string; server: Server };
  let browser: Browser;
  let backend: HeraldClient;
  before(async () => {
    hub = await startHub();
    page = await servePage(await clientBundle(), PAGE);
    browser = await launchChromium();
    backend = new HeraldClient({ url: hub.url, WebSocket: WebSocket as unknown as WebSocketConstructor });
    backend.connect();
    await until(() => backend.state === 'connected', 'the backend to connect');
  });
  after(async () => {
    backend?.close();
    await browser?.close();
    page?.server.close();
    await hub?.dispose();
  });

  it('the page sends navigate and shows the acknowledgement; 10 preview frames a second reach it and the store does not grow', async () => {
    const navigated: string[] = [];
    backend.serve('executions.e-1.control', async (data, request) => {
      assert.equal(request.type, 'navigate');
      const { url } = data as { url: string };
      navigated.push(url);
      return { ok: true, url, title: 'Login' };
    });
    const storedBefore = (await getJson(`${hub.url}/api/stats`)).json.stored;

    const tab = await browser.newPage();
    const errors: string[] = [];
    watchPage(tab, { consoleErrors: errors });
    await tab.goto(page.url);
    // Browser code as text: the test runner's compiler adds helpers to functions that the page lacks.
    await tab.evaluate(`(() => {
      const client = window.Herald.createClient({ url: ${JSON.stringify(hub.url)} });
      let frames = 0;
      client.subscribe('executions.e-1.preview', () => {}).on('ephemeral', () => {
        document.getElementById('frames').textContent = String(++frames);
      });
      document.getElementById('go').onclick = async () => {
        try {
          const ack = await client.request('executions.e-1.control', { type: 'navigate', data: { url: 'https://app.example/login' } }, { timeoutMs: 5000 });
          document.getElementById('ack').textContent = 'navigated to ' + ack.url + ' (' + ack.title + ')';
        } catch (error) {
          document.getElementById('ack').textContent = 'failed: ' + error.code;
        }
      };
      window.heraldReady = new Promise((resolve) => client.on('state', (s) => s.to === 'connected' && resolve(true)));
    })()`);
    await tab.evaluate('window.heraldReady');
    // The backend's responder may register just after the page connects: wait until a request finds it.
    await eventually(async () => (await backend.request('executions.e-1.control', { type: 'navigate', data: { url: 'warm-up' } }).catch(() => undefined)) !== undefined, 'the responder to be registered');

    await tab.click('#go');
    await tab.waitForSelector('#ack:text("navigated to https://app.example/login (Login)")', { timeout: 5000 });
    assert.deepEqual(navigated.filter((u) => u !== 'warm-up'), ['https://app.example/login']);

    // Live preview: a 4 KB frame every 100 ms for 3 s, as ephemeral events.
    await eventually(async () => Number(await tab.textContent('#frames')) === 0 && (await getJson(`${hub.url}/api/channels/executions.e-1.preview/presence`)).json.count === 1, 'the page to watch the preview');
    const frame = 'x'.repeat(4096);
    for (let i = 0; i < 30; i++) {
      await backend.publish('executions.e-1.preview', { type: 'preview.frame', data: { i, jpeg: frame } }, { ephemeral: true });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await tab.waitForSelector('#frames:text("30")', { timeout: 2000 });
    const storedAfter = (await getJson(`${hub.url}/api/stats`)).json.stored;
    assert.deepEqual(storedAfter, storedBefore, 'preview frames take no room in the history');
    assert.deepEqual((await getJson(`${hub.url}/api/channels/executions.e-1.preview/events`)).json.events, []);
    assert.deepEqual(errors, []);
  });
});
