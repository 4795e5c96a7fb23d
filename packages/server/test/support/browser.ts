import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium, headless, with none of the background traffic this machine's closed network refuses. */
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchChromium(extraFlags: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_FLAGS, ...extraFlags] });
}

export interface PageWatch {
  /** `console.error` lines, and uncaught page errors unless `pageErrors` is given. */
  consoleErrors: string[];
  pageErrors?: string[];
  /** Dialogs the page opened (each dismissed at once); not watched when absent. */
  dialogs?: string[];
}

/** Records what a user would notice going wrong on a page: errors in the console, crashes, dialogs. */
export function watchPage(page: Page, watch: PageWatch): void {
  page.on('console', (m) => m.type() === 'error' && watch.consoleErrors.push(m.text()));
  page.on('pageerror', (e) => (watch.pageErrors ?? watch.consoleErrors).push(String(e)));
  if (watch.dialogs) {
    const dialogs = watch.dialogs;
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  }
}

/** Collects every long task (ms) into `window.longTasks`, from the first paint of every page load on. */
export async function recordLongTasks(page: Page): Promise<void> {
  await page.addInitScript(() => {
    (window as any).longTasks = [];
    new PerformanceObserver((list) => (window as any).longTasks.push(...list.getEntries().map((e) => e.duration))).observe({ type: 'longtask', buffered: true });
  });
}

/**
 * A page on an origin of its own (a loopback port), as a user's app: `html` at every path but
 * `/app.js`, which serves `script`. The hub it talks to is cross-origin, as in production.
 */
export async function servePage(script: string, html: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/app.js')) res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** @herald/client from its sources as one script, `window.Herald`, as a page would load it. */
export async function clientBundle(): Promise<string> {
  const { build } = await import('esbuild');
  const bundle = await build({ entryPoints: [new URL('../../../client/src/index.ts', import.meta.url).pathname], bundle: true, format: 'iife', globalName: 'Herald', platform: 'browser', write: false, logLevel: 'silent' });
  return bundle.outputFiles[0]!.text;
}
