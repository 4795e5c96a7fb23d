import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { labelSpace, needsDots, timeLabels, timeRange } from '../lib/chart-time.js';

/** uPlot's own axis font (it draws labels on the canvas), so that their room is measured in it. */
const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif';

export interface ChartSeries {
  label: string;
  color: string;
}

/** A uPlot time-series chart that resizes with its box. `data[0]` is time in seconds. */
export function Chart({ data, series, height = 200, title }: { data: number[][]; series: ChartSeries[]; height?: number; title?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const labels = series.map((s) => s.label).join('|');

  useEffect(() => {
    const element = box.current!;
    const muted = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#888';
    const axis = { stroke: muted, font: AXIS_FONT, grid: { stroke: 'rgba(128,128,128,0.15)' }, ticks: { stroke: 'rgba(128,128,128,0.25)' } };
    const timeAxis = { ...axis, space: labelSpace(AXIS_FONT), values: (_u: uPlot, splits: number[], _axis: number, _space: number, incr: number) => timeLabels(splits, incr) };
    // A line through one point (or through points of one millisecond) draws nothing: then the points
    // are drawn as dots, so that a metric sent once still shows.
    const dots = (u: uPlot) => needsDots(u.data[0]);
    plot.current = new uPlot(
      {
        width: element.clientWidth || 600,
        height,
        ...(title ? { title } : {}),
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: dots, size: 7, fill: s.color } }))],
        axes: [timeAxis, axis],
        scales: { x: { time: true, range: (u, min, max) => timeRange(min, max, u.data[0]) } },
        legend: { show: series.length > 1 },
      },
      data as uPlot.AlignedData,
      element,
    );
    // The axis labels are drawn on the canvas: the end-to-end tests read what was drawn from here.
    (element as HTMLDivElement & { uplot?: uPlot }).uplot = plot.current;
    const observer = new ResizeObserver(() => plot.current?.setSize({ width: element.clientWidth, height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // The chart is rebuilt only when its shape changes; data updates go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [labels, height, title]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  return <div ref={box} className="chart" />;
}
