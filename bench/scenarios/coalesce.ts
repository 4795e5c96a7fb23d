/**
 * Write coalescing (fanout/write-batch.ts): a publisher sends bursts — one HTTP batch of `burst` events —
 * so that each subscriber has several events ready in one fan-out. The same load runs against Herald
 * with coalescing on and off (HERALD_BENCH_COALESCE=off), interleaved over rounds: p99 publish → subscriber
 * and the hub's CPU per delivery, at each number of subscribers.
 */
import { Fleet, ServerProcess } from '../lib/harness.js';
import { nowMs, padFor, type Publisher } from '../lib/kinds.js';
import { log, measure, ms } from '../lib/measure.js';

export interface CoalesceSettings {
  subscribers: number[];
  /** Events per second in total, sent as bursts of `burst` events. */
  rate: (subscribers: number) => number;
  burst: number;
  seconds: number;
  drainMs: number;
  rounds: number;
}

/** Sends every `burst` messages as one HTTP batch, each stamped when the batch leaves. */
function burstPublisher(url: string, channel: string, burst: number): Publisher {
  let waiting: number[] = [];
  let padding = '';
  const flush = () => {
    if (waiting.length === 0) return;
    const ts = nowMs();
    const body = JSON.stringify(waiting.map((s) => ({ type: 'b', data: { ts, seq: s, pad: padding } })));
    waiting = [];
    void fetch(`${url}/api/channels/${channel}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.arrayBuffer());
  };
  return {
    send: (seq, pad) => {
      waiting.push(seq);
      padding = pad;
      if (waiting.length >= burst) flush();
    },
    flush,
    close: () => {},
  };
}

export async function coalesceScenario(s: CoalesceSettings): Promise<string> {
  const rows: string[] = [];
  for (const n of s.subscribers) {
    const figures: Record<'on' | 'off', { p99: number[]; cpu: number[]; lost: number }> = { on: { p99: [], cpu: [], lost: 0 }, off: { p99: [], cpu: [], lost: 0 } };
    for (let round = 0; round < s.rounds; round++) {
      for (const mode of round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
        process.env.HERALD_BENCH_COALESCE = mode;
        const server = await ServerProcess.start('herald');
        delete process.env.HERALD_BENCH_COALESCE;
        const fleet = await Fleet.start(2);
        try {
          await fleet.connect('herald', server.url, n);
          const publisher = burstPublisher(server.url, 'bench', s.burst);
          const pad = padFor(128);
          await measure(fleet, publisher, s.rate(n), 1, pad, 500); // warm-up
          const before = await server.stats();
          const report = await measure(fleet, publisher, s.rate(n), s.seconds, pad, s.drainMs);
          const after = await server.stats();
          const cpu = (after.cpuMicros - before.cpuMicros) / 1e4 / (s.seconds + s.drainMs / 1000);
          figures[mode].p99.push(ms(report.histogram, 99));
          figures[mode].cpu.push(cpu);
          figures[mode].lost += report.lost;
          log(`coalescing ${mode}, ${n} subscribers, ${s.rate(n)} events/s in bursts of ${s.burst}: p99 ${ms(report.histogram, 99).toFixed(1)} ms, hub CPU ${cpu.toFixed(0)} %, lost ${report.lost}`);
        } finally {
          await fleet.close();
          await server.stop();
        }
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
    const { on, off } = figures;
    rows.push(`| ${n.toLocaleString('en')} | ${s.rate(n)} (${(s.rate(n) * n).toLocaleString('en')}/s) | ${median(on.p99).toFixed(1)} (${range(on.p99)}) | ${median(off.p99).toFixed(1)} (${range(off.p99)}) | ${(median(on.p99) / median(off.p99)).toFixed(2)}× | ${median(on.cpu).toFixed(0)} | ${median(off.cpu).toFixed(0)} | ${on.lost} / ${off.lost} |`);
  }
  return [
    `Bursts of ${s.burst} events (one HTTP batch), 128-byte payloads, ${s.seconds} s per window, ${s.rounds} rounds with the two modes interleaved: medians, with the range over the rounds.`,
    '',
    '| subscribers | events/s (deliveries/s) | p99 (ms), coalescing on | p99, off | on / off | hub CPU % on | off | lost on / off |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}
