import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { clientBundle, launchChromium, servePage, watchPage } from '../../server/test/support/browser.js';
import { startBufferingProxy, type BufferingProxy } from '../../server/test/support/buffering-proxy.js';
import { postEvents, startHub, type TestHub } from '../../server/test/support/hub.js';
import { until } from '../../server/test/support/process.js';

describe('in real Chromium, behind a proxy that refuses WebSockets and buffers SSE', () => {
  let hub: TestHub;
  let proxy: BufferingProxy;
  let page: { url: string; server: Server };
  let browser: Browser;

  before(async () => {
    hub = await startHub({ heartbeatMs: 1000 });
    proxy = await startBufferingProxy(hub.url);
    page = await servePage(await clientBundle(), '<!doctype html><html><body><script src="/app.js"></script></body></html>');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    page?.server.close();
    await proxy?.close();
    await hub?.dispose();
  });

  it('falls back to long-poll within 10 s, misses nothing, and its state does not flap', async () => {
    const tab = await browser.newPage();
    const errors: string[] = [];
    watchPage(tab, { consoleErrors: errors });
    await tab.goto(page.url);
    await postEvents(hub.url, 'b.fallback', [{ type: 'before-1' }, { type: 'before-2' }]);
    // Browser code as text: the test runner's compiler adds helpers to functions that the page lacks.
    await tab.evaluate(`(() => {
      const started = performance.now();
      const client = new window.Herald.HeraldClient({ url: ${JSON.stringify(proxy.url)}, websocketRetryMs: 1000 });
      window.states = [];
      window.got = [];
      client.on('state', (s) => window.states.push({ to: s.to, transport: s.transport, at: Math.round(performance.now() - started) }));
      client.subscribe('b.fallback', (e) => window.got.push(e.offset + ':' + e.event.type), { since: { offset: 0 } });
      window.client = client.connect();
    })()`);
    await until(() => proxy.heldStreams() >= 1, 'the SSE attempt, its stream held by the proxy');
    await postEvents(hub.url, 'b.fallback', { type: 'during' });
    await tab.waitForFunction('window.client.transport === "poll" && window.client.state === "connected"', undefined, { timeout: 10_000 });
    await postEvents(hub.url, 'b.fallback', { type: 'after-1' });
    await postEvents(hub.url, 'b.fallback', { type: 'after-2' });
    await tab.waitForFunction('window.got.length >= 5', undefined, { timeout: 10_000 });
    // WebSocket probes (every second here) are refused by the proxy meanwhile: none may show in the state.
    const refused = proxy.refused();
    await until(() => proxy.refused() >= refused + 2, 'two refused background probes');
    const { got, states } = (await tab.evaluate('({ got: window.got, states: window.states })')) as { got: string[]; states: Array<{ to: string; transport?: string; at: number }> };
    assert.deepEqual(got, ['1:before-1', '2:before-2', '3:during', '4:after-1', '5:after-2'], 'every event once, in order');
    assert.deepEqual(states.map((s) => `${s.to}${s.transport ? `(${s.transport})` : ''}`), ['connecting', 'connected(poll)'], 'connecting, then connected over long-poll: nothing in between');
    const fallbackMs = states.at(-1)!.at;
    assert.ok(fallbackMs < 10_000, `fell back in ${fallbackMs} ms`);
    console.log(`# Chromium fell back to long-poll in ${fallbackMs} ms (WebSocket refused ${proxy.refused()}×, SSE held)`);
    assert.deepEqual(errors.filter((e) => !/WebSocket|502|Failed to load resource/.test(e)), []);
    await tab.evaluate('window.client.close()');
    await tab.close();
  });
});
