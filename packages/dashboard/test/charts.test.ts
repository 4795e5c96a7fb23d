import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startServer, type HeraldServer } from '@herald/server';
import { launchChromium, watchPage } from '../../server/test/support/browser.js';
import { postEvents, tempDir } from '../../server/test/support/hub.js';

const DASHBOARD = new URL('../dist', import.meta.url).pathname;
/** Three hours ago: a chart must show the time its points happened, not now and not years away. */
const AT = Date.now() - 3 * 3_600_000;

interface DrawnChart {
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
  labels: string[];
  /** Left and right edge (px) of each x tick label, widest line, in order. */
  boxes: Array<[number, number]>;
  /** Canvas pixels in the series colour inside the plot area. */
  seriesPixels: number;
}

/** What uPlot drew for each chart in the page: scales, x tick labels and their boxes, series pixels. */
function readCharts(page: Page, color: [number, number, number]): Promise<DrawnChart[]> {
  return page.$$eval('.chart', (elements, rgb) =>
    elements.map((element) => {
      const u = (element as any).uplot;
      const axis = u.axes[0];
      const context = document.createElement('canvas').getContext('2d')!;
      context.font = axis.font[0].replace(/(\d+)px/, `${axis.font[2]}px`);
      const labels: string[] = (axis._values as Array<string | null>).map((v) => v ?? '');
      const boxes = (axis._splits as number[]).map((split, i): [number, number] => {
        const width = Math.max(...labels[i]!.split('\n').map((line) => context.measureText(line).width));
        const at = u.valToPos(split, 'x');
        return [at - width / 2, at + width / 2];
      }).filter((_box, i) => labels[i] !== '');
      const canvas = element.querySelector('canvas')!;
      const { left, top, width, height } = u.bbox;
      const pixels = canvas.getContext('2d')!.getImageData(left, top, width, height).data;
      let seriesPixels = 0;
      for (let p = 0; p < pixels.length; p += 4) {
        if (Math.abs(pixels[p]! - rgb[0]) < 8 && Math.abs(pixels[p + 1]! - rgb[1]) < 8 && Math.abs(pixels[p + 2]! - rgb[2]) < 8 && pixels[p + 3]! > 200) seriesPixels++;
      }
      return { xMin: u.scales.x.min, xMax: u.scales.x.max, yMin: u.scales.y.min, yMax: u.scales.y.max, labels, boxes, seriesPixels };
    }), color);
}

/** Tick labels that do not overlap (a narrow chart over a few seconds may have room for one only). */
function assertNoOverlap(chart: DrawnChart, atLeast = 2): void {
  assert.ok(chart.boxes.length >= atLeast, `at least ${atLeast} x labels: ${JSON.stringify(chart.labels)}`);
  for (let i = 1; i < chart.boxes.length; i++) {
    assert.ok(chart.boxes[i - 1]![1] <= chart.boxes[i]![0], `x labels ${JSON.stringify(chart.labels[i - 1])} and ${JSON.stringify(chart.labels[i])} overlap: ${JSON.stringify(chart.boxes)}`);
  }
}

describe('dashboard charts in real Chromium', () => {
  const dataDir = tempDir('herald-charts-');
  let hub: HeraldServer;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    hub = await startServer({ port: 0, dataDir, logLevel: 'silent', dashboardDir: DASHBOARD });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    watchPage(page, { consoleErrors });
  });

  after(async () => {
    await browser?.close();
    await hub?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The run's page, once its metric chart has drawn `points` points. */
  const openRun = async (id: string, points: number) => {
    await page.goto('about:blank');
    await page.goto(`${hub.url}/#/runs/${id}`);
    await page.waitForFunction((n) => {
      const u = (document.querySelector('.chart') as any)?.uplot;
      return u && u.data[0].length === n && u.axes[0]._values?.length > 0;
    }, points);
    const [chart] = await readCharts(page, [0x63, 0x66, 0xf1]);
    return chart!;
  };
  /** The day and time the page itself writes for `ms` (the browser's time zone). */
  const localDay = (ms: number) => page.evaluate((t) => { const d = new Date(t); return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`; }, ms);
  const localMinute = (ms: number) => page.evaluate((t) => { const d = new Date(t); return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`; }, ms);

  const assertAround = async (chart: DrawnChart, ms: number) => {
    assert.ok(chart.xMin * 1000 <= ms && ms <= chart.xMax * 1000, `the x scale holds the point: ${JSON.stringify(chart)}`);
    assert.ok(chart.xMax - chart.xMin <= 120, `a minute around it, not years: ${chart.xMax - chart.xMin} s`);
    assert.ok(chart.labels[0]!.endsWith(`\n${await localDay(ms)}`), `the first label has the day: ${JSON.stringify(chart.labels)}`);
    const minute = await localMinute(ms);
    const near = await localMinute(ms - 60_000);
    const next = await localMinute(ms + 60_000);
    assert.ok(chart.labels.some((l) => [near, minute, next].some((m) => l.startsWith(m))), `labels at the point's time ${minute}: ${JSON.stringify(chart.labels)}`);
  };

  it('draws a metric sent once as a visible point on an axis around its time, with its date', async () => {
    await postEvents(hub.url, 'runs.chart-one', [
      { type: 'run.started', data: { title: 'One point' } },
      { type: 'metric', ts: new Date(AT).toISOString(), data: { name: 'latency', value: 230, unit: 'ms' } },
    ]);
    const chart = await openRun('chart-one', 1);
    await assertAround(chart, AT);
    assert.ok(chart.yMin < 230 && 230 < chart.yMax, `the y scale holds the value: ${chart.yMin}..${chart.yMax}`);
    assert.ok(chart.seriesPixels >= 20, `the point is drawn: ${chart.seriesPixels} pixels of its colour`);
    assertNoOverlap(chart);
  });

  it('draws points of one millisecond, constant or not, as visible dots around their time', async () => {
    const ts = new Date(AT + 1234).toISOString();
    await postEvents(hub.url, 'runs.chart-same', [
      { type: 'run.started', data: { title: 'Same millisecond' } },
      ...[5, 5, 5].map((value) => ({ type: 'metric', ts, data: { name: 'constant', value } })),
    ]);
    const chart = await openRun('chart-same', 3);
    await assertAround(chart, AT + 1234);
    assert.ok(chart.yMin < 5 && 5 < chart.yMax, `a constant value sits inside the y scale: ${chart.yMin}..${chart.yMax}`);
    assert.ok(chart.seriesPixels >= 20, `the points are drawn: ${chart.seriesPixels} pixels of their colour`);
    assertNoOverlap(chart);
  });

  it('keeps x labels apart at every chart width it is drawn at, over seconds, minutes and hours', async () => {
    const spans = { seconds: 5_000, minutes: 10 * 60_000, hours: 20 * 3_600_000, 'part second': 1_500 };
    for (const [name, span] of Object.entries(spans)) {
      const id = `chart-span-${name.replace(' ', '-')}`;
      const start = Date.now() - span - 60_000;
      await postEvents(hub.url, `runs.${id}`, [
        { type: 'run.started', data: { title: name } },
        ...Array.from({ length: 40 }, (_, i) => ({ type: 'metric', ts: new Date(start + (span * i) / 39).toISOString(), data: { name: 'load', value: i % 7 } })),
      ]);
      for (const width of [1440, 1024, 700]) {
        await page.setViewportSize({ width, height: 900 });
        const chart = await openRun(id, 40);
        assertNoOverlap(chart, width === 1440 ? 2 : 1);
        assert.ok(chart.seriesPixels >= 20, `${name} at ${width}: the line is drawn`);
      }
    }
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it('draws the overview chart from its first sample on, around now', async () => {
    await page.goto(`${hub.url}/#/overview`);
    await page.waitForFunction(() => (document.querySelector('.chart') as any)?.uplot?.data[0].length >= 1);
    const [chart] = await readCharts(page, [0x63, 0x66, 0xf1]);
    const now = Date.now();
    assert.ok(Math.abs(chart!.xMax * 1000 - now) < 120_000, `the axis ends about now: ${chart!.xMax}`);
    assert.ok(chart!.labels[0]!.endsWith(`\n${await localDay(chart!.xMin * 1000)}`), JSON.stringify(chart!.labels));
    assertNoOverlap(chart!);
    assert.deepEqual(consoleErrors, []);
  });
});
