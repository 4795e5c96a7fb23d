/**
 * Healthy latency with realistic payloads, server against server: the same subscribers, rate and payload
 * size against Herald with its durable SQLite store, Herald with the memory store, a raw `ws` broadcast
 * and Socket.IO, each in a fresh process; every receiver reads the same fixed head of each frame
 * (load-worker.ts). Herald's rows also give its event-loop delay over the measured window (from
 * /metrics, reset by the scrape before it), so a latency figure comes with what the hub's loop went
 * through.
 */
import { Fleet, ServerProcess } from '../lib/harness.js';
import { LABEL, openPublisher, padFor, type Kind } from '../lib/kinds.js';
import { log, measure, ms } from '../lib/measure.js';

export interface PayloadSettings {
  subscribers: number;
  rate: number;
  seconds: number;
  drainMs: number;
}

export interface PayloadRow {
  p50: number;
  p99: number;
  lost: number;
  /** Herald only: the hub's event-loop delay during the window (p99, max; ms). */
  loop?: { p99: number; max: number };
}

/** The hub's own event-loop delay since the previous scrape (prom-client's histogram, reset per scrape). */
export async function loopDelay(url: string): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^herald_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000;
  return { p99: read('p99'), max: read('max') };
}

/** One server, one payload size: warm-up, then a measured window of `rate` msg/s to `subscribers`. */
export async function payloadLatency(kind: Kind, store: 'sqlite' | 'memory' | undefined, bytes: number, s: PayloadSettings): Promise<PayloadRow> {
  const server = await ServerProcess.start(kind, store ? { store } : {});
  const fleet = await Fleet.start(2);
  try {
    await fleet.connect(kind, server.url, s.subscribers);
    const publisher = await openPublisher(kind, server.url, 'bench');
    const pad = padFor(bytes);
    await measure(fleet, publisher, s.rate, 1, pad, 300); // warm-up
    if (kind === 'herald') await loopDelay(server.url); // resets the loop histogram: the window's own figures follow
    const report = await measure(fleet, publisher, s.rate, s.seconds, pad, s.drainMs);
    const row: PayloadRow = { p50: +ms(report.histogram, 50).toFixed(2), p99: +ms(report.histogram, 99).toFixed(2), lost: report.lost };
    if (kind === 'herald') row.loop = await loopDelay(server.url);
    log(`${LABEL[kind]}${store ? ` (${store})` : ''} ${bytes} B × ${s.rate} msg/s × ${s.subscribers}: p50 ${row.p50} p99 ${row.p99} ms, lost ${row.lost}${row.loop ? `, hub loop p99 ${row.loop.p99.toFixed(1)} max ${row.loop.max.toFixed(1)} ms` : ''}`);
    publisher.close();
    return row;
  } finally {
    await fleet.close();
    await server.stop();
  }
}
