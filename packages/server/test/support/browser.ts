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
