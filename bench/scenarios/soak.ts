/**
 * `npm run bench -- --only=soak`: two hubs on one Redis carry a steady load for minutes. It passes only
 * if every subscriber received every message exactly once, in order (sequence numbers per publisher and
 * channel offsets), and neither hub's RSS kept growing. A failure exits non-zero with the reason.
 */
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { Fleet, ServerProcess } from '../lib/harness.js';
import { nowMs, padFor } from '../lib/kinds.js';
import { log, ms, sleep } from '../lib/measure.js';
import { cpuWindow, rssBytes } from '../lib/proc.js';
import { RedisServer } from '../lib/redis-server.js';

export interface SoakSettings {
  connections: number;
  /** Subscribers spread evenly over this many channels, each channel with subscribers on both hubs. */
  channels: number;
  /** Messages a second in total, over all channels and both publishers. */
  rate: number;
  seconds: number;
  sampleMs: number;
}

/**
 * The RSS bound, stated before the run: a hub's highest RSS in the second half may exceed its highest RSS
 * in the first half by at most this much (warm-up, JIT and heap growth happen early; a leak keeps going).
 */
export const RSS_SECOND_HALF_GROWTH_MIB = 32;
/** And no hub may ever hold more than this above its RSS before publishing started. */
export const RSS_ABOVE_START_MIB = 256;
const MIB = 2 ** 20;

/** One WebSocket per hub that publishes to any channel and counts the hub's answers. */
async function openMultiPublisher(url: string): Promise<{ send(channel: string, seq: number, pad: string): void; acked: () => number; refused: () => number; close(): void }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let acked = 0;
  let refused = 0;
  ws.on('message', (data: Buffer) => {
    const text = data.toString();
    if (text.startsWith('{"op":"published"')) acked++;
    else if (text.includes('"op":"error"')) {
      if (refused++ === 0) log(`soak: a publish was refused: ${text}`);
    }
  });
  return {
    send: (channel, seq, pad) => ws.send(JSON.stringify({ op: 'publish', channel, event: { type: 'b', data: { ts: nowMs(), seq, pad } } })),
    acked: () => acked,
    refused: () => refused,
    close: () => ws.close(),
  };
}

interface RssTrack {
  name: string;
  pid: number;
  samples: number[];
}

const mib = (bytes: number) => Math.round(bytes / MIB);

export async function soakScenario(s: SoakSettings): Promise<{ text: string; failures: string[] }> {
  const redis = await RedisServer.start();
  const prefix = `soak-${randomBytes(4).toString('hex')}`;
  const hubs: ServerProcess[] = [];
  let fleet: Fleet | undefined;
  try {
    hubs.push(...(await Promise.all([0, 1].map(() => ServerProcess.start('herald', { store: 'redis', redis: { url: redis.url, prefix } })))));
    fleet = await Fleet.start(2);
    const connected = await fleet.connect('herald', hubs.map((h) => h.url), s.connections, 'soak', s.channels);
    const failures: string[] = [];
    if (connected < s.connections) failures.push(`only ${connected} of ${s.connections} connections subscribed`);
    const publishers = await Promise.all(hubs.map((h) => openMultiPublisher(h.url)));
    const pad = padFor(128);

    // Message i goes to channel c = i % channels in round r = i / channels, with sequence r, through the
    // hub (c + r) % 2: every channel is published alternately through both hubs, and on each channel the
    // two publishers' sequences are the even and the odd rounds (the workers' `streams = 2`).
    await fleet.reset(0, 2);
    const tracks: RssTrack[] = [
      { name: 'hub A', pid: hubs[0]!.pid, samples: [] },
      { name: 'hub B', pid: hubs[1]!.pid, samples: [] },
      { name: 'redis-server', pid: redis.pid, samples: [] },
    ];
    const sample = () => tracks.forEach((t) => t.samples.push(rssBytes(t.pid)));
    sample();
    const sampler = setInterval(sample, s.sampleMs);
    const cpu = cpuWindow({ 'hub A': hubs[0]!.pid, 'hub B': hubs[1]!.pid, redis: redis.pid, 'worker 1': fleet.pids[0]!, 'worker 2': fleet.pids[1]!, publisher: process.pid });
    const started = performance.now();
    let sent = 0;
    const total = Math.ceil((s.rate * s.seconds) / s.channels) * s.channels; // whole rounds only
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * s.rate));
      for (; sent < due; sent++) {
        const [c, r] = [sent % s.channels, Math.floor(sent / s.channels)];
        publishers[(c + r) % 2]!.send(`soak.${c}`, r, pad);
      }
      await sleep(10);
    }
    const share = cpu.stop();
    await sleep(3000); // the last round reaches everyone
    clearInterval(sampler);
    sample();
    const report = await fleet.report(total / s.channels - 1);
    const acked = publishers.reduce((sum, p) => sum + p.acked(), 0);
    const refused = publishers.reduce((sum, p) => sum + p.refused(), 0);
    for (const p of publishers) p.close();

    const expected = (total / s.channels) * connected;
    if (acked !== total) failures.push(`${acked} of ${total} publishes acknowledged (${refused} refused)`);
    if (report.received !== expected) failures.push(`${report.received} of ${expected} deliveries arrived`);
    if (report.lost || report.duplicates) failures.push(`${report.lost} messages lost and ${report.duplicates} delivered twice, over ${report.clientsWrong} of ${report.clients} subscribers`);
    if (report.closedByServer) failures.push(`${report.closedByServer} subscribers were disconnected by their hub`);
    if (report.offsetGaps || report.offsetRepeats) failures.push(`${report.offsetGaps} channel offsets skipped and ${report.offsetRepeats} repeated (first gaps: ${report.gapSamples.join('; ') || 'none'})`);
    const rssRows: string[] = [];
    for (const t of tracks) {
      const [start, end] = [t.samples[0]!, t.samples.at(-1)!];
      const peak = Math.max(...t.samples);
      const half = Math.ceil(t.samples.length / 2);
      const growth = Math.max(...t.samples.slice(half)) - Math.max(...t.samples.slice(0, half));
      rssRows.push(`| ${t.name} | ${mib(start)} | ${mib(peak)} | ${mib(end)} | ${mib(growth)} | ${t.samples.map(mib).join(' ')} |`);
      if (!t.name.startsWith('hub')) continue; // Redis holds the history, which grows by design (retention)
      if (growth > RSS_SECOND_HALF_GROWTH_MIB * MIB) failures.push(`${t.name} RSS kept growing: its second-half peak is ${mib(growth)} MiB above its first-half peak (bound ${RSS_SECOND_HALF_GROWTH_MIB} MiB)`);
      if (peak - start > RSS_ABOVE_START_MIB * MIB) failures.push(`${t.name} RSS reached ${mib(peak)} MiB, ${mib(peak - start)} MiB above its start (bound ${RSS_ABOVE_START_MIB} MiB)`);
    }
    const cpuText = Object.entries(share.processes).map(([n, v]) => `${n} ${v}`).join(', ');
    const text = [
      `${connected.toLocaleString('en')} subscribers (${connected / 2} on each hub) over ${s.channels} channels, ${s.rate} msg/s for ${s.seconds} s through both hubs in turn: ${total.toLocaleString('en')} messages, ${report.received.toLocaleString('en')} deliveries of ${expected.toLocaleString('en')} expected.`,
      '',
      `- lost ${report.lost}, delivered twice ${report.duplicates}, channel offsets skipped ${report.offsetGaps} / repeated ${report.offsetRepeats}; publishes acknowledged ${acked} of ${total}, refused ${refused}`,
      `- latency publish → subscriber: p50 ${ms(report.histogram, 50).toFixed(1)} ms, p99 ${ms(report.histogram, 99).toFixed(1)} ms, max ${ms(report.histogram, 100).toFixed(1)} ms`,
      `- CPU while publishing (% of a core): ${cpuText}, others ${share.others}`,
      `- RSS bound: second-half peak ≤ first-half peak + ${RSS_SECOND_HALF_GROWTH_MIB} MiB, and ≤ start + ${RSS_ABOVE_START_MIB} MiB, per hub`,
      `- result: ${failures.length ? `**FAILED** — ${failures.join('; ')}` : 'passed'}`,
      '',
      `| process | RSS start (MiB) | peak | end | second-half peak − first-half peak | every ${s.sampleMs / 1000} s |`,
      '| --- | ---: | ---: | ---: | ---: | --- |',
      ...rssRows,
    ].join('\n');
    return { text, failures };
  } finally {
    await fleet?.close();
    await Promise.all(hubs.map((h) => h.stop()));
    await redis.stop();
  }
}
