/** Publishing at a steady rate and measuring one window: shared by every scenario. */
import type * as hdr from 'hdr-histogram-js';
import type { Fleet, Report } from './harness.js';
import type { Publisher } from './kinds.js';

export const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
/** A histogram's percentile in milliseconds (the harness records microseconds). */
export const ms = (h: hdr.Histogram, p: number) => h.getValueAtPercentile(p) / 1000;
export const log = (text: string) => console.log(`# ${text}`);

/** One sequence for the whole run, so that a late message from an earlier window is recognised as such. */
let seq = 0;
export const nextSeq = () => seq;

/**
 * Publishes `rate` messages a second for `seconds`, evenly in 10 ms slices; returns the last sequence.
 * With several publishers (one per hub), they take turns: sequence `s` goes through `publishers[s % n]`.
 */
export async function publishAt(publishers: Publisher | Publisher[], rate: number, seconds: number, pad: string): Promise<number> {
  const list = [publishers].flat();
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    while (sent < due) {
      list[seq % list.length]!.send(seq++, pad);
      sent++;
    }
    await sleep(10);
  }
  for (const p of list) p.flush?.();
  return seq - 1;
}

/** One measured window: reset counters, publish, let it drain, collect. */
export async function measure(fleet: Fleet, publishers: Publisher | Publisher[], rate: number, seconds: number, pad: string, drainMs: number): Promise<Report> {
  await fleet.reset(seq, [publishers].flat().length);
  const last = await publishAt(publishers, rate, seconds, pad);
  await sleep(drainMs);
  return fleet.report(last);
}
