import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

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
    const axis = { stroke: muted, grid: { stroke: 'rgba(128,128,128,0.15)' }, ticks: { stroke: 'rgba(128,128,128,0.25)' } };
    plot.current = new uPlot(
      {
        width: element.clientWidth || 600,
        height,
        ...(title ? { title } : {}),
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: false } }))],
        axes: [axis, axis],
        // All points at one instant would make uPlot stretch the axis over years: show a minute instead.
        scales: { x: { time: true, range: (_u, min, max) => (max - min < 1 ? [min - 30, max + 30] : [min, max]) } },
        legend: { show: series.length > 1 },
      },
      data as uPlot.AlignedData,
      element,
    );
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
