/**
 * The time axis of the dashboard's charts (uPlot, times in seconds): its range, its tick labels and
 * the room they need, kept apart from the component so that each rule is one small function.
 */

/** Shown around a series whose points all fall within one second (one point, or one millisecond). */
const LONE_SPAN_S = 30;
/** Shown for a chart with no points yet: the last minute. */
const EMPTY_SPAN_S = 60;
/** Space between two tick labels, in pixels. */
const LABEL_GAP_PX = 10;

/**
 * The x range: the data's, unless its points are (nearly) one instant — uPlot then widens the axis to
 * 86 400 / `ms` units, which for times in seconds is a thousand days (the "May 2027–2029" axis) — or
 * there is no data at all (uPlot passes null). So the instant is judged from the data itself.
 */
export function timeRange(min: number | null, max: number | null, times: ArrayLike<number>, nowS = Date.now() / 1000): [number, number] {
  if (times.length > 0) {
    const first = times[0]!;
    const last = times[times.length - 1]!;
    if (last - first < 1) return [first - LONE_SPAN_S, last + LONE_SPAN_S];
  }
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [nowS - EMPTY_SPAN_S, nowS];
  return [min, max];
}

const two = (n: number) => String(n).padStart(2, '0');
/** `2026-05-03`, local time: unambiguous in every locale. */
export const dayLabel = (d: Date) => `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;

/**
 * Tick labels for splits `incr` seconds apart, 24-hour like the rest of the dashboard: as precise as the
 * step needs (hours and minutes, seconds, milliseconds), with the date as a second line on the first
 * tick and wherever the day changes, so that a chart always says which day it shows.
 */
export function timeLabels(splits: ReadonlyArray<number | null>, incr: number): Array<string | null> {
  let lastDay = '';
  return splits.map((split) => {
    if (split === null) return null;
    const d = new Date(split * 1000);
    const day = dayLabel(d);
    if (incr >= 86_400) return day;
    let time = `${two(d.getHours())}:${two(d.getMinutes())}`;
    if (incr < 60) time += `:${two(d.getSeconds())}`;
    if (incr < 1) time += `.${String(d.getMilliseconds()).padStart(3, '0')}`;
    const label = day === lastDay ? time : `${time}\n${day}`;
    lastDay = day;
    return label;
  });
}

/**
 * Pixels between ticks (uPlot's `space`, called with the scale and the plot's width): the widest label
 * the step can need, measured in the axis font, plus a gap — uPlot's default of 50 px is narrower than
 * `12:34:56`, so neighbours overlapped. Millisecond labels are wider, and only needed when the narrow
 * spacing would let uPlot pick a step below a second (its steps there are 0.5, 0.2, 0.1 s…).
 */
export function labelSpace(font: string): (self: unknown, axis: number, min: number, max: number, plotWidth: number) => number {
  const context = document.createElement('canvas').getContext('2d');
  const measure = (text: string) => {
    if (!context) return text.length * 8;
    context.font = font;
    return Math.ceil(context.measureText(text).width);
  };
  const seconds = measure('00:00:00') + LABEL_GAP_PX;
  const millis = measure('00:00:00.000') + LABEL_GAP_PX;
  // Where the range crosses midnight, two neighbours can both carry the date line (the first tick and
  // the day's first), and a date is wider than a time: found by a test run in the early afternoon,
  // when its 20-hour chart began the day before.
  const dated = Math.max(seconds, measure('0000-00-00') + LABEL_GAP_PX);
  return (_self, _axis, min, max, plotWidth) => {
    if (plotWidth > 0 && ((max - min) * seconds) / plotWidth <= 0.5) return millis;
    return dayLabel(new Date(min * 1000)) === dayLabel(new Date(max * 1000)) ? seconds : dated;
  };
}

/** Whether a series should draw its points as dots: a line through fewer than two distinct times is invisible. */
export function needsDots(times: ArrayLike<number>): boolean {
  return times.length < 2 || times[times.length - 1]! - times[0]! < 1;
}
