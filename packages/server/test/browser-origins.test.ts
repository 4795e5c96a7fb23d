import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from './support/browser.js';
import { getJson, startHub, type TestHub } from './support/hub.js';

/**
 * The attack from the issue, in a real browser: a page the user opens on another site calls the hub on
 * 127.0.0.1 with everything a page can do without asking — a no-cors text/plain POST, a DELETE, a
 * WebSocket (no CORS at all), an EventSource. Chromium resolves `evil.test` to 127.0.0.1, so the page
 * is served from loopback but its origin is foreign, exactly as a public site's would be.
 */
const ATTACK = async (hubUrl: string) => {
  const report: Record<string, unknown> = {};
  try {
    await fetch(`${hubUrl}/api/channels/b.target/events`, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{"type":"forged"}' });
    report.post = 'sent';
  } catch (error) {
    report.post = String(error);
  }
  try {
    const r = await fetch(`${hubUrl}/api/channels`);
    report.read = await r.text();
  } catch (error) {
    report.read = 'blocked';
  }
  try {
    await fetch(`${hubUrl}/api/channels/b.target`, { method: 'DELETE' });
    report.delete = 'sent';
  } catch {
    report.delete = 'blocked';
  }
  report.ws = await new Promise((resolve) => {
    const ws = new WebSocket(`${hubUrl.replace('http', 'ws')}/ws`);
    const got: string[] = [];
    ws.onopen = () => ws.send(JSON.stringify({ op: 'subscribe', id: 1, channel: '>', since: { time: 0 } }));
    ws.onmessage = (m) => got.push(String(m.data));
    ws.onclose = () => resolve(got.length === 0 ? 'refused' : got.join('\n'));
    setTimeout(() => resolve(got.length === 0 ? 'refused' : got.join('\n')), 2000);
  });
  report.sse = await new Promise((resolve) => {
    const source = new EventSource(`${hubUrl}/api/channels/b.target/stream?since=0`);
    const got: string[] = [];
    source.onmessage = (m) => got.push(m.data);
    source.onerror = () => (source.close(), resolve(got.length === 0 ? 'refused' : got.join('\n')));
    setTimeout(() => (source.close(), resolve(got.length === 0 ? 'refused' : got.join('\n'))), 2000);
  });
  return report;
};

describe('a foreign page in Chromium (open mode hub on 127.0.0.1)', () => {
  let hub: TestHub;
  let pages: Server;
  let pagePort: number;
  let browser: Browser;

  before(async () => {
    hub = await startHub();
    const seed = await fetch(`${hub.url}/api/channels/b.target/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"secret"}' });
    assert.equal(seed.status, 201);
    pages = createServer((_req, res) => res.end('<!doctype html><title>page</title>'));
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
    pagePort = (pages.address() as AddressInfo).port;
    browser = await launchChromium(['--host-resolver-rules=MAP evil.test 127.0.0.1']);
  });
  after(async () => {
    await browser.close();
    pages.close();
    await hub.dispose();
  });

  it('cannot publish, read, delete, subscribe over WebSocket or stream over SSE', async () => {
    const page = await browser.newPage();
    await page.goto(`http://evil.test:${pagePort}/`);
    const report = await page.evaluate(ATTACK, hub.url);
    assert.equal(report.ws, 'refused');
    assert.equal(report.sse, 'refused');
    assert.equal(report.read, 'blocked', 'the browser could not read the channel list');
    const history = await getJson(`${hub.url}/api/channels/b.target/events`);
    assert.deepEqual(history.json.events.map((e: any) => e.event.type), ['secret'], 'nothing forged, nothing deleted');
    // The requests did reach the hub (the browser did not block them on its own) and were refused there.
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    const refused = Number(/herald_command_errors_total\{code="origin_not_allowed"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(refused >= 3, `the hub refused ${refused} requests by origin`);
    await page.close();
  });

  it('a page on a loopback origin (a dev server) works: reads, publishes JSON, subscribes', async () => {
    const page = await browser.newPage();
    await page.goto(`http://localhost:${pagePort}/`);
    const result = await page.evaluate(async (hubUrl) => {
      const published = await fetch(`${hubUrl}/api/channels/b.local/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"from-dev-server"}' });
      const list = await (await fetch(`${hubUrl}/api/channels`)).json();
      const hello = await new Promise<string>((resolve) => {
        const ws = new WebSocket(`${hubUrl.replace('http', 'ws')}/ws`);
        ws.onmessage = (m) => (resolve(JSON.parse(String(m.data)).op), ws.close());
        ws.onclose = () => resolve('closed');
      });
      return { status: published.status, channels: list.channels.map((c: { name: string }) => c.name), hello };
    }, hub.url);
    assert.equal(result.status, 201);
    assert.ok(result.channels.includes('b.local'));
    assert.equal(result.hello, 'hello');
    await page.close();
  });
});
